"""News settings (the `features.news` section of the YAML config)."""

from __future__ import annotations

from dataclasses import dataclass, field

# Largest holdings of each Select Sector SPDR ETF (a few each; their news counts for the sector).
US_SECTOR_HOLDINGS: dict[str, tuple[str, ...]] = {
    "XLC": ("META", "GOOGL", "NFLX"),
    "XLY": ("AMZN", "TSLA", "HD"),
    "XLP": ("COST", "WMT", "PG"),
    "XLE": ("XOM", "CVX", "COP"),
    "XLF": ("BRK-B", "JPM", "V"),
    "XLV": ("LLY", "UNH", "JNJ"),
    "XLI": ("GE", "CAT", "RTX"),
    "XLB": ("LIN", "SHW", "APD"),
    "XLRE": ("PLD", "AMT", "EQIX"),
    "XLK": ("NVDA", "MSFT", "AAPL"),
    "XLU": ("NEE", "SO", "DUK"),
}


@dataclass(frozen=True)
class NewsConfig:
    enabled: bool = True
    # universe name -> sector key -> tickers whose headlines count besides the sector's ETF
    holdings: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=lambda: {"us_sectors": US_SECTOR_HOLDINGS})
    members_max: int = 5  # constituent universes: this many members per sector (largest first)
    fetch_deadline_s: float = 60.0  # one news fetch gives up on the tickers not yet asked after this long
    refresh_minutes: float = 60.0  # news is fetched at most this often (less often than prices is fine)
    window_days: float = 7.0  # news sentiment: headlines published within this window of as_of ...
    half_life_days: float = 1.5  # ... weighted by recency with this half-life
    attention_days: float = 1.0  # news volume: headlines in the last day ...
    baseline_days: int = 28  # ... vs the daily average over this trailing window before it
    min_baseline_days: float = 3.0  # store history needed before news volume is reported
    min_headlines: int = 3  # recent headlines a sector needs before the health score uses its news
    top: int = 3  # headlines shown per sector
    min_history_days: int = 250  # daily aggregates needed before training may use news sentiment

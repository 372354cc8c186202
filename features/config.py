"""Feature and matrix settings, declared in one place (overridable from a YAML `features:` section)."""

from __future__ import annotations

from dataclasses import dataclass, field

from features.news.config import NewsConfig
from features.sources.demo import DemoKnobs
from features.validation import ValidationConfig


@dataclass(frozen=True)
class FeatureConfig:
    # relative-return windows in sessions (momentum features and the heatmap's descriptive columns)
    return_windows: dict[str, int] = field(
        default_factory=lambda: {"1D": 1, "1W": 5, "1M": 21, "3M": 63, "6M": 126, "12M": 252}
    )
    # descriptive rotation matrix: windows and the neutral band (percentage points)
    matrix_windows: dict[str, int] = field(default_factory=lambda: {"1M": 21, "3M": 63, "12M": 252})
    neutral_threshold_pp: float = 0.5
    skip_recent: int = 21  # 12-1 momentum skips the last month
    trend_windows: tuple[int, ...] = (50, 200)
    volatility_windows: tuple[int, ...] = (21, 63, 126)
    volume_short: int = 5
    volume_long: int = 63
    beta_window: int = 126
    indicator_period: int = 14  # ATR %, MFI, RSI (TA-Lib defaults)
    rrg_smooth: int = 63  # RS-ratio: relative strength vs its own moving average ...
    rrg_norm: int = 252  # ... z-scored over a trailing window (causal, never full-sample)
    rrg_momentum_lag: int = 10
    max_fill: int = 5  # sessions a missing sector bar is carried forward before it counts as missing
    sessions_per_year: int = 252  # annualisation of volatility (and the 12M window's default)
    volume_month_windows: tuple[int, int] = (21, 126)  # volume_growth_1m: short and long averages
    adosc_periods: tuple[int, int] = (3, 10)  # Chaikin A/D oscillator fast and slow (TA-Lib defaults)
    adosc_norm_window: tuple[int, int] = (21, 5)  # A/D oscillator scaled by average volume: window, min periods
    updown_window: int = 21  # up-volume vs down-volume
    context_window: int = 21  # market-context changes and returns ("1m")
    # sources: the download deadline, the demo market's default knobs, the validation thresholds
    download_deadline_s: float = 60.0
    download_batch: int = 50  # tickers per yf.download call (a 500-member universe is 10 calls) ...
    download_parallel: int = 4  # ... this many at once, all within download_deadline_s
    # constituent universes: members with fewer sessions of history are left out of their sector (named)
    min_member_sessions: int = 21
    # where member aggregation runs: "" in-process; "local" a LocalCluster of cluster_workers
    # (processes unless cluster_processes is false); else a Dask scheduler address, e.g. tcp://host:8786.
    # Every choice gives the same bits (features.members).
    cluster: str = ""
    cluster_workers: int = 2
    cluster_processes: bool = True
    partition_members: int = 256  # member slots per partition (the unit of work; never per worker count)
    demo: DemoKnobs = field(default_factory=DemoKnobs)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    news: NewsConfig = field(default_factory=NewsConfig)  # headlines and their sentiment (features/news)

    @classmethod
    def from_mapping(cls, raw: dict | None) -> FeatureConfig:
        from features.settings import settings_from_mapping

        def ints(v) -> tuple[int, ...]:
            return tuple(int(x) for x in v)

        def validation(v) -> ValidationConfig:
            tuples = {
                k: (lambda x: tuple(tuple(i) if isinstance(i, list) else i for i in x))
                for k in ("split_ratios", "split_exempt_prefixes", "split_exempt_suffixes")
            }
            return settings_from_mapping(ValidationConfig, v, "features.validation", tuples)

        def news(v) -> NewsConfig:
            holdings = lambda h: {u: {k: tuple(t) for k, t in (m or {}).items()} for u, m in (h or {}).items()}  # noqa: E731
            return settings_from_mapping(NewsConfig, v, "features.news", {"holdings": holdings})

        return settings_from_mapping(
            cls,
            raw,
            "features",
            {
                **{
                    k: ints
                    for k in (
                        "trend_windows",
                        "volatility_windows",
                        "volume_month_windows",
                        "adosc_periods",
                        "adosc_norm_window",
                    )
                },
                "demo": lambda v: settings_from_mapping(DemoKnobs, v, "features.demo"),
                "validation": validation,
                "news": news,
            },
        )

"""Heatmap settings in one place (overridable from the YAML `serving:` section).

The request vocabulary (timeframes, metric names) lives here too, so the API, the command
line and the validation all agree on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from features.errors import ConfigError
from features.momentum import MOM_12_1, RS_MOMENTUM, trend
from features.volatility import realised_vol
from features.volume import ADOSC_NORM, SENTIMENT_SCORE, VOLUME_GROWTH_1M, VOLUME_GROWTH_1W, updown_volume

SCHEMA_VERSION = "1.0"
INTRADAY_INTERVALS = ("5m", "15m", "30m", "60m")  # yfinance serves these for about the last 60 days


@dataclass(frozen=True)
class ServingConfig:
    # request vocabulary (the seed's get_sector_heatmap, plus volatility and predicted)
    timeframes: tuple[str, ...] = ("1D", "1W", "1M", "3M")
    default_timeframe: str = "1M"
    metrics: tuple[str, ...] = (
        "performance",
        "volume_growth",
        "momentum",
        "sentiment_score",
        "volatility",
        "predicted",
        "breadth",  # constituent universes only (members' breadth); no columns for a universe of ETFs
    )
    # descriptive relative-return columns (names of FeatureConfig.return_windows)
    descriptive_windows: tuple[str, ...] = ("1D", "1W", "1M", "3M", "12M")
    # which forecast horizon / feature column answers each timeframe
    horizon_for_timeframe: dict[str, str] = field(
        default_factory=lambda: {"1D": "1W", "1W": "1W", "1M": "1M", "3M": "3M"}
    )
    # (feature column names come from the feature modules; a YAML override is checked at start-up)
    volume_for_timeframe: dict[str, str] = field(
        default_factory=lambda: {
            "1D": VOLUME_GROWTH_1W,
            "1W": VOLUME_GROWTH_1W,
            "1M": VOLUME_GROWTH_1M,
            "3M": VOLUME_GROWTH_1M,
        }
    )
    volatility_for_timeframe: dict[str, str] = field(
        default_factory=lambda: {
            "1D": realised_vol(21),
            "1W": realised_vol(21),
            "1M": realised_vol(21),
            "3M": realised_vol(63),
        }
    )
    # health score: component -> inputs (feature columns, or spread_<W> / relative_volume_signed / pred)
    health_components: dict[str, tuple[str, ...]] = field(
        default_factory=lambda: {
            "relative_strength": ("spread_1M", "spread_3M", "spread_12M"),
            "trend": (MOM_12_1, trend(50), trend(200), RS_MOMENTUM),
            "volume": (updown_volume(21), ADOSC_NORM, "relative_volume_signed"),
            "sentiment": (SENTIMENT_SCORE,),
            "predicted": ("pred",),
        }
    )
    health_weights: dict[str, float] = field(
        default_factory=lambda: {
            "relative_strength": 0.35,
            "trend": 0.20,
            "volume": 0.15,
            "sentiment": 0.10,
            "predicted": 0.20,
        }
    )
    volume_confirm_window: str = "1M"  # relative volume counts as confirmation in the direction of this spread
    full_skill_rank_ic: float = 0.10  # a significant out-of-sample rank IC this high earns the full predicted weight
    # freshness: stale when the data is this many sessions (or more) behind the last expected session
    stale_sessions: int = 3
    # diverging red-yellow-green scale for the health score (ColorBrewer RdYlGn ends and middle)
    color_stops: tuple[tuple[float, str], ...] = ((0.0, "#d73027"), (50.0, "#fee08b"), (100.0, "#1a9850"))
    # the service: universes it loads at start (a request may only pick one of these), response cache size
    universes: tuple[str, ...] = ("us_sectors",)
    cache_entries: int = 256
    # largest request body the service reads; a bigger one is a 413 (the API's bodies are a few hundred bytes)
    max_body_bytes: int = 64 * 1024
    # scheduled refresh (serving/refresh.py): every interval in session, once after the close, never when closed
    refresh_enabled: bool = True  # for the yfinance and auto sources (csv and demo data never change)
    refresh_interval_min: float = 15.0
    refresh_after_close_min: float = 5.0
    refresh_deadline_s: float = 120.0  # a refresh not done by then is abandoned and counts as failed
    refresh_backoff_min_s: float = 30.0  # first retry after a failure; doubles up to refresh_backoff_max_s
    refresh_backoff_max_s: float = 600.0
    refresh_retry_after_close_min: float = 120.0  # failed refreshes are retried this long after the close
    intraday_interval: str = "15m"  # yfinance bars for today's partial session ("" = no intraday)

    def __post_init__(self) -> None:
        if set(self.health_weights) != set(self.health_components):
            raise ConfigError(
                f"serving config: health_weights keys {sorted(self.health_weights)} must match "
                f"health_components {sorted(self.health_components)}"
            )
        bad = {k: w for k, w in self.health_weights.items() if not w >= 0}
        if bad:
            raise ConfigError(f"serving config: health_weights must be >= 0, got {bad}")
        if self.default_timeframe not in self.timeframes:
            raise ConfigError(f"serving config: default_timeframe {self.default_timeframe!r} not in {self.timeframes}")
        for name in ("horizon_for_timeframe", "volume_for_timeframe", "volatility_for_timeframe"):
            missing = set(self.timeframes) - set(getattr(self, name))
            if missing:
                raise ConfigError(f"serving config: {name} lacks timeframe(s) {sorted(missing)}")
        if self.stale_sessions < 1:
            raise ConfigError(f"serving config: stale_sessions must be >= 1, got {self.stale_sessions}")
        if not self.universes:
            raise ConfigError("serving config: universes must list at least one universe")
        if self.cache_entries < 1:
            raise ConfigError(f"serving config: cache_entries must be >= 1, got {self.cache_entries}")
        if not isinstance(self.max_body_bytes, int) or self.max_body_bytes < 1024:
            raise ConfigError(f"serving config: max_body_bytes must be an integer >= 1024, got {self.max_body_bytes!r}")
        self._check_refresh()

    def _check_refresh(self) -> None:
        positive = (
            "refresh_interval_min",
            "refresh_deadline_s",
            "refresh_backoff_min_s",
            "refresh_backoff_max_s",
        )
        for name in positive:
            if not getattr(self, name) > 0:
                raise ConfigError(f"serving config: {name} must be > 0, got {getattr(self, name)!r}")
        for name in ("refresh_after_close_min", "refresh_retry_after_close_min"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"serving config: {name} must be >= 0, got {getattr(self, name)!r}")
        if self.intraday_interval not in ("", *INTRADAY_INTERVALS):
            raise ConfigError(
                f"serving config: intraday_interval must be one of {', '.join(INTRADAY_INTERVALS)} "
                f"(or empty for none), got {self.intraday_interval!r}"
            )

    @property
    def spread_windows(self) -> tuple[str, ...]:
        """Every relative-return window the heatmap needs: displayed ones and the health inputs."""
        used = [
            n.removeprefix("spread_") for ins in self.health_components.values() for n in ins if n.startswith("spread_")
        ]
        return tuple(dict.fromkeys([*self.descriptive_windows, *self.timeframes, *used, self.volume_confirm_window]))

    @classmethod
    def from_mapping(cls, raw: dict | None) -> ServingConfig:
        """Build from a YAML mapping; unknown keys are an error naming the key."""
        from features.settings import settings_from_mapping

        strs = lambda v: tuple(str(x) for x in v)  # noqa: E731
        return settings_from_mapping(
            cls,
            raw,
            "serving",
            {
                **{k: strs for k in ("timeframes", "metrics", "descriptive_windows", "universes")},
                "health_components": lambda v: {k: tuple(x) for k, x in v.items()},
                "color_stops": lambda v: tuple((float(a), str(c)) for a, c in v),
            },
        )

"""Feature and matrix settings, declared in one place (overridable from a YAML `features:` section)."""
from __future__ import annotations

from dataclasses import dataclass, field


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

    @classmethod
    def from_mapping(cls, raw: dict | None) -> "FeatureConfig":
        from features.settings import settings_from_mapping

        ints = lambda v: tuple(int(x) for x in v)  # noqa: E731
        return settings_from_mapping(cls, raw, "features", {"trend_windows": ints, "volatility_windows": ints})

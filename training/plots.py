"""Run artifacts as pictures: IC over time, cumulative rotation vs the benchmark, feature importance."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def horizon_figure(horizon: str, series_by_model: dict[str, dict], importance: pd.Series, path: Path) -> Path:
    """One PNG per horizon with three panels, every model on the same axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(18, 4.8))
    for model, series in series_by_model.items():
        if "rank_ic" in series:
            series["rank_ic"].rolling(52, min_periods=12).mean().plot(ax=axes[0], label=model, lw=1)
        if "cumulative_vs_benchmark" in series:
            series["cumulative_vs_benchmark"].plot(ax=axes[1], label=model, lw=1)
    axes[0].axhline(0, color="k", lw=0.5)
    axes[0].set_title(f"{horizon}: rank IC, 1-year rolling mean (out of sample)")
    axes[1].axhline(1, color="k", lw=0.5)
    axes[1].set_title(f"{horizon}: top-k rotation / benchmark, net of costs")
    for ax in axes[:2]:
        ax.legend(fontsize=7)
    importance.sort_values().tail(20).plot.barh(ax=axes[2])
    axes[2].set_title(f"{horizon}: feature importance (gain, final model)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path

"""Run artifacts as pictures: IC over time, cumulative rotation vs the benchmark, feature importance."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def _pyplot():
    """matplotlib.pyplot on the file-only Agg backend, imported on first use (slow, needless to most commands)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def horizon_figure(horizon: str, series_by_model: dict[str, dict], importance: pd.Series, path: Path) -> Path:
    """One PNG per horizon with three panels, every model on the same axes."""
    plt = _pyplot()
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
    if len(importance):  # the signal ensemble fits nothing: no importance to show
        importance.sort_values().tail(20).plot.barh(ax=axes[2])
    axes[2].set_title(f"{horizon}: feature importance (final model: gain, or |coef| for ridge)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def calibration_figure(horizon: str, series_by_model: dict[str, dict], path: Path, coverage: float = 0.8) -> Path:
    """Interval coverage per test year and the reliability curve of P(outperform), per model."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    for model, series in series_by_model.items():
        by_year = series.get("coverage_by_year")
        if by_year is not None and len(by_year):
            axes[0].plot(by_year.index, by_year.to_numpy(), marker="o", lw=1, ms=3, label=model)
        rel = series.get("reliability")
        if rel is not None and len(rel):
            axes[1].plot(rel["predicted"], rel["observed"], marker="o", lw=1, ms=3, label=model)
    axes[0].axhline(coverage, color="k", lw=0.8)
    axes[0].axhspan(coverage - 0.02, coverage + 0.02, color="g", alpha=0.1)
    axes[0].axhline(0.7, color="r", lw=0.5, ls="--")
    axes[0].set_title(f"{horizon}: {coverage:.0%} interval coverage per test year (out of sample)")
    axes[1].plot([0, 1], [0, 1], color="k", lw=0.5)
    axes[1].set_xlim(0, 1)
    axes[1].set_ylim(0, 1)
    axes[1].set_xlabel("predicted P(outperform)")
    axes[1].set_ylabel("realised frequency")
    axes[1].set_title(f"{horizon}: reliability of P(outperform)")
    for ax in axes:
        if ax.get_legend_handles_labels()[0]:  # the baselines have no interval: a panel may be empty
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path

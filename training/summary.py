"""The end-of-run summary: model vs baselines per horizon, with intervals, and the gate decision."""

from __future__ import annotations

import math
import sys

from training.selection import SELECTED
from training.train import TrainResult
from training.unseen import UnseenScores

HONESTY = (
    "With ~11 sectors a date, IC is noisy and sector momentum is a weak predictor: read the "
    "intervals, not the point estimates. An interval that includes 0 means no demonstrated skill, and with "
    "15 model/horizon rows, one or two 90% intervals will exclude 0 by chance alone."
)


def _fmt(v, pct=False, sign=True):
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return f"{v * 100:+.2f}%" if pct else (f"{v:+.3f}" if sign else f"{v:.3f}")


def print_summary(result: TrainResult, logged: dict | None = None, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console(width=None if sys.stdout.isatty() else 150)
    for horizon, hr in result.horizons.items():
        t = Table(
            title=f"{horizon} ({result.cfg.horizons[horizon]} sessions) — out of sample, "
            f"{len(hr.walk_forward.folds)} yearly folds"
        )
        for col in (
            "model",
            "rank IC [90% CI]",
            "t (HAC)",
            "top3-bottom3",
            "hit rate",
            "rotation vs bench /yr",
            "IR",
            "coverage 80%",
            "worst year",
            "Brier",
        ):
            t.add_column(col, justify="left" if col == "model" else "right")
        for model, m in hr.metrics.items():
            lo, hi = m.get("rank_ic_ci_low"), m.get("rank_ic_ci_high")
            style = "bold" if model in (hr.chosen, SELECTED) else ""
            skill = "green" if lo is not None and lo > 0 else ("red" if hi is not None and hi < 0 else "")
            t.add_row(
                f"[{style}]{model}{' *' if model == hr.chosen else ''}[/]" if style else model,
                f"[{skill}]{_fmt(m.get('rank_ic_mean'))} [{_fmt(lo)}, {_fmt(hi)}][/]"
                if skill
                else f"{_fmt(m.get('rank_ic_mean'))} [{_fmt(lo)}, {_fmt(hi)}]",
                _fmt(m.get("rank_ic_t_stat")),
                _fmt(m.get("spread_mean"), pct=True),
                _fmt(m.get("hit_rate"), sign=False),
                _fmt(m.get("bt_ann_excess_vs_benchmark"), pct=True),
                _fmt(m.get("bt_information_ratio")),
                _fmt(m.get("interval_coverage"), sign=False),
                _fmt(m.get("coverage_min_year"), sign=False),
                _fmt(m.get("prob_brier"), sign=False),
            )
        console.print(t)
        console.print(f"[dim]{horizon} {coverage_line(hr.metrics[SELECTED])}[/]")
        picks = ", ".join(f"{y}:{m}" for y, m in hr.walk_forward.selection.items())
        console.print(
            f"[dim]{horizon}: nested selection per test year (best rank IC on earlier years only): {picks}. "
            f"Forecasts shown x{hr.shrink:.2f} (skill shrinkage from the selection-honest t-stat).[/]"
        )
    console.print(
        "* = the model kept for serving (best rank IC over all folds); `selected` = what choosing on earlier "
        "folds only really delivered: the honest figure, shown on the model card and compared by the gate."
    )
    console.print(f"[dim]{HONESTY}[/]")
    tm = result.timings
    console.print(
        f"LightGBM fitting: {result.clock.seconds:.1f}s over {result.clock.fits} fits; other families "
        f"{tm.get('other_families_fit_s', float('nan')):.1f}s; "
        f"train+evaluate {tm.get('train_and_evaluate_s', float('nan')):.1f}s"
    )
    if logged:
        gate = logged["gate"]
        verdict = "[bold green]champion moved[/]" if gate.promoted else "[bold yellow]champion unchanged[/]"
        console.print(
            f"MLflow run {logged['run_id']} — registered {logged['model_name']} v{logged['version']}: "
            f"{verdict} ({gate.reason})"
        )


def coverage_line(m: dict) -> str:
    """Interval coverage of one model per test year, per VIX tercile and its range over sectors, in one line."""
    years = {k.removeprefix("coverage_year_"): v for k, v in m.items() if k.startswith("coverage_year_")}
    if not years:
        return "coverage: no interval yet (needs two earlier test years of residuals)"
    vix = {k.removeprefix("coverage_vix_"): v for k, v in m.items() if k.startswith("coverage_vix_")}
    sectors = {k.removeprefix("coverage_sector_"): v for k, v in m.items() if k.startswith("coverage_sector_")}
    lo, hi = min(sectors, key=sectors.__getitem__), max(sectors, key=sectors.__getitem__)
    return (
        "coverage per year "
        + " ".join(f"{y}:{v:.2f}" for y, v in years.items())
        + "; VIX terciles "
        + " ".join(f"{k}:{v:.2f}" for k, v in vix.items())
        + f"; sectors {lo} {sectors[lo]:.2f} .. {hi} {sectors[hi]:.2f}"
    )


def _ic_cell(m: dict) -> str:
    return f"{_fmt(m.get('rank_ic_mean'))} [{_fmt(m.get('rank_ic_ci_low'))}, {_fmt(m.get('rank_ic_ci_high'))}]"


def print_unseen(scores: UnseenScores, run_id: str | None, console=None) -> None:
    """The table of a scoring on unseen dates (training.unseen): the model and the baselines on the same dates."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console(width=None if sys.stdout.isatty() else 150)
    for h, why in scores.skipped.items():
        console.print(f"[yellow]{h}: {why} — skipped[/]")
    for h, m in scores.metrics.items():
        t = Table(
            title=f"{h}: {scores.uri} on unseen data from {scores.first_dates[h].date()}, {m['n_dates']:.0f} dates"
            + (f" (run {run_id})" if run_id else "")
        )
        cols = ("model", "rank IC [90% CI]", "top3-bottom3", "rotation vs bench /yr", "IR", "coverage", "worst year")
        for col in cols:
            t.add_column(col, justify="left" if col == "model" else "right")
        for name, row in {"model": m, **scores.baselines.get(h, {})}.items():
            t.add_row(
                name,
                _ic_cell(row),
                _fmt(row.get("spread_mean"), pct=True),
                _fmt(row.get("bt_ann_excess_vs_benchmark"), pct=True),
                _fmt(row.get("bt_information_ratio")),
                _fmt(row.get("interval_coverage"), sign=False),
                _fmt(row.get("coverage_min_year"), sign=False),
            )
        console.print(t)
        console.print(f"[dim]{h} model {coverage_line(m)}[/]")

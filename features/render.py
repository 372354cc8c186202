"""Terminal and CSV renderings of the rotation matrix."""

from __future__ import annotations

import io

from features.matrix import LEADERSHIP_RULE, RotationMatrix

TINT_STYLE = {"bull": "bold green", "bear": "bold red", "neutral": "yellow", "n/a": "dim"}


def print_matrix(m: RotationMatrix, source: str, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    tints = m.tints()
    table = Table(
        title=f"Sector rotation matrix vs {m.benchmark} — as of {m.as_of.date()} (spread, pp)",
        caption=f"source: {source}; neutral band ±{m.threshold_pp} pp; ordered by {m.order_window}",
    )
    table.add_column("Sector")
    table.add_column("Ticker")
    for w in m.spreads_pp.columns:
        table.add_column(w, justify="right")
    for key, row in m.spreads_pp.iterrows():
        cells = [f"[{TINT_STYLE[tints.loc[key, w]]}]{v:+.2f}[/]" if v == v else "[dim]n/a[/]" for w, v in row.items()]
        table.add_row(m.names.get(key, key), key, *cells)
    console.print(table)
    lead = ", ".join(f"{w}: {v['leader']}" for w, v in m.leadership.items())
    console.print(f"Leadership profile: {lead}")
    console.print(f"[dim]Rule: {LEADERSHIP_RULE}[/]")


def matrix_csv(m: RotationMatrix) -> str:
    df = m.spreads_pp.round(4).copy()
    tints = m.tints().add_suffix("_tint")
    df.insert(0, "sector", [m.names.get(k, k) for k in df.index])
    buf = io.StringIO()
    df.join(tints).to_csv(buf, index_label="ticker")
    return buf.getvalue()

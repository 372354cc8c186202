"""The heatmap as a picture: self-contained HTML (inline CSS, no scripts, no external assets) and PNG.

The HTML page is the Jinja2 template templates/heatmap.html.j2 (autoescaped); this module formats the numbers.

Both render the JSON response only, so the picture can never disagree with the API. One table
model feeds both: sectors as rows, the descriptive and predicted column groups side by side.
"""

from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from serving.columns import display_format
from serving.health_score import fmt_num

if TYPE_CHECKING:
    import jinja2

TINT_BG = {"bull": "#c7e9c0", "bear": "#fcbba1", "neutral": "#fff7bc", "n/a": "#eeeeee"}
PLAIN_BG = "#ffffff"
DESCRIPTIVE_TITLE = "What happened (descriptive)"
PREDICTED_TITLE = "What the model expects (predicted)"
HTML_TEMPLATE = "heatmap.html.j2"  # in serving/templates/, with the page's inline CSS


def _num(v, digits: int = 2, signed: bool = True) -> str:
    return "n/a" if v is None else fmt_num(v, digits, signed)


def _get(d: dict | None, dotted: str):
    for part in dotted.split("."):
        if not isinstance(d, dict):
            return None
        d = d.get(part)
    return d


@dataclass
class Cell:
    text: str
    sub: str = ""
    bg: str = PLAIN_BG


@dataclass
class TableModel:
    descriptive_labels: list[str]
    predicted_labels: list[str]
    rows: list[tuple[dict, list[Cell], list[Cell], Cell]]  # sector, descriptive cells, predicted cells, health
    descriptive_short: list[str]
    predicted_short: list[str]


def table_model(resp: dict) -> TableModel:
    dcols = resp["columns"]["descriptive"]
    pcols = resp["columns"]["predicted"]
    d_labels = [f"{c['label']} ({c['unit']})" for c in dcols]
    missing = "not requested" if resp.get("model") and "predicted" not in resp["metrics"] else "unavailable"
    p_labels = [f"{c['label']} (pp)" for c in pcols] or [missing]
    rows = []
    for s in resp["sectors"]:
        dcells = []
        for c in dcols:
            v = _get(s["descriptive"], c["key"])
            digits, signed = display_format(c["unit"])  # the column registry's format for its unit
            tint_key = c.get("tint_key")
            tint = _get(s["descriptive"], tint_key) if tint_key else None
            dcells.append(Cell(_num(v, digits, signed), bg=TINT_BG.get(str(tint), PLAIN_BG)))
        pcells = []
        for c in pcols:
            p = (s.get("predicted") or {}).get(c["horizon"]) or {}
            lo, hi = p.get("interval_pp") or [None, None]
            prob = p.get("prob_outperform")
            chance = "n/a" if prob is None else f"{prob:.0%}"
            sub = f"[{_num(lo)}, {_num(hi)}] · P(out) {chance} · #{p.get('rank') or 'n/a'}"
            pcells.append(Cell(_num(p.get("expected_rel_return_pp")), sub, TINT_BG.get(str(p.get("tint")), PLAIN_BG)))
        if not pcols:
            pcells = [Cell("—")]
        score = s.get("health_score")
        health = Cell("n/a" if score is None else f"{score:.1f}", bg=s["color"])
        rows.append((s, dcells, pcells, health))
    return TableModel(
        d_labels, p_labels, rows, [c.get("short", c["label"]) for c in dcols], [c["horizon"] for c in pcols] or p_labels
    )


def banner_text(resp: dict) -> str:
    """Why the data needs a warning (demo and/or stale), or '' when it is fresh real data."""
    parts = []
    if resp.get("is_demo"):
        parts.append(
            f"DEMO DATA: a synthetic market generated in code, not real prices (source {resp['data_source']})."
        )
    if resp.get("stale"):
        f = resp.get("freshness") or {}
        parts.append(
            f"STALE DATA: prices through {resp['data_through']} are {f.get('sessions_behind')} sessions "
            f"behind the last expected session ({f.get('expected_session')})."
        )
    return " ".join(parts)


HEADLINES_SHOWN = 5  # per sector on the dashboard; the sector page lists its recent headlines (POST /news)


def headline_items(headlines: list[dict], limit: int = HEADLINES_SHOWN) -> list[dict]:
    """Scored headlines as the pages list them: the title, a link only for an http(s) URL (never javascript:
    or data:), and one line of provider, time, label and score."""
    out = []
    for h in headlines[:limit]:
        url = h.get("url") or ""
        when = str(h["published"])[:16].replace("T", " ")
        out.append(
            {
                "title": h["title"],
                "url": url if url.startswith(("https://", "http://")) else None,
                "meta": f"{h['provider']} · {when} UTC · {h['label']} {h['score']:+.2f}",
            }
        )
    return out


def sector_headlines(resp: dict, limit: int = HEADLINES_SHOWN) -> list[tuple[str, str, list[dict]]]:
    """(name, ticker, headline items) of every sector of a heatmap answer with headlines (its `news.top`)."""
    return [
        (s["name"], s["ticker"], headline_items(top, limit))
        for s in resp["sectors"]
        if (top := (s.get("news") or {}).get("top"))
    ]


def print_headlines(resp: dict, console, per_sector: int = 2) -> None:
    """The latest headlines of each sector with news, under the terminal table."""
    from rich.markup import escape

    for name, ticker, items in sector_headlines(resp, per_sector):
        console.print(f"[bold]{escape(ticker)}[/] {escape(name)}:")
        for h in items:
            console.print(f"  {escape(h['title'])} [dim]({escape(h['meta'])})[/]")


def survivorship_lines(resp: dict) -> list[str]:
    """The answer's survivorship-bias note (a universe of today's members only), for the PNGs and the terminal."""
    note = resp.get("survivorship_note")
    return [f"Survivorship bias: {note}"] if note else []


def print_survivorship(resp: dict, console) -> None:
    """The survivorship-bias note on a rich console (the terminal tables of the heatmap, a sector, the rotation)."""
    from rich.markup import escape

    for line in survivorship_lines(resp):
        console.print(f"[bold yellow]{escape(line)}[/]")


def skill_lines(resp: dict) -> list[str]:
    """The model's out-of-sample skill in plain words, one line per horizon."""
    model = resp.get("model")
    if not model:
        return [
            f"No model: {resp.get('model_status')}. Predicted columns are not shown; the health score uses "
            "the descriptive components only."
        ]
    head = (
        f"Model {model.get('name')} v{model.get('version')}, "
        f"trained on {' to '.join(map(str, model.get('training_window') or []))}"
        f" ({model.get('data_source')}). Out-of-sample skill:"
    )
    return [head, *(v["summary"] for v in model["skill"].values())]


def _health_title(s: dict) -> str:
    comps = ", ".join(
        f"{k} {'n/a' if v is None else f'{v:.0f}'} x {s['health_weights'][k]:.2f}"
        for k, v in s["health_components"].items()
    )
    return f"health = {comps}"


def heatmap_html(
    resp: dict,
    rotation: dict | None = None,
    matrix: dict | None = None,
    universes: list[str] | None = None,
    links: bool = False,
) -> str:
    """One self-contained page from templates/heatmap.html.j2; the template autoescapes every text.

    Served, it is the dashboard: controls (timeframe, date, universe), the heatmap with each row linked to
    its drill-down (`links`), the rotation graph (`rotation`, POST /rotation) and the matrix (POST /matrix)."""
    from serving.drilldown import rotation_picture, sector_link

    tm = table_model(resp)
    req_as_of = resp.get("requested_as_of")
    dash = {
        "rot": rotation,
        "pic": rotation_picture(rotation) if rotation else None,
        "matrix": matrix,
        "universes": universes or [resp["universe"]],
        "timeframes": ("1D", "1W", "1M", "3M"),
        "links": {
            s["ticker"]: sector_link(s["ticker"], resp["universe"], req_as_of, resp["timeframe"])
            for s in resp["sectors"]
        }
        if links
        else {},
    }
    return (
        _jinja_env()
        .get_template(HTML_TEMPLATE)
        .render(
            resp=resp,
            banner=banner_text(resp),
            skill=skill_lines(resp),
            tm=tm,
            descriptive_title=DESCRIPTIVE_TITLE,
            predicted_title=PREDICTED_TITLE,
            rows=[(s, dcells, pcells, health, _health_title(s)) for s, dcells, pcells, health in tm.rows],
            **_health_section(resp),
            leadership_rows=_leadership_section(resp),
            dash=dash,
            tint_bg=TINT_BG,
            headlines=sector_headlines(resp),
        )
    )


@cache
def _jinja_env() -> jinja2.Environment:
    """Built on first use (imports jinja2 then, not when this module is imported)."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    return Environment(
        loader=PackageLoader("serving", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _health_section(resp: dict) -> dict:
    """The health explainer's formatted parts: rows (component, inputs, base weight, weight used), colour stops."""
    h = resp["health"]
    return {
        "health_rows": [
            (k, h["components"][k], f"{h['base_weights'][k]:.2f}", f"{h['weights'][k]:.3f}") for k in h["components"]
        ],
        "colour_stops": ", ".join(f"{c} {s}%" for s, c in h["color_scale"]),
    }


def _leadership_section(resp: dict) -> list[tuple[str, str, str]]:
    """Leadership rows: window, leader, and the cohort mean spreads as one formatted line."""
    return [
        (w, v["leader"], ", ".join(f"{k} {_num(m)}" for k, m in v["cohort_mean_spread_pp"].items()))
        for w, v in resp["leadership"].items()
    ]


def heatmap_png(resp: dict, dpi: int = 110) -> bytes:
    """The same table as a PNG (matplotlib, Agg backend, imported only here)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # no pyplot: no global backend state
    from matplotlib.figure import Figure

    tm = table_model(resp)
    labels = [
        *(f"{x}\n[desc]" for x in tm.descriptive_labels),
        *(f"{x}\n[pred]" for x in tm.predicted_labels),
        "Health",
    ]
    text, colors, names = [], [], []
    for s, dcells, pcells, health in tm.rows:
        cells = [*dcells, *pcells, health]
        text.append([c.text + (f"\n{c.sub}" if c.sub else "") for c in cells])
        colors.append([c.bg for c in cells])
        names.append(f"{s['name']} ({s['ticker']})")
    title = [
        f"Sector heatmap: {resp['universe']} vs {resp['benchmark']}, as of {resp['as_of']} ({resp['timeframe']})",
        *skill_lines(resp),
        f"[desc] = {DESCRIPTIVE_TITLE}   [pred] = {PREDICTED_TITLE}",
        *(part for line in survivorship_lines(resp) for part in textwrap.wrap(line, 150)),
    ]
    head_in, row_in, label_in = 0.3 + 0.16 * len(title), 0.42, 2.4  # inches: title block, one row, row labels
    pred_share = 2.4 if resp["columns"]["predicted"] else 1.2  # forecast cells carry an interval line
    share = [1.2] * len(tm.descriptive_labels) + [pred_share] * len(tm.predicted_labels) + [0.8]
    table_w, table_h = 1.05 * sum(share), row_in * (len(names) + 1.6)
    fig_w, fig_h = label_in + table_w + 0.2, head_in + table_h + 0.2
    fig = Figure(figsize=(fig_w, fig_h), dpi=dpi)
    FigureCanvasAgg(fig)
    banner = banner_text(resp)
    if banner:
        fig.text(0.005, 1 - 0.05 / fig_h, banner, color="#b71c1c", fontsize=9, fontweight="bold", va="top")
    fig.text(0.005, 1 - 0.3 / fig_h, "\n".join(title), fontsize=8, va="top")
    # one explicit layout, drawn once (bbox_inches="tight" would draw every cell twice)
    ax = fig.add_axes((label_in / fig_w, 0.1 / fig_h, table_w / fig_w, table_h / fig_h))
    ax.axis("off")
    if names:
        table = ax.table(
            cellText=text,
            cellColours=colors,
            colLabels=labels,
            rowLabels=names,
            bbox=(0, 0, 1, 1),  # type: ignore[arg-type]
            cellLoc="center",
            colWidths=[x / sum(share) for x in share],
        )
        table.auto_set_font_size(False)
        table.set_fontsize(7)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()

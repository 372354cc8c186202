"""Pictures of the rotation graph and of one sector: inline SVG and HTML pages (Jinja2), and a PNG.

Rendered from the JSON answers only (POST /rotation, POST /sector), so a picture never disagrees with
the API. The SVG is drawn server-side (no script, no CDN): the page works offline, and each point
carries a hover title. The PNG (matplotlib, as serving/render.py does for the heatmap) is for the CLI.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from urllib.parse import urlencode

from serving.render import _jinja_env, banner_text, headline_items, survivorship_lines

SVG_SIZE = 560  # px, square
SECTOR_HEADLINES = 10  # the sector page's recent headlines, newest first
SVG_PAD = 44  # px around the plotting area (axis labels)
QUADRANTS = {  # name -> (fill, label corner)
    "leading": ("#e5f5e0", "top-right"),
    "weakening": ("#fff7bc", "bottom-right"),
    "lagging": ("#fde0dd", "bottom-left"),
    "improving": ("#deebf7", "top-left"),
}
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#393b79",
    "#637939",
)


@dataclass
class Tail:
    ticker: str
    sector: str
    quadrant: str
    colour: str
    path: str  # SVG polyline points
    points: list[tuple[float, float, str]]  # x, y, hover title
    head: tuple[float, float] | None


@dataclass
class RotationPicture:
    size: int
    pad: int
    centre: tuple[float, float]  # pixel position of (100, 100)
    quadrants: list[tuple[str, float, float, float, float, str]]  # name, x, y, w, h, fill
    labels: list[tuple[str, float, float, str]]  # text, x, y, anchor
    ticks_x: list[tuple[float, str]]
    ticks_y: list[tuple[float, str]]
    tails: list[Tail]


def _domain(values: list[float]) -> tuple[float, float]:
    """A range symmetric around 100 holding every value, with a margin; at least 100 ± 5."""
    half = max([5.0, *(abs(v - 100.0) for v in values)]) * 1.1
    return 100.0 - half, 100.0 + half


def rotation_picture(rot: dict) -> RotationPicture:
    """Pixel geometry of the classic relative-rotation scatter: RS-ratio across, RS-momentum up."""
    tails = [t for t in rot["tails"] if t["points"]]
    xs = [p["rs_ratio"] for t in tails for p in t["points"]]
    ys = [p["rs_momentum"] for t in tails for p in t["points"]]
    x0, x1 = _domain(xs)
    y0, y1 = _domain(ys)
    size, pad = SVG_SIZE, SVG_PAD
    inner = size - 2 * pad

    def px(x: float) -> float:
        return round(pad + (x - x0) / (x1 - x0) * inner, 1)

    def py(y: float) -> float:
        return round(pad + (y1 - y) / (y1 - y0) * inner, 1)

    cx, cy = px(100.0), py(100.0)
    right, bottom = pad + inner, pad + inner
    quads = [
        ("leading", cx, pad, right - cx, cy - pad, QUADRANTS["leading"][0]),
        ("weakening", cx, cy, right - cx, bottom - cy, QUADRANTS["weakening"][0]),
        ("lagging", pad, cy, cx - pad, bottom - cy, QUADRANTS["lagging"][0]),
        ("improving", pad, pad, cx - pad, cy - pad, QUADRANTS["improving"][0]),
    ]
    labels = [
        ("Leading", float(right - 6), float(pad + 16), "end"),
        ("Weakening", float(right - 6), float(bottom - 8), "end"),
        ("Lagging", float(pad + 6), float(bottom - 8), "start"),
        ("Improving", float(pad + 6), float(pad + 16), "start"),
    ]
    step = 5.0 if x1 - x0 <= 40 else 10.0
    ticks = lambda lo, hi: [v for v in (100.0 + step * k for k in range(-20, 21)) if lo <= v <= hi]  # noqa: E731
    out = []
    for i, t in enumerate(tails):
        pts = [
            (
                px(p["rs_ratio"]),
                py(p["rs_momentum"]),
                f"{t['ticker']} {p['date']}: RS-ratio {p['rs_ratio']:.2f}, RS-momentum {p['rs_momentum']:.2f}",
            )
            for p in t["points"]
        ]
        head = (pts[-1][0], pts[-1][1]) if t["quadrant"] else None
        out.append(
            Tail(
                t["ticker"],
                t["sector"],
                t["quadrant"] or "n/a",
                PALETTE[i % len(PALETTE)],
                " ".join(f"{x},{y}" for x, y, _ in pts),
                pts,
                head,
            )
        )
    return RotationPicture(
        size,
        pad,
        (cx, cy),
        quads,
        labels,
        [(px(v), f"{v:.0f}") for v in ticks(x0, x1)],
        [(py(v), f"{v:.0f}") for v in ticks(y0, y1)],
        out,
    )


def sector_link(ticker: str, universe: str, as_of: str | None, timeframe: str) -> str:
    """The drill-down page of one sector (a heatmap row links here)."""
    query = {"sector": ticker, "universe": universe, "timeframe": timeframe, **({"as_of": as_of} if as_of else {})}
    return "/ui/sector?" + urlencode(query)


def rotation_html(rot: dict) -> str:
    """The rotation graph as a page of its own (GET /ui/rotation)."""
    return _jinja_env().get_template("rotation.html.j2").render(rot=rot, pic=rotation_picture(rot), banner=_banner(rot))


def sector_html(d: dict, news: dict | None = None) -> str:
    """One sector's drill-down page (GET /ui/sector); `news` (the POST /news answer of the sector) adds its
    recent headlines."""
    items = headline_items(news["headlines"], SECTOR_HEADLINES) if news else []
    return _jinja_env().get_template("sector.html.j2").render(d=d, banner=_banner(d), num=_num, news=news, items=items)


def _banner(d: dict) -> str:
    return banner_text({"is_demo": d.get("is_demo"), "data_source": d.get("data_source"), "stale": False})


def _num(v, digits: int = 2, signed: bool = True) -> str:
    if v is None:
        return "n/a"
    return f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"


def rotation_png(rot: dict, dpi: int = 110) -> bytes:
    """The rotation graph as a PNG (matplotlib Agg, imported only here): quadrants, tails, heads, labels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    tails = [t for t in rot["tails"] if t["points"]]
    xs = [p["rs_ratio"] for t in tails for p in t["points"]]
    ys = [p["rs_momentum"] for t in tails for p in t["points"]]
    (x0, x1), (y0, y1) = _domain(xs), _domain(ys)
    fig = Figure(figsize=(7.5, 7.5), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    for name, (fill, _) in QUADRANTS.items():
        right, top = name in ("leading", "weakening"), name in ("leading", "improving")
        ax.fill_between([100, x1] if right else [x0, 100], 100, y1 if top else y0, color=fill, zorder=0)
        ax.text(
            x1 if right else x0,
            y1 if top else y0,
            f" {name.capitalize()} ",
            ha="right" if right else "left",
            va="top" if top else "bottom",
            fontsize=10,
            color="#555",
        )
    ax.axhline(100, color="#999", lw=0.8)
    ax.axvline(100, color="#999", lw=0.8)
    for i, t in enumerate(tails):
        c = PALETTE[i % len(PALETTE)]
        px = [p["rs_ratio"] for p in t["points"]]
        py = [p["rs_momentum"] for p in t["points"]]
        ax.plot(px, py, color=c, lw=1.2, marker="o", ms=2.5, alpha=0.8)
        ax.plot(px[-1:], py[-1:], color=c, marker="o", ms=7)
        ax.annotate(t["ticker"], (px[-1], py[-1]), xytext=(4, 4), textcoords="offset points", fontsize=8, color=c)
    ax.set_xlabel("RS-ratio (100 = in line with the benchmark)")
    ax.set_ylabel("RS-momentum")
    title = (
        f"Relative rotation: {rot['universe']} vs {rot['benchmark']}, as of {rot['as_of']} ({rot['tail_weeks']} weeks)"
    )
    ax.set_title(title, fontsize=10)
    if rot.get("is_demo"):
        fig.text(0.01, 0.99, "DEMO DATA: synthetic market, not real prices", color="#b71c1c", fontsize=8, va="top")
    for line in survivorship_lines(rot):
        fig.text(0.01, 0.01, line, color="#b35900", fontsize=7, va="bottom", wrap=True)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()

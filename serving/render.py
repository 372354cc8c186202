"""The heatmap as a picture: self-contained HTML (inline CSS, no scripts, no external assets) and PNG.

Both render the JSON response only, so the picture can never disagree with the API. One table
model feeds both: sectors as rows, the descriptive and predicted column groups side by side.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from html import escape

from serving.health import fmt_num

TINT_BG = {"bull": "#c7e9c0", "bear": "#fcbba1", "neutral": "#fff7bc", "n/a": "#eeeeee"}
PLAIN_BG = "#ffffff"
DESCRIPTIVE_TITLE = "What happened (descriptive)"
PREDICTED_TITLE = "What the model expects (predicted)"
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5rem;color:#222}
h1{font-size:1.4rem;margin:0 0 .3rem}h2{font-size:1.1rem;margin:1.2rem 0 .4rem}
.meta,.note{color:#555;font-size:.9rem}
#data-banner{background:#b71c1c;color:#fff;padding:.6rem 1rem;font-weight:600;border-radius:4px;margin-bottom:1rem}
table{border-collapse:collapse;font-size:.85rem}th,td{border:1px solid #ccc;padding:.3rem .5rem;text-align:right}
th{background:#f4f4f4}th.sector{text-align:left}.ticker{color:#666;font-weight:400;font-size:.8rem}
th.group-descriptive{background:#e3ecf7}th.group-predicted{background:#efe3f7}
td.health{font-weight:700}.sub{display:block;font-size:.75rem;color:#444}
.legend{display:inline-block;width:12rem;height:.8rem;vertical-align:middle;border:1px solid #999}
"""


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
            signed = c["unit"] in ("pp", "%")
            tint = _get(s["descriptive"], c["tint_key"]) if c.get("tint_key") else None
            dcells.append(Cell(_num(v, 3 if c["unit"] == "0-1" else 2, signed), bg=TINT_BG.get(tint, PLAIN_BG)))
        pcells = []
        for c in pcols:
            p = (s.get("predicted") or {}).get(c["horizon"]) or {}
            lo, hi = p.get("interval_pp") or [None, None]
            prob = p.get("prob_outperform")
            sub = f"[{_num(lo)}, {_num(hi)}] · P(out) {'n/a' if prob is None else f'{prob:.0%}'} · #{p.get('rank') or 'n/a'}"
            pcells.append(Cell(_num(p.get("expected_rel_return_pp")), sub, TINT_BG.get(p.get("tint"), PLAIN_BG)))
        if not pcols:
            pcells = [Cell("—")]
        score = s.get("health_score")
        health = Cell("n/a" if score is None else f"{score:.1f}", bg=s["color"])
        rows.append((s, dcells, pcells, health))
    return TableModel(d_labels, p_labels, rows, [c.get("short", c["label"]) for c in dcols],
                      [c["horizon"] for c in pcols] or p_labels)


def banner_text(resp: dict) -> str:
    """Why the data needs a warning (demo and/or stale), or '' when it is fresh real data."""
    parts = []
    if resp.get("is_demo"):
        parts.append(f"DEMO DATA: a synthetic market generated in code, not real prices (source {resp['data_source']}).")
    if resp.get("stale"):
        f = resp.get("freshness") or {}
        parts.append(f"STALE DATA: prices through {resp['data_through']} are {f.get('sessions_behind')} sessions "
                     f"behind the last expected session ({f.get('expected_session')}).")
    return " ".join(parts)


def skill_lines(resp: dict) -> list[str]:
    """The model's out-of-sample skill in plain words, one line per horizon."""
    model = resp.get("model")
    if not model:
        return [f"No model: {resp.get('model_status')}. Predicted columns are not shown; the health score uses "
                "the descriptive components only."]
    head = (f"Model {model.get('name')} v{model.get('version')}, trained on {' to '.join(map(str, model.get('training_window') or []))}"
            f" ({model.get('data_source')}). Out-of-sample skill:")
    return [head, *(v["summary"] for v in model["skill"].values())]


def _health_title(s: dict) -> str:
    comps = ", ".join(f"{k} {'n/a' if v is None else f'{v:.0f}'} x {s['health_weights'][k]:.2f}"
                      for k, v in s["health_components"].items())
    return f"health = {comps}"


def heatmap_html(resp: dict) -> str:
    """One self-contained page; every text from the response is escaped."""
    e = lambda x: escape(str(x), quote=True)  # noqa: E731
    tm = table_model(resp)
    out = ["<!doctype html><html lang='en'><head><meta charset='utf-8'>",
           f"<title>Sector heatmap {e(resp['universe'])} {e(resp['as_of'])}</title><style>{CSS}</style></head><body>"]
    banner = banner_text(resp)
    if banner:
        out.append(f"<div id='data-banner' role='alert'>{e(banner)}</div>")
    out.append(f"<h1>Sector heatmap: {e(resp['universe'])} vs {e(resp['benchmark'])}</h1>")
    out.append(f"<p class='meta'>As of {e(resp['as_of'])} · timeframe {e(resp['timeframe'])} · data through "
               f"{e(resp['data_through'])} · source {e(resp['data_source'])} · generated {e(resp['timestamp'])}</p>")
    out.append(f"<p id='market-context'>{e(resp['market_context'])}</p>")
    lines = skill_lines(resp)
    out.append(f"<section id='model-skill'><h2>Model</h2><p id='model-status'>Status: {e(resp['model_status'])}</p>"
               f"<p>{e(lines[0])}</p><ul>{''.join(f'<li>{e(x)}</li>' for x in lines[1:])}</ul></section>")
    out.append("<table id='heatmap'><thead><tr><th class='sector' rowspan='2'>Sector</th>")
    out.append(f"<th class='group-descriptive' colspan='{len(tm.descriptive_labels)}'>{e(DESCRIPTIVE_TITLE)}</th>")
    out.append(f"<th class='group-predicted' colspan='{len(tm.predicted_labels)}'>{e(PREDICTED_TITLE)}</th>")
    out.append("<th rowspan='2'>Health (0–100)</th></tr><tr>")
    out += [f"<th class='col-descriptive'>{e(x)}</th>" for x in tm.descriptive_labels]
    out += [f"<th class='col-predicted'>{e(x)}</th>" for x in tm.predicted_labels]
    out.append("</tr></thead><tbody>")
    for s, dcells, pcells, health in tm.rows:
        out.append(f"<tr class='sector-row' data-ticker='{e(s['ticker'])}'><th class='sector' scope='row'>"
                   f"{e(s['name'])} <span class='ticker'>{e(s['ticker'])}</span></th>")
        for cls, cells in (("descriptive", dcells), ("predicted", pcells)):
            out += [f"<td class='{cls}' style='background:{e(c.bg)}'>{e(c.text)}"
                    + (f"<span class='sub'>{e(c.sub)}</span>" if c.sub else "") + "</td>" for c in cells]
        out.append(f"<td class='health' style='background:{e(health.bg)}' title='{e(_health_title(s))}'>{e(health.text)}</td></tr>")
    out.append("</tbody></table>")
    out.append(_health_section(resp, e))
    out.append(_leadership_section(resp, e))
    out.append(f"<p class='note'>Cells are tinted bull (green) / bear (red) when the spread is beyond "
               f"±{e(resp['neutral_threshold_pp'])} pp, neutral (yellow) inside it. Descriptive columns describe "
               "what happened; they are not forecasts.</p></body></html>")
    return "".join(out)


def _health_section(resp: dict, e) -> str:
    h = resp["health"]
    stops = ", ".join(f"{c} {s}%" for s, c in h["color_scale"])
    rows = "".join(f"<tr><th class='sector'>{e(k)}</th><td>{e(', '.join(h['components'][k]))}</td><td>{h['base_weights'][k]:.2f}</td>"
                   f"<td>{h['weights'][k]:.3f}</td></tr>" for k in h["components"])
    return (f"<section id='health-explained'><h2>Health score</h2><p>{e(h['formula'])}</p>"
            f"<p>Predicted component ({e(h['predicted_horizon'])}): {e(h['predicted_note'])}</p>"
            "<table><thead><tr><th>Component</th><th>Inputs</th><th>Base weight</th><th>Weight used</th></tr></thead>"
            f"<tbody>{rows}</tbody></table><p class='note'>Colour: 0 <span class='legend' "
            f"style='background:linear-gradient(to right, {e(stops)})'></span> 100</p></section>")


def _leadership_section(resp: dict, e) -> str:
    rows = "".join(
        f"<tr><th class='sector'>{e(w)}</th><td>{e(v['leader'])}</td><td>"
        + e(", ".join(f"{k} {_num(m)}" for k, m in v["cohort_mean_spread_pp"].items())) + "</td></tr>"
        for w, v in resp["leadership"].items())
    return (f"<section id='leadership'><h2>Leadership profile</h2><table><thead><tr><th>Window</th><th>Leader</th>"
            f"<th>Cohort mean spread (pp)</th></tr></thead><tbody>{rows}</tbody></table>"
            f"<p class='note'>{e(resp['leadership_rule'])}</p></section>")


def heatmap_png(resp: dict, dpi: int = 110) -> bytes:
    """The same table as a PNG (matplotlib, Agg backend, imported only here)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # no pyplot: no global backend state
    from matplotlib.figure import Figure

    tm = table_model(resp)
    labels = [*(f"{x}\n[desc]" for x in tm.descriptive_labels), *(f"{x}\n[pred]" for x in tm.predicted_labels), "Health"]
    text, colors, names = [], [], []
    for s, dcells, pcells, health in tm.rows:
        cells = [*dcells, *pcells, health]
        text.append([c.text + (f"\n{c.sub}" if c.sub else "") for c in cells])
        colors.append([c.bg for c in cells])
        names.append(f"{s['name']} ({s['ticker']})")
    title = [f"Sector heatmap: {resp['universe']} vs {resp['benchmark']}, as of {resp['as_of']} ({resp['timeframe']})",
             *skill_lines(resp), f"[desc] = {DESCRIPTIVE_TITLE}   [pred] = {PREDICTED_TITLE}"]
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
        table = ax.table(cellText=text, cellColours=colors, colLabels=labels, rowLabels=names, bbox=(0, 0, 1, 1),
                         cellLoc="center", colWidths=[x / sum(share) for x in share])
        table.auto_set_font_size(False)
        table.set_fontsize(7)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()

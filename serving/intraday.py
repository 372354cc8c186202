"""Today's move in the descriptive columns, from the partial intraday bar, marked as intraday.

The partial bar lives only here: in extended *copies* of the price panels that the relative-return
columns read. The dataset (bars, panels, feature table, labels) that the model and every feature
see stays completed sessions only, so predictions, the health score and all feature-based columns
are those of the last completed session (tests/serving/test_refresh_intraday.py proves it).

Built once per refresh (`IntradayView.build`), applied per computed answer (`with_intraday`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from features.bars import VALUE_COLUMNS
from features.dataset import MarketDataset
from features.matrix import rotation_matrix, tint
from features.sectors import SectorPanels
from features.sources.intraday import IntradayBars
from serving.columns import PP_DIGITS, rounded
from serving.config import ServingConfig

NOTE = (
    "relative returns over every window end at intraday_last_bar (today's partial session); "
    "features, the health score and the predictions use completed sessions through data_through"
)


@dataclass(frozen=True)
class IntradayView:
    session: pd.Timestamp  # today's session (naive date)
    last_bar: pd.Timestamp  # UTC start of the newest bar used
    through: pd.Timestamp  # UTC end of that bar: what the numbers are as of
    spreads_pp: pd.DataFrame  # sector x descriptive window, pp, windows ending now
    missing: tuple[str, ...]  # sectors without a partial bar (their cells stay at the last close)

    @classmethod
    def build(cls, ds: MarketDataset, bars: IntradayBars | None, cfg: ServingConfig) -> IntradayView | None:
        """None when there is nothing to show: no bars, the benchmark has none, the daily data already
        holds the session, or the universe aggregates constituents (its index is not rebuilt intraday)."""
        uni, panels = ds.universe, ds.panels
        if bars is None or bars.bars.empty or uni.is_constituent_based or len(panels.dates) == 0:
            return None
        if bars.session <= panels.dates[-1] or uni.benchmark not in bars.last_bar:
            return None
        by_ticker = bars.bars.set_index("ticker")
        have = [k for k in panels.sectors if k in by_ticker.index]
        if not have:
            return None
        extended = extend_panels(panels, bars.session, by_ticker, uni.benchmark)
        windows = {w: ds.config.return_windows[w] for w in cfg.descriptive_windows}
        mx = rotation_matrix(extended, uni, None, replace(ds.config, matrix_windows=windows))
        spreads = mx.spreads_pp.loc[have]
        last = max(bars.last_bar[t] for t in [*have, uni.benchmark])
        through = bars.through or last
        missing = tuple(k for k in panels.sectors if k not in have)
        return cls(bars.session, last, through, spreads, missing)


def extend_panels(panels: SectorPanels, session: pd.Timestamp, by_ticker: pd.DataFrame, bench: str) -> SectorPanels:
    """A copy of the panels with one more row, `session`, holding the partial bars (NaN where none)."""
    index = pd.DatetimeIndex([session], dtype=panels.dates.dtype)

    def row(field: str) -> pd.DataFrame:
        values = [float(by_ticker.at[k, field]) if k in by_ticker.index else np.nan for k in panels.sectors]
        return pd.DataFrame([values], index=index, columns=panels.close.columns)

    fields = {f: pd.concat([getattr(panels, f), row(f)]) for f in VALUE_COLUMNS}
    bench_row = pd.DataFrame([{c: float(by_ticker.at[bench, c]) for c in VALUE_COLUMNS}], index=index)
    context = pd.concat([panels.context, pd.DataFrame(np.nan, index=index, columns=panels.context.columns)])
    return SectorPanels(
        **fields,
        benchmark=pd.concat([panels.benchmark, bench_row[panels.benchmark.columns]]),
        context=context,
        names=dict(panels.names),
    )


def applies(view: IntradayView | None, req) -> bool:
    """The latest answer only: a request for a past date never sees today's partial move."""
    return view is not None and (req.as_of is None or pd.Timestamp(req.as_of) >= view.session)


def with_intraday(body: dict, view: IntradayView | None, req, threshold_pp: float) -> dict:
    """The heatmap body with its relative-return cells ending now and the intraday marks; every other
    value (features, health, predictions) untouched. Without a view the body is as it was (no intraday keys)."""
    if not applies(view, req):
        return body
    assert view is not None
    spreads = view.spreads_pp.to_dict("index")
    for sector in body["sectors"]:
        cells = sector["descriptive"]
        now = spreads.get(sector["ticker"])
        if now is None or "rel_return_pp" not in cells:
            continue
        for w in cells["rel_return_pp"]:
            v = rounded(now.get(w), PP_DIGITS)
            cells["rel_return_pp"][w] = v
            cells.setdefault("rel_return_tint", {})[w] = tint(v, threshold_pp)
    for col in body["columns"]["descriptive"]:
        if col["key"].startswith("rel_return_pp."):
            col["intraday"] = True
    return {
        **body,
        "intraday": True,
        "intraday_last_bar": view.last_bar.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "intraday_session": view.session.date().isoformat(),
        "intraday_note": NOTE
        + (f"; no intraday bar for {', '.join(view.missing)} (last close shown)" if view.missing else ""),
    }

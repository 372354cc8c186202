"""The one cross-sectional percentile (features.crosssection), checked against scipy's average ranks."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from features.crosssection import xs_percentile


def test_zero_based_matches_scipy_average_ranks_with_ties_and_nan():
    x = np.array([3.0, np.nan, 1.0, 3.0, 7.0, -2.0])
    got = xs_percentile(pd.DataFrame({"x": x}), axis=0)["x"].to_numpy()
    ok = ~np.isnan(x)
    expected = np.full(len(x), np.nan)
    expected[ok] = (rankdata(x[ok]) - 1) / (ok.sum() - 1)
    np.testing.assert_allclose(got, expected, equal_nan=True)
    assert got[4] == 1 and got[5] == 0  # strongest 1, weakest 0


def test_zero_based_edge_cases():
    got = xs_percentile(pd.DataFrame({"lone": [np.nan, 5.0, np.nan], "none": [np.nan] * 3}), axis=0)
    assert got["lone"].tolist()[1] == 0.5
    assert got["none"].isna().all()


def test_rank_over_count_is_pandas_pct_rank_across_sectors():
    rng = np.random.default_rng(0)
    panel = pd.DataFrame(rng.normal(size=(50, 11)))
    panel.iloc[:20, 9:] = np.nan  # late listers
    panel.iloc[5, :4] = 1.0  # ties
    got = xs_percentile(panel, axis=1, zero_based=False)
    pd.testing.assert_frame_equal(got, panel.rank(axis=1, pct=True))
    assert (got.iloc[25].dropna().sort_values().diff().dropna() > 0).all()


def test_both_scalings_order_sectors_alike():
    rng = np.random.default_rng(1)
    panel = pd.DataFrame(rng.normal(size=(30, 8)))
    a = xs_percentile(panel, axis=1).rank(axis=1)
    b = xs_percentile(panel, axis=1, zero_based=False).rank(axis=1)
    pd.testing.assert_frame_equal(a, b)

"""MarketDataset: one point-in-time object; `upto` cuts bars, panels, features and labels together and
`data_hash` describes exactly the bars held."""

from __future__ import annotations

import pandas as pd
import pytest

from features.dataset import MarketDataset
from features.errors import RequestError
from features.sources.data_source import DataSource

CUT = pd.Timestamp("2023-06-30")


@pytest.fixture(scope="module")
def demo() -> MarketDataset:
    return MarketDataset.load("demo:years=4,seed=9", "us_sectors")


def test_upto_cuts_everything_together(demo):
    cut = demo.upto(CUT)
    assert cut.bars["date"].max() <= CUT and cut.panels.dates.max() <= CUT
    assert cut.data_through == cut.bars["date"].max()
    assert cut.features.index.get_level_values("date").max() <= CUT
    # causal features: the cut table equals the full table up to the cut
    full = demo.features[demo.features.index.get_level_values("date") <= CUT]
    pd.testing.assert_frame_equal(cut.features, full, check_exact=True)
    # labels: a label whose horizon ends after the cut is unknown then, though known in the full data
    last = cut.panels.dates[-3]
    assert cut.labels({"1W": 5}).xs(last, level="date")["label_1W"].isna().all()
    assert demo.labels({"1W": 5}).xs(last, level="date")["label_1W"].notna().all()
    assert cut.source == demo.source and cut.universe == demo.universe


def test_data_hash_describes_what_is_held(demo):
    cut = demo.upto(CUT)
    assert cut.data_hash != demo.data_hash
    assert cut.data_hash == demo.upto(CUT).data_hash  # deterministic
    again = MarketDataset.from_bars(cut.bars, cut.universe, cut.source)
    assert again.data_hash == cut.data_hash


def test_derived_tables_are_built_once(demo):
    assert demo.features is demo.features
    assert demo.labels({"1M": 21}) is demo.labels({"1M": 21})


def test_upto_names_a_bad_date(demo):
    with pytest.raises(RequestError, match="upto: 'soon' is not a date"):
        demo.upto("soon")


def test_the_source_is_parsed_once_into_a_typed_value():
    src = DataSource.parse("demo:seed=3,signal=0.1")
    assert src.kind == "demo" and src.synthetic and src.knobs.seed == 3 and src.knobs.signal == 0.1
    assert DataSource.parse(src) is src  # passing it down never re-parses a string
    csv = DataSource.parse("csv:some/dir")
    assert csv.kind == "csv" and not csv.synthetic and csv.location.is_absolute()
    assert not DataSource("cache").synthetic and DataSource("cache").name == "yfinance-cache"

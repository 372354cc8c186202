"""load_market: one spec -> validated bars, with every fallback of `auto` announced, never silent."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features.errors import SourceError
from features.sources import yahoo
from features.sources.data_source import parse_demo_knobs
from features.sources.demo import demo_market
from features.sources.market import load_market
from features.universe import load_universe

END = "2024-06-28"
UNI = load_universe("us_sectors")


@pytest.fixture(scope="module")
def small_market() -> pd.DataFrame:
    """Two years of the demo's us_sectors mirror: realistic bars to serve through fake sources."""
    bars, _ = demo_market(years=2, seed=21, end=END)
    return bars


def write_yf_csvs(bars: pd.DataFrame, folder: Path, tickers=None, until=None) -> Path:
    """One yfinance-style CSV per ticker, as people (and our cache) write them."""
    folder.mkdir(parents=True, exist_ok=True)
    for ticker, g in bars.groupby("ticker"):
        if tickers is not None and ticker not in tickers:
            continue
        if until is not None:
            g = g[g["date"] <= pd.Timestamp(until)]
        pd.DataFrame(
            {
                "Date": g["date"].dt.strftime("%Y-%m-%d"),
                "Close": g["close"],
                "High": g["high"],
                "Low": g["low"],
                "Open": g["open"],
                "Volume": g["volume"],
            }
        ).to_csv(folder / f"{ticker}.csv", index=False)
    return folder


def fake_yahoo(bars: pd.DataFrame, skip=()):
    """A downloader serving `bars` in yf.download's (Price, Ticker) shape; `skip`: tickers it lacks."""
    calls = []

    def download(tickers, start, end, timeout, cache_dir):
        calls.append(list(tickers))
        sub = bars[bars["ticker"].isin(set(tickers) - set(skip)) & (bars["date"] >= pd.Timestamp(start))]
        if sub.empty:
            return pd.DataFrame()
        wide = sub.pivot(index="date", columns="ticker", values=["close", "high", "low", "open", "volume"])
        wide.columns = pd.MultiIndex.from_tuples([(p.title(), t) for p, t in wide.columns], names=["Price", "Ticker"])
        return wide.rename_axis("Date")

    download.calls = calls
    return download


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setattr(yahoo, "probe", lambda deadline_s=3.0: False)
    monkeypatch.setattr(yahoo, "yf_download", lambda *a, **k: pytest.fail("no download when offline"))


@pytest.fixture
def online(monkeypatch, small_market):
    monkeypatch.setattr(yahoo, "probe", lambda deadline_s=3.0: True)
    fake = fake_yahoo(small_market)
    monkeypatch.setattr(yahoo, "yf_download", fake)
    return fake


# -- demo ------------------------------------------------------------------------------------
def test_demo_spec_gives_the_demo_market_and_records_its_knobs():
    md = load_market("demo:seed=3,signal=0.1,years=2", UNI, end=END)
    bars, _ = demo_market(seed=3, signal=0.1, years=2, end=END)
    pd.testing.assert_frame_equal(md.bars, bars)
    assert md.source.label == "demo(seed=3,signal=0.1,sectors=11,stocks=0,years=2,end=2024-06-28)"
    assert md.source.synthetic and md.universe is None and md.notes == []


def test_demo_with_constituents_brings_its_own_universe():
    md = load_market("demo:sectors=2,stocks=5,years=1", UNI, end=END)
    assert md.universe is not None and md.universe.is_constituent_based
    assert md.universe.benchmark == "DEMOIDX" and "stocks=5" in md.source.label
    assert set(md.universe.sector_tickers()) <= set(md.bars["ticker"])


def test_demo_mirror_for_another_universe_says_so(tmp_path):
    other = tmp_path / "mini.yaml"
    other.write_text("name: mini\nbenchmark: QQQ\nsectors:\n  - {name: Tech, ticker: XLK}\n")
    md = load_market("demo:years=1", load_universe(str(other)), end=END)
    assert md.universe == UNI and "not mini" in md.notes[0]


@pytest.mark.parametrize(
    "spec, text",
    [
        ("demo:colour=red", "unknown knob 'colour'"),
        ("demo:seed=abc", "seed='abc' is not an integer"),
        ("demo:signal=lots", "signal='lots' is not a number"),
        ("demo:years", "'years' needs a value"),
        ("demo:seed=1,seed=2", "given twice"),
        ("demo:signal=0.95", "signal"),
        ("demo:years=0", "years must be positive"),
    ],
)
def test_bad_demo_knobs_are_clear_source_errors(spec, text):
    with pytest.raises(SourceError, match=text.replace("(", r"\(")):
        load_market(spec, UNI, end=END)


def test_knob_parsing_fills_defaults():
    knobs = parse_demo_knobs("stocks=200, sectors=10")
    assert (knobs.sectors, knobs.stocks, knobs.years, knobs.signal, knobs.seed) == (10, 200, 20.0, 0.0, 7)


# -- csv -------------------------------------------------------------------------------------
def test_csv_source_records_the_absolute_folder(small_market, tmp_path, monkeypatch):
    write_yf_csvs(small_market, tmp_path / "dump")
    monkeypatch.chdir(tmp_path)
    md = load_market("csv:dump", UNI, end="2024-03-28")
    assert md.source.label == "csv:dump"  # the folder's own name: never the server's absolute path
    assert md.source.location == (tmp_path / "dump").resolve()
    assert md.bars["date"].max() == pd.Timestamp("2024-03-28")  # cut at `end`
    assert set(md.bars["ticker"]) == set(small_market["ticker"])
    assert not md.source.synthetic and md.report.refused == []


def test_csv_source_missing_folder_is_a_source_error(tmp_path):
    with pytest.raises(SourceError, match="is not a folder"):
        load_market(f"csv:{tmp_path / 'nope'}", UNI)


def test_csv_source_reads_the_real_dumps(shared_data_dir):
    md = load_market(f"csv:{shared_data_dir}", UNI)
    assert md.source.label == "csv:us_daily"
    assert {"SPY", "XLK", "XLC"} <= set(md.bars["ticker"])
    assert md.bars.groupby("ticker")["date"].min()["XLC"] >= pd.Timestamp("2018-06-19")


# -- yfinance --------------------------------------------------------------------------------
def test_yfinance_downloads_validates_and_caches(online, small_market, tmp_path):
    md = load_market("yfinance", UNI, cache_dir=tmp_path)
    assert md.source.label == "yfinance"
    assert set(md.bars["ticker"]) == set(small_market["ticker"])
    assert md.bars["date"].max() == small_market["date"].max()
    assert (tmp_path / "SPY.csv").is_file() and (tmp_path / "XLK.csv").is_file()
    assert md.report.refused == []


def test_yfinance_missing_required_ticker_names_it(monkeypatch, small_market, tmp_path):
    monkeypatch.setattr(yahoo, "yf_download", fake_yahoo(small_market, skip={"XLK", "SPY"}))
    with pytest.raises(SourceError, match=r"required ticker\(s\) XLK, SPY") as err:
        load_market("yfinance", UNI, cache_dir=tmp_path)
    assert "empty frame" in str(err.value) or "not in the frame" in str(err.value)


def test_yfinance_missing_optional_ticker_is_a_note(monkeypatch, small_market, tmp_path):
    monkeypatch.setattr(yahoo, "yf_download", fake_yahoo(small_market, skip={"HG=F"}))
    md = load_market("yfinance", UNI, cache_dir=tmp_path)
    assert md.source.label == "yfinance" and "HG=F" not in set(md.bars["ticker"])
    assert any("HG=F" in n for n in md.notes)
    assert any(f.ticker == "HG=F" and f.kind == "download_failed" for f in md.report.findings)


def test_yfinance_failure_with_a_cache_uses_the_cache_and_says_so(monkeypatch, small_market, tmp_path):
    write_yf_csvs(small_market, tmp_path, until="2024-05-31")
    monkeypatch.setattr(yahoo, "yf_download", fake_yahoo(small_market, skip=set(small_market["ticker"])))
    md = load_market("yfinance", UNI, cache_dir=tmp_path)
    assert md.source.label == "yfinance-cache"  # nothing required was refreshed
    assert md.data_through == pd.Timestamp("2024-05-31")
    assert any("using their cached data" in n for n in md.notes)


# -- auto ------------------------------------------------------------------------------------
def test_auto_online_is_yfinance(online, tmp_path):
    md = load_market("auto", UNI, cache_dir=tmp_path)
    assert md.source.label == "yfinance" and md.notes == [] and online.calls


def test_auto_offline_falls_back_to_the_cache_with_a_note(offline, small_market, tmp_path):
    write_yf_csvs(small_market, tmp_path, until="2024-05-31")
    md = load_market("auto", UNI, cache_dir=tmp_path)
    assert md.source.label == "yfinance-cache"
    assert md.notes[0] == f"network unavailable: using the cache ({tmp_path.name}) from 2024-05-31"
    assert str(tmp_path) not in " ".join(md.notes)  # notes reach clients: no server paths
    assert md.data_through == pd.Timestamp("2024-05-31") and not md.source.synthetic


def test_auto_offline_without_cache_falls_back_to_the_demo(offline, tmp_path):
    md = load_market("auto", UNI, cache_dir=tmp_path / "empty", end=END)
    assert md.source.synthetic and md.source.label.startswith("demo(seed=7,signal=0,")
    assert md.notes[0] == "network unavailable and no cache: using the DEMO market"
    assert md.data_through == pd.Timestamp(END)


def test_auto_offline_with_a_partial_cache_names_what_is_lacking(offline, small_market, tmp_path):
    write_yf_csvs(small_market, tmp_path, tickers={"SPY", "XLK"})
    md = load_market("auto", UNI, cache_dir=tmp_path, end=END)
    assert md.source.synthetic and "lacks" in md.notes[0] and "XLF" in md.notes[0] and "DEMO" in md.notes[0]


def test_auto_online_but_yahoo_empty_and_no_cache_goes_to_the_demo(monkeypatch, tmp_path):
    monkeypatch.setattr(yahoo, "probe", lambda deadline_s=3.0: True)
    monkeypatch.setattr(yahoo, "yf_download", lambda *a, **k: pd.DataFrame())  # offline-style empty frames
    md = load_market("auto", UNI, cache_dir=tmp_path, end=END)
    assert md.source.synthetic and md.notes[0].startswith("yfinance failed") and "DEMO" in md.notes[0]


def test_unknown_spec_is_refused():
    with pytest.raises(SourceError, match="unknown source"):
        load_market("bloomberg", UNI)

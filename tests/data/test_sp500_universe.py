"""`sp500` end to end through a fake yfinance module (the network boundary): batched downloads build
the cache, failed and short members are named and left out with their sector's member count, a
member's unadjusted split is repaired, and `sector-heatmap heatmap --universe sp500` then works
from the cache alone."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.sources import yahoo
from features.sources.demo import demo_market
from features.universe import load_universe
from serving.cli import main

ROOT = Path(__file__).resolve().parents[2]
CONSTITUENTS = ROOT.parent / "shared" / "data" / "universes" / "sp500_constituents.csv"
UNI = load_universe("sp500")
MEMBERS = [m for s in UNI.sectors for m in s.members]
FAILING = "BRK-B"  # yfinance returns nothing for it (as for a mistyped or delisted symbol)
SHORT = "APP"  # only a few sessions of history
SPLIT = "AAPL"  # an unadjusted 4:1 split in the middle of its history


@pytest.fixture(scope="module")
def market() -> pd.DataFrame:
    """Two years of a seeded demo constituent market, renamed onto the S&P 500 symbols and SPY."""
    bars, demo = demo_market(sectors=11, stocks=46, years=2, seed=5)
    stocks = [m for s in demo.sectors for m in s.members]
    names = dict(zip(stocks, MEMBERS)) | {demo.benchmark: "SPY"}
    bars = bars[bars["ticker"].isin(set(names) | set(demo.context.values()))].copy()
    bars["ticker"] = bars["ticker"].map(lambda t: names.get(t, t))
    # members listed late in the demo must still have enough history for this test's counts
    return bars


class FakeYfinance(types.ModuleType):
    """The parts of the yfinance module the source calls, serving `bars` (records every call)."""

    def __init__(self, bars: pd.DataFrame):
        super().__init__("yfinance")
        self.bars, self.calls = bars, []
        days = sorted(bars["date"].unique())
        self.short_from = days[-5]
        self.split_day = days[len(days) // 2]

    def set_tz_cache_location(self, path):
        pass

    def download(self, tickers, start=None, end=None, threads=True, **kw):
        assert threads is False and kw["auto_adjust"] is True
        self.calls.append(list(tickers))
        sub = self.bars[self.bars["ticker"].isin(set(tickers) - {FAILING}) & (self.bars["date"] >= start)]
        sub = sub[(sub["ticker"] != SHORT) | (sub["date"] >= self.short_from)].copy()
        before = (sub["ticker"] == SPLIT) & (sub["date"] < self.split_day)
        for c in ("open", "high", "low", "close"):
            sub.loc[before, c] *= 4.0  # Yahoo did not adjust this split
        if FAILING in tickers:
            import logging

            logging.getLogger("yfinance").error("['%s']: YFTzMissingError('possibly delisted')", FAILING)
        wide = sub.pivot(index="date", columns="ticker", values=["close", "high", "low", "open", "volume"])
        wide.columns = pd.MultiIndex.from_tuples([(p.title(), t) for p, t in wide.columns], names=["Price", "Ticker"])
        return wide.rename_axis("Date")


@pytest.fixture(scope="module")
def built(market, tmp_path_factory):
    """`sector-heatmap data --source yfinance --universe sp500` once: (fake module, cache folder, stdout)."""
    import contextlib
    import io

    tmp = tmp_path_factory.mktemp("sp500")
    fake = FakeYfinance(market)
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out):
        mp.setitem(sys.modules, "yfinance", fake)
        mp.setattr(yahoo, "_TZ_CACHE_DIRS", set())
        mp.setenv(yahoo.CACHE_ENV, str(tmp / "cache"))
        assert main(["data", "--source", "yfinance", "--universe", "sp500", "--limit", "400"]) == 0
    return fake, tmp / "cache", out.getvalue()


@pytest.fixture
def offline(monkeypatch, built, tmp_path):
    """Yahoo unreachable; the cache that `built` wrote is all there is."""
    monkeypatch.setitem(sys.modules, "yfinance", types.ModuleType("yfinance"))  # any call would fail loudly
    monkeypatch.setattr(yahoo, "probe", lambda deadline_s=3.0: False)
    monkeypatch.setenv(yahoo.CACHE_ENV, str(built[1]))
    monkeypatch.setenv("SECTOR_HEATMAP_STORE", str(tmp_path / "mlruns"))  # no model: descriptive only
    return built


def test_sp500_universe_is_the_shipped_list():
    assert UNI.benchmark == "SPY" and len(UNI.sectors) == 11 and UNI.member_count == 503
    assert UNI.current_members_only and "survivorship bias" in (UNI.survivorship_note or "")
    tech = next(s for s in UNI.sectors if s.name == "Information Technology")
    assert tech.gics == "45" and "AAPL" in tech.members and tech.weights is None  # equal weight
    assert "BRK-B" in MEMBERS and "BRK.B" not in MEMBERS  # written as Yahoo spells it


def test_the_build_script_rebuilds_the_shipped_universe(tmp_path):
    if not CONSTITUENTS.is_file():
        pytest.skip(f"constituents list not present at {CONSTITUENTS}")
    script = ROOT / "scripts" / "build_sp500_universe.py"
    subprocess.run([sys.executable, str(script), str(CONSTITUENTS), "--out", str(tmp_path)], check=True)
    for name in ("sp500.csv", "sp500.yaml"):
        assert (tmp_path / name).read_bytes() == (ROOT / "features" / "universes" / name).read_bytes(), name


def test_the_yfinance_source_downloads_sp500_in_batches_and_names_what_it_leaves_out(built):
    fake, cache, out = built
    # batched: every call asked for at most download_batch tickers, and every ticker was asked for
    assert max(len(c) for c in fake.calls) <= 50 and len(fake.calls) >= 11
    assert {t for c in fake.calls for t in c} == set(UNI.tickers())
    assert (cache / "AAPL.csv").is_file() and (cache / "SPY.csv").is_file() and not (cache / f"{FAILING}.csv").exists()
    # named and left out, with the member count of their sector; the split repaired and reported
    assert f"sector Financials: 75/76 members used, left out {FAILING}:" in out and "possibly delisted" in out
    assert f"sector Communication Services: 22/23 members used, left out {SHORT}: only 5 sessions" in out
    assert "survivorship bias" in out
    assert "unadjusted_split" in out and SPLIT in out


@pytest.mark.slow
def test_heatmap_sp500_works_from_the_cache_alone(offline, tmp_path, capsys):
    assert main(["heatmap", "--universe", "sp500", "--format", "json", "--output", str(tmp_path / "h.json")]) == 0
    err = capsys.readouterr().err
    r = json.loads((tmp_path / "h.json").read_text())
    assert r["universe"] == "sp500" and r["benchmark"] == "SPY" and r["data_source"] == "yfinance-cache"
    assert sorted(s["name"] for s in r["sectors"]) == sorted(s.name for s in UNI.sectors)
    assert all(s["predicted"] is None for s in r["sectors"])  # no model trained on sp500: descriptive only
    assert "survivorship bias" in err and "75/76 members" in err


def test_a_members_split_does_not_move_its_sector(offline, market):
    from features.dataset import MarketDataset

    fake, cache, _ = offline
    ds = MarketDataset.load("auto", "sp500", cache_dir=cache)
    tech = ds.panels.close["Information Technology"]
    day = fake.split_day
    move = tech.loc[day] / tech.shift(1).loc[day] - 1
    # independently: the equal-weight mean of the members' true returns that day (no split in them);
    # the 4:1 split left in would add -75% / 73 members, about -1 pp
    close = market[market["ticker"].isin(ds.panels.membership["Information Technology"].used)]
    close = close.pivot(index="date", columns="ticker", values="close")
    assert move == pytest.approx((close.loc[day] / close.shift(1).loc[day] - 1).mean(), abs=1e-9)
    aapl = ds.bars[ds.bars["ticker"] == SPLIT].set_index("date")["close"]
    assert np.isclose(aapl.loc[day] / aapl.shift(1).loc[day], 1, atol=0.2)  # no 4x step left in the bars
    used = ds.panels.membership["Information Technology"].used
    last = ds.bars[ds.bars["date"] == ds.panels.dates[-1]]
    assert ds.panels.members["Information Technology"].iloc[-1] == last["ticker"].isin(used).sum()

"""The embedded demo market: deterministic, tidy, realistic, and with a planted signal of known strength."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from features.bars import BAR_COLUMNS, tidy_bars, wide
from features.sources.demo import demo_latent, demo_market
from features.universe import load_universe

END = "2024-06-28"  # a fixed last day, so the tests do not move with the calendar
HORIZON = 21


def xnys_sessions(start, end) -> pd.DatetimeIndex:
    """Independent of features.calendar: exchange_calendars directly."""
    import exchange_calendars as xcals

    cal = xcals.get_calendar("XNYS", start="1990-01-01")
    return pd.DatetimeIndex(cal.sessions_in_range(start, end)).tz_localize(None)


def mean_rank_ic(score: pd.DataFrame, log_close: pd.DataFrame, benchmark: pd.Series, horizon: int = HORIZON) -> float:
    """Mean over dates of the cross-sectional Spearman correlation of score_t with the forward
    `horizon`-session log return relative to the benchmark (dates with >= 5 sectors)."""
    rel = log_close.sub(benchmark, axis=0)
    fwd = rel.shift(-horizon) - rel
    ok = fwd.notna() & score.notna()
    ic = score.where(ok).rank(axis=1).corrwith(fwd.where(ok).rank(axis=1), axis=1)
    return float(ic[ok.sum(axis=1) >= 5].mean())


def etf_ic(signal: float, seed: int, years: float = 20) -> float:
    bars, uni = demo_market(signal=signal, seed=seed, years=years, end=END)
    z = demo_latent(signal=signal, seed=seed, years=years, end=END).z
    log_close = np.log(wide(bars, "close"))
    return mean_rank_ic(z, log_close[z.columns], log_close[uni.benchmark])


@pytest.fixture(scope="module")
def demo():
    bars, uni = demo_market(years=20, seed=7, end=END)
    return bars, uni, demo_latent(years=20, seed=7, end=END)


@pytest.fixture(scope="module")
def constituents():
    kw = dict(sectors=3, stocks=40, years=10, seed=5, end=END)
    bars, uni = demo_market(**kw)
    return bars, uni, kw


def test_same_knobs_same_market_and_seed_changes_it():
    a, ua = demo_market(years=2, seed=11, end=END)
    b, ub = demo_market(years=2, seed=11, end=END)
    c, _ = demo_market(years=2, seed=12, end=END)
    pd.testing.assert_frame_equal(a, b)
    assert ua == ub
    assert len(a) == len(c) and not np.allclose(a["close"], c["close"])


def test_default_end_is_the_last_session_before_today():
    bars, _ = demo_market(years=1)
    today = pd.Timestamp.today().normalize()
    expected = xnys_sessions(today - pd.Timedelta(days=14), today - pd.Timedelta(days=1))[-1]
    assert bars["date"].max() == expected


def test_bars_are_tidy_positive_and_ohlc_consistent(demo):
    bars, _, _ = demo
    assert tuple(bars.columns) == BAR_COLUMNS
    pd.testing.assert_frame_equal(tidy_bars(bars), bars)  # already canonical dtypes and order
    assert not bars.isna().any().any()
    assert not bars.duplicated(["ticker", "date"]).any()
    prices = bars[["open", "high", "low", "close"]]
    assert (prices > 0).all().all()
    assert (bars["low"] <= prices[["open", "close"]].min(axis=1)).all()
    assert (bars["high"] >= prices[["open", "close"]].max(axis=1)).all()
    assert (bars["volume"] >= 0).all() and (bars["volume"] == bars["volume"].round()).all()
    sessions = xnys_sessions(bars["date"].min(), END)
    assert set(bars["date"]) == set(sessions)  # every XNYS session, nothing else
    assert bars["date"].min() >= pd.Timestamp(END) - pd.Timedelta(days=round(20 * 365.25))


def test_mirrors_the_shipped_us_sectors_universe(demo):
    bars, uni, _ = demo
    shipped = load_universe("us_sectors")
    assert uni == shipped
    assert set(bars["ticker"]) == set(shipped.tickers())  # sectors, SPY and every context series
    assert {"XLB", "XLK", "XLY", "SPY", "^VIX", "^TNX", "CL=F"} <= set(bars["ticker"])


def test_xlc_and_xlre_start_on_their_launch_dates(demo):
    bars, _, _ = demo
    first = bars.groupby("ticker")["date"].min()
    assert first["XLC"] == pd.Timestamp("2018-06-19")
    assert first["XLRE"] == pd.Timestamp("2015-10-08")
    assert first["XLK"] == first["SPY"] == bars["date"].min()
    early, _ = demo_market(years=3, end="2016-12-30")
    assert "XLC" not in set(early["ticker"])  # not launched yet inside that window
    assert early.loc[early["ticker"] == "XLRE", "date"].min() == pd.Timestamp("2015-10-08")


def test_daily_returns_have_fat_tails(demo):
    bars, uni, _ = demo
    r = np.log(wide(bars, "close")).diff()
    sectors = [s.ticker for s in uni.sectors]
    kurt = r[[*sectors, uni.benchmark]].kurt()  # excess kurtosis: a normal has 0 (Pearson 3)
    assert (kurt > 1.0).all(), kurt.to_dict()
    # and more than the regimes alone would give: look inside calm spells only
    _, _, latent = demo
    calm = ~latent.stressed.reindex(r.index).to_numpy()
    assert r.loc[calm, uni.benchmark].kurt() > 1.0


def test_volatility_regimes_switch_and_move_vix(demo):
    bars, uni, latent = demo
    stressed = latent.stressed
    switches = int((stressed.astype(int).diff().abs() == 1).sum())
    assert 2 <= switches <= 40  # a few times a decade
    assert 0.05 < stressed.mean() < 0.5
    close = wide(bars, "close")
    r = np.log(close[uni.benchmark]).diff()
    ratio = r[stressed].std() / r[~stressed].std()
    assert 1.8 < ratio < 3.2  # stressed volatility ~2.5x calm
    vix = close["^VIX"]
    assert vix.between(9, 85).all()
    assert vix[stressed].median() > 1.5 * vix[~stressed].median()
    assert close["^TNX"].between(0, 10).all() and close["^FVX"].between(0, 10).all()  # yields in percent


def test_volume_tracks_busy_days_and_reveals_the_latent_score(demo):
    bars, _, latent = demo
    close, volume = wide(bars, "close"), wide(bars, "volume")
    log_vol, abs_r = np.log(volume["XLF"]), np.log(close["XLF"]).diff().abs()
    assert log_vol.corr(abs_r) > 0.1
    assert log_vol.corr(latent.z["XLF"]) > 0.4  # log abnormal volume = 0.5 z + noise
    assert (volume["^VIX"] == 0).all()  # like Yahoo: indices trade no volume


def test_no_signal_means_relative_returns_are_unpredictable_from_z():
    assert demo_latent(signal=0.0, years=1, end=END).k == 0.0  # no drift at all
    ics = [etf_ic(0.0, seed) for seed in (1, 2, 3, 4)]
    assert abs(np.mean(ics)) < 0.03, ics


def test_planted_signal_is_recovered_at_its_strength():
    ics = [etf_ic(0.1, seed) for seed in (1, 2, 3, 4)]
    assert abs(np.mean(ics) - 0.1) < 0.04, ics
    assert min(ics) > 0.03, ics
    assert demo_latent(signal=-0.1, years=1, end=END).k < 0 < demo_latent(signal=0.1, years=1, end=END).k


def test_signal_leaves_the_noise_alone():
    """signal only adds the drift: same seed, same shocks, so the markets differ by little."""
    a, _ = demo_market(signal=0.0, seed=3, years=5, end=END)
    b, _ = demo_market(signal=0.1, seed=3, years=5, end=END)
    ra = np.log(wide(a, "close")).diff()
    rb = np.log(wide(b, "close")).diff()
    assert ra["XLK"].corr(rb["XLK"]) > 0.99
    pd.testing.assert_series_equal(ra["^VIX"], rb["^VIX"])  # context does not depend on the signal


@pytest.mark.parametrize(
    "knobs, text",
    [
        (dict(signal=0.9), "signal"),
        (dict(years=0), "years"),
        (dict(sectors=0), "sectors"),
        (dict(stocks=-1), "stocks"),
        (dict(stocks=2.5), "stocks"),
        (dict(seed=-1), "seed"),
    ],
)
def test_bad_knobs_are_refused_by_name(knobs, text):
    with pytest.raises(ValueError, match=text):
        demo_market(end=END, **knobs)


def test_constituent_universe(constituents):
    bars, uni, kw = constituents
    assert uni.is_constituent_based and uni.benchmark == "DEMOIDX"
    assert [s.name for s in uni.sectors] == ["Sector 01", "Sector 02", "Sector 03"]
    assert all(len(s.members) == kw["stocks"] for s in uni.sectors)
    assert all(re.fullmatch(rf"S{i + 1:02d}_\d{{4}}", m) for i, s in enumerate(uni.sectors) for m in s.members)
    assert uni.cohorts == {"early_cycle": ("Sector 01",), "late_cycle": ("Sector 02",), "defensive": ("Sector 03",)}
    assert set(bars["ticker"]) == set(uni.tickers())
    pd.testing.assert_frame_equal(tidy_bars(bars), bars)


def test_some_members_list_late_and_some_delist_early(constituents):
    bars, uni, _ = constituents
    span = bars.groupby("ticker")["date"].agg(["min", "max"])
    members = span.loc[uni.sector_tickers()]
    first, last = bars["date"].min(), bars["date"].max()
    late, gone = (members["min"] > first).mean(), (members["max"] < last).mean()
    assert 0 < late < 0.15 and 0 < gone < 0.15, (late, gone)
    assert span.loc["DEMOIDX", "min"] == first and span.loc["DEMOIDX", "max"] == last


def test_the_index_is_a_market_of_its_members(constituents):
    bars, uni, _ = constituents
    r = np.log(wide(bars, "close")).diff()
    members = r[uni.sector_tickers()].mean(axis=1)  # equal weight of those listed that day
    assert r["DEMOIDX"].corr(members) > 0.9


def test_planted_signal_in_constituent_mode():
    ics = []
    for seed in (1, 2, 3):
        kw = dict(sectors=10, stocks=10, years=20, signal=0.2, seed=seed, end=END)
        bars, uni = demo_market(**kw)
        z = demo_latent(**kw).z
        r = np.log(wide(bars, "close")).diff()
        sector = pd.DataFrame({s.key: r[list(s.members)].mean(axis=1) for s in uni.sectors}).cumsum()
        ics.append(mean_rank_ic(z, sector, r["DEMOIDX"].cumsum()))
    assert abs(np.mean(ics) - 0.2) < 0.05, ics


@pytest.mark.slow
def test_scale_case_two_thousand_stocks():
    """10 sectors x 200 stocks x 20 years: ~10M bars in one go (timings are in the report)."""
    bars, uni = demo_market(sectors=10, stocks=200, years=20, end=END)
    assert len(uni.sector_tickers()) == 2000
    assert 9_000_000 < len(bars) < 10_500_000
    assert bars["close"].gt(0).all() and not bars["date"].isna().any()

"""Headline fetching (both yfinance item shapes, deduplication), the SQLite store (restart, corrupt file)
and the per-sector aggregates (recency weighting, attention, no look-ahead)."""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest
from news_builders import NOW, new_item, old_item, put

from features.news.aggregates import recency_weighted, record_daily, sector_news, training_history, universe_news
from features.news.config import NewsConfig
from features.news.fetch import fetch_news, news_tickers, parse_item
from features.news.refresh import due, refresh_news
from features.news.store import HeadlineStore, store_path
from features.universe import load_universe, universe_from_mapping

H = pd.Timedelta(hours=1)
D = pd.Timedelta(days=1)


# ---- fetch ---------------------------------------------------------------------------------------
def test_both_item_shapes_parse_to_the_same_fields():
    when = pd.Timestamp("2024-03-01 12:30", tz="UTC")
    old = parse_item(old_item("u1", " Apple beats estimates ", when, related=("AAPL", "MSFT")), "XLK")
    new = parse_item(new_item("n1", "Microsoft shares fall", when), "MSFT")
    assert old is not None and new is not None
    assert (old.id, old.title, old.provider, old.published) == ("u1", "Apple beats estimates", "Reuters", when)
    assert old.url == "https://example.com/u1" and old.tickers == ("XLK", "AAPL", "MSFT")
    assert (new.id, new.title, new.provider, new.published) == ("n1", "Microsoft shares fall", "Yahoo Finance", when)
    assert new.url == "https://finance.example.com/n1" and new.tickers == ("MSFT",)


@pytest.mark.parametrize(
    "raw",
    [
        {"uuid": "x", "title": "", "providerPublishTime": 1},  # no title
        {"uuid": "x", "title": "t"},  # no time
        {"id": "x", "content": {"title": "t", "pubDate": "not a date"}},
        "not a mapping",
    ],
)
def test_unusable_items_are_skipped(raw):
    assert parse_item(raw, "XLK") is None


def test_fetch_dedupes_by_id_and_url_and_survives_a_failing_ticker():
    t = NOW - H
    feeds = {
        "XLK": [old_item("a", "A", t), new_item("b", "B", t, url="https://same/url")],
        "AAPL": [old_item("a", "A again", t), old_item("c", "C", t, link="https://same/url"), {"junk": 1}],
    }

    def fetcher(ticker):
        if ticker == "MSFT":
            raise TimeoutError("no answer")
        return feeds.get(ticker, [])

    got = fetch_news({"XLK": ["XLK", "AAPL", "MSFT"]}, fetcher)
    assert [i.id for i in got.items["XLK"]] == ["a", "b"]  # "a" by id and "c" by URL were duplicates
    assert set(got.failed) == {"MSFT"} and "TimeoutError" in got.failed["MSFT"] and got.skipped == 1


def test_news_tickers_etf_holdings_and_constituent_members():
    etf = load_universe("us_sectors")
    tick = news_tickers(etf, NewsConfig().holdings, 5)
    assert tick["XLK"][0] == "XLK" and "MSFT" in tick["XLK"] and len(tick) == 11
    members = universe_from_mapping(
        {
            "name": "mini",
            "benchmark": "IDX",
            "sectors": [{"name": "Banks", "members": ["A", "B", "C"], "weights": {"A": 1, "B": 5, "C": 3}}],
        }
    )
    assert news_tickers(members, {}, 2) == {"Banks": ["B", "C"]}  # the largest members first


# ---- store ---------------------------------------------------------------------------------------
def test_store_survives_a_restart_and_ignores_duplicates(tmp_path):
    path = store_path(tmp_path)
    s = HeadlineStore(path)
    put(s, "u", "XLK", [("a", NOW - H, 0.5), ("b", NOW - 2 * H, -0.5)])
    put(s, "u", "XLF", [("a", NOW - H, 0.5)])  # the same headline for another sector: linked, not duplicated
    s.close()
    again = HeadlineStore(path)
    assert again.rebuilt is None and again.count() == 2
    assert [h.id for h in again.headlines("u", "XLK", NOW - D, NOW)] == ["a", "b"]  # newest first
    assert [h.id for h in again.headlines("u", "XLF", NOW - D, NOW)] == ["a"]
    assert again.headlines("u", "XLK", NOW - D, NOW)[1].score == -0.5


def test_a_corrupt_store_is_reported_and_rebuilt(tmp_path):
    path = store_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not a database" * 100)
    s = HeadlineStore(path)
    assert s.rebuilt is not None and "could not be read" in s.rebuilt
    assert s.count() == 0 and list(path.parent.glob("headlines.sqlite.corrupt-*"))
    put(s, "u", "XLK", [("a", NOW - H, 0.1)])
    assert HeadlineStore(path).count() == 1  # the rebuilt file is a good one


def test_store_is_a_real_sqlite_file(tmp_path):
    s = HeadlineStore(store_path(tmp_path))
    put(s, "u", "XLK", [("a", NOW - H, 0.1)])
    with sqlite3.connect(store_path(tmp_path)) as c:
        assert c.execute("SELECT title, score FROM headlines").fetchall() == [("headline a", 0.1)]


# ---- aggregates ----------------------------------------------------------------------------------
def test_no_look_ahead_only_headlines_published_by_as_of(tmp_path):
    s = HeadlineStore(store_path(tmp_path))
    put(s, "u", "XLK", [("old", NOW - 2 * D, -0.8), ("before", NOW - H, 0.6), ("after", NOW + H, -0.9)])
    n = sector_news(s, "u", "XLK", NOW, NewsConfig())
    assert [h.id for h in n.top] == ["before", "old"] and n.headlines == 2
    at_old = sector_news(s, "u", "XLK", NOW - 2 * D, NewsConfig())  # published exactly at as_of: included
    assert [h.id for h in at_old.top] == ["old"] and at_old.sentiment == pytest.approx(-0.8)


def test_sentiment_is_the_recency_weighted_mean(tmp_path):
    cfg = NewsConfig(half_life_days=1.0)
    s = HeadlineStore(store_path(tmp_path))
    put(s, "u", "XLK", [("a", NOW, 1.0), ("b", NOW - D, -1.0), ("c", NOW - 10 * D, -1.0)])  # c: outside 7 days
    # weights 1 and 0.5: (1 - 0.5) / 1.5
    assert sector_news(s, "u", "XLK", NOW, cfg).sentiment == pytest.approx(1 / 3)
    assert recency_weighted([], NOW, 1.0) is None


def test_news_volume_needs_history_and_compares_with_its_own_average(tmp_path):
    cfg = NewsConfig(baseline_days=10, min_baseline_days=3)
    s = HeadlineStore(store_path(tmp_path))
    # fetched for 11 days: 2 headlines a day before the last day, 6 in the last day
    first = NOW - 11 * D
    put(s, "u", "XLK", [], fetched=first)
    rows = [(f"d{k}-{j}", NOW - (k + 1) * D - j * H, 0.0) for k in range(10) for j in range(2)]
    rows += [(f"today-{j}", NOW - j * H, 0.0) for j in range(6)]
    put(s, "u", "XLK", rows)
    assert sector_news(s, "u", "XLK", NOW, cfg).volume == pytest.approx(3.0)
    young = HeadlineStore(store_path(tmp_path / "young"))
    put(young, "u", "XLK", [("x", NOW - H, 0.0)], fetched=NOW - D)
    assert sector_news(young, "u", "XLK", NOW, cfg).volume is None  # one day of store: not an attention spike


def test_daily_aggregates_are_recorded_and_training_says_unavailable(tmp_path):
    cfg = NewsConfig(min_history_days=3)
    s = HeadlineStore(store_path(tmp_path))
    put(s, "u", "XLK", [("a", NOW - 3 * D, 0.5), ("b", NOW - H, -0.5)])
    for day in (NOW - 3 * D, NOW - D):  # two days recorded, the day in between missing
        record_daily(s, "u", universe_news(s, "u", ["XLK", "XLF"], day, cfg), day)
    daily = s.daily("u")
    assert len(daily) == 4 and (daily["as_of"] <= daily["date"].dt.tz_localize("UTC") + D).all()
    xlk = daily[daily["sector"] == "XLK"].set_index("date")["news_sentiment"]
    assert xlk.iloc[0] == pytest.approx(0.5) and xlk.iloc[1] == pytest.approx(0.5)  # b is not yet published
    assert daily[daily["sector"] == "XLF"]["news_sentiment"].isna().all()  # no headlines: missing, not zero
    frame, why = training_history(s, "u", cfg)
    assert frame is None and "unavailable" in why and "2 day(s)" in why
    record_daily(s, "u", universe_news(s, "u", ["XLK"], NOW, cfg), NOW)
    frame, why = training_history(s, "u", cfg)
    assert frame is not None and frame["date"].nunique() == 3


def test_refresh_fetches_scores_stores_and_records(tmp_path):
    uni = load_universe("us_sectors")
    feeds = {
        "XLK": [new_item("k1", "Nvidia shares surge after record quarterly profit", NOW - H)],
        "MSFT": [old_item("m1", "Microsoft cuts 10,000 jobs as demand weakens", NOW - 2 * H)],
        "XLE": [new_item("future", "Exxon profit rises", NOW + D)],  # clock skew: not yet
    }
    s = HeadlineStore(store_path(tmp_path))
    cfg = NewsConfig()
    r = refresh_news(s, uni, cfg, now=NOW, fetcher=lambda t: feeds.get(t, []))
    assert r.fetched == 2 and r.new == 2 and not r.failed
    top = {h.id: h for h in r.news["XLK"].top}
    assert top["k1"].label == "positive" and top["m1"].label == "negative" and top["k1"].score > 0 > top["m1"].score
    assert r.news["XLE"].headlines == 0 and len(s.daily("us_sectors")) == 11
    again = refresh_news(s, uni, cfg, now=NOW + H, fetcher=lambda t: feeds.get(t, []))
    assert again.new == 0 and s.count() == 2  # the same items again: nothing new
    naive = refresh_news(s, uni, cfg, now=(NOW + 2 * H).tz_localize(None), fetcher=lambda t: feeds.get(t, []))
    assert naive.at == NOW + 2 * H and naive.fetched == 2  # a naive `now` is read as UTC, like every other clock
    assert due(None, NOW, cfg) and not due(NOW, NOW + H / 2, cfg) and due(NOW, NOW + H, cfg)


def test_training_status_line(tmp_path):
    from features.news.aggregates import news_feature_status

    cfg = NewsConfig(min_history_days=2)
    assert "no headline store" in news_feature_status("u", tmp_path, cfg)
    s = HeadlineStore(store_path(tmp_path))
    record_daily(s, "u", universe_news(s, "u", ["XLK"], NOW, cfg), NOW)
    s.close()
    assert "unavailable for training: 1 day(s) of history, 2 needed" in news_feature_status("u", tmp_path, cfg)


def test_fetch_stops_asking_after_its_deadline():
    asked = []

    def slow(ticker):
        asked.append(ticker)
        import time

        time.sleep(0.05)
        return []

    got = fetch_news({"A": ["T1", "T2", "T3"]}, slow, deadline_s=0.01)
    assert asked == ["T1"] and set(got.failed) == {"T2", "T3"} and "deadline" in got.failed["T2"]

"""News in the service: the news columns in POST /heatmap (and the page and the terminal table drawn
from it), news sentiment in the health score's sentiment component, POST /news and the get_sector_news
MCP tool, all over a real SQLite headline store in a temporary cache directory."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pandas as pd
import pytest
from markupsafe import escape

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "news"))
from news_builders import new_item, put
from serving_builders import DEMO_SOURCE

from features.news.store import HeadlineStore, store_path
from features.sources.yahoo import CACHE_ENV

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
NOW = pd.Timestamp.now("UTC").floor("s")
H = pd.Timedelta(hours=1)
AS_OF = (NOW - pd.Timedelta(days=10)).date().isoformat()  # beyond the 7-day news window of today
SCRIPT = "<script>alert('x')</script> & co"  # a headline id; its title is "headline <id>"


@pytest.fixture(scope="module")
def news_cache(tmp_path_factory) -> Path:
    """XLK: four recent headlines (enough for the health score), XLE and XLU: one (XLU's with markup in its
    title); one XLK headline after AS_OF's day."""
    cache = tmp_path_factory.mktemp("cache")
    s = HeadlineStore(store_path(cache))
    put(s, "us_sectors", "XLK", [(f"k{i}", NOW - (i + 1) * H, 0.8) for i in range(4)], fetched=NOW - 5 * H)
    put(s, "us_sectors", "XLE", [("e0", NOW - 2 * H, -0.9)], fetched=NOW - 5 * H)
    put(s, "us_sectors", "XLU", [(SCRIPT, NOW - 3 * H, 0.1)], fetched=NOW - 5 * H)  # a title to escape
    day_end = pd.Timestamp(AS_OF, tz="UTC") + pd.Timedelta(hours=23)
    put(s, "us_sectors", "XLK", [("past", day_end - H, -0.4)], fetched=day_end)
    s.close()
    return cache


@pytest.fixture(scope="module")
def news_client(open_client, demo_store, news_cache):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(CACHE_ENV, str(news_cache))
        with open_client(demo_store) as c:
            yield c


def sectors(resp: dict) -> dict:
    return {s["ticker"]: s for s in resp["sectors"]}


def test_heatmap_has_news_columns_and_health_inputs(news_client):
    resp = news_client.post("/heatmap", json={"timeframe": "1M"}).json()
    keys = [c["key"] for c in resp["columns"]["descriptive"]]
    assert "news_sentiment" in keys and "news_volume" in keys
    by = sectors(resp)
    xlk, xle, xlf = by["XLK"], by["XLE"], by["XLF"]
    assert xlk["descriptive"]["news_sentiment"] == pytest.approx(0.8)
    assert xle["descriptive"]["news_sentiment"] == pytest.approx(-0.9)
    assert xlf["descriptive"]["news_sentiment"] is None and xlf["news"]["headlines"] == 0
    # enough recent headlines: news joins the sentiment component; one headline does not
    assert xlk["news"]["sentiment_inputs"] == ["sentiment_score", "news_sentiment"]
    assert xle["news"]["sentiment_inputs"] == ["sentiment_score"]
    assert [h["score"] for h in xlk["news"]["top"]] == [0.8, 0.8, 0.8] and xlk["news"]["headlines"] == 4
    assert resp["news"]["min_headlines"] == 3 and resp["news"]["note"] is None


def test_news_moves_only_the_sentiment_component_of_sectors_with_news(news_cache, tmp_path):
    from features.config import FeatureConfig
    from features.dataset import MarketDataset
    from serving.config import ServingConfig
    from serving.news import NewsDesk, heatmap_with_news
    from serving.request import HeatmapRequest

    cfg = ServingConfig()
    ds = MarketDataset.load(DEMO_SOURCE, "us_sectors")
    news_cfg = FeatureConfig().news

    def answer(cache, as_of=None):
        req = HeatmapRequest.parse({"timeframe": "1M", "as_of": as_of}, cfg)
        return sectors(heatmap_with_news(ds, req, None, "none", cfg, NewsDesk(news_cfg, cache)))

    plain, latest = answer(tmp_path / "empty"), answer(news_cache)
    comp = {k: (plain[k]["health_components"], latest[k]["health_components"]) for k in plain}
    assert all(a == b for k, (a, b) in comp.items() if k != "XLK")  # only XLK has enough headlines
    before, after = comp["XLK"]
    assert {k: v for k, v in before.items() if k != "sentiment"} == {k: v for k, v in after.items() if k != "sentiment"}
    # one sector with a news input: its percentile is the midpoint of one (50), averaged with the market's
    assert after["sentiment"] == pytest.approx((before["sentiment"] + 50.0) / 2, abs=0.01)
    # 2025-06-30: no headline was published by then, so none of today's news is seen (no look-ahead)
    past = answer(news_cache, "2025-06-30")
    assert all(s["descriptive"]["news_sentiment"] is None for s in past.values())
    assert all(s["news"]["sentiment_inputs"] == ["sentiment_score"] for s in past.values())


def test_past_as_of_sees_only_headlines_published_by_then(news_client):
    r = news_client.post("/news", json={"sector": "XLK", "as_of": AS_OF, "days": 2})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [h["title"] for h in body["headlines"]] == ["headline past"] and body["news_sentiment"] == -0.4
    latest = news_client.post("/news", json={"sector": "technology"}).json()  # by name, any case
    assert latest["sector"] == "XLK" and latest["headline_count"] == 4  # the 10-day-old one is outside 7 days
    published = [h["published"] for h in latest["headlines"]]
    assert published == sorted(published, reverse=True) and latest["news_sentiment"] > 0


@pytest.mark.parametrize(
    "body, field",
    [({"sector": "XXX"}, "sector"), ({"sector": "XLK", "days": 0}, "days"), ({"sector": "XLK", "days": 365}, "days")],
)
def test_news_bad_input_is_a_400_naming_the_field(news_client, body, field):
    r = news_client.post("/news", json=body)
    assert r.status_code == 400 and r.json()["error"]["message"].startswith(field)


def test_page_and_terminal_table_show_the_news_columns(news_client):
    from rich.console import Console

    from serving.commands import print_heatmap

    page = news_client.get("/ui/heatmap", params={"timeframe": "1M"})
    assert page.status_code == 200 and "News sentiment" in page.text
    console = Console(width=250, record=True)
    print_heatmap(news_client.post("/heatmap", json={"timeframe": "1M"}).json(), console)
    text = console.export_text()
    assert "News" in text and "NewsVol" in text and "+0.80" in text


def test_pages_list_each_sectors_top_headlines_escaped(news_client):
    from rich.console import Console

    from serving.commands import print_heatmap

    resp = news_client.post("/heatmap", json={"timeframe": "1M"}).json()
    page = news_client.get("/ui/heatmap", params={"timeframe": "1M"}).text
    section = page[page.index("<section id='headlines'>") :]
    section = section[: section.index("</section>")]
    listed = [s["ticker"] for s in resp["sectors"] if s["news"]["top"]]
    assert sorted(listed) == ["XLE", "XLK", "XLU"]
    for ticker in listed:  # every sector with headlines, with its titles and links
        assert f"data-ticker='{ticker}'" in section
        for h in sectors(resp)[ticker]["news"]["top"]:
            assert (
                str(escape(h["title"])) in section and f"href='{escape(h['url'])}' rel='noopener noreferrer'" in section
            )
    assert "data-ticker='XLF'" not in section  # no headlines, no heading
    assert "<script>" not in page and "headline &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co" in section

    sector = news_client.get("/ui/sector", params={"sector": "XLU"}).text
    assert "id='sector-headlines'" in sector and "<script>" not in sector
    assert "headline &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co" in sector
    news = news_client.post("/news", json={"sector": "XLK"}).json()
    xlk = news_client.get("/ui/sector", params={"sector": "XLK"}).text
    assert [h["title"] for h in news["headlines"]] == [f"headline k{i}" for i in range(4)]
    assert all(f">headline k{i}</a>" in xlk for i in range(4)) and "headline past" not in xlk  # after AS_OF only
    assert "Recent headlines (4 in the last" in xlk
    empty = news_client.get("/ui/sector", params={"sector": "XLF"}).text
    assert "id='sector-headlines'" in empty and "No headlines" in empty and "class='headline'" not in empty

    console = Console(width=250, record=True)
    print_heatmap(resp, console)
    text = console.export_text()
    assert "headline k0" in text and f"headline {SCRIPT}" in text  # plain text, markup kept literally


def test_only_web_links_are_linked():
    from serving.render import headline_items

    h = {"title": "t", "provider": "p", "published": "2025-01-02T03:04:05Z", "label": "neutral", "score": 0.0}
    items = headline_items([{**h, "url": "javascript:alert(1)"}, {**h, "url": None}, {**h, "url": "https://a/b"}])
    assert [i["url"] for i in items] == [None, None, "https://a/b"]
    assert items[0]["meta"] == "p · 2025-01-02 03:04 UTC · neutral +0.00"


def test_mcp_tool_answers_like_post_news(news_client, news_cache, monkeypatch):
    from mcp import Client

    from features.dataset import MarketDataset
    from features.settings import ConfigFile
    from serving.engine import HeatmapEngine
    from serving.mcp_server import build_mcp
    from serving.state import ServerSettings, ServingState, UniverseState

    monkeypatch.setenv(CACHE_ENV, str(news_cache))
    settings = ServerSettings.from_file(ConfigFile.read(None), DEMO_SOURCE, str(news_cache / "no_store"))
    state = ServingState(
        {"us_sectors": UniverseState(MarketDataset.load(DEMO_SOURCE, "us_sectors"), None, "none")}, 1, 0
    )
    engine = HeatmapEngine(settings, state)
    args = {"sector": "XLK", "as_of": AS_OF, "days": 2}

    async def go():
        async with Client(build_mcp(engine)) as client:
            return await client.call_tool("get_sector_news", args), await client.call_tool(
                "get_sector_news", {"sector": "nope"}
            )

    good, bad = asyncio.run(go())
    assert not good.is_error and good.structured_content == news_client.post("/news", json=args).json()
    assert "headline past" in good.content[0].text and "-0.40" in good.content[0].text
    assert bad.is_error and "sector" in bad.content[0].text


def test_answers_match_their_strict_schemas_and_openapi(news_client):
    from serving.schemas import HeatmapResponse, NewsResponse

    HeatmapResponse.model_validate(news_client.post("/heatmap", json={"timeframe": "1M"}).json())
    NewsResponse.model_validate(news_client.post("/news", json={"sector": "XLK"}).json())
    NewsResponse.model_validate(news_client.post("/news", json={"sector": "XLF", "days": 1}).json())  # no headlines
    spec = news_client.get("/docs.json").json()
    assert "/news" in spec["paths"] and "sector" in str(spec["paths"]["/news"]["post"]["requestBody"])


def test_desk_refresh_runs_when_due_and_feeds_the_next_answer(tmp_path):
    from features.config import FeatureConfig
    from features.universe import load_universe
    from serving.news import NewsDesk

    desk = NewsDesk(FeatureConfig().news, tmp_path)
    uni = load_universe("us_sectors")
    calls: list[str] = []

    def fetcher(ticker):
        calls.append(ticker)
        return [new_item(f"{ticker}-1", f"{ticker} shares jump on record profit", NOW - H)] if ticker == "XLK" else []

    first = desk.refresh([uni], now=NOW, fetcher=fetcher)
    assert first["us_sectors"].new == 1 and len(calls) == 44 and desk.version() > 0
    assert desk.refresh([uni], now=NOW + H / 2, fetcher=fetcher) == {}  # not due yet: nothing asked
    assert len(calls) == 44
    news = desk.sectors("us_sectors", ["XLK"], NOW)["XLK"]
    assert news.headlines == 1 and news.sentiment is not None and news.sentiment > 0

"""POST /sector, POST /rotation, the breadth metric and the drill-down pages, in-process (one ASGI app).

Constituent universe: the embedded demo market with members; ETF universe: the demo us_sectors mirror.
Every JSON answer is validated against its response model (the one the OpenAPI document is built from),
and the HTTP answers are compared with the MCP tools' (the same engine function)."""

from __future__ import annotations

import asyncio

import pytest

from features.breadth import sector_drilldown
from features.dataset import MarketDataset
from serving.mcp_schemas import SectorRotationResult
from serving.schemas import ErrorResponse, HeatmapResponse, SectorResponse

CONSTITUENTS = "demo:sectors=3,stocks=12,years=3,seed=5"
AS_OF = "2025-06-18"


@pytest.fixture(scope="module")
def members_client(open_client, tmp_path_factory):
    with open_client(tmp_path_factory.mktemp("no_model") / "mlruns", source=CONSTITUENTS) as c:
        yield c


def test_sector_answer_is_the_drilldown_of_the_loaded_data(members_client):
    r = members_client.post("/sector", json={"sector": "sector 02", "as_of": AS_OF, "timeframe": "3M"})
    assert r.status_code == 200, r.text
    body = SectorResponse.model_validate(r.json())
    assert body.sector.ticker == "Sector 02" and body.members_loaded and len(body.members) == 12
    ds = MarketDataset.load(CONSTITUENTS, "us_sectors")
    assert r.json() == sector_drilldown(ds, "Sector 02", "3M", AS_OF)  # the pure function, recomputed here
    assert body.breadth is not None and body.concentration is not None and len(body.top_contributors) == 5


def test_breadth_metric_in_the_heatmap_matches_the_drilldown(members_client):
    r = members_client.post("/heatmap", json={"as_of": AS_OF, "timeframe": "1M", "metrics": ["breadth"]})
    assert r.status_code == 200, r.text
    resp = HeatmapResponse.model_validate(r.json())
    keys = [c.key for c in resp.columns.descriptive]
    assert keys == [
        "breadth_above_sma_pct.50",
        "breadth_above_sma_pct.200",
        "breadth_net_advancers_pct",
        "breadth_net_highs_pct",
    ]
    row = next(s for s in r.json()["sectors"] if s["ticker"] == "Sector 01")["descriptive"]
    d = members_client.post("/sector", json={"sector": "Sector 01", "as_of": AS_OF, "timeframe": "1M"}).json()
    assert row["breadth_above_sma_pct"]["50"] == pytest.approx(100 * d["breadth"]["above_sma"]["50"]["share"], abs=0.06)
    assert row["breadth_net_advancers_pct"] == pytest.approx(
        100 * d["breadth"]["advance_decline"]["net_share"], abs=0.06
    )


def test_rotation_tails_are_weekly_and_end_at_the_head(members_client):
    r = members_client.post("/rotation", json={"as_of": AS_OF, "tail_weeks": 5})
    assert r.status_code == 200, r.text
    body = SectorRotationResult.model_validate(r.json())
    assert body.tail_weeks == 5 and len(body.tails) == 3
    for t in body.tails:
        assert 1 <= len(t.points) <= 5 and str(t.points[-1].date) == body.as_of.isoformat()
        dates = [p.date for p in t.points]
        assert dates == sorted(dates) and len({d.isocalendar()[:2] for d in dates}) == len(dates)  # one per week
    heads = {p.ticker: (p.rs_ratio, p.rs_momentum, p.quadrant) for p in body.relative_rotation}
    for t in body.tails:
        assert heads[t.ticker] == (t.points[-1].rs_ratio, t.points[-1].rs_momentum, t.quadrant)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/sector", {"as_of": AS_OF}, "sector"),
        ("/sector", {"sector": "Nope"}, "sector"),
        ("/sector", {"sector": "Sector 01", "timeframe": "5Y"}, "timeframe"),
        ("/sector", {"sector": "Sector 01", "as_of": "2999-01-01"}, "as_of"),
        ("/sector", {"sector": "Sector 01", "colour": "red"}, "colour"),
        ("/rotation", {"tail_weeks": 0}, "tail_weeks"),
        ("/rotation", {"tail_weeks": 99}, "tail_weeks"),
        ("/rotation", {"universe": "mars"}, "universe"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(members_client, path, body, field):
    r = members_client.post(path, json=body)
    assert r.status_code == 400, r.text
    err = ErrorResponse.model_validate(r.json()).error
    assert err.message.startswith(field) or err.field == field, err


def test_pages_render_and_link(members_client):
    page = members_client.get(f"/ui/heatmap?as_of={AS_OF}&timeframe=1M")
    assert page.status_code == 200
    html = page.text
    for anchor in ("id='controls'", "id='rotation-graph'", "id='matrix-table'", "class='drill'"):
        assert anchor in html, anchor
    assert html.count("class='tail'") == 3 and "Leading" in html and "Lagging" in html
    link = html.split("class='drill' href='")[1].split("'")[0].replace("&amp;", "&")
    sector = members_client.get(link)
    assert sector.status_code == 200 and "id='members'" in sector.text and sector.text.count("class='member-row'") == 12
    rot = members_client.get(f"/ui/rotation?as_of={AS_OF}&tail_weeks=4")
    assert rot.status_code == 200 and rot.text.count("class='tail'") == 3
    png = members_client.get(f"/ui/rotation.png?as_of={AS_OF}")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG\r\n\x1a\n") and len(png.content) > 20_000
    bad = members_client.get("/ui/sector?sector=Nope")
    assert bad.status_code == 400 and bad.json()["error"]["message"].startswith("sector:")


def test_ui_redirects_to_the_dashboard(members_client):
    r = members_client.get("/ui?timeframe=1W", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/ui/heatmap?timeframe=1W"


def test_openapi_declares_the_new_endpoints(members_client):
    doc = members_client.get("/docs.json").json()
    for path in ("/sector", "/rotation"):
        assert "post" in doc["paths"][path]


def test_mcp_tools_answer_what_http_answers(members_client):
    """get_sector_rotation and get_sector_drilldown call the engine functions behind POST /rotation and /sector."""
    from serving.engine import HeatmapEngine
    from serving.mcp_server import build_mcp
    from serving.state import ServerSettings

    http_rot = members_client.post("/rotation", json={"as_of": AS_OF}).json()
    http_sec = members_client.post("/sector", json={"sector": "Sector 03", "as_of": AS_OF}).json()
    settings = ServerSettings.from_env()
    engine = HeatmapEngine(settings)
    server = build_mcp(engine)

    async def call():
        rot = await server.call_tool("get_sector_rotation", {"as_of": AS_OF})
        sec = await server.call_tool("get_sector_drilldown", {"sector": "Sector 03", "as_of": AS_OF})
        return rot, sec

    rot, sec = asyncio.run(call())
    assert rot.structured_content == http_rot and sec.structured_content == http_sec

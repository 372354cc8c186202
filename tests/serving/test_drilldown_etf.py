"""POST /sector on a universe of ETFs: the sector's own figures and the note that no members are loaded.

Its own module: only one in-process client may be open at a time (tests/serving/conftest.py), and the
constituent-universe client of test_drilldown_api.py stays open for that whole module."""

from __future__ import annotations

from serving.schemas import SectorResponse

AS_OF = "2025-06-18"


def test_etf_universe_sector_says_no_members(open_client, tmp_path_factory):
    with open_client(tmp_path_factory.mktemp("no_model_etf") / "mlruns") as c:
        r = c.post("/sector", json={"sector": "technology", "as_of": AS_OF})
        assert r.status_code == 200, r.text
        body = SectorResponse.model_validate(r.json())
        assert body.sector.ticker == "XLK" and not body.members_loaded and body.members == []
        assert "no members are loaded" in body.note and body.sector.rel_return_pp is not None
        # the breadth metric has no columns for a universe of ETFs
        h = c.post("/heatmap", json={"as_of": AS_OF, "metrics": ["performance", "breadth"]}).json()
        assert not any(col["metric"] == "breadth" for col in h["columns"]["descriptive"])

"""The real thing: `sector-heatmap serve` (which execs `bentoml serve`) in a subprocess on loopback."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.slow


def test_heatmap_over_http(live_server):
    import bentoml

    with bentoml.SyncHTTPClient(live_server.url, server_ready_timeout=30) as client:
        resp = client.heatmap(timeframe="1M", metrics=["performance", "volume_growth", "predicted"])
    assert resp["model_status"] == "ok" and resp["is_demo"]
    labels = [c["label"] for c in resp["columns"]["descriptive"]]
    assert "1M rel. return" in labels and "Volume growth" in labels and "Volatility" not in labels
    assert [c["horizon"] for c in resp["columns"]["predicted"]] == ["1W", "1M", "3M"]
    assert len(resp["sectors"]) == 11
    for s in resp["sectors"]:
        assert set(s["descriptive"]) >= {"rel_return_pp", "volume_growth_pct"}
        assert set(s["predicted"]) == {"1W", "1M", "3M"}
        comps, weights = s["health_components"], s["health_weights"]
        assert 0 <= s["health_score"] <= 100
        assert s["health_score"] == pytest.approx(
            sum(comps[k] * weights[k] for k in comps if comps[k] is not None), abs=0.15
        )
    assert resp["health"]["predicted_horizon"] == "1M"


def test_errors_probes_pages_and_metrics(live_server):
    url = live_server.url
    with httpx.Client(base_url=url, timeout=30) as http:
        bad = http.post("/heatmap", json={"timeframe": "10Y"})
        assert bad.status_code == 400 and "timeframe" in bad.text
        assert http.post("/heatmap", json={"as_of": "2024-02-30"}).status_code == 400
        assert http.get("/livez").status_code == 200 and http.get("/readyz").status_code == 200
        assert "/heatmap" in http.get("/docs.json").json()["paths"]
        assert http.get("/model").json()["model"]["version"] == "1"
        page = http.get("/ui/heatmap", params={"timeframe": "1W"})
        assert page.status_code == 200 and page.text.count("class='sector-row'") == 11
        metrics = http.get("/metrics").text
        assert 'endpoint="/heatmap"' in metrics and 'http_response_code="400"' in metrics


def test_api_key_on_a_real_server_and_a_clean_stop(tmp_path):
    """A second server with a key: 401 without it; SIGTERM stops it (and its worker) with exit code 0."""
    from serving_builders import LiveServer

    server = LiveServer(tmp_path / "no_store", tmp_path, api_key="k-123")
    with server:
        assert server.ready_seconds < 90
        with httpx.Client(base_url=server.url, timeout=30) as http:
            r = http.post("/heatmap", json={})
            assert r.status_code == 401 and "X-API-KEY" in r.json()["error"]["message"]
            ok = http.post("/heatmap", json={}, headers={"X-API-KEY": "k-123"})
            assert ok.status_code == 200 and ok.json()["model"] is None
            assert http.get("/readyz").status_code == 200
        code = server.stop()
    assert code == 0, server.tail()
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{server.url}/livez", timeout=2)

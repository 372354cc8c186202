"""GET /status in the OpenAPI document (/docs.json): declared with its response model, and a real body of the
in-process service validates against that model and against the document's schema for the path."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from serving.schemas import StatusResponse


@pytest.fixture(scope="module")
def served(open_client, tmp_path_factory) -> tuple[dict, dict]:
    """(/docs.json, GET /status body) of the in-process service on the demo market."""
    with open_client(tmp_path_factory.mktemp("status") / "mlruns") as c:
        spec, status = c.get("/docs.json"), c.get("/status")
    assert spec.status_code == 200 and status.status_code == 200, status.text
    return spec.json(), status.json()


def test_docs_json_declares_get_status_with_its_model(served):
    spec, _ = served
    op = spec["paths"]["/status"]["get"]
    ok = op["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/StatusResponse"}
    schemas = spec["components"]["schemas"]
    assert {"StatusResponse", "StatusRefresh", "StatusUniverse"} <= set(schemas)
    assert schemas["StatusResponse"]["additionalProperties"] is False
    assert op["responses"]["401"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")


def test_a_real_status_body_validates(served):
    spec, body = served
    status = StatusResponse.model_validate(body)
    assert list(status.universes) == ["us_sectors"] and status.universes["us_sectors"].calendar == "XNYS"
    assert status.refresh.outcome in {"startup", "ok", "failed", "timeout"}
    with pytest.raises(ValueError, match="surprise"):
        StatusResponse.model_validate({**body, "surprise": 1})  # a key added to /status but not to the model

    schemathesis = pytest.importorskip("schemathesis")
    api = schemathesis.openapi.from_dict(spec)

    def valid(answer: dict) -> bool:
        r = httpx.Response(200, json=answer, request=httpx.Request("GET", "http://localhost/status"))
        r.elapsed = timedelta(0)  # schemathesis reads it; set by a real transport
        return api["/status"]["GET"].is_valid_response(r)

    assert valid(body)
    assert not valid({**body, "refresh": {**body["refresh"], "outcome": 3}})

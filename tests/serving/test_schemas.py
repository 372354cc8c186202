"""The response models (serving/schemas.py) against REAL responses.

Real outputs come through the public surfaces only, so internal refactors do not break this test:
the command line (`sector-heatmap heatmap|matrix --format json`) and, for the bodies only the
service produces (model card, reload, ping), the HTTP API of `serving.service:SectorHeatmap` run
in a subprocess (one BentoML ASGI app per process: the in-process service tests own theirs).

Each body must validate AND round-trip: model_dump(mode="json", exclude_unset=True) == the body,
so a key, a null or a number the models do not describe exactly fails here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError
from serving_builders import DEMO_SOURCE

from serving import schemas
from serving.schemas import (
    HeatmapResponse,
    Matrix,
    MatrixResponse,
    ModelInfoResponse,
    PingResponse,
    ReloadResponse,
)

AS_OF = "2024-06-28"
TIMEFRAMES = ("1D", "1W", "1M", "3M")
CLI_TIMEOUT_S = 300
# settings the service/CLI read from the environment: the tests pass theirs explicitly
SETTINGS_ENV = ("SECTOR_HEATMAP_CONFIG", "SECTOR_HEATMAP_SOURCE", "SECTOR_HEATMAP_STORE", "SECTOR_HEATMAP_API_KEY")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_ENV}
    env.update(MLFLOW_DISABLE_TELEMETRY="true", BENTOML_DO_NOT_TRACK="true", **extra)
    return env


def _cli() -> list[str]:
    """The installed `sector-heatmap` script of the interpreter running the tests (else the module)."""
    script = Path(sys.executable).with_name("sector-heatmap")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "serving.cli"]


def run_cli(*args: str, cwd: Path) -> dict:
    proc = subprocess.run([*_cli(), *args], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
    if proc.returncode != 0:
        pytest.fail(f"sector-heatmap {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout)


def config_with_store(directory: Path, store) -> Path:
    cfg = directory / "config.yaml"
    cfg.write_text(f"training:\n  store_dir: {store}\n", encoding="utf-8")
    return cfg


def assert_round_trip(model: type[BaseModel], body: dict) -> BaseModel:
    parsed = model.model_validate(body)
    assert parsed.model_dump(mode="json", exclude_unset=True) == body
    return parsed


# ---- real outputs -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bare_heatmap(tmp_path_factory) -> dict:
    """`sector-heatmap heatmap` on the demo market with an empty model store: predicted columns null."""
    d = tmp_path_factory.mktemp("bare")
    cfg = config_with_store(d, d / "mlruns")
    return run_cli("heatmap", "--source", "demo", "--format", "json", "--as-of", AS_OF, "--config", str(cfg), cwd=d)


@pytest.fixture(scope="module")
def model_config(demo_store, tmp_path_factory) -> Path:
    return config_with_store(tmp_path_factory.mktemp("with_model"), demo_store)


@pytest.fixture(scope="module")
def cli_matrix(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("matrix")
    return run_cli("matrix", "--source", "demo", "--format", "json", cwd=d)


SERVICE_SCRIPT = r"""
import json, os, sys
from starlette.testclient import TestClient
from serving.service import SectorHeatmap

out_file, store, empty_store, as_of = sys.argv[1:5]
app = SectorHeatmap.to_asgi()
out = {}

def post(c, path, body):
    r = c.post(path, json=body)
    assert r.status_code == 200, (path, r.status_code, r.text)
    return r.json()

os.environ["SECTOR_HEATMAP_STORE"] = store
with TestClient(app) as c:  # the lifespan runs __init__, which reads the environment
    out["heatmap"] = post(c, "/heatmap", {"as_of": as_of})
    out["latest"] = post(c, "/heatmap", {})  # requested_as_of null
    out["matrix"] = post(c, "/matrix", {})
    out["model"] = post(c, "/model", {})
    r = c.get("/model")
    assert r.status_code == 200, r.text
    out["get_model"] = r.json()
    out["ping"] = post(c, "/ping", {})
    out["reload"] = post(c, "/reload", {})
os.environ["SECTOR_HEATMAP_STORE"] = empty_store
with TestClient(app) as c:
    out["bare_model"] = post(c, "/model", {})
    out["bare_heatmap"] = post(c, "/heatmap", {"as_of": as_of, "metrics": ["performance", "predicted"]})
with open(out_file, "w", encoding="utf-8") as f:
    json.dump(out, f)
"""


@pytest.fixture(scope="module")
def service_bodies(demo_store, tmp_path_factory) -> dict:
    """Real answers of the service (demo data; the tiny champion, then an empty store), over HTTP."""
    d = tmp_path_factory.mktemp("service")
    out = d / "bodies.json"
    env = _env(SECTOR_HEATMAP_SOURCE=DEMO_SOURCE, BENTOML_HOME=str(d / "bentoml"))
    proc = subprocess.run(
        [sys.executable, "-c", SERVICE_SCRIPT, str(out), str(demo_store), str(d / "empty" / "mlruns"), AS_OF],
        cwd=d,
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
    )
    if proc.returncode != 0:
        pytest.fail(f"service script exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return json.loads(out.read_text(encoding="utf-8"))


# ---- the heatmap ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_heatmap_without_a_model(bare_heatmap):
    resp = assert_round_trip(HeatmapResponse, bare_heatmap)
    assert resp.model is None and resp.columns.predicted == []
    assert all(s.predicted is None for s in resp.sectors)
    assert resp.is_demo and str(resp.as_of) <= AS_OF


@pytest.mark.slow
@pytest.mark.parametrize("timeframe", TIMEFRAMES)
def test_heatmap_with_the_champion(model_config, timeframe):
    d = model_config.parent
    body = run_cli(
        "heatmap",
        "--source",
        DEMO_SOURCE,
        "--format",
        "json",
        "--as-of",
        AS_OF,
        "--timeframe",
        timeframe,
        "--config",
        str(model_config),
        cwd=d,
    )
    resp = assert_round_trip(HeatmapResponse, body)
    assert resp.model_status == "ok", resp.model_status  # else the predicted cells below were never validated
    assert resp.model is not None and resp.timeframe == timeframe
    assert [c.horizon for c in resp.columns.predicted] == list(resp.model.horizons)
    assert all(s.predicted is not None and set(s.predicted) == set(resp.model.horizons) for s in resp.sectors)


@pytest.mark.slow
@pytest.mark.parametrize("metrics", [["performance"], ["momentum", "volatility", "predicted"]])
def test_heatmap_with_some_metrics(model_config, metrics):
    """Descriptive groups of metrics not asked for are absent; the round trip must not invent them."""
    d = model_config.parent
    body = run_cli(
        "heatmap",
        "--source",
        DEMO_SOURCE,
        "--format",
        "json",
        "--as-of",
        AS_OF,
        "--metrics",
        *metrics,
        "--config",
        str(model_config),
        cwd=d,
    )
    resp = assert_round_trip(HeatmapResponse, body)
    assert resp.metrics == metrics
    assert all((s.predicted is not None) == ("predicted" in metrics) for s in resp.sectors)


# ---- the matrix -------------------------------------------------------------------------------------
@pytest.mark.slow
def test_cli_matrix(cli_matrix):
    m = assert_round_trip(Matrix, cli_matrix)
    assert m.rows and all(set(r.spread_pp) == set(m.windows_sessions) for r in m.rows)
    # the service's answer also names the universe and says whether it is the demo; the CLI's does not
    with pytest.raises(ValidationError, match="universe"):
        MatrixResponse.model_validate(cli_matrix)


# ---- what only the service answers ------------------------------------------------------------------
@pytest.mark.slow
def test_service_bodies(service_bodies):
    b = service_bodies
    assert assert_round_trip(HeatmapResponse, b["heatmap"]).model is not None
    assert assert_round_trip(HeatmapResponse, b["latest"]).requested_as_of is None
    assert assert_round_trip(MatrixResponse, b["matrix"]).is_demo
    for key in ("model", "get_model"):
        info = assert_round_trip(ModelInfoResponse, b[key])
        assert info.model_status == "ok" and info.model is not None and info.model.skill
    assert_round_trip(PingResponse, b["ping"])
    reload = assert_round_trip(ReloadResponse, b["reload"])
    assert reload.generation == 2 and reload.universes
    bare = assert_round_trip(ModelInfoResponse, b["bare_model"])
    assert bare.model is None and bare.model_status != "ok"
    assert assert_round_trip(HeatmapResponse, b["bare_heatmap"]).model is None


# ---- the models can fail ----------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("where", ["top", "sector", "descriptive", "predicted", "health", "freshness", "model_skill"])
def test_an_unexpected_key_fails(service_bodies, where):
    body = json.loads(json.dumps(service_bodies["heatmap"]))  # a deep copy
    target = {
        "top": body,
        "sector": body["sectors"][0],
        "descriptive": body["sectors"][0]["descriptive"],
        "predicted": next(iter(body["sectors"][0]["predicted"].values())),
        "health": body["health"],
        "freshness": body["freshness"],
        "model_skill": next(iter(body["model"]["skill"].values())),
    }[where]
    target["surprise"] = 1
    with pytest.raises(ValidationError, match="surprise"):
        HeatmapResponse.model_validate(body)


@pytest.mark.slow
def test_a_missing_key_or_a_wrong_value_fails(bare_heatmap):
    body = dict(bare_heatmap)
    del body["market_context"]
    with pytest.raises(ValidationError, match="market_context"):
        HeatmapResponse.model_validate(body)
    body = json.loads(json.dumps(bare_heatmap))
    body["sectors"][0]["descriptive"]["rel_return_tint"]["1M"] = "up"
    with pytest.raises(ValidationError, match="rel_return_tint"):
        HeatmapResponse.model_validate(body)


def test_every_model_forbids_unknown_keys():
    models = [
        m
        for m in vars(schemas).values()
        if isinstance(m, type) and issubclass(m, BaseModel) and m.__module__ == schemas.__name__
    ]
    assert len(models) > 15
    for m in models:
        assert m.model_config.get("extra") == "forbid", m.__name__
        m.model_json_schema()  # every model yields an OpenAPI/JSON schema


def test_the_schema_documents_fields_and_closes_objects():
    schema = HeatmapResponse.model_json_schema()
    assert schema["additionalProperties"] is False
    assert "market_context" in schema["required"] and "requested_as_of" in schema["required"]
    cell = schema["$defs"]["PredictedCell"]
    assert cell["additionalProperties"] is False
    assert "pp" in cell["properties"]["expected_rel_return_pp"]["description"]
    assert schema["properties"]["timestamp"]["format"] == "date-time"


# ---- the OpenAPI schema BentoML derives from the models -----------------------------------------------
@pytest.fixture(scope="module")
def openapi_spec() -> dict:
    """/docs.json of a throwaway service declaring the models the way serving/service.py can: as the return
    annotation (or output_spec=) while returning pre-serialised bytes. Generated offline: no ASGI app."""
    import bentoml
    from pydantic import ConfigDict
    from starlette.responses import Response

    class NoParams(BaseModel):
        model_config = ConfigDict(extra="forbid")

    def raw() -> Response:
        return Response(b"{}", media_type="application/json")

    @bentoml.service
    class SchemaOnly:
        @bentoml.api(input_spec=NoParams)
        async def heatmap(self) -> HeatmapResponse:
            return raw()

        @bentoml.api(input_spec=NoParams, output_spec=MatrixResponse)
        async def matrix(self) -> dict:
            return raw()

        @bentoml.api(input_spec=NoParams)
        async def model(self) -> ModelInfoResponse:
            return raw()

        @bentoml.api(input_spec=NoParams)
        async def reload(self) -> ReloadResponse:
            return raw()

        @bentoml.api(input_spec=NoParams)
        async def ping(self) -> PingResponse:
            return raw()

    return json.loads(json.dumps(SchemaOnly.openapi_spec.asdict()))  # as served: string status codes


def response_schema(spec: dict, path: str) -> dict:
    return spec["paths"][path]["post"]["responses"]["200"]["content"]["application/json"]["schema"]


def test_openapi_keeps_top_level_nulls(openapi_spec):
    """BentoML inlines the output model's own fields and drops the null branch of their anyOf: `nullable` must stay."""
    heatmap = response_schema(openapi_spec, "/heatmap")
    assert heatmap["additionalProperties"] is False and "sectors" in heatmap["required"]
    for path, fields in {"/heatmap": ("model", "requested_as_of"), "/model": ("model",)}.items():
        props = response_schema(openapi_spec, path)["properties"]
        assert all(props[f].get("nullable") is True for f in fields), path
    assert "SectorRow" in openapi_spec["components"]["schemas"]


@pytest.mark.slow
def test_openapi_response_schemas_accept_the_real_bodies(openapi_spec, service_bodies, bare_heatmap):
    import httpx

    schemathesis = pytest.importorskip("schemathesis")

    api = schemathesis.openapi.from_dict(openapi_spec)

    def valid(path: str, body: dict) -> bool:
        r = httpx.Response(200, json=body, request=httpx.Request("POST", f"http://localhost{path}"))
        r.elapsed = timedelta(0)  # schemathesis reads it; set by a real transport
        return api[path]["POST"].is_valid_response(r)

    b = service_bodies
    bodies = [
        ("/heatmap", b["heatmap"]),
        ("/heatmap", b["latest"]),
        ("/heatmap", b["bare_heatmap"]),
        ("/heatmap", bare_heatmap),
        ("/matrix", b["matrix"]),
        ("/model", b["model"]),
        ("/model", b["bare_model"]),
        ("/reload", b["reload"]),
        ("/ping", b["ping"]),
    ]
    for path, body in bodies:
        assert valid(path, body), (path, body)
    assert not valid("/heatmap", {**b["heatmap"], "surprise": 1})

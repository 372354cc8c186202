"""Reproductions of the HTTP service's hardening defects, one group per defect; each failed before its fix.

1. a long as_of stalled the server (quadratic date parsing, no body cap, the whole value echoed back)
2. negative / out-of-range dates were 500s; a date with a time or zone was silently moved to a UTC day
3. a non-JSON Content-Type (multipart without boundary) was a 500 on the JSON APIs
4. every 4xx was logged at ERROR with a full traceback
5. three error shapes, none matching /docs.json
6. /matrix answered 200 (all-null rows) before the sector data where /heatmap answered 400; GET /model was
   missing from /docs.json; a non-ASCII API key could never match

In-process tests use the shared ASGI app (conftest `open_client`); the slow ones the real server (`live_server`).
"""

from __future__ import annotations

import logging
import threading
import time

import httpx
import pytest
from response_gates import EXCERPT_CHARS, echoed, problems, sent_strings

from features.errors import ConfigError, RequestError
from serving.auth import API_KEY_ENV, API_KEY_HEADER
from serving.request import HeatmapRequest, parse_date

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
JSON = {"content-type": "application/json"}
LONG_AS_OF = "2" * 60_000  # under the 64 KB body cap: reaches the date parser
FAST_S = 0.5
BAD_DATES = ["-1", "-5", "-2022-01-01", "-0001-06-01", "0001-01-01", "0000-01-01", "1899-12-31", "9999-12-31", "99999"]
DATES_WITH_TIME = ["2024-06-28T23:00:00-05:00", "2024-06-28T00:00:00Z", "2024-06-28 10:00", "2024-06-28+02:00"]
SERVER_LOGGERS = ("sector_heatmap", "bentoml")


def error_of(r) -> dict:
    """The error of an answer, checked to be the one error body: {"error": {"code", "message", "field"?}}."""
    assert r.headers["content-type"].startswith("application/json"), (r.status_code, r.headers, r.text[:200])
    body = r.json()
    assert isinstance(body, dict) and set(body) == {"error"} and isinstance(body["error"], dict), body
    assert {"code", "message"} <= set(body["error"]) <= {"code", "message", "field"}, body
    from serving.schemas import ErrorResponse  # and exactly as declared

    return ErrorResponse.model_validate(body).error.model_dump()


def assert_date_error(r, field: str = "as_of") -> str:
    assert r.status_code == 400, (r.status_code, r.text[:300])
    err = error_of(r)
    assert err["code"] == "bad_request" and err["field"] == field and err["message"].startswith(f"{field}: ")
    assert "1900-01-01" in err["message"] or "before the data starts" in err["message"], err  # the accepted range
    return err["message"]


@pytest.fixture(scope="class")
def bare(open_client, tmp_path_factory):
    """The service on the demo market with an empty model store (the model does not matter here)."""
    with open_client(tmp_path_factory.mktemp("hardening_store") / "mlruns") as c:
        yield c


# ---- 1. long values, body cap, excerpts -----------------------------------------------------------------
def test_date_shape_is_checked_before_parsing():
    t0 = time.perf_counter()
    with pytest.raises(RequestError, match="^as_of: ") as err:
        parse_date("2" * 200_000)  # pandas took 1.6 s on this (36 s on a megabyte): quadratic
    assert time.perf_counter() - t0 < 0.05
    assert "2" * (EXCERPT_CHARS + 1) not in str(err.value) and len(str(err.value)) < 200


@pytest.mark.parametrize(
    "raw",
    [{"universe": "u" * 5000}, {"timeframe": "T" * 5000}, {"metrics": ["m" * 5000]}, {"k" * 5000: 1}],
    ids=["universe", "timeframe", "metrics", "unknown_key"],
)
def test_request_errors_quote_only_an_excerpt(raw):
    with pytest.raises(RequestError) as err:
        HeatmapRequest.parse(raw)
    assert echoed(sent_strings(raw), str(err.value)) is None, str(err.value)[:300]


class TestOnTheDemoMarket:
    @pytest.mark.parametrize("path", ["/heatmap", "/matrix"])
    def test_long_as_of_is_a_fast_400_with_an_excerpt(self, bare, path):
        t0 = time.perf_counter()
        r = bare.post(path, json={"as_of": LONG_AS_OF})
        assert time.perf_counter() - t0 < FAST_S
        assert_date_error(r)
        assert not problems(r.status_code, r.headers, r.content, 0, [LONG_AS_OF])

    @pytest.mark.parametrize("path", ["/heatmap", "/matrix", "/model", "/reload", "/ping"])
    @pytest.mark.parametrize("chunked", [False, True], ids=["content_length", "chunked"])
    def test_oversized_body_is_a_413(self, bare, path, chunked):
        body = b'{"as_of": "' + b"2" * 200_000 + b'"}'
        content = iter([body[i : i + 8192] for i in range(0, len(body), 8192)]) if chunked else body
        t0 = time.perf_counter()
        r = bare.post(path, content=content, headers=JSON)
        assert time.perf_counter() - t0 < FAST_S
        assert r.status_code == 413 and error_of(r)["code"] == "payload_too_large", r.text[:300]
        assert "65536" in error_of(r)["message"]

    def test_a_body_just_under_the_cap_is_read(self, bare):
        padding = " " * (64 * 1024 - 100)
        r = bare.post("/ping", content=f"{{{padding}}}".encode(), headers=JSON)
        assert r.status_code == 200 and r.json() == {"ok": True}

    # ---- 2. dates: negative, out of range, with a time ----------------------------------------------------
    @pytest.mark.parametrize("value", BAD_DATES)
    @pytest.mark.parametrize("route", ["POST /heatmap", "POST /matrix", "GET /ui/heatmap", "GET /ui/heatmap.png"])
    def test_bad_dates_are_400s_naming_field_and_range(self, bare, route, value):
        method, path = route.split()
        r = bare.post(path, json={"as_of": value}) if method == "POST" else bare.get(path, params={"as_of": value})
        assert_date_error(r)

    @pytest.mark.parametrize("value", DATES_WITH_TIME)
    @pytest.mark.parametrize("path", ["/heatmap", "/matrix"])
    def test_a_date_with_a_time_or_zone_is_refused_not_shifted(self, bare, path, value):
        message = assert_date_error(bare.post(path, json={"as_of": value}))
        assert "without a time or time zone" in message

    def test_a_plain_date_still_works(self, bare):
        r = bare.post("/heatmap", json={"as_of": " 2025-03-14 ", "metrics": ["performance"]})
        assert r.status_code == 200 and r.json()["requested_as_of"] == "2025-03-14", r.text[:300]
        assert bare.get("/ui/heatmap", params={"as_of": "2025-03-14"}).status_code == 200

    # ---- 3. content types -------------------------------------------------------------------------------------
    @pytest.mark.parametrize(
        "content_type",
        [
            "multipart/form-data",
            "multipart/form-data; boundary=xyz",
            "application/x-www-form-urlencoded",
            "text/plain",
            "application/xml",
            "application/vnd.bentoml+pickle",
        ],
    )
    @pytest.mark.parametrize("path", ["/heatmap", "/matrix", "/model", "/reload", "/ping"])
    def test_json_apis_answer_415_to_anything_else(self, bare, path, content_type):
        r = bare.post(path, content=b"as_of=2024-01-02", headers={"content-type": content_type})
        assert r.status_code == 415, (r.status_code, r.text[:300])
        assert error_of(r)["code"] == "unsupported_media_type"

    def test_an_empty_body_without_content_type_is_an_empty_object(self, bare):
        r = bare.post("/ping", content=b"")
        assert r.status_code == 200 and r.json() == {"ok": True}
        assert bare.post("/ping", content=b"{}", headers={"content-type": ""}).status_code == 415  # a body, no type

    # ---- 4. logging: one line per client error, tracebacks only for 5xx ---------------------------------------
    def test_client_errors_log_one_line_without_traceback(self, bare, caplog):
        bad = [
            lambda: bare.post("/heatmap", json={"as_of": "-1"}),
            lambda: bare.post("/heatmap", json={"colour": "red"}),
            lambda: bare.post("/matrix", json={"as_of": 20240102}),
            lambda: bare.post("/heatmap", content=b"not json", headers=JSON),
            lambda: bare.post("/model", json={"universe": "mars"}),
            lambda: bare.post("/reload", json={"force": True}),
            lambda: bare.post("/heatmap", content=b"x", headers={"content-type": "multipart/form-data"}),
            lambda: bare.get("/ui/heatmap", params={"timeframe": "5Y"}),
            lambda: bare.get("/model", params={"universe": "mars"}),
            lambda: bare.get("/no/such/page"),
        ]
        for send in bad:
            caplog.clear()
            with caplog.at_level(logging.INFO):
                r = send()
            assert 400 <= r.status_code < 500, r.text[:200]
            records = [rec for rec in caplog.records if rec.name.startswith(SERVER_LOGGERS)]
            assert len(records) == 1, [(rec.name, rec.levelname, rec.getMessage()[:100]) for rec in records]
            rec = records[0]
            assert rec.levelno in (logging.INFO, logging.WARNING) and rec.exc_info is None, rec.getMessage()
            assert str(r.status_code) in rec.getMessage() and "Traceback" not in caplog.text

    # ---- 5. one error body everywhere ---------------------------------------------------------------------------
    @pytest.mark.parametrize(
        "request_, status",
        [
            (("post", "/heatmap", {"json": {"timeframe": "10Y"}}), 400),
            (("post", "/heatmap", {"json": {"colour": "red"}}), 400),
            (("post", "/heatmap", {"content": b"[]", "headers": JSON}), 400),
            (("post", "/matrix", {"json": {"universe": "nope"}}), 400),
            (("post", "/model", {"json": {"universe": "mars"}}), 400),
            (("post", "/reload", {"json": {"force": True}}), 400),
            (("post", "/ping", {"json": {"x": 1}}), 400),
            (("get", "/model", {"params": {"universe": "mars"}}), 400),
            (("get", "/ui/heatmap", {"params": {"timeframe": "5Y"}}), 400),
            (("get", "/ui/heatmap.png", {"params": {"metrics": "alpha"}}), 400),
            (("get", "/nowhere", {}), 404),
            (("get", "/heatmap", {}), 405),
            (("post", "/ui/heatmap", {"json": {}}), 405),
        ],
        ids=lambda v: v if isinstance(v, int) else f"{v[0].upper()} {v[1]}",
    )
    def test_every_error_has_the_one_shape(self, bare, request_, status):
        method, path, kw = request_
        r = getattr(bare, method)(path, **kw)
        assert r.status_code == status, r.text[:300]
        err = error_of(r)
        assert err["code"] == {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}[status]
        if status == 400:  # names the field at fault, or says the whole body is
            assert err["message"].startswith(f"{err.get('field') or 'body'}: "), err

    def test_server_errors_have_the_shape_and_keep_their_traceback(self, bare, monkeypatch, caplog):
        from serving.service import SectorHeatmap

        def broken(self, universe=None):
            raise RuntimeError("a bug")

        monkeypatch.setattr(SectorHeatmap.inner, "model_info", broken)  # type: ignore[attr-defined]
        for r in (bare.post("/model", json={}), bare.get("/model")):
            assert r.status_code == 500 and error_of(r)["code"] == "internal_error", r.text[:300]
            assert "a bug" not in r.text  # the details stay in the log
        assert any(rec.exc_info and rec.levelno == logging.ERROR for rec in caplog.records)

    def test_docs_declare_the_error_body_and_get_model(self, bare):
        import schemathesis

        spec = bare.get("/docs.json").json()
        schemas = spec["components"]["schemas"]
        assert "ErrorResponse" in schemas and "InvalidArgument" not in schemas
        for path in ("/heatmap", "/matrix", "/model", "/reload", "/ping"):
            responses = spec["paths"][path]["post"]["responses"]
            for status in ("400", "401", "403", "413", "415", "500"):
                ref = responses[status]["content"]["application/json"]["schema"]["$ref"]
                assert ref.endswith("/ErrorResponse"), (path, status)
        get_model = spec["paths"]["/model"]["get"]
        assert get_model["parameters"][0]["name"] == "universe" and "400" in get_model["responses"]
        # real answers validate against the document (as schemathesis' response_schema_conformance checks)
        api = schemathesis.openapi.from_dict(spec)
        for method, path, r in (
            ("POST", "/heatmap", bare.post("/heatmap", json={"as_of": "-1"})),
            ("POST", "/heatmap", bare.post("/heatmap", content=b"x", headers={"content-type": "text/plain"})),
            ("POST", "/matrix", bare.post("/matrix", json={"as_of": "1990-01-02"})),
            ("GET", "/model", bare.get("/model", params={"universe": "mars"})),
            ("GET", "/model", bare.get("/model")),
        ):
            assert api[path][method].is_valid_response(_schemathesis_response(r)), (path, r.text[:200])
        assert not api["/heatmap"]["POST"].is_valid_response(
            _schemathesis_response(httpx.Response(400, json=[{"error": "old shape"}]), "/heatmap")
        )

    # ---- 6. before the data; GET /model documented (above) --------------------------------------------------------
    def test_demo_dates_before_the_data_are_400_on_both(self, bare):
        for path in ("/heatmap", "/matrix"):
            message = assert_date_error(bare.post(path, json={"as_of": "1990-01-02"}))
            assert "before the data starts" in message


def _schemathesis_response(r, path: str | None = None):
    from datetime import timedelta

    if path is not None:  # a hand-made response: give it the request schemathesis reads
        r.request = httpx.Request("POST", f"http://localhost{path}")
    r.elapsed = timedelta(0)
    return r


def test_body_cap_is_configurable(open_client, tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text("serving:\n  max_body_bytes: 2048\n", encoding="utf-8")
    with open_client(tmp_path / "mlruns", config=cfg) as c:
        padding = " " * 3000
        r = c.post("/ping", content=f"{{{padding}}}".encode(), headers=JSON)
        assert r.status_code == 413 and "2048" in error_of(r)["message"]
        assert c.post("/ping", content=b"{" + b" " * 1000 + b"}", headers=JSON).status_code == 200
    with pytest.raises(ConfigError, match="max_body_bytes"):
        from serving.config import ServingConfig

        ServingConfig(max_body_bytes=10)


# ---- 6. the matrix and the heatmap refuse dates before the sector data alike ------------------------------------
@pytest.fixture(scope="module")
def late_sectors_csv(tmp_path_factory):
    """A csv: source whose benchmark (SPY) starts 60 sessions before every sector, as SPY 1993 vs the ETFs 1998."""
    from serving_builders import make_bars

    folder = tmp_path_factory.mktemp("late_sectors")
    bars = make_bars()
    dates = sorted(bars["date"].unique())
    for ticker, rows in bars.groupby("ticker"):
        if ticker != "SPY":
            rows = rows[rows["date"] >= dates[60]]
        rows = rows.rename(columns=str.title)[["Date", "Open", "High", "Low", "Close", "Volume"]]
        rows.to_csv(folder / f"{ticker}.csv", index=False)
    return folder, dates[10].date().isoformat(), dates[60].date().isoformat()


def test_matrix_and_heatmap_refuse_dates_before_the_sector_data_alike(open_client, tmp_path, late_sectors_csv):
    folder, benchmark_only_day, first_sector_day = late_sectors_csv
    with open_client(tmp_path / "mlruns", source=f"csv:{folder}") as c:
        for path in ("/matrix", "/heatmap"):
            message = assert_date_error(c.post(path, json={"as_of": benchmark_only_day}))
            assert first_sector_day in message and "before the data starts" in message, message
            ok = c.post(path, json={"as_of": first_sector_day})
            assert ok.status_code == 200 and ok.json()["as_of"] == first_sector_day, ok.text[:300]


def test_rotation_matrix_refuses_a_benchmark_only_day(late_sectors_csv):
    from features.dataset import MarketDataset
    from features.matrix import rotation_matrix

    folder, benchmark_only_day, first_sector_day = late_sectors_csv
    ds = MarketDataset.load(f"csv:{folder}", "us_sectors")
    with pytest.raises(
        RequestError, match=f"^as_of: {benchmark_only_day} is before the data starts.*{first_sector_day}"
    ):
        rotation_matrix(ds.panels, ds.universe, benchmark_only_day)


# ---- 6. the API key -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["clé", "kéy-ü", "k\u200b", "tab\tkey", " padded "])
def test_unusable_api_key_is_refused(key):
    from serving.auth import check_api_key

    with pytest.raises(ConfigError, match=f"^{API_KEY_ENV}: ") as err:
        check_api_key(key)
    assert key.strip() not in str(err.value)  # the secret stays out of the message
    check_api_key("A-plain_key.123~")
    check_api_key(None)


def test_non_ascii_api_key_stops_the_service_at_start_up(open_client, tmp_path):
    refused = pytest.raises(ConfigError, match=f"^{API_KEY_ENV}: the API key must be printable ASCII")
    with refused, open_client(tmp_path / "mlruns", api_key="clé"):
        pass
    with open_client(tmp_path / "mlruns", api_key="ascii-key") as c:  # the app starts again afterwards
        assert c.post("/ping", json={}, headers={API_KEY_HEADER: "ascii-key"}).status_code == 200
        denied = c.post("/ping", json={})
        assert denied.status_code == 401 and error_of(denied) == {
            "code": "unauthorized",
            "message": f"missing {API_KEY_HEADER} header: this server requires an API key",
            "field": API_KEY_HEADER,
        }


def test_serve_command_refuses_a_non_ascii_api_key():
    import argparse

    from serving.commands import serve_command

    args = argparse.Namespace(source=None, config=None, host="127.0.0.1", port=3000)
    with pytest.raises(ConfigError, match=API_KEY_ENV):
        serve_command(args, {API_KEY_ENV: "clé"})
    assert serve_command(args, {API_KEY_ENV: "ascii"})[0][-1] == "3000"


# ---- the real server: a megabyte no longer stalls it, heavy work stays off the event loop ---------------------------
def _livez_while(url: str, work) -> tuple[object, float]:
    """(what work() returned, the slowest /livez answer while it ran)."""
    result: dict = {}
    worker = threading.Thread(target=lambda: result.update(value=work()))
    slowest = 0.0
    with httpx.Client(base_url=url, timeout=10) as http:
        worker.start()
        time.sleep(0.02)
        while worker.is_alive():
            t0 = time.perf_counter()
            assert http.get("/livez").status_code == 200
            slowest = max(slowest, time.perf_counter() - t0)
            time.sleep(0.01)
    worker.join()
    return result.get("value"), slowest


@pytest.mark.slow
@pytest.mark.parametrize("path", ["/heatmap", "/matrix"])
def test_megabyte_as_of_does_not_stall_the_server(live_server, path):
    body = b'{"as_of": "' + b"2" * 1_000_000 + b'"}'

    def send():
        t0 = time.perf_counter()
        r = httpx.post(f"{live_server.url}{path}", content=body, headers=JSON, timeout=5)  # was 36 s
        return r, time.perf_counter() - t0

    (r, seconds), slowest_livez = _livez_while(live_server.url, send)
    assert r.status_code == 413 and error_of(r)["code"] == "payload_too_large"
    assert seconds < 1 and slowest_livez < FAST_S
    assert not problems(r.status_code, r.headers, r.content, seconds, [body.decode()])


@pytest.mark.slow
def test_uncached_heatmap_and_png_run_off_the_event_loop(live_server):
    """The event loop keeps answering probes while a heatmap is computed and drawn (a worker thread does it)."""

    def draw():
        t0 = time.perf_counter()
        r = httpx.get(
            f"{live_server.url}/ui/heatmap.png", params={"as_of": "2024-05-17", "timeframe": "3M"}, timeout=30
        )
        return r, time.perf_counter() - t0

    (r, seconds), slowest_livez = _livez_while(live_server.url, draw)
    assert r.status_code == 200 and r.headers["x-cache"] == "miss"
    assert slowest_livez < FAST_S, (slowest_livez, seconds)

"""Schema fuzzing of the real server (loopback only), bounded, with the gates every answer must pass.

Three sources of requests:
- schemathesis' coverage phase from the server's own /docs.json: boundary values, wrong types, unexpected
  properties and methods, and Content-Type probes (`multipart/form-data` without a boundary was a 500);
- schemathesis' fuzzing phase from /docs.json, valid (positive) and invalid (negative) requests,
  MAX_EXAMPLES per operation and mode;
- hostile requests drawn here (Hypothesis), the classes of input that found the hardening defects
  (tests/serving/test_hardening.py): oversized strings, negative and out-of-range dates and dates with a
  time, wrong content types, huge and deeply nested bodies, on the JSON APIs and on the GET pages the
  document leaves out (/ui/heatmap, /ui/heatmap.png).

Every answer must pass the gates: no 5xx; what the schema allows checking (a documented status code and
content type, a body conforming to the declared schema: the one error body for every 4xx); none slower than
MAX_RESPONSE_S; none echoing more than a short excerpt of a string it was sent; none showing a path of the
server's file system or SQL text (tests/serving/response_gates.py). And the server log gets no traceback and
at most one short line per rejected request.

/reload is left out of the schema-driven runs: a state-changing admin operation without parameters
(covered in test_service_api.py); reloading the market dozens of times would only make this slow. The
hostile requests do reach it: none of them can be a valid reload.

schemathesis' own pytest loader for late-bound schemas (`schemathesis.pytest.from_fixture`)
fails on pytest 9 here ('Function' object has no attribute '_nodeid'), so each operation's
documented Hypothesis strategy (`APIOperation.as_strategy`) is driven with `@given` instead.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from response_gates import EXCERPT_CHARS, problems, sent_strings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.slow
MAX_EXAMPLES = 50
HOSTILE_EXAMPLES = 400
REQUEST_TIMEOUT_S = 30
MAX_RESPONSE_S = 1.0
MAX_LOG_BYTES_PER_REJECTION = 400  # one line (with BentoML's trace suffix); a traceback was 2.3 KB
SKIPPED = {"/reload"}
BODY_CAP = 64 * 1024  # ServingConfig.max_body_bytes, the default the live server runs with


def reproducible(max_examples: int) -> settings:
    """Hypothesis settings of every fuzz test here: the same cases in CI (derandomized, no example database)."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )


def gates(ctx, response, case) -> None:
    """The hardening gates as a schemathesis check (speed, echo, leaks, error shape)."""
    sent = sent_strings(case.body if isinstance(case.body, dict | list | str) else None, case.query, case.headers)
    headers = {k: v[0] for k, v in response.headers.items()}
    found = problems(response.status_code, headers, response.content, response.elapsed, sent, MAX_RESPONSE_S)
    if found:
        raise AssertionError(f"{case.operation.label}: {'; '.join(found)}")


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance, gates]


@pytest.fixture(scope="module", autouse=True)
def warm_server(live_server):
    """One of each answer first: a fresh worker's lazy imports (pandas paths, matplotlib) are not what the
    1 s gate is about."""
    with httpx.Client(base_url=live_server.url, timeout=REQUEST_TIMEOUT_S) as http:
        assert http.post("/heatmap", json={}).status_code == 200
        assert http.post("/matrix", json={}).status_code == 200
        assert http.get("/ui/heatmap.png").status_code == 200


@pytest.fixture
def quiet_log(live_server):
    """Yields a list to append each rejected (4xx) request to; then checks what the server logged meanwhile."""
    start = live_server.log.stat().st_size
    rejected: list = []
    yield rejected
    time.sleep(0.2)  # the server writes its log asynchronously
    with open(live_server.log, "rb") as fh:
        fh.seek(start)
        grown = fh.read().decode("utf-8", "replace")
    assert "Traceback" not in grown, grown[:3000]
    assert len(grown) <= MAX_LOG_BYTES_PER_REJECTION * max(1, len(rejected)), (len(grown), len(rejected), grown[:2000])
    assert grown.count("\n") <= max(1, len(rejected)), grown[:2000]  # one line each (nothing injected)


@pytest.fixture(scope="module")
def api_schema(live_server):
    assert live_server.url.startswith("http://127.0.0.1:")
    return schemathesis.openapi.from_url(f"{live_server.url}/docs.json", timeout=REQUEST_TIMEOUT_S)


def _fuzzed(api_schema) -> list:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    fuzzed = [op for op in operations if op.path not in SKIPPED]
    assert {
        "POST /heatmap",
        "POST /matrix",
        "POST /model",
        "GET /model",
        "POST /ping",
        "POST /sector",
        "POST /rotation",
    } <= {op.label for op in fuzzed}
    return fuzzed


def test_coverage_cases(api_schema, live_server, quiet_log):
    """schemathesis' deterministic coverage cases, Content-Type probes included, all through the gates."""
    from schemathesis.generation.meta import CoverageScenario, coverage_scenario

    scenarios, calls = set(), 0
    for op in _fuzzed(api_schema):
        config = api_schema.config.generation_for(operation=op, phase="coverage")
        modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
        for case in api_schema.iter_coverage_cases(op, generation_modes=modes, generation_config=config):
            response = case.call(base_url=live_server.url, timeout=REQUEST_TIMEOUT_S)
            calls += 1
            scenarios.add(coverage_scenario(case))
            if response.status_code >= 400:
                quiet_log.append(case)
            case.validate_response(response, checks=CHECKS)
    assert calls > 50 and CoverageScenario.MALFORMED_CONTENT_TYPE in scenarios, (calls, scenarios)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_no_server_errors(api_schema, live_server, mode, quiet_log):
    fuzzed = _fuzzed(api_schema)
    calls = []
    for op in fuzzed:

        @given(case=op.as_strategy(generation_mode=mode))
        @reproducible(MAX_EXAMPLES)
        def run(case):
            response = case.call(base_url=live_server.url, timeout=REQUEST_TIMEOUT_S)
            calls.append((op.path, response.status_code))  # noqa: B023 - run() is called in this iteration
            if response.status_code >= 400:
                quiet_log.append(case)
            case.validate_response(response, checks=CHECKS)

        try:
            run()
        except Unsatisfiable:  # negative mode: an operation without parameters cannot be made invalid
            assert mode is GenerationMode.NEGATIVE and not op.body and not op.query, op.label
    assert len(calls) >= len(fuzzed) if mode is GenerationMode.POSITIVE else calls
    if mode is GenerationMode.NEGATIVE:  # invalid bodies were really sent, and refused
        assert any(path == "/heatmap" and code == 400 for path, code in calls)


# ---- hostile requests: the classes of input that found the hardening defects ----------------------------------
JSON_APIS = ("/heatmap", "/matrix", "/model", "/ping", "/reload", "/sector", "/rotation")  # none is a valid reload
PAGES = ("/ui/heatmap", "/ui/heatmap.png", "/model", "/ui/sector", "/ui/rotation", "/ui/rotation.png")
TEXT_FIELDS = ("as_of", "universe", "timeframe", "market_index", "benchmark")
WRONG_TYPES = (
    "multipart/form-data",
    "multipart/form-data; boundary=",
    "multipart/form-data; boundary=x",
    "application/x-www-form-urlencoded",
    "text/plain",
    "text/json",
    "application/xml",
    "application/vnd.bentoml+pickle",
    "application/octet-stream",
    "*/*",
    "application/json-seq",
    "; charset=utf-8",
)


def long_strings(min_size: int = EXCERPT_CHARS + 1, max_size: int = 60_000):
    """Oversized strings, built by repetition (Hypothesis itself draws at most a few KB)."""
    piece = st.sampled_from(["2", "9-", "-1", "é", "A", "\u202e", "<x>", "%00", "0" * 7 + "-"]) | st.text(min_size=1)
    # not blank: a blank as_of means "the latest session" (an empty form field), which is a valid request
    return st.builds(lambda p, n: (p * (n // len(p) + 1))[:n], piece, st.integers(min_size, max_size)).filter(
        lambda s: s.strip()
    )


def bad_dates():
    """as_of values no server may accept: negative, before 1900 or past what a Timestamp holds, with a time,
    not a calendar day, or not a date at all; never a date it could draw a (slow) picture for."""
    ymd = lambda y, m, d: f"{y:04d}-{m:02d}-{d:02d}"  # noqa: E731
    return st.one_of(
        st.builds(lambda s, y, m, d: f"{s}{ymd(y, m, d)}", st.sampled_from(["-", "+", "--"]), *_ymd()),
        st.builds(ymd, st.integers(0, 1899), st.integers(1, 12), st.integers(1, 28)),
        st.builds(ymd, st.integers(2263, 9999), st.integers(1, 12), st.integers(1, 28)),
        st.builds(
            lambda y, m, d: f"{y}-{m:02d}-{d:02d}", st.integers(10_000, 10**9), st.integers(1, 12), st.integers(1, 28)
        ),
        st.builds(ymd, st.integers(1900, 2200), st.integers(13, 99), st.integers(1, 99)),
        st.builds(ymd, st.integers(1900, 2200), st.integers(1, 12), st.integers(32, 99)),
        st.builds(
            lambda day, rest: day + rest,
            st.builds(ymd, *_ymd(1990, 2030)),
            st.sampled_from(["T00:00:00", "T23:00:00-05:00", "Z", "+02:00", " 10:00", "T12", "t00:00"]),
        ),
        st.from_regex(r"\A-?[0-9]{1,6}\Z"),
        st.sampled_from(["-1", "-5", "-2022-01-01", "-0001-06-01", "0001-01-01", "0000-00-00", "NaT", "now", "today"]),
        long_strings(),
    )


def _ymd(lo: int = 0, hi: int = 99_999):
    return st.integers(lo, hi), st.integers(1, 12), st.integers(1, 28)


def nested(depth: int, kind: str) -> str:
    return ("[" * depth + "]" * depth) if kind == "list" else ('{"a":' * depth + "1" + "}" * depth)


@st.composite
def hostile_requests(draw):
    """(method, path, headers, content, the strings sent): one request of one hostile class."""
    kind = draw(st.sampled_from(["long_string", "bad_date", "wrong_type", "huge", "nested", "page"]))
    path = draw(st.sampled_from(JSON_APIS))
    json_type = {"content-type": "application/json"}
    if kind == "long_string":
        text = draw(long_strings())
        where = draw(st.sampled_from([*TEXT_FIELDS, "metrics", "key"]))
        body = {text: 1} if where == "key" else {"metrics": [text]} if where == "metrics" else {where: text}
        return "POST", path, json_type, json.dumps(body).encode(), sent_strings(body)
    if kind == "bad_date":
        value = draw(bad_dates())
        body = {"as_of": value}
        return "POST", path, json_type, json.dumps(body).encode(), sent_strings(body)
    if kind == "wrong_type":
        typed = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1)  # a header value HTTP allows
        content_type = draw(st.sampled_from(WRONG_TYPES) | typed)
        content = draw(st.sampled_from([b"{}", b'{"as_of": "2024-06-28"}', b"as_of=2024-06-28", b"--x\r\n\r\n"]))
        if content_type.split(";")[0].strip().lower() == "application/json":
            content_type = "text/plain"
        return "POST", path, {"content-type": content_type}, content, []
    if kind == "huge":
        size = draw(st.integers(BODY_CAP + 1, 4_000_000))
        content = b'{"as_of": "' + b"2" * size + b'"}'
        chunked = draw(st.booleans())
        return "POST", path, {**json_type, "x-chunked": "1" if chunked else ""}, content, [content.decode()]
    if kind == "nested":
        depth = draw(st.integers(50, 30_000))
        text = nested(depth, draw(st.sampled_from(["list", "object"])))
        body = draw(st.sampled_from([text, f'{{"metrics": {text}}}', f'{{"as_of": {text}}}']))
        return "POST", path, json_type, body.encode(), []
    page = draw(st.sampled_from(PAGES))
    field = draw(st.sampled_from(["as_of", "universe", "timeframe", "metrics", "k" * 100]))
    value = draw(bad_dates()) if field == "as_of" else draw(long_strings(max_size=6000))
    return "GET", page, {"params": json.dumps({field: value})}, b"", sent_strings({field: value})


def _send(http: httpx.Client, method, path, headers, content) -> httpx.Response:
    if method == "GET":
        return http.get(path, params=json.loads(headers["params"]))
    headers = dict(headers)
    if headers.pop("x-chunked", ""):  # no Content-Length: the body arrives in pieces
        return http.post(
            path, content=iter([content[i : i + 65_536] for i in range(0, len(content), 65_536)]), headers=headers
        )
    return http.post(path, content=content, headers=headers)


def test_hostile_requests(live_server, quiet_log):
    seen: dict = {}
    with httpx.Client(base_url=live_server.url, timeout=REQUEST_TIMEOUT_S) as http:

        @given(request=hostile_requests())
        @reproducible(HOSTILE_EXAMPLES)
        def run(request):
            method, path, headers, content, sent = request
            t0 = time.perf_counter()
            r = _send(http, method, path, headers, content)
            elapsed = time.perf_counter() - t0
            seen[r.status_code] = seen.get(r.status_code, 0) + 1
            if r.status_code >= 400:
                quiet_log.append(request)
            found = problems(r.status_code, r.headers, r.content, elapsed, sent, MAX_RESPONSE_S)
            assert not found, (method, path, headers, content[:200], r.status_code, r.text[:300], found)
            assert r.status_code >= 400, (method, path, content[:200], r.text[:200])  # all of them are bad

        run()
    assert {400, 413, 415} <= set(seen), seen

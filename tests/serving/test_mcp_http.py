"""The MCP tools over streamable HTTP at /mcp of a real `sector-heatmap serve` on loopback, with the SDK's
client session: the same tools, answers and cache as POST /heatmap, errors as tool errors, the API key."""

from __future__ import annotations

import asyncio
import json

import pytest
from test_mcp import GOOD_CALLS, TOOLS, bad_arguments, check_bad_result, check_good_result, without

pytestmark = pytest.mark.slow


async def _session(url: str, work, headers: dict | None = None, seen: list | None = None):
    """Run `work(session)` in one initialized MCP session; `seen` collects the media type of each answer to a
    tools/call POST (the SDK answers with an SSE stream, the result cache with one JSON body)."""
    import httpx2
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async def record(response) -> None:
        if seen is not None and response.request.method == "POST" and b'"tools/call"' in response.request.content:
            seen.append(response.headers.get("content-type", "").split(";")[0])

    async with (
        httpx2.AsyncClient(headers=headers or {}, timeout=30, event_hooks={"response": [record]}) as http,
        streamable_http_client(f"{url}/mcp", http_client=http) as streams,
        ClientSession(streams[0], streams[1]) as session,
    ):
        await session.initialize()
        return await work(session)


def over_http(url: str, work, headers: dict | None = None, seen: list | None = None):
    return asyncio.run(_session(url, work, headers, seen))


def post(url: str, path: str, body: dict, headers: dict | None = None) -> tuple[int, dict, dict]:
    import http.client
    from urllib.parse import urlsplit

    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json", **(headers or {})})
        r = conn.getresponse()
        raw, headers = r.read(), {k.lower(): v for k, v in r.getheaders()}
        is_json = raw and headers.get("content-type") == "application/json"
        return r.status, json.loads(raw) if is_json else {}, headers
    finally:
        conn.close()


def test_tools_are_listed_with_schemas(live_server):
    async def work(s):
        return (await s.list_tools()).tools

    tools = over_http(live_server.url, work)
    assert {t.name for t in tools} == TOOLS
    for t in tools:
        assert t.annotations.read_only_hint and t.annotations.idempotent_hint, t.name
        assert t.output_schema and t.input_schema["type"] == "object", t.name


def test_every_tool_answers_and_the_heatmap_is_post_heatmaps(live_server):
    request = {"timeframe": "3M", "metrics": ["performance", "volatility", "predicted"]}

    async def work(s):
        out = {name: check_good_result(name, args, await s.call_tool(name, args)) for name, args in GOOD_CALLS}
        out["heat"] = (await s.call_tool("get_sector_heatmap", request)).structured_content
        return out

    out = over_http(live_server.url, work)
    status, body, headers = post(live_server.url, "/heatmap", request)
    assert status == 200 and headers["x-cache"] == "hit"  # the MCP call filled the very cache entry POST reads
    assert without(out["heat"], "market_overview", "skill") == body  # identical numbers, timestamp included


def test_bad_arguments_are_tool_errors_and_the_server_keeps_serving(live_server):
    cases = bad_arguments()

    async def work(s):
        results = [(tool, args, needles, await s.call_tool(tool, args)) for tool, args, needles in cases]
        after = await s.call_tool("list_universes", {})
        return results, after

    results, after = over_http(live_server.url, work)
    for tool, args, needles, r in results:
        check_bad_result(tool, args, needles, r)
    assert not after.is_error


def test_eight_concurrent_clients(live_server):
    async def one(i: int):
        async def work(s):
            r = await s.call_tool("get_sector_heatmap", {"timeframe": ["1D", "1W", "1M", "3M"][i % 4]})
            return r

        return await _session(live_server.url, work)

    async def all_of_them():
        return await asyncio.gather(*(one(i) for i in range(8)))

    results = asyncio.run(all_of_them())
    assert all(not r.is_error and len(r.structured_content["sectors"]) == 11 for r in results)


def test_reload_updates_what_mcp_answers(live_server):
    async def generation(s):
        r = await s.call_tool("get_sector_heatmap", {"timeframe": "1M"})
        return r.structured_content["timestamp"]

    first = over_http(live_server.url, generation)
    status, body, _ = post(live_server.url, "/reload", {})
    assert status == 200 and body["reloaded"], body
    second = over_http(live_server.url, generation)
    status, heat, headers = post(live_server.url, "/heatmap", {"timeframe": "1M"})
    assert headers["x-cache"] == "hit" and heat["timestamp"] == second  # shared cache after the swap
    assert second >= first


def test_mcp_needs_the_api_key_when_one_is_set(demo_store, tmp_path):
    from serving_builders import LiveServer

    async def work(s):
        return (await s.list_tools()).tools

    with LiveServer(demo_store, tmp_path, api_key="s3cret-key") as server:
        status, body, _ = post(server.url, "/mcp", {"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert status == 401 and body["error"]["code"] == "unauthorized"
        with pytest.raises(Exception):  # noqa: B017 - the SDK surfaces the 401 as a transport error
            over_http(server.url, work)
        tools = over_http(server.url, work, headers={"X-API-KEY": "s3cret-key"})
        assert {t.name for t in tools} == TOOLS


# ---- the result cache in front of the SDK's transport (serving/mcp_fastpath.py) ---------------------------
SSE, JSON = "text/event-stream", "application/json"
CALL = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "list_universes", "arguments": {}}}


def raw_session(url: str, headers: dict | None = None) -> dict[str, str]:
    """initialize + initialized by hand; the headers a call in that session carries."""
    init = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    accept = {"Accept": f"{JSON}, {SSE}", **(headers or {})}
    import http.client
    from urllib.parse import urlsplit

    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        conn.request("POST", "/mcp", json.dumps(init), {"Content-Type": JSON, **accept})
        r = conn.getresponse()
        r.read()
        assert r.status == 200, r.status
        session = {**accept, "mcp-protocol-version": "2025-06-18", "mcp-session-id": r.getheader("mcp-session-id")}
    finally:
        conn.close()
    status, _, _ = post(url, "/mcp", {"jsonrpc": "2.0", "method": "notifications/initialized"}, session)
    assert status == 202, status
    return session


def test_repeat_calls_are_answered_from_the_result_cache_identically(live_server):
    """The first call of each tool goes through the SDK (SSE), the repeat is the cache's JSON answer: the same
    structured content and text; the heatmap is still POST /heatmap's very answer."""
    request = {"timeframe": "1D", "metrics": ["performance", "predicted"]}
    seen: list[str] = []

    async def work(s):
        pairs = []
        for name, args in [*GOOD_CALLS, ("get_sector_heatmap", request)]:
            pairs.append((name, args, await s.call_tool(name, args), await s.call_tool(name, args)))
        return pairs

    pairs = over_http(live_server.url, work, seen=seen)
    assert seen == [SSE, JSON] * len(pairs)  # every second call was the cache's
    for name, args, sdk, cached in pairs:
        check_good_result(name, args, cached)
        assert cached.model_dump() == sdk.model_dump(), name  # structuredContent, both texts, isError
    status, body, headers = post(live_server.url, "/heatmap", request)
    assert status == 200 and headers["x-cache"] == "hit"
    assert without(pairs[-1][3].structured_content, "market_overview", "skill") == body


def test_calls_the_cache_must_not_answer_go_to_the_sdk(live_server):
    """Progress requested, an error, a missing protocol header: the SDK answers, every time."""
    seen: list[str] = []
    progress: list[float] = []

    async def on_progress(value, total, message):
        progress.append(value)

    async def work(s):
        out = []
        for _ in range(2):
            out.append(await s.call_tool("get_sector_heatmap", {"timeframe": "3M"}, progress_callback=on_progress))
        for _ in range(2):
            out.append(await s.call_tool("get_sector_heatmap", {"timeframe": "2Y"}))
        return out

    results = over_http(live_server.url, work, seen=seen)
    assert seen == [SSE] * 4 and progress == [0, 1, 0, 1]  # progress notifications on both calls
    assert not results[0].is_error and results[0].model_dump() == results[1].model_dump()
    for r in results[2:]:
        check_bad_result("get_sector_heatmap", {"timeframe": "2Y"}, ["timeframe", "2Y"], r)

    session = raw_session(live_server.url)
    statuses = [post(live_server.url, "/mcp", CALL, session)[2]["content-type"] for _ in range(2)]
    assert statuses == [SSE, JSON]
    no_version = {k: v for k, v in session.items() if k != "mcp-protocol-version"}
    assert post(live_server.url, "/mcp", CALL, no_version)[2]["content-type"] == SSE  # the SDK's default version


def test_unknown_ended_or_unacceptable_sessions_get_the_sdks_answers(live_server):
    session = raw_session(live_server.url)
    for _ in range(2):  # the second one is the cache's
        assert post(live_server.url, "/mcp", CALL, session)[0] == 200
    unknown = {**session, "mcp-session-id": "0" * 32}
    assert post(live_server.url, "/mcp", CALL, unknown)[0] == 404  # the SDK's "Session not found"
    assert post(live_server.url, "/mcp", CALL, {**session, "Accept": JSON})[0] == 406  # SSE mode wants both
    import http.client
    from urllib.parse import urlsplit

    u = urlsplit(live_server.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request("DELETE", "/mcp", headers=session)
    assert conn.getresponse().status == 200
    conn.close()
    assert post(live_server.url, "/mcp", CALL, session)[0] == 404  # ended: no cached answer either


def test_reload_empties_the_result_cache(live_server):
    """In one session: a cached answer, /reload, then the next call is a fresh one from the new state (it fills
    the engine's cache again, so POST /heatmap is a hit and the same answer)."""
    seen: list[str] = []

    async def work(s):
        args = {"timeframe": "1W"}
        before = [(await s.call_tool("get_sector_heatmap", args)).structured_content for _ in range(2)]
        status, body, _ = post(live_server.url, "/reload", {})
        assert status == 200 and body["reloaded"], body
        after = (await s.call_tool("get_sector_heatmap", args)).structured_content
        heat = post(live_server.url, "/heatmap", args)
        again = (await s.call_tool("get_sector_heatmap", args)).structured_content
        return before, body["generation"], after, heat, again

    before, generation, after, (status, body, headers), again = over_http(live_server.url, work, seen=seen)
    assert seen == [SSE, JSON, SSE, JSON] and generation >= 1
    assert headers["x-cache"] == "hit" and without(after, "market_overview", "skill") == body
    assert again == after and after["timestamp"] >= before[0]["timestamp"]


def test_a_cached_answer_still_needs_the_api_key(demo_store, tmp_path):
    from serving_builders import LiveServer

    key = {"X-API-KEY": "s3cret-key"}
    with LiveServer(demo_store, tmp_path, api_key="s3cret-key") as server:
        session = raw_session(server.url, key)
        for _ in range(2):
            status, _, headers = post(server.url, "/mcp", CALL, session)
            assert status == 200
        assert headers["content-type"] == JSON  # cached now
        without_key = {k: v for k, v in session.items() if k != "X-API-KEY"}
        status, body, _ = post(server.url, "/mcp", CALL, without_key)
        assert status == 401 and body["error"]["code"] == "unauthorized"

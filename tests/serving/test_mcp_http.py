"""The MCP tools over streamable HTTP at /mcp of a real `sector-heatmap serve` on loopback, with the SDK's
client session: the same tools, answers and cache as POST /heatmap, errors as tool errors, the API key."""

from __future__ import annotations

import asyncio
import json

import pytest
from test_mcp import GOOD_CALLS, TOOLS, bad_arguments, check_bad_result, check_good_result, without

pytestmark = pytest.mark.slow


async def _session(url: str, work, headers: dict | None = None):
    import httpx2
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async with (
        httpx2.AsyncClient(headers=headers or {}, timeout=30) as http,
        streamable_http_client(f"{url}/mcp", http_client=http) as streams,
        ClientSession(streams[0], streams[1]) as session,
    ):
        await session.initialize()
        return await work(session)


def over_http(url: str, work, headers: dict | None = None):
    return asyncio.run(_session(url, work, headers))


def post(url: str, path: str, body: dict) -> tuple[int, dict, dict]:
    import http.client
    from urllib.parse import urlsplit

    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        r = conn.getresponse()
        return r.status, json.loads(r.read()), {k.lower(): v for k, v in r.getheaders()}
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

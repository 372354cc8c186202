"""serving/mcp_fastpath.py in-process: what it takes to be a cacheable call, how it reads the SDK's answers,
and the SDK internals it relies on (mcp==2.3.0) — the last test fails when the SDK changes them."""

from __future__ import annotations

import json

import pytest

from serving.mcp_fastpath import json_content_type, live_transport, sdk_results, tool_call, touch


def _call(**over) -> bytes:
    msg = {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "t", "arguments": {"a": 1}}}
    msg.update(over)
    return json.dumps(msg).encode()


def test_only_a_plain_tools_call_is_cacheable():
    assert tool_call(_call()) == (3, "t", {"a": 1})
    assert tool_call(_call(id="x")) == ("x", "t", {"a": 1})
    assert tool_call(_call(params={"name": "t"})) == (3, "t", {})
    for bad in [
        _call(method="tools/list"),
        _call(id=True),
        _call(id=None),
        _call(id=1.5),
        _call(jsonrpc="1.0"),
        _call(params={"name": "t", "arguments": {}, "_meta": {"progressToken": 1}}),  # progress: the SDK's job
        _call(params={"name": "t", "arguments": [1]}),
        _call(params={"name": 5}),
        _call(params=[]),
        json.dumps([json.loads(_call())]).encode(),  # a batch
        json.dumps({"jsonrpc": "2.0", "method": "tools/call", "params": {"name": "t"}}).encode(),  # a notification
        b"{not json",
    ]:
        assert tool_call(bad) is None, bad


def test_content_type_is_the_transports_test():
    assert json_content_type("application/json") and json_content_type("application/json; charset=utf-8")
    assert not json_content_type("text/plain") and not json_content_type(None)


def test_results_are_read_from_sse_or_json():
    msg = {"jsonrpc": "2.0", "id": 1, "result": {"content": []}}
    sse = f"event: message\r\ndata: {json.dumps(msg)}\r\n\r\n".encode()
    assert sdk_results("text/event-stream", sse) == [msg]
    assert sdk_results("application/json", json.dumps(msg).encode()) == [msg]
    assert sdk_results("text/plain", b"x") == [] and sdk_results("text/event-stream", b"data: {bad\n\n") == []


def test_the_sdk_internals_the_cache_relies_on():
    """A real SDK session manager: a session opened by initialize is found (and its idle countdown restarted)
    through the private table; unknown and deleted sessions are not."""
    from mcp.server.mcpserver import MCPServer
    from starlette.testclient import TestClient

    server = MCPServer("probe")

    @server.tool()
    def echo(x: int) -> int:
        return x

    app = server.streamable_http_app(streamable_http_path="/mcp")
    manager = server.session_manager
    init = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        r = client.post("/mcp", content=json.dumps(init), headers=headers)
        assert r.status_code == 200
        sid = r.headers["mcp-session-id"]
        transport = live_transport(manager, sid, {})
        assert transport is not None and transport.mcp_session_id == sid
        assert live_transport(manager, "0" * 32, {}) is None
        idle = transport.idle_scope
        if idle is None:
            pytest.fail("the SDK no longer gives a session an idle scope: check touch()")

        async def restart() -> tuple[float, float]:  # on the app's event loop, as in a request
            import anyio

            idle.deadline = anyio.current_time() + 1.0
            touch(transport)
            return anyio.current_time(), idle.deadline

        now, deadline = client.portal.call(restart)  # type: ignore[union-attr]
        assert deadline - now > manager.session_idle_timeout - 5
        r = client.delete("/mcp", headers={**headers, "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18"})
        assert r.status_code == 200
        assert live_transport(manager, sid, {}) is None

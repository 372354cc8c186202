"""A result cache in front of the MCP SDK's streamable-HTTP transport at /mcp, for the read-only tools.

Why it exists (measured, issue 9): a cached get_sector_heatmap over /mcp cost ~5 ms of one core per call
in the SDK alone (195-260 req/s against 958-1481 req/s for the same cached answer on POST /heatmap, p99
343-411 ms at 8 clients). A py-spy profile put 21% of it in the SDK re-validating the 40 KB structured
result against the tool's output model on every call, ~12% in decoding and re-encoding the cached JSON, and
most of the rest in the transport (SSE framing, memory streams, one task per request). `json_response=True`
and the stateless mode did not change it. The tools are read-only and idempotent, so their answer is a
function of (tool, arguments, loaded state, UTC day); this cache keeps the JSON-RPC `result` the SDK itself
produced (validated and shaped once per entry) and answers a repeat `tools/call` with it, as one
`application/json` body with the request's id, which the streamable-HTTP spec allows for any request
("either Content-Type: text/event-stream ... or Content-Type: application/json") and the SDK's client reads.

Answered here only: a POST carrying a JSON-RPC `tools/call` of a read-only idempotent tool with `name` and
`arguments` and nothing else (no `_meta`: no progress token to honour), from a live session of this
process's SDK session manager, passing the checks the SDK makes first (transport security, Accept,
Content-Type, body size, a handshake-era MCP-Protocol-Version header). Everything else (initialize,
notifications, GET/DELETE, unknown or ended sessions, misses, errors, tool errors, bad arguments) goes to
the SDK unchanged; a miss is answered by the SDK and its result kept when it is not an error.

Keys are per session: the SDK shapes a result for the protocol version that session negotiated (the 2025-03-26
wire has no structuredContent), which only the session knows, so an answer is reused only for the session and
protocol header it was produced for (one SDK call per session and arguments, then cache hits). The engine's
state generation and the UTC day are in the key, and the cache is emptied when the generation changes (a
/reload), the same rule as the engine's response cache.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anyio
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.streamable_http import MCP_SESSION_ID_HEADER, StreamableHTTPServerTransport, check_accept_headers
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecurityMiddleware
from mcp.shared.inbound import MCP_PROTOCOL_VERSION_HEADER
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.datastructures import Headers
from starlette.requests import Request

from serving.cache import ResponseCache
from serving.engine import HeatmapEngine, utc_day
from serving.guard import replay_first

JSON_TYPE = "application/json"
CALL_KEYS = ({"jsonrpc", "id", "method", "params"}, {"name", "arguments"})


# ---- the SDK's private session table (mcp==2.3.0), in one place ---------------------------------------------
# The session manager has no public way to look a session up, and the transport none to count a request
# towards its idle timeout without serving it. tests/serving/test_mcp_fastpath.py fails when these change.
def live_transport(
    manager: StreamableHTTPSessionManager, session_id: str, scope
) -> StreamableHTTPServerTransport | None:
    """The transport of a live session this request may use, as `_handle_stateful_request` decides it
    (the session exists, its creator's credential matches, it is neither terminated nor timing out)."""
    transport = manager._server_instances.get(session_id)
    if transport is None or transport.is_terminated:
        return None
    user = scope.get("user")
    requestor = None if not isinstance(user, AuthenticatedUser) else user
    if requestor is not None or manager._session_owners.get(session_id) is not None:
        return None  # sessions tied to an OAuth credential: left to the SDK
    idle = transport.idle_scope
    if idle is not None and idle.cancel_called:
        return None
    return transport


def touch(transport: StreamableHTTPServerTransport) -> None:
    """Restart the session's idle countdown, as `handle_request` does when its last request completes."""
    idle, timeout = transport.idle_scope, transport._idle_timeout
    if idle is not None and timeout is not None and not transport._requests_in_flight:
        idle.deadline = anyio.current_time() + timeout


# ---- the request ------------------------------------------------------------------------------------------
def tool_call(body: bytes) -> tuple[int | str, str, dict[str, Any]] | None:
    """(id, tool, arguments) of a plain JSON-RPC tools/call, or None for anything else."""
    try:
        msg = json.loads(body)
    except ValueError:
        return None
    if not isinstance(msg, dict) or set(msg) != CALL_KEYS[0] or msg["jsonrpc"] != "2.0":
        return None
    rid, params = msg["id"], msg["params"]
    if msg["method"] != "tools/call" or isinstance(rid, bool) or not isinstance(rid, int | str):
        return None
    if not isinstance(params, dict) or not set(params) <= CALL_KEYS[1] or not isinstance(params.get("name"), str):
        return None
    args = params.get("arguments", {})
    return (rid, params["name"], args) if isinstance(args, dict) else None


def json_content_type(value: str | None) -> bool:
    """The transport's own Content-Type test (StreamableHTTPServerTransport._check_content_type)."""
    parts = (value or "").split(";")[0].split(",")
    return any(part.strip() == JSON_TYPE for part in parts)


def sdk_results(media_type: str, body: bytes) -> list[dict]:
    """The JSON-RPC messages of an SDK answer: one JSON body, or the `data:` lines of an SSE stream."""
    if media_type.startswith(JSON_TYPE):
        texts = [body.decode()]
    elif media_type.startswith("text/event-stream"):
        texts = [line[5:].lstrip(" ") for line in body.decode().splitlines() if line.startswith("data:")]
    else:
        return []
    out = []
    for text in texts:
        try:
            msg = json.loads(text)
        except ValueError:
            continue
        if isinstance(msg, dict):
            out.append(msg)
    return out


class McpResultCache:
    """Pure ASGI app: answers repeat read-only tool calls from cache, everything else by the SDK's `app`."""

    def __init__(
        self,
        app,
        manager: StreamableHTTPSessionManager,
        tools: frozenset[str],
        engine: Callable[[], HeatmapEngine],
        max_entries: int,
    ) -> None:
        self.app = app
        self.manager = manager
        self.tools = tools
        self.engine = engine
        self.security = TransportSecurityMiddleware(manager.security_settings)
        self.results = ResponseCache(max_entries)
        self.generation: int | None = None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or self.manager.stateless:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        version = headers.get(MCP_PROTOCOL_VERSION_HEADER)
        session = headers.get(MCP_SESSION_ID_HEADER)
        transport = None if session is None else live_transport(self.manager, session, scope)
        if (
            version not in HANDSHAKE_PROTOCOL_VERSIONS
            or session is None
            or transport is None
            or not await self._acceptable(scope)
        ):
            await self.app(scope, receive, send)
            return
        message = await receive()
        replay = replay_first(message, receive)
        call = None
        if message["type"] == "http.request" and not message.get("more_body", False):
            call = tool_call(message.get("body", b""))
        if call is None or call[1] not in self.tools:
            await self.app(scope, replay, send)
            return
        rid, name, args = call
        try:
            generation = self.engine().state.generation
        except Exception:  # no engine yet (starting): the SDK's path says so
            await self.app(scope, replay, send)
            return
        if generation != self.generation:  # a reload: the old answers go, as the engine's cache drops its own
            self.results.clear()
            self.generation = generation
        key = (session, version, name, json.dumps(args, sort_keys=True), generation, utc_day())
        result = self.results.get(key)
        if result is None:
            await self._through_sdk(scope, replay, send, key, rid)
            return
        body = b'{"jsonrpc":"2.0","id":' + json.dumps(rid, ensure_ascii=False).encode() + b',"result":' + result + b"}"
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", JSON_TYPE.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (MCP_SESSION_ID_HEADER.encode(), session.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
        touch(transport)

    async def _acceptable(self, scope) -> bool:
        """The checks the SDK makes before reading a POST, passed (a failure is left to the SDK to answer)."""
        request = Request(scope)
        if await self.security.validate_request(request, is_post=True) is not None:
            return False
        has_json, has_sse = check_accept_headers(request)
        if not (has_json if self.manager.json_response else has_json and has_sse):
            return False
        if not json_content_type(request.headers.get("content-type")):
            return False
        declared = request.headers.get("content-length")
        return declared is not None and declared.isdigit() and int(declared) <= self.manager.max_request_body_size

    async def _through_sdk(self, scope, receive, send, key: tuple, rid: int | str) -> None:
        """The SDK answers (streamed on as it comes); its result is kept when it is a success."""
        status, media, chunks = 0, "", []

        async def watch(message) -> None:
            nonlocal status, media
            if message["type"] == "http.response.start":
                status = message["status"]
                media = Headers(raw=message.get("headers", [])).get("content-type", "").lower()
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, watch)
        if status != 200:
            return
        for msg in sdk_results(media, b"".join(chunks)):
            result = msg.get("result")
            if msg.get("id") == rid and isinstance(result, dict) and not result.get("isError"):
                self.results.put(key, json.dumps(result, ensure_ascii=False, separators=(",", ":")).encode())
                return

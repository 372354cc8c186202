"""The request guard: the first thing every HTTP request meets (a pure ASGI middleware, like serving/auth.py).

- caps the request body at ServingConfig.max_body_bytes (default 64 KB): a 413, without reading on
- the JSON APIs (POST /heatmap, /matrix, /model, /reload, /ping) take JSON only: a 415 for any other
  Content-Type (an empty body without one stays accepted as {}, as BentoML itself does)
- validates a JSON API body against the endpoint's input model before BentoML does: a 400 naming the field.
  Why here: BentoML's api_endpoint_wrapper (_bentoml_impl/server/app.py) logs every exception raised while
  answering, a client's bad body included, at ERROR with the full traceback, and answers in its own shapes.
  A body that passes here passes BentoML's identical parse (input_spec.model_validate_json), so it never
  raises for a client error; the service's own request errors are returned as 400 responses, not raised.
- reshapes every other error answer (starlette's text 404/405, BentoML's {"error": "..."} 500, ...) into the
  one error body (serving/http_errors.py), and logs each client error as one INFO line, without traceback.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping

from pydantic import BaseModel, ValidationError

from serving.http_errors import (
    JSON_TYPE,
    error_body,
    error_headers,
    excerpt,
    field_name,
    message_of,
    validation_error_parts,
)

log = logging.getLogger("sector_heatmap.serving")
# past the limit, keep reading (and dropping) this much more so a client still uploading gets the 413 rather
# than a reset connection; a body beyond even this is cut off
DRAIN_BYTES = 4 * 1024 * 1024


class _TooLarge(Exception):
    pass


class _Disconnected(Exception):
    pass


def _header(scope, name: bytes) -> str | None:
    return next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == name), None)


async def read_body(receive, limit: int) -> bytes:
    """The whole request body, or _TooLarge as soon as it exceeds `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            await _drain(receive, message, DRAIN_BYTES)
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _drain(receive, message, budget: int) -> None:
    while message.get("more_body", False) and budget > 0:
        message = await receive()
        if message["type"] != "http.request":
            return
        budget -= len(message.get("body", b""))


def replay_first(message: dict, receive):
    """A receive() that hands the app `message` (already taken from `receive`, e.g. the body read to check
    it) first, then passes on what `receive` gives (e.g. the disconnect)."""
    sent = False

    async def replayed():
        nonlocal sent
        if not sent:
            sent = True
            return message
        return await receive()

    return replayed


def json_problem(scope, body: bytes, model: type[BaseModel]) -> tuple[int, str, str | None] | None:
    """(status, message, field) when a JSON API request cannot be accepted, else None."""
    content_type = _header(scope, b"content-type")
    media = (content_type or "").split(";")[0].strip().lower()
    if media != JSON_TYPE and (media or body):
        got = excerpt(content_type) if content_type else "none (with a body)"
        return 415, f"Content-Type: this endpoint takes {JSON_TYPE}, got {got}", None
    try:
        model.model_validate_json(body or b"{}")  # exactly BentoML's parse (_bentoml_impl/serde.py JSONSerde)
    except ValidationError as exc:
        message, field = validation_error_parts(exc)
        return 400, message, field
    return None


class _ErrorShaper:
    """Wraps `send`: error answers (status >= 400) are buffered, put in the one error shape and logged."""

    def __init__(self, scope, send) -> None:
        self.scope = scope
        self._send = send
        self.started = False
        self.finished = False
        self._start: dict | None = None
        self._chunks: list[bytes] = []

    async def send(self, message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.started = True
            if message["status"] >= 400:
                self._start, self._chunks = message, []
                return
        elif kind == "http.response.body" and self._start is not None:
            self._chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            start, self._start = self._start, None
            await self._finish(start, b"".join(self._chunks))
            return
        if kind == "http.response.body" and not message.get("more_body", False):
            self.finished = True
        await self._send(message)

    async def reject(self, status: int, message: str, field: str | None = None) -> None:
        body = error_body(status, message, field)
        await self.send({"type": "http.response.start", "status": status, "headers": error_headers(body)})
        await self.send({"type": "http.response.body", "body": body})

    async def _finish(self, start: dict, body: bytes) -> None:
        status = start["status"]
        headers = list(start.get("headers", ()))
        content_type = next((v.decode("latin-1") for k, v in headers if k.lower() == b"content-type"), "")
        message = message_of(status, body, content_type)
        if message is not None:  # someone else's shape: make it ours
            body = error_body(status, message)
            headers = [(k, v) for k, v in headers if k.lower() not in (b"content-type", b"content-length")]
            headers += error_headers(body)
        if status < 500:
            self._log_client_error(status, body)
        await self._send({**start, "headers": headers})
        await self._send({"type": "http.response.body", "body": body, "more_body": False})
        self.finished = True

    def _log_client_error(self, status: int, body: bytes) -> None:
        try:
            message = json.loads(body)["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = "(no message)"
        method, path = self.scope.get("method", "?"), field_name(self.scope.get("path", "?"), 80)
        log.info("%s %s -> %d: %s", method, path, status, message)


class RequestGuard:
    """Pure ASGI middleware. `max_body_bytes()` is asked per request (the service's config once it runs);
    `json_inputs` maps each JSON API route to its input model (SectorHeatmap's input specs)."""

    def __init__(self, app, max_body_bytes: Callable[[], int], json_inputs: Mapping[str, type[BaseModel]]) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.json_inputs = dict(json_inputs)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        out = _ErrorShaper(scope, send)
        limit = self.max_body_bytes()
        too_large = f"request body: larger than this server accepts ({limit} bytes)"
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await out.reject(413, too_large)
            return
        try:
            body = await read_body(receive, limit)
        except _TooLarge:
            await out.reject(413, too_large)
            return
        except _Disconnected:
            return
        model = self.json_inputs.get(scope["path"]) if scope["method"] == "POST" else None
        if model is not None and (problem := json_problem(scope, body, model)) is not None:
            await out.reject(*problem)
            return
        try:
            read = {"type": "http.request", "body": body, "more_body": False}
            await self.app(scope, replay_first(read, receive), out.send)
        except Exception:
            if out.started and not out.finished:
                raise  # too late to answer: the server logs it and drops the connection
            # a bug below (e.g. in a mounted page, whose own error middleware answered a 500 and re-raised):
            # its traceback goes to the log once, and the client gets (or already got) the one error shape
            log.exception("%s %s failed", scope["method"], field_name(scope["path"], 80))
            if not out.started:
                await out.reject(500, "internal error (see the server log)")

"""The one error body of the HTTP service: {"error": {"code", "message", "field"?}} (schemas.ErrorResponse).

Every 4xx and 5xx answer of every endpoint has this shape: the service's own (a RequestError), the
request guard's (body too large, not JSON, invalid body), the API key's and whatever the framework
answers by itself (404, 405, a 500) once serving/guard.py has reshaped it. Framework-light: plain
bytes and ASGI headers, so the guard and the key middleware can use it before BentoML sees a request.
"""

from __future__ import annotations

import json
from http import HTTPStatus

from pydantic import ValidationError

from features.errors import RequestError
from serving.schemas import ErrorDetail, ErrorResponse

EXCERPT_CHARS = 40  # an error message never quotes more of a value than this
FOREIGN_MESSAGE_CHARS = 200  # a framework's own error text, reshaped, is cut to this
JSON_TYPE = "application/json"
CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
    504: "timeout",
}


def code_for(status: int) -> str:
    return CODES.get(status, "client_error" if status < 500 else "server_error")


def excerpt(value, limit: int = EXCERPT_CHARS) -> str:
    """`value` as an error message quotes it: its repr, cut to `limit` characters (never the whole megabyte)."""
    if isinstance(value, str):
        text = repr(value[: limit + 1])  # cut first: repr of a huge string would cost its whole length
    elif isinstance(value, (int, float, bool)) or value is None:
        text = repr(value)
    else:
        text = type(value).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def field_name(name, limit: int = EXCERPT_CHARS) -> str:
    """A request key as an error (and the log) names it: cut like any echoed value, and with what does not
    print (a newline, a control or separator character) escaped, so one error stays one log line."""
    name = str(name)[: limit + 1]
    name = "".join(c if c.isprintable() else repr(c)[1:-1] for c in name)
    return name if len(name) <= limit else name[: limit - 3] + "..."


def error_body(status: int, message: str, field: str | None = None) -> bytes:
    detail = ErrorDetail(code=code_for(status), message=message, field=field)
    return ErrorResponse(error=detail).model_dump_json(exclude_none=True).encode()


def error_headers(body: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", JSON_TYPE.encode()), (b"content-length", str(len(body)).encode())]


def request_error_parts(exc: RequestError) -> tuple[str, str | None]:
    """(message, field) of a RequestError: its message starts with the field's name ("as_of: ...")."""
    message = str(exc)
    head, sep, _ = message.partition(":")
    field = head if sep and head and " " not in head and len(head) <= EXCERPT_CHARS + 3 else None
    return message, field


def request_error_response(exc: RequestError):
    """The answer to a RequestError, as a starlette Response (BentoML passes a returned Response through as is):
    a 400, or the error's own `http_status` (e.g. 503 for a configured universe that could not be loaded)."""
    from starlette.responses import Response

    status = getattr(exc, "http_status", 400)
    message, field = request_error_parts(exc)
    return Response(error_body(status, message, field), status_code=status, media_type=JSON_TYPE)


def validation_error_parts(exc: ValidationError) -> tuple[str, str | None]:
    """(message, field) of the first problem pydantic found in a request body; never quotes the input."""
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    if not errors:
        return "body: invalid request body", None
    first = errors[0]
    loc, kind, msg = first.get("loc", ()), first.get("type", ""), first.get("msg", "invalid")
    if kind.startswith("json_"):
        return f"body: not valid JSON ({msg})", None
    if not loc:
        return f"body: {msg}", None
    field = field_name(loc[0])
    where = ".".join(field_name(p) if isinstance(p, str) else str(p) for p in loc)
    if kind == "extra_forbidden":
        return f"{field}: unknown parameter", field
    return f"{where}: {msg}", field


def message_of(status: int, body: bytes, content_type: str) -> str | None:
    """The message inside an error body someone else (BentoML, starlette) wrote; None when it is already ours
    or a documented body of its own kind (e.g. a ReloadFailure) that must stay as it is."""
    if content_type.startswith(JSON_TYPE):
        try:
            obj = json.loads(body or b"null")
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            if isinstance(obj.get("error"), dict) or set(obj) - {"error", "detail"}:
                return None  # ours, or a documented body (ReloadFailure) carrying more than an error
            return _cut(str(obj.get("error") or _phrase(status)))
        if isinstance(obj, list) and obj and isinstance(obj[0], dict):  # BentoML's 4xx shape: [{"error": ...}]
            return _cut(str(obj[0].get("error") or _phrase(status)))
    return _cut(body[: FOREIGN_MESSAGE_CHARS * 4].decode("utf-8", "replace").strip() or _phrase(status))


def _cut(message: str) -> str:
    return message if len(message) <= FOREIGN_MESSAGE_CHARS else message[: FOREIGN_MESSAGE_CHARS - 3] + "..."


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "error"

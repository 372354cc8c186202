"""Optional API key: when one is configured, every endpoint but probes, metrics and docs needs it.

Checked in one ASGI middleware (so the JSON APIs, GET /model and the /ui pages share one rule),
before BentoML sees the request: BentoML itself would replace any 401/403 message with a bare
"Authorization error", and the caller deserves to know which header is missing.
"""

from __future__ import annotations

import hmac

from features.errors import ConfigError
from serving.http_errors import error_body, error_headers

API_KEY_ENV = "SECTOR_HEATMAP_API_KEY"
API_KEY_HEADER = "X-API-KEY"
_HEADER_NAME = API_KEY_HEADER.lower().encode()  # as ASGI scopes carry it
# BentoML's own probes, metrics and documentation stay open (load balancers and scrapers have no key)
OPEN_PATHS = frozenset({"/livez", "/healthz", "/readyz", "/metrics", "/docs.json", "/schema.json", "/"})
OPEN_PREFIXES = ("/static_content/", "/assets/")


def is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def check_api_key(key: str | None) -> None:
    """At start-up: a key a client can send. HTTP header values are ASCII (the server reads them as latin-1),
    so a key with any other character could never match, and every request would get a 403."""
    if not key:
        return
    bad = next((i for i, c in enumerate(key) if not " " <= c <= "~"), None)
    if bad is not None:  # the key itself stays out of the message (and out of the log)
        raise ConfigError(
            f"{API_KEY_ENV}: the API key must be printable ASCII (an HTTP header carries nothing else); "
            f"character {bad + 1} of {len(key)} is not"
        )
    if key != key.strip():
        raise ConfigError(f"{API_KEY_ENV}: the API key must not start or end with a space (HTTP strips them)")


def key_problem(provided: str | None, expected: str | None) -> tuple[int, str] | None:
    """(status, message) when the request may not pass, else None. No key configured: everything passes."""
    if not expected:
        return None
    if not provided:
        return 401, f"missing {API_KEY_HEADER} header: this server requires an API key"
    if not hmac.compare_digest(provided.encode(), expected.encode()):
        return 403, f"{API_KEY_HEADER} header does not match the server's API key"
    return None


class ApiKeyMiddleware:
    """Pure ASGI middleware; `expected_key()` is asked per request (the service reads it at start)."""

    def __init__(self, app, expected_key) -> None:
        self.app = app
        self.expected_key = expected_key

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and not is_open(scope["path"]):
            problem = None
            try:
                expected = self.expected_key()
            except Exception:
                problem = (503, "service is starting")
            else:
                provided = next((v.decode("latin-1") for k, v in scope["headers"] if k == _HEADER_NAME), None)
                problem = key_problem(provided, expected)
            if problem is not None:
                status, message = problem
                body = error_body(status, message, API_KEY_HEADER if status in (401, 403) else None)
                headers = error_headers(body)
                if status == 401:
                    headers.append((b"www-authenticate", API_KEY_HEADER.encode()))
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

"""Optional API key: when one is configured, every endpoint but probes, metrics and docs needs it.

Checked in one ASGI middleware (so the JSON APIs, GET /model and the /ui pages share one rule),
before BentoML sees the request: BentoML itself would replace any 401/403 message with a bare
"Authorization error", and the caller deserves to know which header is missing.
"""

from __future__ import annotations

import hmac
import json

API_KEY_ENV = "SECTOR_HEATMAP_API_KEY"
API_KEY_HEADER = "X-API-KEY"
_HEADER_NAME = API_KEY_HEADER.lower().encode()  # as ASGI scopes carry it
# BentoML's own probes, metrics and documentation stay open (load balancers and scrapers have no key)
OPEN_PATHS = frozenset({"/livez", "/healthz", "/readyz", "/metrics", "/docs.json", "/schema.json", "/"})
OPEN_PREFIXES = ("/static_content/", "/assets/")


def is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


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
                body = json.dumps({"error": message}).encode()
                headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
                if status == 401:
                    headers.append((b"www-authenticate", API_KEY_HEADER.encode()))
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

"""Cancel BentoML's per-request timeout timer when the request is done (bentoml 1.4.39).

Why: BentoML's `TimeoutMiddleware` (bentoml/_internal/server/http/traffic.py) arms `loop.call_later(timeout,
...)` for every request and never cancels it. Each pending timer holds a copy of the request's context (its
tracing span and ~20 other objects) for the whole traffic timeout (30 s here), so at a few hundred requests a
second the worker carries ~10^5 extra live objects, and every full garbage collection walks them: 0.2-0.5 s
pauses once per ~1000 requests on the shared 2-core machine, the whole p99 of a cached answer
(bench/serve_bench.py --mcp-only, bench/gcprobe). With the timer cancelled, those collections take ~2 ms and
cached POST /heatmap and /mcp both ran at p99 16-20 ms in the same conditions.

`install()` replaces `TimeoutMiddleware.__call__` with the same logic plus `timer.cancel()` once the request
has finished, only while BentoML's own method is the one this was written against (its source hash); any
other version is left alone with a warning (tests/serving/test_request_timer.py fails then, so the pin
bump is noticed). Installed by the service's __init__ (in the worker, before any request), not at import.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
from typing import Any

log = logging.getLogger("sector_heatmap.serving")

# sha256 of the source of bentoml 1.4.39's TimeoutMiddleware.__call__
KNOWN_SOURCE = "fd8b9e3da28ed2b44cfd508d641617e049fcd4986138197ce7bb227332505896"


def _source_hash(fn) -> str:
    return hashlib.sha256(inspect.getsource(fn).encode()).hexdigest()


async def _call(self, scope, receive, send) -> None:
    """bentoml 1.4.39's TimeoutMiddleware.__call__, plus the timer cancelled in `finally`."""
    from starlette.responses import JSONResponse

    if scope["type"] not in ("http", "websocket"):
        return await self.app(scope, receive, send)
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[Any] = loop.create_future()
    timer = loop.call_later(self.timeout, self._set_timer_out, waiter)

    async def _send(message) -> None:
        if not waiter.done():
            waiter.set_result(None)
        await send(message)

    fut = asyncio.ensure_future(self.app(scope, receive, _send), loop=loop)
    try:
        try:
            await waiter
        except TimeoutError:
            if fut.cancel():
                resp = JSONResponse(
                    {"error": f"Not able to process the request in {self.timeout} seconds"}, status_code=504
                )
                await resp(scope, receive, send)
        else:
            await fut
    finally:
        timer.cancel()


def install() -> bool:
    """Patch BentoML's TimeoutMiddleware (idempotent); False, with a warning, when its code is not the known one."""
    from bentoml._internal.server.http import traffic

    current = traffic.TimeoutMiddleware.__call__
    if current is _call:
        return True
    if _source_hash(current) != KNOWN_SOURCE:
        log.warning("BentoML's TimeoutMiddleware changed: its per-request timers are left as they are")
        return False
    traffic.TimeoutMiddleware.__call__ = _call  # type: ignore[method-assign]
    return True

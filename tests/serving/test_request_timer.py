"""serving/request_timer.py: BentoML's per-request timeout timer is cancelled once the request is done, the
timeout still answers 504, and the patch applies to the pinned BentoML (this fails when BentoML changes)."""

from __future__ import annotations

import asyncio

from serving import request_timer


def _run(timeout: float, work_s: float) -> tuple[list, list]:
    from bentoml._internal.server.http.traffic import TimeoutMiddleware

    async def app(scope, receive, send):
        await asyncio.sleep(work_s)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def main():
        loop = asyncio.get_running_loop()
        handles, sent = [], []
        call_later = loop.call_later

        def recording(*args, **kwargs):
            handle = call_later(*args, **kwargs)
            handles.append(handle)
            return handle

        loop.call_later = recording  # type: ignore[method-assign]

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            sent.append(message)

        await TimeoutMiddleware(app, timeout)({"type": "http", "method": "GET", "path": "/"}, receive, send)
        return handles, sent

    return asyncio.run(main())


def test_the_patch_applies_to_the_pinned_bentoml():
    assert request_timer.install() and request_timer.install()  # idempotent


def test_a_finished_request_leaves_no_timer_behind():
    request_timer.install()
    handles, sent = _run(timeout=30, work_s=0)
    assert sent[0]["status"] == 200
    assert len(handles) == 1 and handles[0].cancelled()  # BentoML's own code leaves it pending for 30 s


def test_a_slow_request_still_gets_the_504():
    request_timer.install()
    handles, sent = _run(timeout=0.05, work_s=5)
    assert sent[0]["status"] == 504 and b"Not able to process the request in 0.05 seconds" in sent[1]["body"]

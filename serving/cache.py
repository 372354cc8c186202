"""In-memory LRU of finished response bodies, with one computation per key in flight.

Why: a heatmap costs ~50 ms to build and a PNG ~1 s to draw, while the answer for a given
(universe, date, timeframe, metrics, model version, data version) never changes until the data
or the model is reloaded. Concurrent misses for one key share a single computation (run in a
worker thread, so the event loop keeps answering cached requests and probes meanwhile).
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

T = TypeVar("T")


class ResponseCache:
    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._data: OrderedDict[Hashable, object] = OrderedDict()
        self._lock = threading.Lock()
        self._inflight: dict[Hashable, asyncio.Future] = {}

    def get(self, key: Hashable):
        """The cached value or None (a hit moves the key to the recent end)."""
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: Hashable, value) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)

    async def get_or_compute(self, key: Hashable, compute: Callable[[], T]) -> tuple[T, bool]:
        """(value, was_cached). `compute` runs in a thread; its exception reaches every waiter and is not cached."""
        value = self.get(key)
        if value is not None:
            return value, True
        fut = self._inflight.get(key)
        if fut is None:
            fut = asyncio.get_running_loop().run_in_executor(None, compute)
            self._inflight[key] = fut
            fut.add_done_callback(lambda f: self._finish(key, f))
        # shield: a client that disconnects must not cancel the computation others are waiting for
        return await asyncio.shield(fut), False

    def _finish(self, key: Hashable, fut: asyncio.Future) -> None:
        self._inflight.pop(key, None)
        if not fut.cancelled() and fut.exception() is None:
            self.put(key, fut.result())

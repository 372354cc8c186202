"""The service's response cache: LRU order, one computation per key in flight, failures not cached."""

from __future__ import annotations

import asyncio
import time

import pytest

from serving.cache import ResponseCache


def test_lru_evicts_the_least_recently_used():
    c = ResponseCache(2)
    c.put("a", 1)
    c.put("b", 2)
    assert c.get("a") == 1  # a is now the most recent
    c.put("c", 3)
    assert c.get("b") is None and c.get("a") == 1 and c.get("c") == 3 and len(c) == 2
    c.clear()
    assert len(c) == 0 and c.get("a") is None


def test_concurrent_misses_share_one_computation():
    calls = []

    def slow():
        calls.append(1)
        time.sleep(0.2)
        return b"body"

    async def scenario():
        c = ResponseCache(8)
        results = await asyncio.gather(*(c.get_or_compute("k", slow) for _ in range(5)))
        again = await c.get_or_compute("k", slow)
        return results, again

    results, again = asyncio.run(scenario())
    assert len(calls) == 1
    assert [r[0] for r in results] == [b"body"] * 5 and not any(hit for _, hit in results)
    assert again == (b"body", True)


def test_a_failure_reaches_every_waiter_and_is_not_cached():
    calls = []

    def broken():
        calls.append(1)
        time.sleep(0.05)
        raise ValueError("as_of: before the data")

    async def scenario():
        c = ResponseCache(8)
        out = await asyncio.gather(*(c.get_or_compute("k", broken) for _ in range(3)), return_exceptions=True)
        assert all(isinstance(e, ValueError) for e in out)
        with pytest.raises(ValueError):
            await c.get_or_compute("k", broken)
        return len(c)

    assert asyncio.run(scenario()) == 0
    assert len(calls) == 2  # one for the three concurrent callers, one for the retry

"""A small loopback HTTP/1.1 load generator: N keep-alive connections on asyncio streams.

Why not a library: it must be light enough not to steal the CPU it measures (the server has
one worker on a small machine), bounded in requests and seconds, and dependency-free.
Responses are read by Content-Length or chunked encoding; any non-2xx status counts as an error.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float] = field(repr=False)
    client_cpu_s: float = 0.0  # this process's CPU time over the run: the generator's own share of the machine

    def percentile(self, q: float) -> float:
        xs = sorted(self.latencies_ms)
        if not xs:
            return float("nan")
        k = min(len(xs) - 1, max(0, int(round(q / 100.0 * (len(xs) - 1)))))
        return xs[k]

    def summary(self) -> dict:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
            "throughput_rps": round(self.requests / self.seconds, 1) if self.seconds > 0 else None,
            "p50_ms": round(self.percentile(50), 2),
            "p99_ms": round(self.percentile(99), 2),
            "mean_ms": round(statistics.fmean(self.latencies_ms), 2) if self.latencies_ms else None,
            "client_cpu_s": round(self.client_cpu_s, 3),
        }


def build_request(
    host: str, port: int, method: str, path: str, body: bytes = b"", headers: dict | None = None
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: keep-alive"]
    if method == "POST":
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split()[1])
    hdrs = {}
    for line in header_lines:
        if ":" in line:
            k, v = line.split(":", 1)
            hdrs[k.strip().lower()] = v.strip()
    if "content-length" in hdrs:
        return status, await reader.readexactly(int(hdrs["content-length"]))
    if hdrs.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return status, b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
    raise RuntimeError(f"response without length (status {status}); this generator needs keep-alive framing")


READ_TIMEOUT_S = 30.0  # a response that never comes is an error, not a hung benchmark


async def _worker(
    host, port, requests: list[bytes], deadline: float, counter, out: list[float], errors: list[int], pin: int | None
):
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            i = counter()
            if i is None:
                return
            t0 = time.perf_counter()
            writer.write(requests[(i if pin is None else pin) % len(requests)])
            try:
                status, _ = await asyncio.wait_for(read_response(reader), READ_TIMEOUT_S)
            except TimeoutError:
                errors.append(0)
                return
            out.append((time.perf_counter() - t0) * 1000.0)
            if not 200 <= status < 300:
                errors.append(status)
    finally:
        writer.close()


async def _run(host, port, requests, total, concurrency, max_seconds, pinned) -> LoadResult:
    issued = 0

    def counter():
        nonlocal issued
        if issued >= total:
            return None
        issued += 1
        return issued - 1

    lat: list[float] = []
    errors: list[int] = []
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    await asyncio.gather(
        *(
            _worker(host, port, requests, t0 + max_seconds, counter, lat, errors, k if pinned else None)
            for k in range(concurrency)
        )
    )
    return LoadResult(len(lat), len(errors), time.perf_counter() - t0, lat, time.process_time() - cpu0)


def run_load(
    host: str,
    port: int,
    requests: list[bytes],
    total: int,
    concurrency: int = 8,
    max_seconds: float = 30.0,
    pinned: bool = False,
) -> LoadResult:
    """Send up to `total` requests (cycling through `requests`) on `concurrency` connections, within max_seconds.

    `pinned`: connection k always sends requests[k % len(requests)] (e.g. one MCP session per connection,
    since two calls in flight with the same JSON-RPC id on one session would collide)."""
    return asyncio.run(_run(host, port, requests, total, concurrency, max_seconds, pinned))

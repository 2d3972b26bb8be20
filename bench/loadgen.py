"""The load generator, run as its own process so it does not share an event loop (or a GIL) with the server.

closed: N connections each posting the next full-size statement as soon as the previous one is answered;
        prints one JSON line with the count, status codes and latency percentiles of the window.
open:   statements at a fixed rate whatever the answers; writes one JSON line per request (response id,
        wall-clock send time, latency, status) so the pipeline phase can match alerts to their posts.

Markers "window-start" and "window-end" on stdout let the orchestrator sample CPU over the same window.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from .common import TOKEN, body_template, percentile


def _client(connections: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(60.0))


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def _marker(text: str) -> None:
    print(text, flush=True)


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 keep-alive connection: writes a request, parses the answer's status line and body length.

    A raw protocol rather than an HTTP library: the load generator shares two cores with the server, and
    httpx costs about a millisecond of CPU per request, which capped the bare endpoint at the client's rate.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is not None and not self.waiter.done():
            status = self._parse()
            if status is not None:
                self.waiter.set_result(status)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("the server closed the connection"))
        if not self.closed.done():
            self.closed.set_result(None)

    def _parse(self) -> int | None:
        """The status of the first complete answer in the buffer (which it then drops), or None if incomplete."""
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = bytes(self.buffer[:end]).split(b"\r\n")
        status = int(head[0].split(b" ", 2)[1])
        length, chunked = 0, False
        for line in head[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        start = end + 4
        if chunked:
            size = self._chunked_size(start)
            if size is None:
                return None
            del self.buffer[: start + size]
        else:
            if len(self.buffer) < start + length:
                return None
            del self.buffer[: start + length]
        return status

    def _chunked_size(self, start: int) -> int | None:
        at = start
        while True:
            eol = self.buffer.find(b"\r\n", at)
            if eol < 0:
                return None
            size = int(bytes(self.buffer[at:eol]).split(b";")[0], 16)
            at = eol + 2 + size + 2
            if len(self.buffer) < at:
                return None
            if size == 0:
                return at - start

    async def request(self, data: bytes) -> int:
        if self.transport is None or self.transport.is_closing():
            raise ConnectionError("the connection is closed")
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        status = self._parse() if self.buffer else None
        return status if status is not None else await self.waiter


async def _connect(host: str, port: int) -> _Connection:
    _, protocol = await asyncio.get_running_loop().create_connection(_Connection, host, port)
    return protocol


async def closed_loop(url: str, token: str, connections: int, warmup: float, duration: float, prefix: str) -> dict:
    """Throughput and latency with `connections` requests always in flight, each on its own keep-alive connection."""
    target = urlsplit(url)
    host, port = target.hostname or "127.0.0.1", target.port or 80
    before, after = body_template()
    head = (
        f"POST {target.path or '/'} HTTP/1.1\r\nHost: {target.netloc}\r\nAuthorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\nContent-Length: "
    ).encode()
    statuses: Counter[str] = Counter()
    latencies: list[float] = []
    start = time.perf_counter()
    window_start, window_end = start + warmup, start + warmup + duration
    started = asyncio.Event()

    async def worker(index: int) -> None:
        sent = 0
        connection: _Connection | None = None
        while (t0 := time.perf_counter()) < window_end:
            body = before + f"{prefix}-{index}-{sent}".encode() + after
            sent += 1
            try:
                if connection is None:
                    connection = await _connect(host, port)
                status = str(await connection.request(head + str(len(body)).encode() + b"\r\n\r\n" + body))
            except (OSError, ValueError, IndexError) as exc:
                status = type(exc).__name__
                if connection is not None and connection.transport is not None:
                    connection.transport.close()
                connection = None
            t1 = time.perf_counter()
            if t1 >= window_start and not started.is_set():
                started.set()
                _marker("window-start")
            # Throughput counts what completed inside the window, whenever it was sent.
            if window_start <= t1 <= window_end:
                statuses[status] += 1
                if status == "202":
                    latencies.append(t1 - t0)
        if connection is not None and connection.transport is not None:
            connection.transport.close()
            await asyncio.wait_for(connection.closed, 5)

    await asyncio.gather(*(worker(i) for i in range(connections)))
    _marker("window-end")
    return {
        "connections": connections,
        "duration_s": duration,
        "accepted": statuses.get("202", 0),
        "rate": statuses.get("202", 0) / duration,
        "statuses": dict(statuses),
        "latency_ms": _latency_summary(latencies),
    }


def _latency_summary(latencies: list[float]) -> dict[str, float | None]:
    def ms(p: float) -> float | None:
        value = percentile(latencies, p)
        return round(value * 1000, 2) if value is not None else None

    return {"p50": ms(50), "p90": ms(90), "p99": ms(99), "max": ms(100)}


async def open_loop(
    url: str, token: str, rate: float, duration: float, prefix: str, out: Path, connections: int
) -> dict:
    """Post at `rate` per second for `duration` seconds, evenly spaced, never waiting for answers."""
    before, after = body_template()
    headers = _headers(token)
    total = round(rate * duration)
    records: list[dict] = []

    async def post(client: httpx.AsyncClient, response_id: str) -> None:
        sent_wall, t0 = time.time(), time.perf_counter()
        try:
            answer = await client.post(url, content=before + response_id.encode() + after, headers=headers)
            status = str(answer.status_code)
        except httpx.HTTPError as exc:
            status = type(exc).__name__
        records.append({"id": response_id, "sent": sent_wall, "latency": time.perf_counter() - t0, "status": status})

    async with _client(connections) as client:
        tasks = []
        start = time.perf_counter()
        _marker("window-start")
        for i in range(total):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post(client, f"{prefix}-{i:06d}")))
        sending = time.perf_counter() - start
        await asyncio.gather(*tasks)
        _marker("window-end")
    with out.open("w", encoding="utf-8") as file:
        for record in records:
            file.write(json.dumps(record) + "\n")
    statuses = Counter(r["status"] for r in records)
    return {
        "rate": rate,
        "sent": total,
        "send_rate": total / sending if sending > 0 else None,
        "statuses": dict(statuses),
        "latency_ms": _latency_summary([r["latency"] for r in records if r["status"] == "202"]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen")
    sub = parser.add_subparsers(dest="mode", required=True)
    closed = sub.add_parser("closed")
    closed.add_argument("--connections", type=int, required=True)
    closed.add_argument("--warmup", type=float, default=5.0)
    closed.add_argument("--duration", type=float, default=20.0)
    opened = sub.add_parser("open")
    opened.add_argument("--rate", type=float, required=True)
    opened.add_argument("--duration", type=float, required=True)
    opened.add_argument("--out", type=Path, required=True)
    opened.add_argument("--connections", type=int, default=64)
    for each in (closed, opened):
        each.add_argument("--url", required=True)
        each.add_argument("--token", default=TOKEN)
        each.add_argument("--prefix", required=True, help="response ids are PREFIX-...: unique per run")
    args = parser.parse_args(argv)
    if args.mode == "closed":
        result = asyncio.run(
            closed_loop(args.url, args.token, args.connections, args.warmup, args.duration, args.prefix)
        )
    else:
        result = asyncio.run(
            open_loop(args.url, args.token, args.rate, args.duration, args.prefix, args.out, args.connections)
        )
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

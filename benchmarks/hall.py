"""A lecture hall behind one NAT joins a playing room at full scale (issue 24, issue 25 item 3).

Run: .venv/bin/python benchmarks/hall.py [--students 300] [--participants 500] [--retrying 100]
     .venv/bin/python benchmarks/hall.py --hammer --students 0 --holders 0   # retrying hard
     .venv/bin/python benchmarks/hall.py --root /tmp/before --participants 0 --retrying 0 \
         --reconnects 0 --holders 0          # the HTTP phase against an older checkout

Three phases against one real server with its default limits, every client on a loopback
address of its own kind (127.0.0.x: one address is one NAT):

1. HTTP: `--students` clients from one address open the playing room's page, config and data,
   all fired at once: the answers by status (none should be refused) and how long it took.
2. Sockets: `--participants` from the hall's address fill the room, `--retrying` more from the
   same address retry the full room (`--hammer`: 0-50 ms apart; else like the page: at least
   the server's retry_after, 2 s doubling to 30 s, spread x0.5-1.5), and the presenter, on the
   same address, reconnects `--reconnects` times: how many got in at the first try, how fast.
3. Two addresses hold 500 idle room sockets each (the server's whole `max_connections`): a
   third address's participant and presenter still get in.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from benchmarks._server import ROOT, machine_busy, server

HALL = "127.0.0.31"


async def ws(base: str, address: str, path: str, token: str | None = None) -> ClientConnection:
    """A WebSocket from `address`, the presenter's handshake with `token`."""
    protocols = None
    if token is not None:
        protocols = [Subprotocol("bp.presenter"), Subprotocol(f"bp.token.{token}")]
    url = base.replace("http", "ws", 1) + path
    return await connect(
        url, subprotocols=protocols, open_timeout=60, max_queue=None, local_addr=(address, 0)
    )


async def first_kind(conn: ClientConnection, wanted: tuple[str, ...]) -> str:
    """The type of the first message of a `wanted` type ('closed' if the socket closed)."""
    try:
        for _ in range(50):
            kind = str(json.loads(await asyncio.wait_for(conn.recv(), 60))["type"])
            if kind in wanted:
                return kind
    except ConnectionClosed:
        return "closed"
    return "none"


async def drain(conn: ClientConnection) -> None:
    """Read everything (a page that keeps up)."""
    try:
        async for _ in conn:
            pass
    except ConnectionClosed:
        pass


async def room(base: str, address: str) -> tuple[str, str]:
    """A new article room made from `address`: code, token."""
    transport = httpx.AsyncHTTPTransport(local_address=address)
    async with httpx.AsyncClient(transport=transport, timeout=60) as c:
        made = (await c.post(f"{base}/api/rooms", json={"config": {"preset": "article"}})).json()
    return str(made["code"]), str(made["presenter_token"])


async def http_phase(base: str, code: str, students: int, at_once: int) -> None:
    """Every student's page, config and data, `at_once` students at a time, from one address."""
    transport = httpx.AsyncHTTPTransport(
        local_address="127.0.0.21",
        # A connection per request, as from many browsers; no keep-alive race at the end either.
        limits=httpx.Limits(max_connections=2 * at_once, max_keepalive_connections=0),
    )
    # No request may queue in httpx's pool: its queue is slow enough (hundreds waiting) that a
    # connection opened for a queued request idles past the server's http_read_seconds.
    gate = asyncio.Semaphore(at_once)
    async with httpx.AsyncClient(transport=transport, timeout=120) as hall:

        async def student() -> list[int]:
            async with gate:
                page = await hall.get(f"{base}/room/{code}")
                room = f"{base}/api/rooms/{code}"
                config, data = await asyncio.gather(
                    hall.get(f"{room}/config"), hall.get(f"{room}/data")
                )
            return [page.status_code, config.status_code, data.status_code]

        start = time.monotonic()
        answers = await asyncio.gather(*(student() for _ in range(students)))
        took = time.monotonic() - start
    statuses = Counter(s for three in answers for s in three)
    print(
        f"http: {students} students x (page, config, data) from one address, {at_once} at once, "
        f"in {took:.2f} s"
    )
    print(f"http: answers by status {dict(sorted(statuses.items()))}")


def presenter_reconnects(base: str, code: str, token: str, times: int) -> list[tuple[bool, float]]:
    """The presenter connects `times` times from the hall's address: welcomed?, how fast."""

    async def run() -> list[tuple[bool, float]]:
        out = []
        for _ in range(times):
            t0 = time.monotonic()
            presenter = await ws(base, HALL, f"/ws/rooms/{code}", token)
            kind = await first_kind(presenter, ("welcome", "error"))
            out.append((kind == "welcome", time.monotonic() - t0))
            await presenter.close()
        return out

    return asyncio.run(run())


async def socket_phase(base: str, code: str, token: str, args: argparse.Namespace) -> None:
    """A full hall, more retrying, the presenter reconnecting."""
    seated: list[ClientConnection] = []
    drains = []
    start = time.monotonic()
    for k in range(0, args.participants, 50):
        batch = await asyncio.gather(
            *(ws(base, HALL, f"/ws/rooms/{code}") for _ in range(min(50, args.participants - k)))
        )
        seated += batch
    kinds = Counter(await asyncio.gather(*(first_kind(c, ("frame", "error")) for c in seated)))
    drains = [asyncio.create_task(drain(c)) for c in seated]
    print(
        f"sockets: {args.participants} participants from one address: {dict(kinds)} "
        f"in {time.monotonic() - start:.1f} s"
    )
    stop = asyncio.Event()
    tries = Counter[str]()

    async def retrying() -> None:
        attempt = 0
        while not stop.is_set():
            try:
                conn = await ws(base, HALL, f"/ws/rooms/{code}")
            except (OSError, TimeoutError):
                tries["connect failed"] += 1
                continue
            kind = await first_kind(conn, ("frame", "error"))
            tries[kind] += 1
            await conn.close()
            if kind == "frame":
                attempt = 0
            if args.hammer:
                await asyncio.sleep(random.uniform(0, 0.05))
            else:  # static/js/patience.js backoffMs: base 2 s, cap 30 s, retry_after 2 s
                nominal = min(30.0, 2.0 * 2**attempt)
                lo = max(0.5 * nominal, 2.0)
                await asyncio.sleep(lo + random.random() * (max(1.5 * nominal, 1.5 * lo) - lo))
                attempt += 1

    retries = [asyncio.create_task(retrying()) for _ in range(args.retrying)]
    await asyncio.sleep(1.0)  # the retrying pages are at the door
    # In a process of its own: this one is busy being the hall (its waits are not the server's).
    with ProcessPoolExecutor(1) as pool:
        got = await asyncio.get_running_loop().run_in_executor(
            pool, presenter_reconnects, base, code, token, args.reconnects
        )
    firsts, waits = sum(1 for ok, _ in got if ok), [w for ok, w in got if ok]
    stop.set()
    await asyncio.gather(*retries)
    mode = "hammering (0-50 ms apart)" if args.hammer else "backing off like the page"
    print(f"sockets: {args.retrying} more from the same address {mode}: {dict(tries)}")
    ms = sorted(1000 * w for w in waits)
    print(
        f"sockets: presenter welcomed at the first try in {firsts} of {args.reconnects} "
        f"reconnects; connect to welcome median {statistics.median(ms):.0f} ms, "
        f"max {ms[-1]:.0f} ms"
        if ms
        else f"sockets: presenter welcomed in {firsts} of {args.reconnects}"
    )
    for task in drains:
        task.cancel()
    await asyncio.gather(*(c.close() for c in seated))


async def holders_phase(base: str, per_holder: int) -> None:
    """Two addresses fill the server with idle room sockets; a third still gets in."""
    held: list[ClientConnection] = []
    for address in ("127.0.0.32", "127.0.0.33"):
        code, _ = await room(base, address)
        for k in range(0, per_holder, 50):
            held += await asyncio.gather(
                *(ws(base, address, f"/ws/rooms/{code}") for _ in range(min(50, per_holder - k)))
            )
    kinds = Counter(await asyncio.gather(*(first_kind(c, ("frame", "error")) for c in held)))
    print(f"holders: two addresses x {per_holder} idle room sockets: {dict(kinds)}")
    code, token = await room(base, "127.0.0.34")
    newcomer = await ws(base, "127.0.0.34", f"/ws/rooms/{code}")
    presenter = await ws(base, "127.0.0.34", f"/ws/rooms/{code}", token)
    got = [
        await first_kind(newcomer, ("frame", "error")),
        await first_kind(presenter, ("welcome", "error")),
    ]
    await asyncio.sleep(1.0)
    shed = sum(1 for c in held if c.close_code == 1013)
    print(f"holders: a third address's participant and presenter: {got}; shed: {shed}")
    await asyncio.gather(*(c.close() for c in [*held, newcomer, presenter]))


async def main(args: argparse.Namespace) -> None:
    """The three phases against one server."""
    busy = machine_busy()
    root = Path(args.root).resolve() if args.root else None
    env = {"PYTHONPATH": str(root)} if root else None
    with server(env, root=root or ROOT) as (base, _proc):
        code, token = await room(base, "127.0.0.20")
        presenter = await ws(base, "127.0.0.20", f"/ws/rooms/{code}", token)
        drained = asyncio.create_task(drain(presenter))
        await presenter.send(json.dumps({"type": "play", "steps_per_frame": 1, "fps": args.fps}))
        await http_phase(base, code, args.students, args.at_once)
        await socket_phase(base, code, token, args)
        drained.cancel()
        await presenter.close()
        await holders_phase(base, args.holders)
    print(f"machine busy: {machine_busy(busy):.2f} of 2 cores (every user, not just us)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--at-once", type=int, default=150, help="students opening together")
    parser.add_argument("--participants", type=int, default=500)
    parser.add_argument("--retrying", type=int, default=100)
    parser.add_argument("--reconnects", type=int, default=30)
    parser.add_argument("--holders", type=int, default=500, help="idle sockets per address")
    parser.add_argument("--fps", type=float, default=5, help="the room's play rate")
    parser.add_argument("--hammer", action="store_true", help="retry 0-50 ms apart")
    parser.add_argument(
        "--root", help="serve another checkout (e.g. `git archive` of an older commit): before"
    )
    asyncio.run(main(parser.parse_args()))

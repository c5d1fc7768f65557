"""A workshop room under load: N participants over real WebSockets, one of them stalled.

Run: .venv/bin/python benchmarks/room.py [--participants 500] [--seconds 20] [--fps 30]
     .venv/bin/python benchmarks/room.py --seconds 300 --no-baseline   # the memory soak
     .venv/bin/python benchmarks/room.py --peers 1,2 --no-stall        # one peer, then two

With `--peers 1,2`: the same room first on one process (no Redis), then on two peers sharing a
redis-server started here: the room is trained by the first peer, the participants are split
evenly over the peers (the second peer follows the room through Redis pub/sub), and the server
CPU is that of every peer plus Redis.

The presenter plays the article net (1 step per frame); every participant notes when each
frame arrives. Reported: frames per second per participant (median, p5), the spread of one
frame's arrival across participants (p50, p99 over the frames at least 90% of them got), the
server's RSS sampled over the run, and the CPU each side used. A baseline run without the
stalled participant, against the same server, shows the stalled one's effect.

The load generator shares the machine with the server, so it is made cheap: participants are
raw asyncio protocols (a hand-rolled WebSocket client that reads a frame's step from its first
bytes, never parsing the JSON) on uvloop, split over `--procs` processes. Arrival times are
`time.monotonic()` (CLOCK_MONOTONIC, system-wide on Linux), so the processes' times compare.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import multiprocessing as mp
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._server import cpu_seconds, free_port, machine_busy, rss_mb, server

PREFIX = b'{"type":"frame","step":'
GRACE = 1.0  # seconds after the window in which arrivals still count towards a frame's spread


def create_room(base: str) -> tuple[str, str]:
    """A new article room's code and presenter token."""
    req = urllib.request.Request(
        base + "/api/rooms", data=b'{"config": {"preset": "article"}}',
        headers={"Content-Type": "application/json"}, method="POST",
    )  # fmt: skip
    with urllib.request.urlopen(req) as r:
        body = json.loads(r.read())
    return str(body["code"]), str(body["presenter_token"])


def client_frame(opcode: int, payload: bytes) -> bytes:
    """A client-to-server frame: FIN, masked (with a zero key, so the payload stays as is)."""
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, 0x80 | n])
    elif n < 65536:
        head = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
    return head + b"\0\0\0\0" + payload


class Window:
    """The measurement window, the same for every participant of a process."""

    start = float("inf")
    end = float("inf")


class Participant(asyncio.Protocol):
    """A WebSocket client that counts frames and notes arrival times; no JSON, no library."""

    def __init__(
        self,
        host: str,
        path: str,
        window: Window,
        arrivals: dict[int, list[float]],
        *,
        stall: bool = False,
    ) -> None:
        self.host, self.path, self.window, self.arrivals = host, path, window, arrivals
        self.stall = stall
        self.buf = bytearray()
        self.open = False
        self.count = 0  # frames that arrived inside the window
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        key = base64.b64encode(os.urandom(16)).decode()
        self.transport.write(
            f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("closed during the handshake"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        buf = self.buf
        buf += data
        if not self.open:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                self.ready.set_exception(ConnectionError(bytes(buf[:end]).decode()))
                assert self.transport is not None
                self.transport.close()
                return
            del buf[: end + 4]
            self.open = True
            self.ready.set_result(None)
            if self.stall:  # never read again: TCP backpressure reaches the server
                assert self.transport is not None
                self.transport.pause_reading()
                return
        pos, size = 0, len(buf)
        window, arrivals = self.window, self.arrivals
        while size - pos >= 2:
            length = buf[pos + 1] & 0x7F
            head = 2
            if length == 126:
                if size - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                head = 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                head = 10
            start = pos + head
            if size - start < length:
                break
            opcode = buf[pos] & 0x0F
            if opcode == 1 and buf.startswith(PREFIX, start):
                if now < window.end + GRACE and now >= window.start:
                    at = start + len(PREFIX)
                    step = int(buf[at : buf.index(b",", at)])
                    if now < window.end:
                        self.count += 1
                    seen = arrivals.get(step)
                    if seen is None:
                        arrivals[step] = [now, now, 1]
                    else:
                        if now < seen[0]:
                            seen[0] = now
                        if now > seen[1]:
                            seen[1] = now
                        seen[2] += 1
            elif opcode == 9 and self.transport is not None:  # keepalive ping: answer it
                self.transport.write(client_frame(0xA, bytes(buf[start : start + length])))
            elif opcode == 8 and self.transport is not None:
                self.transport.close()
            pos = start + length
        del buf[:pos]

    def send_text(self, text: str) -> None:
        """Send one text message (the presenter's commands)."""
        assert self.transport is not None
        self.transport.write(client_frame(0x1, text.encode()))


async def connect(
    host: str, port: int, path: str, window: Window, arrivals: dict[int, list[float]], **kw: Any
) -> Participant:
    """Open one participant and wait for its handshake."""
    loop = asyncio.get_running_loop()
    sock = None
    if kw.get("stall"):
        # A tiny receive buffer, as a phone that went to sleep: the server's sends back up
        # within seconds rather than after filling megabytes of loopback buffers.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await loop.sock_connect(sock, (host, port))
    factory = lambda: Participant(f"{host}:{port}", path, window, arrivals, **kw)  # noqa: E731
    if sock is not None:
        _, proto = await loop.create_connection(factory, sock=sock)
    else:
        _, proto = await loop.create_connection(factory, host, port)
    await proto.ready
    return proto


async def crowd(host: str, port: int, path: str, n: int, pipe: Connection) -> None:
    """One process's share of the room: connect, say ready, measure the window, report."""
    window = Window()
    arrivals: dict[int, list[float]] = {}
    people = []
    for k in range(n):
        people.append(await connect(host, port, path, window, arrivals))
        if k % 25 == 24:
            await asyncio.sleep(0.02)  # don't look like a SYN flood to the kernel
    loop = asyncio.get_running_loop()
    pipe.send(("ready", len(people)))
    window.start, window.end = await loop.run_in_executor(None, pipe.recv)
    before = resource.getrusage(resource.RUSAGE_SELF)
    await asyncio.sleep(max(0.0, window.end - time.monotonic()))
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    await asyncio.sleep(GRACE)
    lost = sum(1 for p in people if p.closed.done())
    pipe.send(("done", [p.count for p in people], arrivals, cpu, lost))
    for p in people:
        if p.transport is not None:
            p.transport.close()


def crowd_process(host: str, port: int, path: str, n: int, pipe: Connection) -> None:
    """Entry point of a load-generator process."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        pass
    asyncio.run(crowd(host, port, path, n, pipe))


async def run(
    bases: list[str],
    pids: list[int],
    n: int,
    seconds: float,
    fps: float,
    stall: bool,
    procs: int,
) -> dict[str, Any]:
    """One measurement: n participants (+1 stalled), the presenter playing for `seconds`.

    The room is made on the first server; load-generator process k joins through server
    k % len(bases), so participants are split evenly over the peers of a cluster.
    """
    base = bases[0]
    code, token = create_room(base)
    host, port = base.split("//")[1].split(":")
    path = f"/ws/rooms/{code}"
    ctx = mp.get_context("spawn")
    pipes, children = [], []
    for k in range(procs):
        share = n // procs + (1 if k < n % procs else 0)
        peer_host, peer_port = bases[k % len(bases)].split("//")[1].split(":")
        mine, theirs = ctx.Pipe()
        child = ctx.Process(
            target=crowd_process, args=(peer_host, int(peer_port), path, share, theirs)
        )
        child.start()
        pipes.append(mine)
        children.append(child)
    loop = asyncio.get_running_loop()
    connected = 0
    for pipe in pipes:
        _, count = await loop.run_in_executor(None, pipe.recv)
        connected += count
    nowhere: dict[int, list[float]] = {}
    idle = Window()
    stalled = await connect(host, int(port), path, idle, nowhere, stall=True) if stall else None
    presenter = await connect(host, int(port), path, idle, nowhere)
    presenter.send_text(json.dumps({"type": "hello", "token": token}))
    presenter.send_text(json.dumps({"type": "play", "steps_per_frame": 1, "fps": fps}))
    await asyncio.sleep(1.0)  # warm up: every slot is streaming
    start = time.monotonic()
    end = start + seconds
    for pipe in pipes:
        pipe.send((start, end))
    each0, busy0 = [cpu_seconds(p) for p in pids], machine_busy()
    interval = max(1.0, min(10.0, seconds / 30))
    samples = [(0.0, sum(rss_mb(p) for p in pids))]
    while (now := time.monotonic()) < end:
        await asyncio.sleep(min(interval, end - now))
        samples.append((time.monotonic() - start, sum(rss_mb(p) for p in pids)))
    each = [(cpu_seconds(p) - c0) / seconds for p, c0 in zip(pids, each0, strict=True)]
    server_cpu = sum(each)
    busy = machine_busy(busy0)
    results = [await loop.run_in_executor(None, pipe.recv) for pipe in pipes]
    presenter.send_text(json.dumps({"type": "pause"}))
    await asyncio.sleep(0.2)
    for proto in (presenter, stalled):
        if proto is not None and proto.transport is not None:
            proto.transport.close()
    for child in children:
        child.join(10)
    counts = sorted(c for r in results for c in r[1])
    merged: dict[int, list[float]] = {}
    for r in results:
        for step, (lo, hi, k) in r[2].items():
            seen = merged.setdefault(step, [lo, hi, 0])
            seen[0], seen[1], seen[2] = min(seen[0], lo), max(seen[1], hi), seen[2] + k
    # The spread of a frame: its last arrival minus its first, over the frames that started
    # arriving inside the window and reached at least 90% of the participants.
    full = [v for v in merged.values() if v[0] < end and v[2] >= 0.9 * n]
    spreads = sorted((hi - lo) * 1000 for lo, hi, _ in full)
    per = [c / seconds for c in counts]
    return {
        "connected": connected,
        "fps_median": statistics.median(per) if per else 0.0,
        "fps_p5": per[len(per) // 20] if per else 0.0,
        "spread_p50": spreads[len(spreads) // 2] if spreads else float("nan"),
        "spread_p99": spreads[min(len(spreads) - 1, int(len(spreads) * 0.99))]
        if spreads
        else float("nan"),
        "frames": len(full),
        "everyone": sum(1 for v in full if v[2] >= n) / len(full) if full else 0.0,
        "rss": samples,
        "server_cpu": server_cpu,
        "server_cpu_each": each,  # per process: the busiest peer is the ceiling
        # Server CPU per frame delivered to a participant: the cost of the fan-out, which
        # does not depend on how much of the machine other users take.
        "us_per_send": 1e6 * server_cpu * seconds / max(1, sum(counts)),
        "load_cpu": sum(r[3] for r in results) / seconds,
        "machine_busy": busy,
        "lost": sum(r[4] for r in results),
        "stalled_dropped": stalled is not None and stalled.closed.done(),
    }


def describe(label: str, r: dict[str, Any]) -> None:
    """Print one run's figures."""
    rss = r["rss"]
    print(
        f"{label}: {r['connected']} connected; median {r['fps_median']:.1f} frames/s "
        f"(p5 {r['fps_p5']:.1f}); arrival spread p50 {r['spread_p50']:.1f} ms, "
        f"p99 {r['spread_p99']:.1f} ms over {r['frames']} frames "
        f"({r['everyone']:.0%} reached all); lost {r['lost']}"
    )
    print(
        f"  CPU: server {r['server_cpu']:.0%} of a core ({r['us_per_send']:.0f} us per frame "
        f"delivered), load generator {r['load_cpu']:.0%}, "
        f"whole machine {r['machine_busy']:.0%} busy (all users, 2 cores = 200%)"
    )
    shown = rss if len(rss) <= 12 else [*rss[:: max(1, len(rss) // 12)], rss[-1]]
    print("  server RSS (s: MiB): " + ", ".join(f"{t:.0f}: {m:.1f}" for t, m in shown))


def main() -> None:
    """A baseline without the stalled participant, then with it; print both and a summary."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--participants", type=int, default=500)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--procs", type=int, default=2, help="load-generator processes")
    ap.add_argument("--no-baseline", action="store_true", help="only the run with a stall")
    ap.add_argument("--ws", default=None, help="uvicorn WebSocket implementation to serve with")
    ap.add_argument("--peers", default=None, help="e.g. 1,2: one process, then two Redis peers")
    ap.add_argument("--no-stall", action="store_true", help="with --peers: no stalled run")
    args = ap.parse_args()
    env = {
        "BACKPROP_MAX_PARTICIPANTS": str(args.participants + 10),
        "BACKPROP_MAX_CONNECTIONS": str(args.participants * 3),
        "BACKPROP_MAX_CONNECTIONS_PER_IP": str(args.participants * 3),
    }
    if args.peers:
        compare_peers(args, env, [int(k) for k in args.peers.split(",")])
        return
    results = {}
    with server(env, ws=args.ws) as (base, proc):
        for stall in (False, True):
            if not stall and args.no_baseline:
                continue
            r = asyncio.run(
                run(
                    [base], [proc.pid], args.participants, args.seconds, args.fps, stall, args.procs
                )
            )
            results[stall] = r
            describe("with a stalled participant" if stall else "without a stall", r)
            rss = r["rss"]
            print(
                f"  RSS change over the run: {rss[-1][1] - rss[0][1]:+.1f} MiB; "
                f"stalled participant dropped by the server: {r['stalled_dropped']}"
            )
    r = results[True]
    line = (
        f"summary: {args.participants} participants at {args.fps:g} fps: median "
        f"{r['fps_median']:.1f} frames/s, p99 spread {r['spread_p99']:.0f} ms with a stalled one"
    )
    if False in results:
        b = results[False]
        line += f" (without: {b['fps_median']:.1f}, {b['spread_p99']:.0f} ms)"
    print(line + f"; server RSS {r['rss'][0][1]:.0f} -> {r['rss'][-1][1]:.0f} MiB")


def compare_peers(args: argparse.Namespace, env: dict[str, str], counts: list[int]) -> None:
    """The same room on 1 process (no Redis) and on k peers sharing a redis-server."""
    summary = []
    for count in counts:
        with contextlib.ExitStack() as stack:
            if count == 1:
                base, proc = stack.enter_context(server(env))
                bases, pids = [base], [proc.pid]
                label = "1 process (no Redis)"
            else:
                redis_url, redis_pid = stack.enter_context(redis_server())
                peer_env = {**env, "BACKPROP_REDIS_URL": redis_url}
                started = [stack.enter_context(server(peer_env)) for _ in range(count)]
                bases = [b for b, _ in started]
                pids = [p.pid for _, p in started] + [redis_pid]
                label = f"{count} peers + Redis"
            procs = max(args.procs, len(bases))
            for stall in (False,) if args.no_stall else (False, True):
                r = asyncio.run(
                    run(bases, pids, args.participants, args.seconds, args.fps, stall, procs)
                )
                describe(f"{label}{', a stalled participant' if stall else ''}", r)
                summary.append((label, stall, r))
    print("summary:")
    for label, stall, r in summary:
        print(
            f"  {label}{' (stall)' if stall else ''}: median {r['fps_median']:.1f} frames/s, "
            f"p99 spread {r['spread_p99']:.0f} ms, {r['us_per_send']:.0f} us of server CPU "
            f"per frame delivered, servers {r['server_cpu']:.0%} of a core ("
            + " + ".join(f"{c:.0%}" for c in r["server_cpu_each"])
            + ")"
        )


@contextlib.contextmanager
def redis_server() -> Iterator[tuple[str, int]]:
    """A throwaway redis-server on a free port (nothing saved); its URL and pid."""
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(200):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0", proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()

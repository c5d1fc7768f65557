"""Start the real server in a subprocess on a free port, for the benchmarks."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server(
    env: dict[str, str] | None = None, ws: str | None = None, root: Path = ROOT
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Yield the base URL and the process of a running server; stop it afterwards.

    `python -m app`, as deployed; with `ws`, uvicorn's own command line with that WebSocket
    implementation (auto, websockets, websockets-sansio, wsproto), for comparing them. `root`:
    the checkout to serve (another one gives "before" figures in the same run).
    """
    port = free_port()
    cmd = [sys.executable, "-m", "app", "--port", str(port)]
    if ws is not None:
        cmd = [
            sys.executable, "-m", "uvicorn", "--factory", "app.main:create_app",
            "--port", str(port), "--ws", ws, "--ws-per-message-deflate", "false",
            "--log-level", "warning",
        ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=root, env={**os.environ, "BACKPROP_STATE_DIR": "", **(env or {})},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            with contextlib.suppress(OSError):
                urllib.request.urlopen(base + "/healthz", timeout=1).read()
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("server did not start")
        yield base, proc
    finally:
        proc.terminate()
        proc.wait(10)


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MiB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy(since: tuple[int, int] | None = None) -> Any:
    """The machine's busy and total jiffies now, or (with `since`) its busy share since then.

    Counts every user of the machine, not just us: 2.0 means both cores were busy throughout.
    """
    parts = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = parts[3] + parts[4]
    now = (sum(parts) - idle, sum(parts))
    if since is None:
        return now
    busy, total = now[0] - since[0], now[1] - since[1]
    return (os.cpu_count() or 1) * busy / total if total else 0.0

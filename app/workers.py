"""`backprop-studio --workers N`: N peer processes on one port, sharing one Redis.

The supervisor binds the port once and hands the listening socket to every worker (the kernel
spreads connections over them); each worker is a whole peer (app/live/cluster.py), so any of
them serves any room or session. A worker that dies is started again; its runs are taken over
by the others meanwhile. SIGTERM or Ctrl-C stops them all, gracefully; a supervisor killed
outright (SIGKILL) takes its workers with it (die_with).
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from types import FrameType

from app.live.state import RedisBackend, StateUnavailableError, safe_url
from app.settings import Settings

PR_SET_PDEATHSIG = 1  # linux/prctl.h
POLL_SECONDS = 0.5
RESTART_SECONDS = 1.0  # a worker that keeps dying is restarted at most this often


def supervise(workers: int, host: str, port: int, argv: list[str]) -> int:
    """Run `workers` peers until a signal; the exit code."""
    url = Settings().redis_url or ""
    try:
        RedisBackend(url).close()  # a clear error now rather than N workers failing
    except StateUnavailableError as exc:
        print(f"backprop-studio: {exc}", file=sys.stderr)
        return 2
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(2048)
    listener.set_inheritable(True)
    fd = listener.fileno()
    command = [sys.executable, "-m", "app", *argv, "--fd", str(fd)]
    stopping = False

    supervisor = os.getpid()

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(command, pass_fds=(fd,), preexec_fn=lambda: die_with(supervisor))

    def stop(signum: int, _: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)

    procs = [start() for _ in range(workers)]
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(
        f"backprop-studio: {workers} peers on http://{host}:{port} (pids "
        f"{', '.join(str(p.pid) for p in procs)}), sharing {safe_url(url)}",
        file=sys.stderr,
        flush=True,
    )
    started = [time.monotonic()] * workers
    while not stopping or any(p.poll() is None for p in procs):
        time.sleep(POLL_SECONDS)
        if stopping:
            continue
        for index, proc in enumerate(procs):
            if proc.poll() is not None and time.monotonic() - started[index] > RESTART_SECONDS:
                print(
                    f"backprop-studio: peer {proc.pid} exited ({proc.returncode}); starting "
                    "another (the others took its runs over)",
                    file=sys.stderr,
                    flush=True,
                )
                procs[index] = start()
                started[index] = time.monotonic()
    listener.close()
    return 0


def die_with(supervisor: int) -> None:
    """In a worker, before exec: SIGTERM when the supervisor dies, even by SIGKILL (Linux).

    Then the worker shuts down as for a plain SIGTERM, closing its listening socket first: the
    port is free again at once, and a new supervisor can bind it. Elsewhere: nothing (a worker
    there outlives a killed supervisor, as before).
    """
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != supervisor:  # it died before prctl took hold: nobody would signal
        os._exit(0)

"""What many tests share: free ports, a real server process, waiting with a deadline."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import redis

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = Path(sys.executable).with_name("backprop-studio")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The main page's first-visit intro (first-minute.js) floats over the panels until dismissed:
# every context the suite's `browser` makes starts as a returning visitor (tests of the intro
# itself remove the key first).
INTRO_SEEN = "try { localStorage.setItem('backprop-studio.intro', 'seen'); } catch (e) {}"
# A generous deadline for anything a test waits on: long enough for a machine many times
# slower than ours, short enough that a regression fails instead of hanging the suite.
DEADLINE = 30.0

T = TypeVar("T")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(
    probe: Callable[[], T | None], what: str, deadline: float = DEADLINE, poll: float = 0.02
) -> T:
    """Poll `probe` until it returns something truthy; fail with `what` after `deadline` s."""
    end = time.monotonic() + deadline
    last: T | None = None
    while time.monotonic() < end:
        last = probe()
        if last:
            return last
        time.sleep(poll)
    raise AssertionError(f"timed out after {deadline} s waiting for {what} (last: {last!r})")


class ServerProcess:
    """`backprop-studio` in a subprocess on a free loopback port; restartable on that port."""

    def __init__(self, log_path: Path, env: Mapping[str, str] | None = None) -> None:
        """Pick the port; the server starts with start()."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.log_path = log_path
        # Each server its own state directory (snapshots, issue 12): tests never share runs.
        state_dir = str(log_path.parent / f"state-{self.port}")
        self.env = {**os.environ, "BACKPROP_STATE_DIR": state_dir, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ServerProcess:
        """Start the process and wait until /healthz answers."""
        assert SCRIPT.exists(), f"{SCRIPT} missing: install the project (make test does)"
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(SCRIPT), "--port", str(self.port)],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
            )
        proc = self.proc

        def healthy() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"server exited early:\n{self.log()[-4000:]}")
            try:
                return bool(httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200)
            except httpx.TransportError:
                return False

        wait_for(healthy, "the server's /healthz", deadline=60, poll=0.1)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        """Send `sig` and reap the process; its exit code (None if it was not running)."""
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        proc.send_signal(sig)
        try:
            return proc.wait(timeout=20)
        except subprocess.TimeoutExpired:  # a hang on shutdown is a failure, but never a leak
            proc.kill()
            proc.wait()
            raise

    def log(self) -> str:
        """Everything the server printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class Watched:
    """A Playwright page plus what it logged as an error and every URL it asked for."""

    def __init__(self, page: Any, base: str = "") -> None:
        """Attach the listeners; requests outside `base` (if given) are also kept as foreign."""
        self.page = page
        self.base = base
        self.errors: list[str] = []
        self.urls: list[str] = []
        self.foreign: list[str] = []
        page.on("console", lambda m: self._error(m.type == "error", m.text))
        page.on("pageerror", lambda e: self._error(True, f"pageerror: {e}"))
        page.on("response", lambda r: self._error(r.status >= 400, f"{r.status} {r.url}"))
        page.on("request", lambda r: self._url(r.url))
        page.on("websocket", lambda ws: self._url(ws.url))

    def _error(self, happened: bool, text: str) -> None:
        """Keep `text` if `happened`."""
        if happened:
            self.errors.append(text)

    def _url(self, url: str) -> None:
        """Keep every URL; those off this server (but data: URLs) as foreign too."""
        self.urls.append(url)
        if self.base and not url.startswith(
            (self.base, self.base.replace("http", "ws", 1), "data:")
        ):
            self.foreign.append(url)


@contextmanager
def watched_page(browser: Any, **options: Any) -> Iterator[Any]:
    """A fresh page in its own context (1440x900 unless `options` say otherwise), every wait
    bounded by DEADLINE, whose logged errors fail the test."""
    context = browser.new_context(**{"viewport": {"width": 1440, "height": 900}, **options})
    context.set_default_timeout(DEADLINE * 1000)
    pg = context.new_page()
    watched = Watched(pg)
    try:
        yield pg
        assert not watched.errors, watched.errors
    finally:
        context.close()


def strict_context(browser: Any, **options: Any) -> Iterator[Any]:
    """A browser context (a fixture's body), every wait bounded by DEADLINE, where an uncaught
    error on any of its pages fails the test once it closes."""
    context = browser.new_context(**options)
    context.set_default_timeout(DEADLINE * 1000)
    errors: list[str] = []
    context.on("page", lambda p: p.on("pageerror", lambda e: errors.append(f"{e}: {e.stack}")))
    yield context
    context.close()
    assert not errors, errors


def live_room(page: Any, timeout_ms: float | None = None) -> None:
    """Wait for a room page's socket and its first frame."""
    from playwright.sync_api import expect  # browser tests only: the others never import it

    expect(page.get_by_test_id("connection-status")).to_have_attribute(
        "data-state", "connected", timeout=timeout_ms
    )
    page.wait_for_function("() => window.backpropRoom && window.backpropRoom.live.state.frame")


@contextmanager
def room_pages(
    browser: Any, host: str, guest: str, timeout_ms: float
) -> Iterator[tuple[str, Watched, Watched]]:
    """A new article room made on `host`: its presenter's page there (the hello accepted) and a
    participant's on `guest`, both live, in one 1440x900 context (closed after). Yields the
    room's code and the two watched pages."""
    from playwright.sync_api import expect

    made = httpx.post(f"{host}/api/rooms", json={"config": {"preset": "article"}}, timeout=30)
    assert made.status_code == 201, made.text
    code, token = made.json()["code"], made.json()["presenter_token"]
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(timeout_ms)
    try:
        presenter, participant = Watched(context.new_page()), Watched(context.new_page())
        presenter.page.goto(f"{host}/present/{code}#token={token}", wait_until="domcontentloaded")
        live_room(presenter.page)
        expect(presenter.page.get_by_test_id("step-button")).to_be_enabled()  # hello accepted
        participant.page.goto(f"{guest}/room/{code}", wait_until="domcontentloaded")
        live_room(participant.page)
        yield code, presenter, participant
    finally:
        context.close()


def start_peers(tmp_path: Path, url: str, count: int) -> list[ServerProcess]:
    """`count` peers on one Redis, no state directory (Redis keeps the snapshots)."""
    env = {"BACKPROP_REDIS_URL": url, "BACKPROP_STATE_DIR": ""}
    return [ServerProcess(tmp_path / f"peer{i}.log", env=env).start() for i in range(count)]


def running(started: list[ServerProcess]) -> Iterator[list[ServerProcess]]:
    """Yield the servers (a fixture's body); stop them after, and fail on a logged traceback."""
    try:
        yield started
    finally:
        for server in started:
            server.stop()
    for server in started:
        assert "Traceback" not in server.log(), server.log()[-4000:]


def strict_loads(text: str | bytes) -> Any:
    """Parse JSON refusing NaN and Infinity."""

    def refuse(token: str) -> None:
        raise AssertionError(f"{token} on the wire")

    return json.loads(text, parse_constant=refuse)


REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisProcess:
    """redis-server on a free loopback port, nothing saved to disk; restartable on that port."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisProcess:
        """Start and wait until it answers PING."""
        args = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no", "--dir", str(self.workdir)]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = self.client()

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        wait_for(answers, "redis-server to answer PING")
        client.close()
        return self

    def stop(self) -> None:
        """Stop it (its data goes: nothing is saved)."""
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
            self.proc = None

    def client(self) -> redis.Redis:
        """A client with short timeouts."""
        return redis.Redis.from_url(self.url, socket_connect_timeout=2, socket_timeout=5)


class CutProxy:
    """A TCP proxy on loopback in front of one port, whose traffic a test can cut and heal.

    Cut: no byte moves either way on any connection, old or new (accepted, then held), as
    through an unplugged cable: clients see silence and their own timeouts, never a reset.
    Healed: what was held is delivered, late, as TCP would deliver it.
    """

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._flowing = threading.Event()
        self._flowing.set()
        self._sockets: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        """Stop every byte, both ways."""
        self._flowing.clear()

    def heal(self) -> None:
        """Let bytes flow again."""
        self._flowing.set()

    def close(self) -> None:
        """Stop listening and close every connection."""
        self._closed = True
        self._flowing.set()
        self._listener.close()
        for sock in list(self._sockets):
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        """Accept clients (even while cut: the kernel would), each with its own upstream."""
        while not self._closed:
            try:
                client, _ = self._listener.accept()
                upstream = socket.create_connection(self.target)
            except OSError:
                return
            self._sockets += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        """Copy one direction while flowing; hold (read nothing, send nothing) while cut."""
        try:
            while True:
                self._flowing.wait()
                data = src.recv(65536)
                if not data:
                    break
                self._flowing.wait()
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

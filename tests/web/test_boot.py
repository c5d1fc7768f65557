"""A server that always starts (issue 25): damaged state is set aside, never fatal; a state
directory it cannot write is one clear line and exit code 2; importing app.main opens nothing;
workers die with their supervisor; an acknowledged REST step survives a kill; client errors
and store outages are one log line, never a traceback."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from support import DEADLINE, ROOT, SCRIPT, RedisProcess, ServerProcess, free_port, wait_for
from websockets.asyncio.client import connect

import app.web.health as health
from app.live.state import encode_state
from app.main import create_app
from app.settings import Settings

STATE_FILE = "backprop-studio.sqlite3"
# The contract: SIGKILL the supervisor, the port is free within 5 s. The wait is a
# condition with that deadline plus a margin for a loaded machine, never a speed measurement.
PORT_FREE_SECONDS = 5.0 + 3.0


def server_on(tmp_path: Path, state: Path, name: str = "server.log") -> ServerProcess:
    """A server (not started) keeping its state in `state`."""
    return ServerProcess(tmp_path / name, env={"BACKPROP_STATE_DIR": str(state)})


@pytest.fixture
def populated(tmp_path: Path) -> Iterator[tuple[ServerProcess, Path, dict[str, object], str]]:
    """A server that made two sessions and a room, then stopped: (server, state dir, exports
    of the sessions by id, the room's code)."""
    state = tmp_path / "state"
    server = server_on(tmp_path, state).start()
    try:
        exports: dict[str, object] = {}
        for preset, steps in (("xor", 7), ("spiral", 3)):
            sid = httpx.post(f"{server.url}/api/sessions", json={"preset": preset}).json()["id"]
            httpx.post(f"{server.url}/api/sessions/{sid}/step", json={"count": steps})
            exports[sid] = httpx.get(f"{server.url}/api/sessions/{sid}/export").json()
        room = httpx.post(f"{server.url}/api/rooms", json={"config": {"preset": "xor"}})
        code = room.json()["code"]
    finally:
        server.stop()
    yield server, state, exports, code
    server.stop()


def lines_with(text: str, needle: str) -> list[str]:
    """The log lines that contain `needle`."""
    return [line for line in text.splitlines() if needle in line]


def test_rows_of_the_wrong_type_are_set_aside_and_every_good_run_served(
    populated: tuple[ServerProcess, Path, dict[str, object], str],
) -> None:
    """TEXT, -1 and 10**12 where a blob belongs, bytes that are no snapshot, a snapshot that
    makes no run: the server starts, serves the good runs, moves the bad rows (kept) and says
    so in one line."""
    server, state, exports, code = populated
    bad = {
        ("session", "text-blob"): "not a snapshot",
        ("session", "minus-one"): -1,
        ("session", "terabyte"): 10**12,  # bytes(10**12) would ask for a terabyte
        ("room", "GARBAG"): b"PK\x03\x04 not a zip at all",
        ("session", "hollow"): encode_state({"format": 1, "kind": "session"}),
    }
    db = sqlite3.connect(state / STATE_FILE)
    with db:
        for (kind, key), blob in bad.items():
            db.execute("INSERT INTO runs VALUES (?, ?, ?, ?)", (kind, key, blob, 1.0))
    db.close()

    server.start()
    for sid, export in exports.items():
        assert httpx.get(f"{server.url}/api/sessions/{sid}/export").json() == export
    assert httpx.get(f"{server.url}/api/rooms/{code}").status_code == 200
    for kind, key in bad:
        path = f"/api/sessions/{key}" if kind == "session" else f"/api/rooms/{key}"
        assert httpx.get(f"{server.url}{path}").status_code == 404
    log = server.log()
    assert "Traceback" not in log, log
    said = lines_with(log, "set aside")
    assert len(said) == 1, log
    assert "5 unreadable run(s)" in said[0] and "set_aside" in said[0]
    for _, key in bad:
        assert key in said[0]

    server.stop()
    db = sqlite3.connect(state / STATE_FILE)
    kept = {(k, key): blob for k, key, blob in db.execute("SELECT kind, key, blob FROM set_aside")}
    runs = {(k, key) for k, key in db.execute("SELECT kind, key FROM runs")}
    db.close()
    assert kept == bad  # every byte kept, the huge integer too
    assert not runs & set(bad)
    assert {key for _, key in runs} >= set(exports)


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_damaged_state_file_is_renamed_aside_and_the_server_starts_afresh(
    populated: tuple[ServerProcess, Path, dict[str, object], str], damage: str
) -> None:
    """A file cut in half or overwritten: renamed (kept, byte for byte), a fresh one made."""
    server, state, exports, _ = populated
    path = state / STATE_FILE
    original = path.read_bytes()
    ruined = original[: len(original) // 2] if damage == "truncated" else os.urandom(5000)
    path.write_bytes(ruined)

    server.start()
    log = server.log()
    assert "Traceback" not in log, log
    said = lines_with(log, "renamed to")
    assert len(said) == 1, log
    moved = re.search(r"renamed to (\S+)", said[0])
    assert moved is not None
    assert (state / moved.group(1)).read_bytes() == ruined  # kept as it was
    # A fresh start: the old runs are not here, new ones are made and kept.
    assert all(httpx.get(f"{server.url}/api/sessions/{sid}").status_code == 404 for sid in exports)
    sid = httpx.post(f"{server.url}/api/sessions", json={"preset": "xor"}).json()["id"]
    assert httpx.post(f"{server.url}/api/sessions/{sid}/step", json={"count": 2}).status_code == 200
    server.stop()
    server.start()
    assert httpx.get(f"{server.url}/api/sessions/{sid}").json()["step"] == 2
    assert len(lines_with(server.log(), "renamed to")) == 1  # the new file reads fine


def refused(state_dir: Path, wrap: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    """`backprop-studio` on a state directory it cannot use: its exit and its words."""
    env = {**os.environ, "BACKPROP_STATE_DIR": str(state_dir)}
    return subprocess.run(
        [*(wrap or []), str(SCRIPT), "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_file_where_the_state_directory_belongs_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """The state directory is a file, or lies under one: one clear line, exit code 2."""
    (tmp_path / "a-file").write_text("not a directory")
    for state_dir in (tmp_path / "a-file", tmp_path / "a-file" / "below"):
        done = refused(state_dir)
        assert done.returncode == 2, done
        assert done.stderr.strip().count("\n") == 0 and "Traceback" not in done.stderr
        assert str(state_dir) in done.stderr and "directory" in done.stderr


def as_permissions_say() -> list[str]:
    """A command prefix under which file permissions hold: root gives up CAP_DAC_OVERRIDE."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: permissions cannot refuse anything")
    caps = "-dac_override,-dac_read_search"
    return [setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}"]


def test_a_state_directory_it_cannot_write_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """A read-only directory: one clear line, exit code 2 (root drops its override to see it)."""
    state_dir = tmp_path / "read-only"
    state_dir.mkdir()
    state_dir.chmod(0o555)
    try:
        done = refused(state_dir, as_permissions_say())
    finally:
        state_dir.chmod(0o755)
    assert done.returncode == 2, done
    assert done.stderr.strip().count("\n") == 0 and "Traceback" not in done.stderr
    assert "cannot write the state directory" in done.stderr
    assert list(state_dir.iterdir()) == []


def test_unreachable_redis_is_one_line_and_exit_2() -> None:
    """The issue's example: BACKPROP_REDIS_URL at a closed port, one line, no traceback."""
    env = {**os.environ, "BACKPROP_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    done = subprocess.run(
        [str(SCRIPT), "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert "cannot reach Redis" in done.stderr


def test_importing_the_app_opens_nothing(tmp_path: Path) -> None:
    """`import app.main` with Redis and a state directory configured: no connection is made,
    no directory or file created; the application is built by create_app() only."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    state_dir = tmp_path / "never-made"
    env = {
        **os.environ,
        "BACKPROP_REDIS_URL": f"redis://127.0.0.1:{port}/0",
        "BACKPROP_STATE_DIR": str(state_dir),
        "PYTHONPATH": str(ROOT),
    }
    code = "import app.main, app.__main__; assert not hasattr(app.main, 'app')"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    try:
        assert done.returncode == 0, done.stderr
        assert not state_dir.exists()
        with pytest.raises(BlockingIOError):  # nobody knocked
            listener.accept()
    finally:
        listener.close()


def port_free(port: int) -> bool:
    """Whether a new server could listen on the port now."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def gone(pid: int) -> bool:
    """The process has exited (a zombie waiting for its reaper counts as exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_workers_die_with_a_killed_supervisor(redis_server: RedisProcess, tmp_path: Path) -> None:
    """SIGKILL the `--workers 2` supervisor: the port is free within the contract's 5 s (plus a
    margin), the workers exit, and a new server starts on that port."""
    port = free_port()
    env = {**os.environ, "BACKPROP_REDIS_URL": redis_server.url, "BACKPROP_STATE_DIR": ""}
    log_path = tmp_path / "workers.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(SCRIPT), "--workers", "2", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:

        def pids() -> list[int] | None:
            found = re.search(r"\(pids ([\d, ]+)\)", log_path.read_text())
            return [int(p) for p in found.group(1).split(", ")] if found else None

        workers = wait_for(pids, "the supervisor's line naming its workers", deadline=60)
        peers: set[str] = set()

        def both_up() -> bool:
            try:
                with httpx.Client() as fresh:  # a new connection: the kernel picks a worker
                    peers.add(fresh.get(f"http://127.0.0.1:{port}/healthz").json()["peer"])
            except httpx.TransportError:
                return False
            return len(peers) == 2

        wait_for(both_up, "both workers to answer", deadline=60, poll=0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=DEADLINE)
        wait_for(lambda: port_free(port), "the port to be free", deadline=PORT_FREE_SECONDS)
        wait_for(lambda: all(gone(pid) for pid in workers), "every worker to exit")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in pids() or []:  # never leak a worker, whatever failed above
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)
    assert "Traceback" not in log_path.read_text()


def test_an_acknowledged_rest_step_survives_sigkill(tmp_path: Path) -> None:
    """Killed at once after each 200 (no time for a play-time snapshot): every step is back."""
    server = server_on(tmp_path, tmp_path / "state").start()
    try:
        sid = httpx.post(f"{server.url}/api/sessions", json={"preset": "xor"}).json()["id"]
        for count in (1, 5):
            answer = httpx.post(f"{server.url}/api/sessions/{sid}/step", json={"count": count})
            assert answer.status_code == 200
            acknowledged = answer.json()["step"]
            server.stop(signal.SIGKILL)
            server.start()
            assert httpx.get(f"{server.url}/api/sessions/{sid}").json()["step"] == acknowledged
    finally:
        server.stop()


def test_oversized_messages_log_no_traceback(tmp_path: Path) -> None:
    """Two 70 KB messages then a 200 KB one, on 20 connections at once: the server cuts them
    (1009), stays up, and its log has no traceback."""
    server = ServerProcess(tmp_path / "server.log", env={"BACKPROP_STATE_DIR": ""}).start()
    try:
        sid = httpx.post(f"{server.url}/api/sessions", json={"preset": "xor"}).json()["id"]

        async def one() -> None:
            async with connect(f"{server.ws_url}/ws/sessions/{sid}", max_size=None) as ws:
                for size in (70_000, 70_000, 200_000):
                    await ws.send("x" * size)
                try:
                    while True:
                        await asyncio.wait_for(ws.recv(), DEADLINE)
                except Exception as exc:  # closed by the server, as it should be
                    assert "1009" in str(exc) or "closed" in str(exc).lower(), exc

        async def many() -> None:
            await asyncio.gather(*(one() for _ in range(20)))

        asyncio.run(many())
        assert httpx.get(f"{server.url}/api/sessions/{sid}").status_code == 200
    finally:
        server.stop()
    assert "Traceback" not in server.log(), server.log()


def test_a_redis_outage_answers_503_with_no_traceback(
    redis_server: RedisProcess, tmp_path: Path
) -> None:
    """Redis stops answering: creating a session answers 503 (the run cannot be saved), the
    server logs no traceback, and creates sessions again once Redis is back."""
    server = ServerProcess(
        tmp_path / "server.log",
        env={"BACKPROP_STATE_DIR": "", "BACKPROP_REDIS_URL": redis_server.url},
    ).start()
    assert redis_server.proc is not None
    try:
        redis_server.proc.send_signal(signal.SIGSTOP)
        try:
            answer = httpx.post(f"{server.url}/api/sessions", json={"preset": "xor"}, timeout=60)
            assert answer.status_code == 503, answer.text
        finally:
            redis_server.proc.send_signal(signal.SIGCONT)
        wait_for(
            lambda: (
                httpx.post(f"{server.url}/api/sessions", json={"preset": "xor"}).status_code == 201
            ),
            "creating a session once Redis is back",
        )
    finally:
        server.stop()
    log = server.log()
    assert "Traceback" not in log, log
    assert lines_with(log, '"POST /api/sessions HTTP/1.1" 503')  # the access log's one line


def test_healthz_fails_when_the_pages_cannot_be_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No templates folder and no static folder: 503, naming both; with them: 200."""
    with TestClient(create_app(Settings(state_dir=None))) as client:
        assert client.get("/healthz").status_code == 200
        monkeypatch.setattr(health, "TEMPLATES_DIR", tmp_path / "no-templates")
        monkeypatch.setattr(health, "STATIC_DIR", tmp_path / "no-static")
        answer = client.get("/healthz")
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "failing"
    assert any("templates folder" in p for p in body["problems"])
    assert any("static folder" in p for p in body["problems"])


def test_a_folder_in_place_of_the_state_file_is_renamed_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The state file's name taken by a folder: the folder is moved aside with what it holds,
    a fresh file is made, and one warning says so."""
    from app.live.state import SqliteBackend

    (tmp_path / STATE_FILE).mkdir()
    (tmp_path / STATE_FILE / "keep-me").write_text("mine")
    with caplog.at_level("WARNING", logger="app.live.state"):
        db = SqliteBackend(tmp_path)
    db.snapshot("session", "a", b"1")
    assert db.load("session", "a") == b"1"
    db.close()
    (moved,) = tmp_path.glob(f"{STATE_FILE}.unreadable-*")
    assert (moved / "keep-me").read_text() == "mine"
    assert len(caplog.records) == 1 and "renamed to" in caplog.records[0].getMessage()


def test_an_unreadable_snapshot_in_redis_is_renamed_aside(redis_server: RedisProcess) -> None:
    """Bytes that are no snapshot, in Redis: out of the index, kept under bp:aside:…"""
    from app.live.state import Persister, RedisBackend

    r = redis_server.client()
    r.set("bp:run:session:bad", b"not a snapshot")
    r.sadd("bp:runs", "session:bad")
    persist = Persister(RedisBackend(redis_server.url))
    try:
        assert list(persist.stored()) == []
        assert persist.backend.aside and "session bad" in persist.backend.aside[0]
        assert r.get("bp:aside:session:bad") == b"not a snapshot"
        assert r.get("bp:run:session:bad") is None
        assert not r.sismember("bp:runs", "session:bad")
    finally:
        persist.backend.close()
        r.close()


def test_uvicorn_builds_the_app_with_the_factory(tmp_path: Path) -> None:
    """`uvicorn --factory app.main:create_app`: settings from the environment, pages served."""
    port = free_port()
    log_path = tmp_path / "uvicorn.log"
    env = {**os.environ, "BACKPROP_STATE_DIR": "", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "uvicorn", "--factory", "app.main:create_app"]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [*command, "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"uvicorn exited:\n{log_path.read_text()[-4000:]}")
        try:
            return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_for(up, "uvicorn's /healthz", deadline=60, poll=0.1)
        assert httpx.get(f"{base}/", timeout=30).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "Traceback" not in log_path.read_text()


def test_a_state_file_it_cannot_read_is_renamed_aside(tmp_path: Path) -> None:
    """A state file with no read permission: renamed aside (kept), a fresh file, one line."""
    (tmp_path / STATE_FILE).write_bytes(b"someone else's")
    (tmp_path / STATE_FILE).chmod(0o000)
    code = (
        f"from app.live.state import SqliteBackend; db = SqliteBackend({str(tmp_path)!r}); "
        "db.snapshot('session', 'a', b'1'); assert db.load('session', 'a') == b'1'; db.close()"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [*as_permissions_say(), sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().count("\n") == 0 and "renamed to" in done.stderr, done.stderr
    (moved,) = tmp_path.glob(f"{STATE_FILE}.unreadable-*")
    moved.chmod(0o600)
    assert moved.read_bytes() == b"someone else's"

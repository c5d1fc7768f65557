"""Two peers behind the repository's own nginx config (deploy/nginx-peers.conf), one Redis.

Real processes: Debian's nginx (make test installs it) running that file with only the peers'
addresses and the listening port replaced, two `backprop-studio` peers started as slots 0/2 and
1/2, and redis-server. A presenter who goes through the proxy reaches the peer that trains the
room, so a step crosses Redis only for its fenced save (MONITOR shows no PUBLISH and no GET), and
a REST step on a session likewise; the proxy's map is the one the code generates.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support import DEADLINE, RedisProcess, ServerProcess, free_port, running, wait_for
from test_cluster_route import STEPS, Monitor, monitored_steps, names

from app.live.route import ALPHABET, SESSION_ALPHABET, slot_of

ROOT = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def proxy_config(conf: str, peers: list[ServerProcess], port: int, prefix: Path) -> str:
    """The deployed file, its peers and port made local, inside a minimal nginx.conf."""
    for i, peer in enumerate(peers):
        conf = conf.replace(f"peer{i}:8000", f"127.0.0.1:{peer.port}")
    conf, listens = re.subn(r"listen 80;", f"listen 127.0.0.1:{port};", conf)
    assert listens == 1 and "peer0:8000" not in conf and "peer1:8000" not in conf
    temp = "".join(
        f"    {kind}_temp_path {prefix / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"pid {prefix / 'nginx.pid'};\nerror_log {prefix / 'error.log'} warn;\n"
        "daemon off;\nevents {}\n"
        f"http {{\n    access_log off;\n{temp}{conf}\n}}\n"
    )


class Nginx:
    """nginx in the foreground with a generated config; stopped with SIGQUIT (graceful)."""

    def __init__(self, prefix: Path, config: str, port: int) -> None:
        self.prefix, self.port = prefix, port
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}"
        (prefix / "nginx.conf").write_text(config)
        with (prefix / "stderr.log").open("wb") as err:
            self.proc = subprocess.Popen(
                [NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", "stderr"],
                stdout=subprocess.DEVNULL,
                stderr=err,
            )

        def serves() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError((prefix / "stderr.log").read_text()[-2000:])
            try:
                return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(serves, "nginx to proxy /healthz")

    def stop(self) -> None:
        """Stop it and reap the process."""
        self.proc.terminate()
        self.proc.wait(timeout=20)


@pytest.fixture
def cluster(
    redis_server: RedisProcess, tmp_path: Path
) -> Iterator[tuple[Nginx, list[ServerProcess]]]:
    """Two peers as slots 0/2 and 1/2 on one Redis, behind nginx."""
    if not Path(NGINX).exists():
        pytest.skip("no nginx: `make test` installs Debian's package")
    peers = [
        ServerProcess(
            tmp_path / f"peer{i}.log",
            env={
                "BACKPROP_REDIS_URL": redis_server.url,
                "BACKPROP_STATE_DIR": "",
                "BACKPROP_ROUTE": f"{i}/2",
            },
        ).start()
        for i in range(2)
    ]
    gen = running(peers)  # stops them after, and fails on a logged traceback
    started = next(gen)
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    port = free_port()
    conf = (ROOT / "deploy" / "nginx-peers.conf").read_text()
    proxy = Nginx(prefix, proxy_config(conf, started, port, prefix), port)
    try:
        yield proxy, started
    finally:
        proxy.stop()
        next(gen, None)


def test_a_presenter_through_the_proxy_steps_on_the_owner_and_redis_sees_only_saves(
    cluster: tuple[Nginx, list[ServerProcess]], redis_server: RedisProcess
) -> None:
    proxy, _ = cluster
    made = httpx.post(f"{proxy.url}/api/rooms", json={"config": {"preset": "article"}}, timeout=30)
    assert made.status_code == 201, made.text
    code, token = made.json()["code"], made.json()["presenter_token"]
    owner = slot_of(code, ALPHABET, 2)  # the peer that made it: its code routes back to it

    # The presenter connects through nginx.
    commands = asyncio.run(monitored_steps(proxy, code, token, redis_server))
    print(f"through nginx (owner peer{owner}):", names(commands))
    # Routed to the owner: no forwarded command (PUBLISH), no lookup of the lease (GET); the
    # only command per step is the fenced snapshot write that makes it durable.
    assert "PUBLISH" not in names(commands)
    assert "GET" not in names(commands)
    saves = [c for c in commands if c[0].upper() in ("EVAL", "EVALSHA")]
    assert 1 <= len(saves) <= STEPS and len(commands) == len(saves), names(commands)
    assert all(f"bp:run:room:{code}" in " ".join(c) for c in saves), saves


def test_rest_steps_on_a_session_through_the_proxy_reach_its_peer(
    cluster: tuple[Nginx, list[ServerProcess]], redis_server: RedisProcess
) -> None:
    proxy, _ = cluster
    made = httpx.post(f"{proxy.url}/api/sessions", json={"preset": "xor"}, timeout=30)
    sid = made.json()["id"]
    assert slot_of(sid, SESSION_ALPHABET, 2) in (0, 1)
    with Monitor(redis_server) as monitor:
        for k in range(1, STEPS + 1):
            r = httpx.post(f"{proxy.url}/api/sessions/{sid}/step", json={"count": 1}, timeout=30)
            assert r.status_code == 200 and r.json()["step"] == k, r.text
        commands = monitor.commands()
    assert "PUBLISH" not in names(commands), names(commands)
    assert "GET" not in names(commands), names(commands)
    # Pages and static files answer through the proxy too (either peer may serve them).
    for path in ("/", "/join", "/static/css/app.css"):
        assert httpx.get(f"{proxy.url}{path}", timeout=DEADLINE).status_code == 200, path

"""Suite-wide fixtures and rules: no in-process test waits for ever."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DEADLINE,
    INTRO_SEEN,
    REDIS_SERVER,
    RedisProcess,
    ServerProcess,
    watched_page,
)

from app.main import create_app
from app.settings import Settings


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Bound every in-process test (TestClient sockets included) by a few deadlines, not 600 s."""
    # A blocking receive_json on a test WebSocket that never gets its message would otherwise
    # hold the run for the suite-wide timeout; pytest-timeout fails just that test instead.
    for item in items:
        if (
            "client" in getattr(item, "fixturenames", ())
            and item.get_closest_marker("timeout") is None
        ):
            item.add_marker(pytest.mark.timeout(4 * DEADLINE))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Debian Chromium for the module (never `playwright install`)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    sync_api = pytest.importorskip("playwright.sync_api")
    # Every expect() of every browser test waits as long as the suite's deadline: Playwright's
    # default 5 s was once too short for an edge count on a 2-core box beside two busy processes.
    sync_api.expect.set_options(timeout=int(DEADLINE * 1000))
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        new_context = b.new_context

        def returning_visitor(*args: Any, **kwargs: Any) -> Any:
            """A context whose pages skip the first-visit intro (it would cover panels)."""
            context = new_context(*args, **kwargs)
            context.add_init_script(INTRO_SEEN)
            return context

        b.new_context = returning_visitor
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page at 1440x900 whose errors fail the test (a module may define its own)."""
    with watched_page(browser) as pg:
        yield pg


@pytest.fixture
def client(request: pytest.FixtureRequest) -> Iterator[TestClient]:
    """A client on a fresh app; the test module's SETTINGS, if it has one, sets the limits."""
    settings = getattr(request.module, "SETTINGS", None) or Settings()
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """`backprop-studio` on a free loopback port for the module (its SERVER_ENV, if any)."""
    env = getattr(request.module, "SERVER_ENV", None)
    srv = ServerProcess(tmp_path_factory.mktemp("server") / "server.log", env).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisProcess]:
    """A running redis-server on a free port (make test installs Debian's package if missing)."""
    if not Path(REDIS_SERVER).exists():
        pytest.skip("no redis-server: `make test` installs it")
    proc = RedisProcess(tmp_path).start()
    try:
        yield proc
    finally:
        proc.stop()

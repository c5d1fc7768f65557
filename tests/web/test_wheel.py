"""The package is whole (issue 25): a wheel built from the repository, installed in a clean
virtual environment outside it, serves every page and every static file; /healthz says when
it cannot."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import setuptools
from support import ROOT, free_port, wait_for

from app.web.slim import slim_js

SOURCES = ("pyproject.toml", "setup.py", "README.md", "app", "static", "templates")
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")


def offline_build() -> bool:
    """Whether this environment can build the wheel itself (no build isolation, no index)."""
    major, minor = (int(p) for p in setuptools.__version__.split(".")[:2])
    return (major, minor) >= (70, 1) or importlib.util.find_spec("wheel") is not None


def build_wheel(tmp: Path) -> Path:
    """A wheel of a clean copy of the repository's sources (the checkout stays untouched)."""
    src = tmp / "src"
    src.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=SKIP)
        else:
            shutil.copy2(path, src / name)
    out = tmp / "dist"
    cmd = [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "-w", str(out), "-q"]
    if offline_build():
        cmd.append("--no-build-isolation")  # make test installs `wheel`: no index needed
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp)
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = out.glob("backprop_studio-*.whl")
    return wheel


def clean_venv(tmp: Path, wheel: Path) -> Path:
    """A new virtual environment with the wheel installed; its python.

    The dependencies are the test environment's own, reached through a path file (no index is
    needed); `app` itself can only come from the wheel: the editable install's finder of the
    test environment is not loaded there (path files of an added folder are not read).
    """
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q"]
    done = subprocess.run(  # away from the checkout: its egg-info would look installed
        [*install, "--no-deps", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
        cwd=tmp,
        env=bare_env(),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # After installing: pip must not see the test environment's own (editable) install of the
    # project there, call it satisfied, and skip the wheel.
    (Path(purelib) / "test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def bare_env() -> dict[str, str]:
    """The environment without anything that points Python at the checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    return {**env, "BACKPROP_STATE_DIR": ""}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, str]]:
    """(wheel, installed package folder, base URL of `backprop-studio` run from the venv)."""
    tmp = tmp_path_factory.mktemp("wheel")
    wheel = build_wheel(tmp)
    python = clean_venv(tmp, wheel)
    where = subprocess.run(
        [str(python), "-c", "import app; print(app.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp,
        env=bare_env(),
        check=True,
    ).stdout.strip()
    package = Path(where).parent
    assert package.is_relative_to(tmp / "venv"), where  # from the wheel, not the checkout
    port = free_port()
    log = tmp / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(python.with_name("backprop-studio")), "--port", str(port)],
            cwd=tmp,  # outside the repository
            env=bare_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"the installed server exited:\n{log.read_text()[-4000:]}")
        try:
            return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_for(up, "the installed server's /healthz", deadline=60, poll=0.1)
        yield wheel, package, base
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "Traceback" not in log.read_text(), log.read_text()


def test_the_wheel_carries_every_module_template_static_file_and_plotly(
    installed: tuple[Path, Path, str],
) -> None:
    """Every file of app/ (sources and the vendored Plotly), static/ and templates/."""
    wheel, _, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())

    def files(folder: str, inside: str) -> set[str]:
        top = ROOT / folder
        return {
            f"{inside}/{p.relative_to(top).as_posix()}"
            for p in top.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and not p.name.startswith(".")
        }

    expected = files("app", "app") | files("static", "app/_static")
    expected |= files("templates", "app/_templates")
    assert expected - names == set()
    assert "app/web/vendor_js/plotly-basic-4.1.1.min.js" in names


def test_the_installed_server_serves_every_page_and_static_file(
    installed: tuple[Path, Path, str],
) -> None:
    """/, /join, a room's two pages, Plotly and every static file (as in the repository)."""
    _, _, base = installed
    with httpx.Client(base_url=base, timeout=30) as client:
        room = client.post("/api/rooms", json={"config": {"preset": "xor"}})
        assert room.status_code == 201, room.text
        code = room.json()["code"]
        pages = ["/", "/join", f"/room/{code}", f"/present/{code}"]
        for path in pages:
            assert client.get(path).status_code == 200, path
        page = client.get("/").text
        plotly = re.search(r'data-plotly="([^"]+)"', page)
        assert plotly is not None
        assert client.get(plotly.group(1)).status_code == 200
        prefix = re.search(r'href="(/static/v[0-9a-f]{12})/', page)
        assert prefix is not None
        statics = [p for p in (ROOT / "static").rglob("*") if p.is_file()]
        assert statics
        for file in statics:
            rel = file.relative_to(ROOT / "static").as_posix()
            answer = client.get(f"{prefix.group(1)}/{rel}", headers={"Accept-Encoding": "identity"})
            assert answer.status_code == 200, rel
            # JavaScript goes out with its comment-only lines blank (app.web.slim): the rest as is.
            want = slim_js(file.read_text()).encode() if rel.endswith(".js") else file.read_bytes()
            assert answer.content == want, rel


def test_healthz_fails_when_an_installed_template_goes_missing(
    installed: tuple[Path, Path, str],
) -> None:
    """Remove join.html from the installed package: /healthz answers 503 and names it."""
    _, package, base = installed
    template = package / "_templates" / "join.html"
    template.unlink()
    answer = httpx.get(f"{base}/healthz", timeout=30)
    assert answer.status_code == 503
    assert answer.json()["problems"] == ["template join.html missing"]

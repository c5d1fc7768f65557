"""The error landscape (GET .../landscape) and the run as a GIF (GET .../animation.gif), over HTTP.

Every number is checked against an independent computation written here: a forward pass of
our own for the grid, seeks for the path, numpy's SVD for the trajectory's principal plane.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from support import strict_loads

from app.main import create_app
from app.settings import Settings

Msg = dict[str, Any]
TOL = 1e-12


@pytest.fixture
def client() -> Iterator[TestClient]:
    """A client on a fresh app with default limits."""
    with TestClient(create_app(Settings())) as c:
        yield c


def create(client: TestClient, config: Msg | None = None) -> str:
    """POST /api/sessions; the id."""
    return created(client, config)[0]


def created(client: TestClient, config: Msg | None = None) -> tuple[str, Msg]:
    """POST /api/sessions; the id and the resolved config."""
    r = client.post("/api/sessions", json=config or {"preset": "article"})
    assert r.status_code == 201, r.text
    return str(r.json()["id"]), dict(r.json()["config"])


def step(client: TestClient, sid: str, count: int) -> Msg:
    """POST .../step; the frame."""
    r = client.post(f"/api/sessions/{sid}/step", json={"count": count})
    assert r.status_code == 200, r.text
    return dict(r.json())


def seek(client: TestClient, sid: str, n: int) -> Msg:
    """POST .../seek; the frame at step n."""
    r = client.post(f"/api/sessions/{sid}/seek", json={"step": n})
    assert r.status_code == 200, r.text
    return dict(r.json())


def get_landscape(client: TestClient, base: str, **query: Any) -> Msg:
    """GET .../landscape; the answer (no NaN or Infinity in it)."""
    r = client.get(f"{base}/landscape", params=query)
    assert r.status_code == 200, r.text
    return dict(strict_loads(r.text))


# ---- an independent forward pass -----------------------------------------------------------

ACT: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "tanh": np.tanh,
    "linear": lambda z: z,
}


def error_of(frame: Msg, config: Msg, x: np.ndarray, y: np.ndarray) -> float:
    """E of the frame's weights on rows x (samples as rows), targets y: written here."""
    W = [np.array(w, dtype=float) for w in frame["weights"]]
    b = [np.array(v, dtype=float) for v in frame["biases"]]
    A = x
    for k, (w, bias) in enumerate(zip(W, b, strict=True)):
        act = config["output_activation"] if k == len(W) - 1 else config["activation"]
        A = ACT[act](A @ w + bias)  # a shared bias is one number: it broadcasts
    assert config["loss"] == "half_sse" and config["l2"] == 0
    return float(0.5 * np.sum((A - y) ** 2))


def with_param(frame: Msg, name: str, value: float) -> Msg:
    """The frame's weights with one parameter (w.L.I.J or b.L.J) set to value."""
    out = {"weights": [np.array(w, dtype=float) for w in frame["weights"]],
           "biases": [np.array(v, dtype=float) for v in frame["biases"]]}  # fmt: skip
    parts = name.split(".")
    if parts[0] == "w":
        out["weights"][int(parts[1])][int(parts[2]), int(parts[3])] = value
    else:
        b = out["biases"][int(parts[1])]
        b[0 if b.size == 1 else int(parts[2])] = value
    return out


def param_of(frame: Msg, name: str) -> float:
    """A parameter's value in a frame."""
    parts = name.split(".")
    if parts[0] == "w":
        return float(frame["weights"][int(parts[1])][int(parts[2])][int(parts[3])])
    b = frame["biases"][int(parts[1])]
    return float(b[0 if len(b) == 1 else int(parts[2])])


# ---- two parameters ------------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [None, 2])
def test_pair_grid_is_E_with_only_those_two_moved_on_the_next_batch(
    client: TestClient, batch_size: int | None
) -> None:
    sid, config = created(client, {"preset": "article", "batch_size": batch_size})
    step(client, sid, 25)
    base = f"/api/sessions/{sid}"
    frame = client.get(base).json()
    data = client.get(f"{base}/data").json()
    batch = client.get(f"{base}/trace").json()["batch"]  # the next step's samples
    x = np.array(data["x"], dtype=float)[batch]
    y = np.array(data["y"], dtype=float)[batch]
    a, b = "w.0.1.2", "b.1.0"
    ans = get_landscape(client, base, a=a, b=b, grid=9, span=0.75)
    assert ans["mode"] == "pair" and ans["step"] == 25
    av, bv = ans["a"]["values"], ans["b"]["values"]
    assert len(av) == len(bv) == 9 and len(ans["E"]) == 9 and len(ans["E"][0]) == 9
    # The current values in the middle, exactly, and +- span at the ends.
    assert av[4] == param_of(frame, a) and bv[4] == param_of(frame, b)
    assert abs(av[0] - (av[4] - 0.75)) < TOL and abs(bv[-1] - (bv[4] + 0.75)) < TOL
    checked = 0
    for r in range(9):
        for c in range(9):
            moved = with_param(with_param(frame, a, av[c]), b, bv[r])
            assert abs(ans["E"][r][c] - error_of(moved, config, x, y)) < TOL, (r, c)
            checked += 1
    assert checked == 81
    # The current point: E on the same batch, and the gradient the frame carries.
    assert abs(ans["current"]["E"] - error_of(frame, config, x, y)) < TOL
    g = frame["gradients"]
    assert ans["current"]["gradient"] == [g["weights"][0][1][2], g["biases"][1][0]]
    # The default span fits the whole path (and is at least 1).
    auto = get_landscape(client, base, a=a, b=b, grid=5)
    reach = max(abs(v - param_of(frame, a)) for v in auto["path"]["a"])
    assert auto["span"] >= max(1.0, reach)


def test_path_is_the_runs_own_values_and_E_at_each_step_by_seek(client: TestClient) -> None:
    sid = create(client, {"preset": "article", "batch_size": 2})
    step(client, sid, 20)
    # A settings change in the middle: the path replays it as the run had it.
    r = client.patch(f"/api/sessions/{sid}", json={"optimizer": {"name": "momentum"}})
    assert r.status_code == 200
    step(client, sid, 19)
    base = f"/api/sessions/{sid}"
    a, b = "w.1.3.0", "b.0.2"
    ans = get_landscape(client, base, a=a, b=b, grid=3)
    path = ans["path"]
    assert path["steps"] == list(range(40))
    for k, n in enumerate(path["steps"]):
        f = seek(client, sid, n)
        assert abs(path["a"][k] - param_of(f, a)) < TOL
        assert abs(path["b"][k] - param_of(f, b)) < TOL
        assert abs(path["E"][k] - f["loss"]) < TOL


def test_a_long_path_is_500_steps_spread_from_0_to_now(client: TestClient) -> None:
    sid = create(client)
    step(client, sid, 1300)
    seek(client, sid, 1200)  # "now" is where the run stands, not its head
    base = f"/api/sessions/{sid}"
    a, b = "w.0.0.0", "w.1.2.0"
    path = get_landscape(client, base, a=a, b=b, grid=3)["path"]
    steps = path["steps"]
    assert len(steps) == 500 and steps[0] == 0 and steps[-1] == 1200
    assert steps == sorted(set(steps))
    gaps = np.diff(steps)
    assert gaps.min() >= 2 and gaps.max() <= 3  # evenly spread: 1200 / 499 apart, rounded
    for k in (0, 1, 137, 250, 498, 499):
        f = seek(client, sid, steps[k])
        assert abs(path["a"][k] - param_of(f, a)) < TOL
        assert abs(path["b"][k] - param_of(f, b)) < TOL
        assert abs(path["E"][k] - f["loss"]) < TOL


# ---- the trajectory's plane ----------------------------------------------------------------


def flat(frame: Msg) -> np.ndarray:
    """Every weight and bias of a frame, in one vector (any fixed order will do for PCA)."""
    parts = [np.ravel(np.array(w, dtype=float)) for w in frame["weights"]]
    parts += [np.ravel(np.array(v, dtype=float)) for v in frame["biases"]]
    return np.concatenate(parts)


def test_trajectory_plane_explains_what_an_independent_pca_says(client: TestClient) -> None:
    sid = create(client, {"preset": "article", "optimizer": {"name": "momentum"}})
    step(client, sid, 60)
    base = f"/api/sessions/{sid}"
    ans = get_landscape(client, base, mode="trajectory", grid=7)
    steps = ans["path"]["steps"]
    assert steps == list(range(61)) and ans["origin_step"] == 0
    thetas = np.array([flat(seek(client, sid, n)) for n in steps])
    centred = thetas - thetas.mean(axis=0)
    s = np.linalg.svd(centred, compute_uv=False)
    share = s**2 / np.sum(s**2)
    assert abs(ans["variance"]["explained"] - (share[0] + share[1])) < 1e-9
    assert abs(ans["variance"]["pc1"] - share[0]) < 1e-9
    assert abs(ans["variance"]["pc2"] - share[1]) < 1e-9
    # The path's coordinates on the plane through the start, and its distance off the plane:
    # together they give each point's distance from the start (Pythagoras), whatever the axes.
    pa, pb = np.array(ans["path"]["a"]), np.array(ans["path"]["b"])
    off = np.array(ans["off_plane"])
    dist = np.linalg.norm(thetas - thetas[0], axis=1)
    assert np.allclose(np.sqrt(pa**2 + pb**2 + off**2), dist, rtol=0, atol=1e-9)
    assert pa[0] == pb[0] == 0.0 and pa[-1] > 0 and pb[-1] >= 0  # it starts at the origin
    # The plane's E at the grid's points: 7 x 7 finite numbers, the path's last point now.
    assert len(ans["E"]) == 7 and all(len(row) == 7 for row in ans["E"])
    assert ans["current"]["a"] == pa[-1] and ans["current"]["b"] == pb[-1]
    assert ans["path"]["E"][-1] == client.get(base).json()["loss"]


def unflat(theta: np.ndarray, like: Msg) -> Msg:
    """flat()'s inverse: a frame's weights and biases from one vector."""
    out: Msg = {"weights": [], "biases": []}
    pos = 0
    for key in ("weights", "biases"):
        for part in like[key]:
            shape = np.shape(part)
            n = int(np.prod(shape))
            out[key].append(theta[pos : pos + n].reshape(shape))
            pos += n
    return out


def test_trajectory_plane_E_is_E_on_the_plane_we_rebuild(client: TestClient) -> None:
    """Our own PCA gives the plane; E at its grid points, by our own forward pass, matches."""
    sid, config = created(client)
    step(client, sid, 30)
    base = f"/api/sessions/{sid}"
    ans = get_landscape(client, base, mode="trajectory", grid=5)
    data = client.get(f"{base}/data").json()
    x, y = np.array(data["x"], dtype=float), np.array(data["y"], dtype=float)  # full batch
    frames = [seek(client, sid, n) for n in ans["path"]["steps"]]
    thetas = np.array([flat(f) for f in frames])
    _, _, vt = np.linalg.svd(thetas - thetas.mean(axis=0), full_matrices=False)
    d1, d2 = vt[0], vt[1]
    # The documented sign: the run's last point lies on the positive side of both directions.
    travel = thetas[-1] - thetas[0]
    d1, d2 = (d if travel @ d >= 0 else -d for d in (d1, d2))
    for r, beta in enumerate(ans["b"]["values"]):
        for c, alpha in enumerate(ans["a"]["values"]):
            theta = thetas[0] + alpha * d1 + beta * d2
            expected = error_of(unflat(theta, frames[0]), config, x, y)
            assert abs(ans["E"][r][c] - expected) < 1e-10, (r, c)
    assert abs(error_of(frames[0], config, x, y) - frames[0]["loss"]) < TOL  # our pass is right


# ---- bounds --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ({"a": "w.0.0.0", "b": "b.0.0", "grid": 82}, "grid"),
        ({"a": "w.0.0.0", "b": "b.0.0", "grid": 2}, "grid"),
        ({"a": "w.0.0.0", "b": "b.0.0", "span": 0}, "span"),
        ({"a": "w.0.0.0", "b": "b.0.0", "span": 1e9}, "span"),
        ({"a": "x.0.0", "b": "b.0.0"}, "a: 'x.0.0' is not a parameter"),
        ({"a": "w.0.0.0"}, "b: required"),
        ({"a": "w.5.0.0", "b": "b.0.0"}, "a: w.5.0.0: layer must be between 0 and 1"),
        ({"a": "w.0.0.0", "b": "w.0.9.0"}, "b: w.0.9.0: i must be between 0 and 3"),
        ({"a": "b.1.0", "b": "b.1.0"}, "same parameter"),
        ({"mode": "trajectory"}, "at least 2 steps"),
        ({"mode": "sideways"}, "mode"),
    ],
)
def test_landscape_out_of_bounds_is_a_clear_422(client: TestClient, query: Msg, words: str) -> None:
    sid = create(client)
    step(client, sid, 1)
    r = client.get(f"/api/sessions/{sid}/landscape", params=query)
    assert r.status_code == 422, r.text
    assert words in r.text
    assert client.get(f"/api/sessions/{sid}").status_code == 200  # the session is still there


def test_work_over_the_servers_bound_is_a_422_naming_it() -> None:
    settings = Settings(max_work_per_request=1_000_000)
    with TestClient(create_app(settings)) as c:
        sid = create(c, {"preset": "spiral"})
        step(c, sid, 40)
        r = c.get(f"/api/sessions/{sid}/landscape", params={"a": "w.0.0.0", "b": "w.0.1.0"})
        assert r.status_code == 422 and "over this server's limit" in r.text
        r = c.get(f"/api/sessions/{sid}/animation.gif")
        assert r.status_code == 422 and "over this server's limit" in r.text


# ---- the animation -------------------------------------------------------------------------

MAX_GIF = 5 * 1024 * 1024


def gif_frames(raw: bytes) -> list[bytes]:
    """Every frame of a GIF, as RGB pixels."""
    image = Image.open(io.BytesIO(raw))
    assert image.format == "GIF"
    out = []
    for k in range(getattr(image, "n_frames", 1)):
        image.seek(k)
        out.append(image.convert("RGB").tobytes())
    return out


@pytest.mark.parametrize("landscape", ["none", "trajectory"])
def test_article_run_as_a_gif(client: TestClient, landscape: str) -> None:
    sid = create(client)
    step(client, sid, 300)
    r = client.get(
        f"/api/sessions/{sid}/animation.gif", params={"from": 0, "to": 300, "landscape": landscape}
    )
    assert r.status_code == 200, r.text[:200]
    assert r.headers["content-type"] == "image/gif"
    assert len(r.content) < MAX_GIF
    frames = gif_frames(r.content)
    assert len(frames) >= 30
    assert len(set(frames)) >= 30  # frames that differ: the run moves
    image = Image.open(io.BytesIO(r.content))
    assert image.info.get("loop") == 0  # loops for ever
    # The default: a 10-second loop (100 frames of 100 ms).
    assert len(frames) * image.info["duration"] == 10_000


def test_gif_of_a_5000_step_spiral_run_on_16_16_16_renders_within_the_bound(
    client: TestClient,
) -> None:
    sid = create(client, {"preset": "spiral", "layers": [2, 16, 16, 16, 1]})
    step(client, sid, 5000)
    r = client.get(f"/api/sessions/{sid}/animation.gif", params={"landscape": "trajectory"})
    assert r.status_code == 200, r.text[:300]
    assert len(r.content) < MAX_GIF
    frames = gif_frames(r.content)
    assert len(frames) == 100 and len(set(frames)) >= 30


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ({"frames": 301}, "frames: 301; from 2 to 300"),
        ({"frames": 1}, "frames: 1"),
        ({"from": 10, "to": 5}, "from and to"),
        ({"to": 99}, "from and to"),
        ({"from": -1}, "from and to"),
    ],
)
def test_gif_out_of_bounds_is_a_clear_422(client: TestClient, query: Msg, words: str) -> None:
    sid = create(client)
    step(client, sid, 20)
    r = client.get(f"/api/sessions/{sid}/animation.gif", params=query)
    assert r.status_code == 422, r.text
    assert words in r.text


def test_gif_with_too_many_edges_for_its_frames_is_a_422(client: TestClient) -> None:
    sid = create(client, {"preset": "spiral", "layers": [2, 64, 64, 64, 1]})
    step(client, sid, 3)
    r = client.get(f"/api/sessions/{sid}/animation.gif", params={"frames": 300, "to": 3})
    assert r.status_code == 200  # 4 steps: 4 frames, however many were asked for
    step(client, sid, 400)
    r = client.get(f"/api/sessions/{sid}/animation.gif", params={"frames": 300})
    assert r.status_code == 422 and "too many to draw" in r.text


def test_rooms_landscape_for_all_and_gif_for_the_presenter(client: TestClient) -> None:
    room = client.post("/api/rooms", json={"config": {"preset": "article"}}).json()
    code, token = room["code"], room["presenter_token"]
    base = f"/api/rooms/{code}"
    ans = get_landscape(client, base, a="w.0.0.0", b="w.0.1.0", grid=3)
    assert ans["step"] == 0 and ans["path"]["steps"] == [0]
    r = client.get(f"{base}/animation.gif", params={"to": 0})
    assert r.status_code == 403 and "presenter" in r.text
    r = client.get(f"{base}/animation.gif", headers={"X-Presenter-Token": "nope"})
    assert r.status_code == 403
    r = client.get(f"{base}/animation.gif", headers={"X-Presenter-Token": token})
    assert r.status_code == 422 and "from and to" in r.text  # at step 0 there is no film yet


def test_a_gif_over_its_byte_limit_keeps_every_other_frame_and_the_loops_length() -> None:
    from app.domain.landscape import check_film, film
    from app.domain.presets import resolve
    from app.domain.protocol import SessionConfigIn
    from app.domain.session import TrainingSession
    from app.render.animation import render_gif

    session = TrainingSession(resolve(SessionConfigIn(preset="article")))
    session.advance(100)
    steps, _ = check_film(session, 0, 100, 100, False)
    whole = render_gif(film(session.clone(), steps, False))
    limit = len(whole) // 3
    small = render_gif(film(session.clone(), steps, False), max_bytes=limit)
    assert len(small) <= limit
    with Image.open(io.BytesIO(whole)) as a, Image.open(io.BytesIO(small)) as b:
        n_a, n_b = getattr(a, "n_frames", 1), getattr(b, "n_frames", 1)
        assert n_a == 100 and n_b < n_a
        # Every other frame, each twice as long (or four times): the loop lasts as long.
        assert n_b * b.info["duration"] == pytest.approx(n_a * a.info["duration"], rel=0.05)
        b.seek(n_b - 1)
        a.seek(n_a - 1)
        assert b.convert("RGB").tobytes() == a.convert("RGB").tobytes()  # it still ends at the end


def test_a_diverged_run_has_a_landscape_with_nulls_and_still_a_gif(
    client: TestClient,
) -> None:
    diverging = {
        "layers": [4, 5, 1],
        "activation": "linear",
        "output_activation": "linear",
        "loss": "mse",
        "optimizer": {"name": "sgd", "learning_rate": 1e6},
    }
    sid = create(client, diverging)
    frame = step(client, sid, 30)
    assert frame["diverged"]
    base = f"/api/sessions/{sid}"
    ans = get_landscape(client, base, a="w.0.0.0", b="b.1.0", grid=3)  # strict JSON: no NaN
    assert None in ans["path"]["E"]
    r = client.get(f"{base}/landscape", params={"mode": "trajectory", "grid": 3})
    # Weights that overflowed have no plane (a clear 422); huge but finite ones have one.
    assert (r.status_code == 422 and "diverged" in r.text) or (
        r.status_code == 200 and strict_loads(r.text)["variance"]["explained"] <= 1.0 + 1e-12
    )
    r = client.get(f"{base}/animation.gif", params={"landscape": "trajectory"})
    # The run stops where it diverged: one frame per step up to there.
    assert r.status_code == 200 and len(gif_frames(r.content)) == frame["step"] + 1


def test_the_landscape_and_the_gif_are_charged_to_the_clients_work_budget() -> None:
    # Burst: one article landscape of 41 x 41 at step 10 (about 213,000 multiply-adds), not two.
    settings = Settings(client_work_burst=300_000, client_work_per_second=1)
    with TestClient(create_app(settings)) as c:
        sid = create(c)
        step(c, sid, 10)
        query = {"a": "w.0.0.0", "b": "b.1.0"}
        assert c.get(f"/api/sessions/{sid}/landscape", params=query).status_code == 200
        again = c.get(f"/api/sessions/{sid}/landscape", params=query)
        assert again.status_code == 429 and "too much computation" in again.text
        assert int(again.headers["Retry-After"]) > 0
        gif = c.get(f"/api/sessions/{sid}/animation.gif")
        assert gif.status_code == 429

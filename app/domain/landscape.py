"""The error landscape of a run: E over two parameters (or the trajectory's plane) and its path.

The surface is computed at the run's current weights on the next step's batch, like the slope
view; the path is the run's own parameters and E at up to PATH_POINTS steps from the first
kept step to now, recomputed exactly by replaying the timeline on a copy (walk()).
No web imports here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import numpy as np

from app.engine import landscape as surface
from app.engine.trace import param_index
from app.settings import Settings

from .errors import InvalidError
from .frames import plain
from .limits import step_work

if TYPE_CHECKING:
    from .session import TrainingSession

Array = np.ndarray

PATH_POINTS = 500  # steps of the run the path shows at most (evenly spread, first and now included)
MAX_GRID = 81  # points per axis at most: 81 x 81 = 6,561 forward passes on the batch
MIN_GRID = 3
DEFAULT_GRID = 41
MAX_SPAN = 1000.0
MARGIN = 1.2  # the trajectory plane's grid reaches this far beyond the path's extent
PARAM = re.compile(r"^(w)\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$|^(b)\.(\d{1,3})\.(\d{1,3})$")


@dataclass(frozen=True)
class Param:
    """A weight W[layer][i, j] or a bias b[layer][j], as `w.L.I.J` / `b.L.J` names it."""

    kind: str
    layer: int
    i: int | None
    j: int

    @property
    def name(self) -> str:
        """The query's own spelling."""
        if self.kind == "weight":
            return f"w.{self.layer}.{self.i}.{self.j}"
        return f"b.{self.layer}.{self.j}"


def parse_param(field: str, text: str) -> Param:
    """`w.L.I.J` or `b.L.J`; InvalidError naming the field otherwise."""
    m = PARAM.match(text.strip())
    if m is None:
        raise InvalidError(
            f"{field}: {text!r} is not a parameter; write w.LAYER.I.J for the weight "
            "W[LAYER][I, J] or b.LAYER.J for the bias of neuron J of layer LAYER+1 "
            "(e.g. w.0.1.2, b.1.0)"
        )
    if m.group(1):
        return Param("weight", int(m.group(2)), int(m.group(3)), int(m.group(4)))
    return Param("bias", int(m.group(6)), None, int(m.group(7)))


def check_grid(grid: int, span: float | None) -> None:
    """The grid's size and span within bounds; InvalidError otherwise."""
    if not MIN_GRID <= grid <= MAX_GRID:
        raise InvalidError(f"grid: {grid} points per axis; from {MIN_GRID} to {MAX_GRID}")
    if span is not None and not (0 < span <= MAX_SPAN and np.isfinite(span)):
        raise InvalidError(f"span: {span} must be above 0 and at most {MAX_SPAN:g}")


def path_steps(first: int, now: int, most: int = PATH_POINTS) -> list[int]:
    """Up to `most` steps from first to now, evenly spread, both ends included, ascending."""
    if now - first + 1 <= most:
        return list(range(first, now + 1))
    spread = np.rint(np.linspace(first, now, most)).astype(int)
    return sorted({int(s) for s in spread})


def replay_cost(first: int, now: int) -> int:
    """Steps a walk over first..now replays at most (the checkpoints make it less, never more)."""
    return max(now - first, 0)


def landscape_work(session: TrainingSession, grid: int, steps: int, replayed: int) -> int:
    """Multiply-adds of a landscape, roughly: the grid's forward passes, the replay, the losses.

    Each counted as a step of this network (a forward pass on every sample is a step's forward
    half; a replayed step is a forward and a backward pass on the batch): an upper bound.
    """
    return (grid * grid + replayed + steps) * step_work(session)


def check_work(session: TrainingSession, work: int, settings: Settings, what: str) -> None:
    """Refuse a request whose work is over the server's per-request bound, saying how to fit."""
    if work > settings.max_work_per_request:
        raise InvalidError(
            f"{what}: about {work:,} multiply-adds for this network and run, over this server's "
            f"limit of {settings.max_work_per_request:,} per request; use a smaller grid, fewer "
            "frames or a shorter stretch of the run"
        )


def walk(session: TrainingSession, steps: list[int]) -> Iterator[tuple[int, Array, float]]:
    """(step, theta, E) at each of `steps` (ascending): TrainingSession.visit, on a clone()."""
    return session.visit(steps)


def landscape(
    session: TrainingSession,
    mode: str,
    a: Param | None,
    b: Param | None,
    grid: int,
    span: float | None,
) -> dict[str, Any]:
    """The landscape answer of docs/api.md, Version 3. Run it on a clone(): the walk moves it."""
    check_grid(grid, span)
    now, first = session.step_count, session.timeline.checkpoints[0].step
    # The surface first, at the current weights and the next step's batch (the walk moves them).
    net, grads = session.net, session.grads
    X, Y = session._cache.A[0].copy(), session._Y.copy()
    theta_now, g_now, E_now = net.theta.copy(), grads.flat.copy(), float(grads.error)
    steps = path_steps(first, now)
    with np.errstate(all="ignore"):
        if mode == "pair":
            if a is None or b is None:
                raise InvalidError("a and b: two parameters are needed, e.g. a=w.0.0.0&b=b.0.0")
            ia, ib = _index(session, "a", a), _index(session, "b", b)
            if ia == ib:
                raise InvalidError(f"a and b: {a.name} and {b.name} are the same parameter")
            walked = list(walk(session, steps))
            thetas = np.array([t for _, t, _ in walked])
            pa, pb = thetas[:, ia], thetas[:, ib]
            va, vb = float(theta_now[ia]), float(theta_now[ib])
            net.theta[...] = theta_now  # where the walk ended (now) already; said, not assumed
            if span is None:
                # The whole path fits, and at least +- 1: the surface's shape, not just a patch.
                reach = np.nanmax(np.abs(np.concatenate([pa - va, pb - vb])))
                span = max(1.0, MARGIN * float(reach)) if np.isfinite(reach) else 1.0
            a_values = surface.axis(va, span, grid)
            b_values = surface.axis(vb, span, grid)
            E = surface.pair_error(net, X, Y, ia, ib, a_values, b_values)
            axes = [
                {"name": a.name, "values": a_values, "value": va},
                {"name": b.name, "values": b_values, "value": vb},
            ]
            current = {"a": va, "b": vb, "E": E_now, "gradient": [g_now[ia], g_now[ib]]}
            extra: dict[str, Any] = {}
        elif mode == "trajectory":
            if len(steps) < 3:
                raise InvalidError(
                    "mode=trajectory: the run needs at least 2 steps for a plane; step it first"
                )
            walked = list(walk(session, steps))
            thetas = np.array([t for _, t, _ in walked])
            if not np.isfinite(thetas).all():
                raise InvalidError(
                    "mode=trajectory: the run diverged on the way (its weights stopped being "
                    "finite numbers), so its trajectory has no plane; reset it"
                )
            d1, d2, shares = surface.principal_plane(thetas)
            if not np.isfinite(shares).all() or float(shares.sum()) == 0.0:
                raise InvalidError("mode=trajectory: the weights never moved, so there is no plane")
            origin = thetas[0]
            pa, pb, off = surface.project(thetas, origin, d1, d2)
            # The path ends now (its last step is this one): the current point is its last.
            ca, cb = pa[-1:], pb[-1:]
            centre_a = 0.5 * float(pa.min() + pa.max())
            centre_b = 0.5 * float(pb.min() + pb.max())
            if span is None:
                # One scale on both axes: the map is faithful (contours cross the gradient
                # at right angles), however thin the path is along the second direction.
                extent = max(float(np.ptp(pa)), float(np.ptp(pb)))
                span = MARGIN * 0.5 * extent if extent > 0 else 1.0
            a_values = surface.axis(centre_a, span, grid)
            b_values = surface.axis(centre_b, span, grid)
            E = surface.plane_error(net, X, Y, origin, d1, d2, a_values, b_values)
            axes = [
                {"name": "PC1", "values": a_values, "value": float(ca[0])},
                {"name": "PC2", "values": b_values, "value": float(cb[0])},
            ]
            current = {
                "a": float(ca[0]),
                "b": float(cb[0]),
                "E": E_now,
                "gradient": [float(g_now @ d1), float(g_now @ d2)],
            }
            extra = {
                "origin_step": steps[0],
                "variance": {
                    "explained": float(shares[:2].sum()),
                    "pc1": float(shares[0]),
                    "pc2": float(shares[1]) if shares.size > 1 else 0.0,
                },
                "off_plane": off,
            }
        else:
            raise InvalidError("mode: 'pair' (two parameters) or 'trajectory' (the whole run)")
    answer: dict[str, Any] = plain(
        {
            "mode": mode,
            "step": now,
            "batch": "full" if session.config.batch_size is None else session.config.batch_size,
            "span": span,
            "a": axes[0],
            "b": axes[1],
            "E": E,
            "current": current,
            "path": {"steps": steps, "a": pa, "b": pb, "E": [e for _, _, e in walked]},
            **extra,
        }
    )
    return answer


def _index(session: TrainingSession, field: str, p: Param) -> int:
    """The flat index of a parameter; InvalidError naming the field if the network has none."""
    try:
        session.check_parameter(p.kind, p.layer, p.i, p.j)
    except InvalidError as exc:
        raise InvalidError(f"{field}: {p.name}: {exc}") from exc
    return param_index(session.net, p.kind, p.layer, p.i, p.j)


# ---- the run as a film (GET .../animation.gif draws it: app/render/animation.py) -----------

MAX_FRAMES = 300
DEFAULT_FRAMES = 100  # at the default 10-second loop, 100 ms a frame
FILM_GRID = 41  # the trajectory plane's grid in a film: a backdrop, not a measurement
MAX_EDGE_DRAWS = 200_000  # frames x edges: what drawing the network costs, bounded
# Drawing and encoding one frame with Pillow takes a few milliseconds of CPU: charged to the
# client's budget as this many multiply-adds (the budget's unit), on top of the computation.
FRAME_DRAW_WORK = 5_000_000


@dataclass
class Film:
    """What an animation shows, computed exactly from the timeline: one entry per frame."""

    steps: list[int]
    thetas: Array  # rows: the parameters at each frame's step
    losses: list[float]  # E at each frame's step (the frame's `loss`)
    curve_steps: list[int]  # the run's loss curve from the first frame to the last
    curve_losses: list[float]
    sizes: list[int]
    bias_mode: str
    views: Callable[[Array], tuple[list[Array], list[Array], list[Array | None]]]  # W, b of theta
    plane: dict[str, Any] | None  # the trajectory's plane: axes, E grid, path coordinates, share


def film_steps(start: int, end: int, frames: int) -> list[int]:
    """`frames` steps from start to end (fewer when the stretch is shorter), evenly spread."""
    return path_steps(start, end, frames)


def check_film(
    session: TrainingSession,
    start: int,
    end: int,
    frames: int,
    with_plane: bool,
    now: int | None = None,
) -> tuple[list[int], int]:
    """The film's steps and its work, or InvalidError saying which bound a request is over.

    `now`: the run's step where this copy of the session may lag (a cluster follower's).
    """
    first = session.timeline.checkpoints[0].step
    now = session.step_count if now is None else now
    if not first <= start < end <= now:
        raise InvalidError(
            f"from and to: {start}..{end} must be two steps of this run with from < to, "
            f"between {first} and the current step, {now}"
        )
    if not 2 <= frames <= MAX_FRAMES:
        raise InvalidError(f"frames: {frames}; from 2 to {MAX_FRAMES}")
    steps = film_steps(start, end, frames)
    edges = sum(a * b for a, b in pairwise(session.config.layers))
    if len(steps) * edges > MAX_EDGE_DRAWS:
        most = max(2, MAX_EDGE_DRAWS // max(edges, 1))
        raise InvalidError(
            f"frames: {len(steps)} frames of {edges} edges are too many to draw; "
            f"at most {most} frames for this network"
        )
    grid = FILM_GRID if with_plane else 0
    work = landscape_work(session, grid, len(steps), replay_cost(first, end))
    return steps, work


def film(session: TrainingSession, steps: list[int], with_plane: bool) -> Film:
    """The film of `steps` (check_film's). Run it on a clone(): the walk moves it."""
    curve_steps, curve_losses, _ = session.history.upto(steps[-1])
    keep = [k for k, s in enumerate(curve_steps) if s >= steps[0]]
    X, Y = session._cache.A[0].copy(), session._Y.copy()
    walked = list(walk(session, steps))
    thetas = np.array([t for _, t, _ in walked])
    plane = None
    if with_plane and len(steps) >= 3 and np.isfinite(thetas).all():
        d1, d2, shares = surface.principal_plane(thetas)
        pa, pb, _ = surface.project(thetas, thetas[0], d1, d2)
        extent = max(float(np.ptp(pa)), float(np.ptp(pb)))
        half = MARGIN * 0.5 * extent if extent > 0 else 1.0
        a_values = surface.axis(0.5 * float(pa.min() + pa.max()), half, FILM_GRID)
        b_values = surface.axis(0.5 * float(pb.min() + pb.max()), half, FILM_GRID)
        with np.errstate(all="ignore"):
            E = surface.plane_error(session.net, X, Y, thetas[0], d1, d2, a_values, b_values)
        plane = {
            "a_values": a_values,
            "b_values": b_values,
            "E": E,
            "a": pa,
            "b": pb,
            "explained": float(shares[:2].sum()),
        }
    return Film(
        steps=steps,
        thetas=thetas,
        losses=[e for _, _, e in walked],
        curve_steps=[curve_steps[k] for k in keep],
        curve_losses=[curve_losses[k] for k in keep],
        sizes=list(session.config.layers),
        bias_mode=session.net.bias_mode,
        views=session.net.views,
        plane=plane,
    )

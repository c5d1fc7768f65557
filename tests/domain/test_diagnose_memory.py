"""Diagnoses that remember, fixes that are proven (issue 20, item 2).

The memory: a run broken by a too-large step keeps naming the step after its output saturates.
The proof: every offered fix was tried on a copy, and re-running it here on a fresh session
reaches the same E; no offered fix is a setting already in force.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.domain.fixes import MARGIN, TRIAL_STEPS
from app.domain.presets import DATASET_SETTINGS, PRESETS, resolve
from app.domain.protocol import SessionConfigIn, SessionPatch
from app.domain.session import TrainingSession
from app.engine.diagnose import step_too_large
from app.live import ops
from app.live.state import decode_state, encode_state
from app.main import create_app
from app.settings import Settings

ALPHA_100 = {"preset": "article", "optimizer": {"learning_rate": 100}}


def dollars_csv(n: int = 30, seed: int = 0) -> str:
    """Houses in raw units: square feet and prices of 100,000 to 600,000 dollars."""
    rng = np.random.default_rng(seed)
    area = rng.uniform(800, 3500, n)
    price = 100_000 + 150 * area + rng.normal(0, 20_000, n)
    return "sqft,price\n" + "".join(f"{a:.0f},{p:.0f}\n" for a, p in zip(area, price, strict=True))


DOLLARS: dict[str, Any] = {
    "preset": "article",
    "layers": [1, 5, 1],
    "dataset": {"csv": dollars_csv(), "standardize": False, "scale_targets": False},
}
# Every preset, and the three break-it cases: alpha 100, deep sigmoid left stuck, raw dollars.
CASES: dict[str, tuple[dict[str, Any], int]] = {
    **{f"{name}@{n}": ({"preset": name}, n) for name in PRESETS for n in (0, 100)},
    "alpha100@1": (ALPHA_100, 1),
    "alpha100@100": (ALPHA_100, 100),
    "deep_sigmoid_stuck@1000": ({"preset": "deep_sigmoid"}, 1000),
    "dollars@0": (DOLLARS, 0),
    "dollars@10": (DOLLARS, 10),
}


def session(cfg: dict[str, Any]) -> TrainingSession:
    """A training session from a preset plus overrides."""
    return TrainingSession(resolve(SessionConfigIn.model_validate(cfg)))


def at(cfg: dict[str, Any], n: int) -> TrainingSession:
    """A session stepped to n, diagnosed at each step a page would show (frames)."""
    s = session(cfg)
    for _ in range(n):
        s.advance(1) if s.step_count < 10 else s.advance(n - s.step_count)
        s.trouble()
    return s


def kinds(s: TrainingSession) -> list[str]:
    """The kinds the session finds now."""
    return [t["kind"] for t in s.trouble() or []]


def in_force(fix: dict[str, Any], config: dict[str, Any]) -> list[str]:
    """The parts of a fix that the config (as JSON) already has: written apart from fixes.py."""
    same = [
        k for k in ("init", "loss", "activation", "output_activation") if config[k] == fix.get(k)
    ]
    for k, v in fix.get("dataset", {}).items():
        if config["dataset"].get(k) == v:
            same.append(f"dataset.{k}")
    for k, v in fix.get("optimizer", {}).items():
        if config["optimizer"][k] == v:
            same.append(f"optimizer.{k}")
    return same


def rerun(cfg: dict[str, Any], s: TrainingSession, fix: dict[str, Any], steps: int) -> float:
    """The fix applied to a fresh run, as a learner would: E after `steps` more steps."""
    opt = fix.get("optimizer")
    rest = {k: v for k, v in fix.items() if k not in ("optimizer", "rewind_to")}
    if rest:
        # A new run of the changed config from step 0 (the data set's flags merged in).
        new = {**cfg, **{k: v for k, v in rest.items() if k != "dataset"}}
        if "dataset" in rest:
            new["dataset"] = {**cfg["dataset"], **rest["dataset"]}
        if opt:
            new["optimizer"] = {**cfg.get("optimizer", {}), **opt}
        fresh = session(new)
    else:
        # The same run, replayed to the fix's step on a fresh session, then the new rate.
        fresh = session(cfg)
        fresh.advance(int(fix.get("rewind_to", s.step_count)))
        fresh.patch(SessionPatch.model_validate({"optimizer": opt}))
    fresh.advance(steps)
    return fresh.loss


def assert_reason(tried: dict[str, Any]) -> None:
    """A rejected trial's `reason` holds for its own numbers."""
    before, after, now = tried["E_before"], tried["E_after"], tried["E_now"]
    assert tried["worked"] is False
    if tried["reason"] == "fell_too_little":
        assert after > (1 - MARGIN) * before
    elif tried["reason"] == "worse_than_now":
        assert after <= (1 - MARGIN) * before and after > (1 - MARGIN) * now
        assert tried["same_units"]
    else:
        assert tried["reason"] == "diverged"


# ---- the memory ----------------------------------------------------------------------------


def test_alpha_100_keeps_naming_the_step_after_the_output_saturates() -> None:
    """Step 0: the next step is larger than the weights; 1, 10, 100: step_too_large, jump at 1."""
    s = session(ALPHA_100)
    e0 = s.loss
    assert kinds(s) == ["exploding_gradients"]
    s.advance(1)
    e1 = s.loss
    for n in (1, 10, 100):
        s.advance(n - s.step_count)
        found = s.trouble() or []
        assert found[0]["kind"] == "step_too_large", found
        t = found[0]
        assert t["jump_step"] == 1 and t["seen"] == "step_size"
        assert t["E_before"] == e0 and t["E_after"] == e1
        assert t["learning_rate"] == 100 and t["relative_step"] > 1
        assert t["stuck"] is True and t["E_now"] == s.loss
        # Its consequences name it as their cause.
        rest = {u["kind"]: u for u in found[1:]}
        assert rest["output_saturated"]["consequence_of"] == "step_too_large"


def test_the_jump_step_is_found_after_a_mid_run_rate_change() -> None:
    """alpha 1 -> 100 at step 20 (PATCH): the jump is the first step E rose by half, after 20."""
    s = session({"preset": "article"})
    s.advance(20)
    s.patch(SessionPatch.model_validate({"optimizer": {"learning_rate": 100}}))
    s.advance(30)
    E = list(s.history.train)  # the dense history starts at step 0 here
    jump = next(k for k in range(21, 51) if E[k] > 1.5 * E[k - 1])
    t = (s.trouble() or [{}])[0]
    assert t.get("kind") == "step_too_large" and t["jump_step"] == jump
    assert (t["E_before"], t["E_after"]) == (E[jump - 1], E[jump])
    assert t["learning_rate"] == 100 and t["seen"] == "loss_rise"
    assert s.config_at(20).optimizer.learning_rate == 100
    assert s.config_at(19).optimizer.learning_rate == 1
    # The offered fix goes back to the step before the jump, where alpha 100 was in force.
    fix = next(u["fix"] for u in s.prove_fixes() if u["fix"])
    assert fix["rewind_to"] == jump - 1 and fix["optimizer"]["learning_rate"] < 100


def test_a_step_that_broke_the_run_is_forgotten_on_a_new_branch() -> None:
    """Seek back to step 0 and step on with a small rate: the old sighting no longer counts."""
    s = session(ALPHA_100)
    s.advance(5)
    assert "step_too_large" in kinds(s)
    s.seek(0)
    s.patch(SessionPatch.model_validate({"optimizer": {"learning_rate": 1}}))
    assert s.sightings == {}
    s.advance(50)
    assert s.trouble() is None


def test_step_too_large_from_the_loss_alone() -> None:
    """No sighting: a loss that rises by half in one step, then stays up, is remembered."""
    up = np.array([1.0, 0.9, 0.8, 2.0] + [2.0] * 25)  # steps 10 .. 38
    t = step_too_large(up, 10, 38, {}, stuck=False)
    assert t is not None and t["jump_step"] == 13 and t["seen"] == "loss_rise"
    assert (t["E_before"], t["E_after"], t["E_now"]) == (0.8, 2.0, 2.0)
    # Up for only a few steps and not stuck: it may come back by itself; stuck: said at once.
    assert step_too_large(up[:6], 10, 15, {}, stuck=False) is None
    assert step_too_large(up[:6], 10, 15, {}, stuck=True) is not None
    # Recovered below the loss before the jump, and not stuck: forgotten.
    recovered = np.array([1.0, 0.9, 0.8, 2.0] + [0.5] * 25)
    assert step_too_large(recovered, 10, 38, {}, stuck=False) is None
    # A rise by half that undoes less than a tenth of the first loss is a ripple.
    ripple = np.array([1.0, 0.1, 0.02, 0.05] + [0.05] * 25)
    assert step_too_large(ripple, 10, 38, {}, stuck=False) is None
    # A sighting at step 11 means the update to step 12 was too large.
    flat = np.array([1.0, 0.9, 0.5, 0.5, 0.5, 0.5])
    t = step_too_large(flat, 10, 15, {11: (3.0, 40.0, "learning_rate")}, stuck=True)
    assert t is not None and t["jump_step"] == 12 and t["learning_rate"] == 3.0
    # Not yet taken (the sighting is at the current step): nothing to remember.
    assert step_too_large(flat, 10, 15, {15: (3.0, 40.0, "learning_rate")}, stuck=True) is None


HEALTHY: dict[str, dict[str, Any]] = {
    **{name: {"preset": name} for name in PRESETS if name != "deep_sigmoid"},
    **{
        f"settings-{name}": {"preset": "article", **settings, "dataset": {"name": name}}
        for name, settings in DATASET_SETTINGS.items()
    },
}


@pytest.mark.parametrize("name", sorted(HEALTHY))
def test_healthy_runs_remember_no_broken_step(name: str) -> None:
    """Presets and each data set's own settings, looked at every 10 steps up to 1,500: no
    step_too_large (an Adam ripple or a bounce the run recovers from is not one)."""
    s = session(HEALTHY[name])
    while s.step_count < 1500:
        s.advance(1 if s.step_count < 10 else 10)
        assert "step_too_large" not in kinds(s), (name, s.step_count, s.trouble())


def test_the_cause_of_a_large_step_is_named_in_the_data_units() -> None:
    """Dollars: target units; the article's rate on XOR: the summed error; alpha 100: alpha."""
    cause = {
        "dollars": (DOLLARS, "target_units"),
        "xor": ({"preset": "article", "layers": [2, 5, 1], "dataset": {"name": "xor"}},
                "summed_error"),
        "alpha100": (ALPHA_100, "learning_rate"),
    }  # fmt: skip
    for name, (cfg, expected) in cause.items():
        s = session(cfg)
        t = next(t for t in s.trouble() or [] if t["kind"] == "exploding_gradients")
        assert t["cause"] == expected, name
        Y = s.dataset.Y
        assert t["y_min"] == Y.min() and t["y_max"] == Y.max()
        O = s.net.forward(s.dataset.X).A[-1]
        assert t["mean_abs_error"] == pytest.approx(float(np.abs(O - Y).mean()), rel=1e-12)


# ---- the proof -----------------------------------------------------------------------------


def test_alpha_100_first_fix_rewinds_and_learns() -> None:
    """The first offered fix rewinds to the step before the jump; 500 steps: E under 0.01."""
    for n in (1, 10, 100):
        s = at(ALPHA_100, n)
        found = s.prove_fixes()
        offered = [t for t in found if t["fix"]]
        t = offered[0]
        assert t["kind"] == "step_too_large"
        fix, tried = t["fix"], t["tried"]
        assert fix["rewind_to"] == 0 and tried["from_step"] == 0 and not tried["restart"]
        assert 0 < fix["optimizer"]["learning_rate"] < 100
        s.seek(fix["rewind_to"])
        s.patch(SessionPatch.model_validate({"optimizer": fix["optimizer"]}))
        s.advance(500)
        assert s.loss < 0.01, (n, s.loss)
        # The consequences' own fixes (Xavier with alpha 100) were tried and did not help.
        sat = next(u for u in found if u["kind"] == "output_saturated")
        assert sat["fix"] is None and sat["rejected"]
        for r in sat["rejected"]:
            assert_reason(r["tried"])


@pytest.mark.parametrize("case", sorted(CASES))
def test_offered_fixes_are_new_and_proven_on_a_fresh_run(case: str) -> None:
    """No offered fix is in force; each carries `tried`, and a fresh run reaches its E_after."""
    cfg, n = CASES[case]
    s = at(cfg, n)
    config = s.config.model_dump(mode="json")
    for t in s.prove_fixes():
        fix, tried = t["fix"], t["tried"]
        if fix is None:
            assert tried is None
            continue
        assert not in_force(fix, config), (case, fix)
        assert {"from_step", "steps", "E_before", "E_after"} <= set(tried)
        assert tried["steps"] == TRIAL_STEPS and tried["worked"] is True
        assert tried["E_after"] <= (1 - MARGIN) * tried["E_before"]
        again = rerun(cfg, s, fix, tried["steps"])
        assert again == pytest.approx(tried["E_after"], rel=1e-12, abs=0), (case, fix)
        for r in t["rejected"]:
            assert not in_force(r["fix"], config), (case, r)
            assert_reason(r["tried"])


def test_the_break_it_cases_are_each_offered_a_fix() -> None:
    """alpha 100, the deep sigmoid left stuck, raw dollars: each has an offered fix."""
    for cfg, n in (CASES["alpha100@100"], CASES["deep_sigmoid_stuck@1000"], CASES["dollars@10"]):
        s = at(cfg, n)
        assert any(t["fix"] for t in s.prove_fixes()), cfg


def test_deep_sigmoid_is_never_offered_the_xavier_it_has() -> None:
    """Stuck at step 1000: the offer is ReLU + He, tried from step 0 of a new run."""
    s = at({"preset": "deep_sigmoid"}, 1000)
    t = next(t for t in s.prove_fixes() if t["kind"] == "vanishing_gradients")
    assert t["fix"] == {"activation": "relu", "init": "he"}
    assert t["tried"]["restart"] is True and t["tried"]["from_step"] == 0


def test_the_dollars_csv_learns_after_one_click() -> None:
    """One fix (scale inputs and targets) on the raw dollars: E falls by far within the trial."""
    s = at(DOLLARS, 10)
    fix = next(t["fix"] for t in s.prove_fixes() if t["fix"])
    assert fix == {"dataset": {"standardize": True, "scale_targets": True}}
    fresh = session({**DOLLARS, "dataset": {**DOLLARS["dataset"], **fix["dataset"]}})
    e0 = fresh.loss
    fresh.advance(TRIAL_STEPS)
    assert fresh.loss < e0 / 10
    assert fresh.trouble() is None


# ---- the route -----------------------------------------------------------------------------


@pytest.fixture
def client() -> Iterator[TestClient]:
    """A client on a fresh app with default limits."""
    with TestClient(create_app(Settings())) as c:
        yield c


def test_fixes_route_for_sessions_and_rooms(client: TestClient) -> None:
    """GET .../fixes answers the findings with tried fixes at the run's step, for both."""
    r = client.post("/api/sessions", json=ALPHA_100)
    sid = r.json()["id"]
    assert all("fix" not in t for t in r.json()["frame"]["trouble"])
    client.post(f"/api/sessions/{sid}/step", json={"count": 10})
    body = client.get(f"/api/sessions/{sid}/fixes").json()
    assert body["step"] == 10 and body["trouble"][0]["kind"] == "step_too_large"
    assert body["trouble"][0]["tried"]["from_step"] == 0
    assert client.get(f"/api/sessions/{sid}/fixes").json() == body  # cached: the same answer
    room = client.post("/api/rooms", json={"config": ALPHA_100}).json()
    body = client.get(f"/api/rooms/{room['code']}/fixes").json()
    assert body["step"] == 0 and body["trouble"][0]["kind"] == "exploding_gradients"
    assert body["trouble"][0]["fix"]["optimizer"]["learning_rate"] < 100
    assert client.get("/api/sessions/nope/fixes").status_code == 404


def test_fixes_are_charged_to_the_work_budget() -> None:
    """Trials spend the client's budget: once it is spent, the route says 429; all stays up."""
    settings = Settings(client_work_burst=1e5, client_work_per_second=1.0)
    with TestClient(create_app(settings)) as c:
        first = c.post("/api/sessions", json={"preset": "deep_sigmoid"}).json()["id"]
        assert c.get(f"/api/sessions/{first}/fixes").status_code == 200  # empties the bucket
        other = c.post("/api/sessions", json={"preset": "deep_sigmoid"}).json()["id"]
        r = c.get(f"/api/sessions/{other}/fixes")
        assert r.status_code == 429, r.text
        assert "too much computation" in r.json()["detail"]
        # The run is still there (its config costs no computation; its frame is charged too).
        assert c.get(f"/api/sessions/{other}/config").status_code == 200
        # The first run's answer is cached: asking again costs nothing, and is the same.
        assert c.get(f"/api/sessions/{first}/fixes").status_code == 200


def test_the_memory_survives_a_snapshot_and_restart() -> None:
    """A restored run (app/live/state.py's codec) still names the step that broke it."""
    s = at(ALPHA_100, 20)
    restored = TrainingSession.restore(decode_state(encode_state(s.state())))
    assert restored.sightings == s.sightings
    t = (restored.trouble() or [{}])[0]
    assert t.get("kind") == "step_too_large" and t["jump_step"] == 1


def test_requests_at_once_share_one_set_of_trials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two questions about the same state while the trials run: one set of trials, one answer."""
    s = at(ALPHA_100, 5)
    calls: list[int] = []
    real = TrainingSession.prove_fixes

    def counted(self: TrainingSession) -> list[dict[str, Any]]:
        calls.append(self.step_count)
        return real(self)

    monkeypatch.setattr(TrainingSession, "prove_fixes", counted)

    async def both() -> list[dict[str, Any]]:
        return list(await asyncio.gather(ops.fixes(s), ops.fixes(s)))

    a, b = asyncio.run(both())
    assert a == b and calls == [5]
    assert s.cached_fixes() == a["trouble"] and not ops.trying(s)


def test_a_step_before_the_dense_history_reads_nothing() -> None:
    """Asked about a step the dense losses do not reach (a seek far back): no finding, no error."""
    losses = np.array([1.0, 0.9, 0.5, 0.5])
    assert step_too_large(losses, 100, 50, {60: (3.0, 40.0, "learning_rate")}, stuck=True) is None
    assert step_too_large(losses, 100, 200, {}, stuck=True) is None

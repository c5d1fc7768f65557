"""Questions tied to the live network (issue 24, item 3) over real WebSockets (TestClient).

The right answers are recomputed here from the room's trace (GET .../trace before the reveal)
and its frames, independently of app/domain/questions.py.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession
from test_rooms import Msg, become_presenter, is_type, new_room, until

from app.domain.presets import PRESETS
from app.main import create_app
from app.settings import Settings

SETTINGS = Settings(max_fps=60, max_steps_per_request=500, max_rooms=8, max_participants=20)


def way(before: float, after: float) -> str:
    """up / down / stays, as docs/api.md, Version 3 defines it (under 1e-10 relative: stays)."""
    d = after - before
    if d == 0 or abs(d) <= 1e-10 * max(abs(before), abs(after)):
        return "stays"
    return "up" if d > 0 else "down"


def ask(ws: WebSocketTestSession, **question: Any) -> Msg:
    """The presenter asks; the question as it came back."""
    ws.send_json({"type": "ask", "question": question})
    return until(ws, is_type("question"))[-1]


def reveal(ws: WebSocketTestSession, qid: int) -> tuple[Msg, Msg]:
    """The presenter reveals; (the new frame, the revealed message)."""
    ws.send_json({"type": "reveal", "id": qid})
    seen = until(ws, is_type("revealed"))
    frames = [m for m in seen if m["type"] == "frame"]
    return frames[-1], seen[-1]


def tally_with(ws: WebSocketTestSession, qid: int, answered: int) -> Msg:
    """The first tally of question `qid` counting `answered` answers."""
    return until(
        ws, lambda m: m["type"] == "tally" and m["id"] == qid and m["answered"] == answered
    )[-1]


def error(ws: WebSocketTestSession) -> str:
    """The next error message's text."""
    return str(until(ws, is_type("error"))[-1]["message"])


def current_frame(ws: WebSocketTestSession) -> Msg:
    """The frame a fresh connection gets first."""
    return until(ws, is_type("frame"))[-1]


@pytest.mark.parametrize("preset", list(PRESETS))
def test_correct_is_the_next_steps_real_update(client: TestClient, preset: str) -> None:
    """direction, largest, loss and estimate on every layer's first edge, answered by two
    participants: `correct` equals what the trace says the next step does."""
    code, token, _ = new_room(client, {"preset": preset})
    layers = client.get(f"/api/rooms/{code}/config").json()["layers"]
    with (
        client.websocket_connect(f"/ws/rooms/{code}") as boss,
        client.websocket_connect(f"/ws/rooms/{code}") as a,
        client.websocket_connect(f"/ws/rooms/{code}") as b,
    ):
        become_presenter(boss, token)
        E = current_frame(a)["loss"]
        for layer in range(len(layers) - 1):
            last = (layers[layer] - 1, layers[layer + 1] - 1)
            for kind, target in (
                ("direction", {"layer": layer, "i": 0, "j": 0}),
                ("direction", {"layer": layer, "i": last[0], "j": last[1]}),
                ("largest", {"layer": layer}),
                ("loss", {}),
                ("estimate", {"layer": layer, "i": last[0], "j": 0}),
            ):
                q = ask(boss, kind=kind, **target)
                for ws in (a, b):
                    assert until(ws, is_type("question"))[-1]["id"] == q["id"]
                trace = client.get(f"/api/rooms/{code}/trace").json()
                assert trace["step"] == q["step"]
                up = next(u for u in trace["update"] if u["layer"] == layer + 1)
                choices = q["choices"]
                if kind == "direction":
                    i, j = target["i"], target["j"]
                    expected: Any = way(up["W_old"][i][j], up["W_new"][i][j])
                elif kind == "largest":
                    flat = [
                        abs(w1 - w0)
                        for r0, r1 in zip(up["W_old"], up["W_new"], strict=True)
                        for w0, w1 in zip(r0, r1, strict=True)
                    ]
                    assert len(choices) == len(flat) == layers[layer] * layers[layer + 1]
                    expected = choices[flat.index(max(flat))]
                elif kind == "estimate":
                    back = next(x for x in trace["backward"] if x["layer"] == layer + 1)
                    expected = back["dW"][target["i"]][target["j"]]
                if kind == "estimate":
                    a.send_json({"type": "answer", "id": q["id"], "choice": expected * 1.05})
                    b.send_json({"type": "answer", "id": q["id"], "choice": -expected})
                else:
                    a.send_json({"type": "answer", "id": q["id"], "choice": choices[0]})
                    b.send_json({"type": "answer", "id": q["id"], "choice": choices[-1]})
                tally_with(boss, q["id"], 2)
                frame, shown = reveal(boss, q["id"])
                assert frame["step"] == q["step"] + 1
                if kind == "loss":
                    expected = way(E, frame["loss"])
                E = frame["loss"]
                assert shown["correct"] == expected, (preset, kind, target)
                assert shown["answered"] == 2
                mine_a = until(a, is_type("revealed"))[-1]["yours"]
                mine_b = until(b, is_type("revealed"))[-1]["yours"]
                if kind == "estimate":
                    assert mine_a["right"] is (expected != 0)  # within 10 %
                    assert mine_b["right"] is (expected == 0)  # the wrong sign
                    assert shown["counts"]["< 0"] + shown["counts"]["> 0"] == 2 - 2 * (
                        expected == 0
                    )
                else:
                    assert mine_a == {"choice": choices[0], "right": choices[0] == expected}
                    assert mine_b == {"choice": choices[-1], "right": choices[-1] == expected}
                    assert sum(shown["counts"].values()) == 2
                    assert shown["counts"][choices[0]] >= 1


def test_one_answer_per_participant_changeable_until_the_reveal(client: TestClient) -> None:
    code, token, _ = new_room(client)
    with (
        client.websocket_connect(f"/ws/rooms/{code}") as boss,
        client.websocket_connect(f"/ws/rooms/{code}") as a,
        client.websocket_connect(f"/ws/rooms/{code}") as b,
    ):
        become_presenter(boss, token)
        q = ask(boss, kind="direction", layer=1, i=0, j=0)
        assert q["choices"] == ["up", "down", "stays"] and "W_ho[0,0]" in q["text"]
        for choice in ("up", "up", "down"):
            a.send_json({"type": "answer", "id": q["id"], "choice": choice})
        b.send_json({"type": "answer", "id": q["id"], "choice": "down"})
        # a's three answers count once: its last one.
        until(
            boss, lambda m: m["type"] == "tally" and m["counts"] == {"up": 0, "down": 2, "stays": 0}
        )
        a.send_json({"type": "answer", "id": q["id"], "choice": "stays"})  # changed: it moves
        t = until(boss, lambda m: m["type"] == "tally" and m["counts"]["stays"] == 1)[-1]
        assert t["counts"] == {"up": 0, "down": 1, "stays": 1}
        assert t["answered"] == 2 and t["present"] == 2
        _, shown = reveal(boss, q["id"])
        assert shown["counts"] == {"up": 0, "down": 1, "stays": 1}


def test_bad_input_is_refused_and_the_socket_stays_up(client: TestClient) -> None:
    code, token, _ = new_room(client)
    with (
        client.websocket_connect(f"/ws/rooms/{code}") as boss,
        client.websocket_connect(f"/ws/rooms/{code}") as a,
    ):
        become_presenter(boss, token)
        a.send_json({"type": "ask", "question": {"kind": "loss"}})
        assert "only the presenter" in error(a)
        a.send_json({"type": "answer", "id": 99, "choice": "up"})
        assert "no open question with id 99" in error(a)
        boss.send_json({"type": "ask", "question": {"kind": "direction", "layer": 5}})
        assert "layer must be between 0 and 1" in error(boss)
        boss.send_json({"type": "ask", "question": {"kind": "shrug"}})
        assert "kind" in error(boss)
        q = ask(boss, kind="loss")
        boss.send_json({"type": "ask", "question": {"kind": "loss"}})
        assert f"question {q['id']} is still open" in error(boss)
        a.send_json({"type": "answer", "id": q["id"], "choice": "sideways"})
        assert "choose one of up, down, stays" in error(a)
        a.send_json({"type": "answer", "id": q["id"], "choice": "x" * 65})
        assert "64" in error(a)
        boss.send_json({"type": "answer", "id": q["id"], "choice": "up"})
        assert "participants answer" in error(boss)
        a.send_json({"type": "reveal", "id": q["id"]})
        assert "only the presenter" in error(a)
        a.send_json({"type": "answer", "id": q["id"], "choice": "down"})
        reveal(boss, q["id"])
        a.send_json({"type": "answer", "id": q["id"], "choice": "up"})
        assert f"no open question with id {q['id']}" in error(a)
        boss.send_json({"type": "reveal", "id": q["id"]})
        assert "revealed already" in error(boss)
        # Still connected, both: the next question goes through.
        q2 = ask(boss, kind="estimate", layer=0, i=1, j=2)
        assert until(a, is_type("question"))[-1]["id"] == q2["id"] == q["id"] + 1
        a.send_json({"type": "answer", "id": q2["id"], "choice": "nan"})
        assert "finite number" in error(a)
        a.send_json({"type": "answer", "id": q2["id"], "choice": 0.25})
        assert tally_with(boss, q2["id"], 1)["counts"] == {"< 0": 0, "0": 0, "> 0": 1}


def test_ask_pauses_a_playing_room_and_late_joiners_get_the_question(client: TestClient) -> None:
    code, token, _ = new_room(client)
    with client.websocket_connect(f"/ws/rooms/{code}") as boss:
        become_presenter(boss, token)
        boss.send_json({"type": "play", "steps_per_frame": 1, "fps": 30})
        until(boss, lambda m: m["type"] == "frame" and m["step"] >= 3)
        q = ask(boss, kind="direction", layer=0, i=0, j=0)
        assert client.get(f"/api/rooms/{code}").json()["playing"] is False
        assert client.get(f"/api/rooms/{code}").json()["step"] == q["step"]
        with client.websocket_connect(f"/ws/rooms/{code}") as late:
            assert until(late, is_type("question"))[-1] == {**q, "yours": None}
            late.send_json({"type": "answer", "id": q["id"], "choice": "up"})
            tally_with(boss, q["id"], 1)
            frame, _ = reveal(boss, q["id"])
            assert frame["step"] == q["step"] + 1
            assert until(late, is_type("revealed"))[-1]["yours"]["choice"] == "up"


def test_csv_export_takes_the_presenter_token_in_a_header(client: TestClient) -> None:
    code, token, _ = new_room(client)
    with (
        client.websocket_connect(f"/ws/rooms/{code}") as boss,
        client.websocket_connect(f"/ws/rooms/{code}") as a,
    ):
        become_presenter(boss, token)
        q = ask(boss, kind="largest", layer=1)
        a.send_json({"type": "answer", "id": q["id"], "choice": q["choices"][2]})
        tally_with(boss, q["id"], 1)
        _, shown = reveal(boss, q["id"])
        ask(boss, kind="loss")
    url = f"/api/rooms/{code}/questions.csv"
    assert client.get(url).status_code == 403
    r = client.get(url, headers={"X-Presenter-Token": "wrong"})
    assert r.status_code == 403 and "X-Presenter-Token" in r.json()["detail"]
    r = client.get(url, headers={"X-Presenter-Token": token})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["kind"] for row in rows] == ["largest", "loss"]
    assert rows[0]["correct"] == shown["correct"] and rows[0]["target"] == "layer=1"
    assert rows[0]["answered"] == "1" and f"{q['choices'][2]}: 1" in rows[0]["counts"]
    assert rows[0]["asked_step"] == "0" and rows[0]["revealed_step"] == "1"
    assert rows[1]["correct"] == "" and rows[1]["revealed_step"] == ""


def test_questions_survive_a_restart(tmp_path: Path) -> None:
    """The room's snapshot holds its questions and answers: after a restart the presenter sees
    the same tally and the reveal still works."""
    settings = Settings(state_dir=str(tmp_path), max_participants=20)
    with TestClient(create_app(settings)) as client:
        code, token, _ = new_room(client)
        with (
            client.websocket_connect(f"/ws/rooms/{code}") as boss,
            client.websocket_connect(f"/ws/rooms/{code}") as a,
            client.websocket_connect(f"/ws/rooms/{code}") as b,
        ):
            become_presenter(boss, token)
            q = ask(boss, kind="direction", layer=0, i=3, j=4)
            a.send_json({"type": "answer", "id": q["id"], "choice": "down"})
            b.send_json({"type": "answer", "id": q["id"], "choice": "stays"})
            before = tally_with(boss, q["id"], 2)
    with TestClient(create_app(settings)) as client:
        with client.websocket_connect(f"/ws/rooms/{code}") as boss:
            become_presenter(boss, token)
            again = until(boss, is_type("tally"))[-1]
            assert again["counts"] == before["counts"] and again["answered"] == 2
            _, shown = reveal(boss, q["id"])
            assert shown["answered"] == 2
        r = client.get(f"/api/rooms/{code}/questions.csv", headers={"X-Presenter-Token": token})
        rows = list(csv.DictReader(io.StringIO(r.text)))
        assert len(rows) == 1 and rows[0]["revealed_step"] == "1"


def test_a_page_that_reconnects_keeps_one_answer(client: TestClient) -> None:
    """The page's anonymous voter id (?voter=) makes a reconnect the same participant; a second
    connection with an id in use is someone else."""
    code, token, _ = new_room(client)
    me = f"/ws/rooms/{code}?voter=0123456789abcdef0123"
    with client.websocket_connect(f"/ws/rooms/{code}") as boss:
        become_presenter(boss, token)
        q = ask(boss, kind="loss")
        with client.websocket_connect(me) as page:
            page.send_json({"type": "answer", "id": q["id"], "choice": "up"})
            tally_with(boss, q["id"], 1)
            with client.websocket_connect(me) as twin:  # the id is taken: a voter of its own
                assert until(twin, is_type("question"))[-1]["yours"] is None
                twin.send_json({"type": "answer", "id": q["id"], "choice": "stays"})
                tally_with(boss, q["id"], 2)
        with client.websocket_connect(me) as page:  # back: its answer, and still one
            assert until(page, is_type("question"))[-1]["yours"] == "up"
            page.send_json({"type": "answer", "id": q["id"], "choice": "down"})
            t = until(boss, lambda m: m["type"] == "tally" and m["counts"]["down"] == 1)[-1]
            assert t["counts"] == {"up": 0, "down": 1, "stays": 1} and t["answered"] == 2
        with client.websocket_connect(f"/ws/rooms/{code}?voter=short") as odd:
            assert until(odd, is_type("question"))[-1]["yours"] is None  # not an id: a new one

"""The rules of a room's questions (app/domain/questions.py, app/live/quiz.py), without a server."""

from __future__ import annotations

import asyncio
import math

import pytest

from app.domain.errors import InvalidError
from app.domain.presets import resolve
from app.domain.protocol import AnswerMsg, AskMsg, QuestionSpec, RevealMsg, SessionConfigIn
from app.domain.questions import Question, check_choice, make_question, settle, way
from app.domain.session import TrainingSession
from app.live.quiz import MAX_QUESTIONS
from app.live.rooms import Room, RoomRegistry
from app.settings import Settings


def test_the_way_of_a_change() -> None:
    assert way(1.0, 1.5) == "up" and way(1.0, 0.5) == "down" and way(-2.0, -2.0) == "stays"
    assert way(0.0, 1e-300) == "up"  # from zero any change shows
    assert way(1.0, 1.0 + 1e-12) == "stays"  # under the 10th significant digit
    assert way(1.0, 1.0 + 1e-9) == "up"


def test_choices_are_checked() -> None:
    q = make_question(1, "direction", {"layer": 1, "i": 4, "j": 0}, [4, 5, 1], 7)
    assert q.text == "Which way will W_ho[4,0] move in step 8?"
    assert check_choice(q, "down") == "down"
    with pytest.raises(InvalidError, match="choose one of up, down, stays"):
        check_choice(q, "UP")
    with pytest.raises(InvalidError, match=r"j in 0\.\.0"):
        make_question(1, "direction", {"layer": 1, "i": 4, "j": 1}, [4, 5, 1], 7)
    with pytest.raises(InvalidError, match="more than the 64"):
        make_question(1, "largest", {"layer": 1}, [2, 9, 8, 1], 0)
    big = make_question(1, "largest", {"layer": 0}, [2, 8, 8, 1], 0)
    assert big.choices[:3] == ["W_ih1[0,0]", "W_ih1[0,1]", "W_ih1[0,2]"] and len(big.choices) == 16


def test_estimates_are_right_within_ten_percent() -> None:
    q = make_question(1, "estimate", {"layer": 0, "i": 0, "j": 0}, [4, 5, 1], 0)
    assert check_choice(q, "-0.5") == -0.5
    for bad in ("abc", math.inf, 1e13):
        with pytest.raises(InvalidError):
            check_choice(q, bad)
    q.answers = {"a": -0.22, "b": -0.181, "c": -0.179, "d": 0.2, "e": 0.0}
    settle(q, -0.2, [], 1)
    assert [q.is_right(x) for x in q.answers.values()] == [True, True, False, False, False]
    assert q.right == 2 and q.final_counts == {"< 0": 3, "0": 1, "> 0": 1}
    zero = make_question(2, "estimate", {"layer": 0, "i": 0, "j": 0}, [4, 5, 1], 0)
    zero.answers = {"a": 0.0, "b": 1e-9}
    settle(zero, 0.0, [], 1)
    assert zero.right == 1


def test_a_question_survives_its_snapshot() -> None:
    q = make_question(3, "largest", {"layer": 1}, [4, 5, 1], 2)
    q.answers = {"x": "W_ho[1,0]", "y": "W_ho[2,0]"}
    settle(q, "W_ho[1,0]", ["W_ho[1,0]", "W_ho[2,0]"], 3)
    back = Question.from_state(q.state())
    assert back.is_right("W_ho[2,0]") and back.right == 2 and back.answered == 2
    # Revealed, its counts are final: the snapshot keeps them, not who answered what.
    assert back.answers == {} and back.final_counts == q.final_counts == q.counts()
    assert back.state() == q.state()
    open_one = make_question(4, "loss", {}, [4, 5, 1], 3)
    open_one.answers = {"x": "up"}
    again = Question.from_state(open_one.state())
    assert again.answers == {"x": "up"} and again.state() == open_one.state()  # open: kept


def room_and_member() -> tuple[RoomRegistry, Room]:
    """A registry and an article room in it."""
    rooms = RoomRegistry(max_rooms=2, max_participants=10, idle_seconds=60)
    session = TrainingSession(resolve(SessionConfigIn(preset="article")))
    room, _ = rooms.create(session)
    return rooms, room


def test_a_room_keeps_its_last_questions_and_a_snapshot_brings_them_back() -> None:
    async def run() -> None:
        rooms, room = room_and_member()
        boss, guest = room.join(presenter=True), room.join()
        settings = Settings()
        for _ in range(MAX_QUESTIONS + 3):
            q = await room.quiz.ask(
                AskMsg(type="ask", question=QuestionSpec(kind="loss")), settings
            )
            room.quiz.answer(guest, AnswerMsg(type="answer", id=q.id, choice="down"))
            await room.quiz.reveal(RevealMsg(type="reveal", id=q.id), settings)
        ids = list(room.quiz.questions)
        assert len(ids) == MAX_QUESTIONS and ids[0] == 4 and ids[-1] == MAX_QUESTIONS + 3
        state = room.quiz.state()
        room.leave(boss)
        room.leave(guest)
        again = rooms.restore("QQQQQQ", room._digest, room.session, None, questions=state)
        assert list(again.quiz.questions) == ids and again.quiz.next_id == MAX_QUESTIONS + 4
        again.quiz.load({"items": [{"id": "x"}]})  # unreadable: ignored, the room stays
        assert list(again.quiz.questions) == ids
        await room.close()
        await again.close()

    asyncio.run(run())

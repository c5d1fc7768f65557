"""A room's questions: the presenter asks, participants answer, the run's next step reveals.

The pure rules are app/domain/questions.py; this module keeps a room's questions (bounded, in
the room's snapshot), sends the messages and runs the step a reveal is about (docs/api.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import orjson

from app.domain.codec import encode
from app.domain.errors import InvalidError
from app.domain.protocol import AnswerMsg, AskMsg, PauseMsg, QuizMsg, RevealMsg, StepMsg
from app.domain.questions import Question, answer_key, check_choice, make_question, settle

if TYPE_CHECKING:
    from app.live.rooms import Member, Room
    from app.settings import Settings

log = logging.getLogger(__name__)

MAX_QUESTIONS = 100  # kept per room (the oldest go first); the CSV lists these
MAX_ANSWERS = 1000  # per question: every seat (500) twice over, for people who come and go
TALLY_SECONDS = 0.25  # the presenter's live tally at most this often, however fast answers come

NO_QUESTION = "no open question with id {id}: it was revealed already, or never asked"
STILL_OPEN = "question {id} is still open: reveal it before asking the next one"


class Quiz:
    """The questions of one room."""

    def __init__(self, room: Room) -> None:
        self.room = room
        self.questions: OrderedDict[int, Question] = OrderedDict()
        self.next_id = 1
        self._tally_task: asyncio.Task[Any] | None = None

    @property
    def open(self) -> Question | None:
        """The question waiting for its reveal, if any."""
        last = next(reversed(self.questions.values()), None)
        return last if last is not None and not last.revealed else None

    # ---- messages --------------------------------------------------------------------------

    async def handle(self, member: Member, msg: QuizMsg, settings: Settings) -> None:
        """ask (presenter), answer (participant), reveal (presenter)."""
        if isinstance(msg, AskMsg):
            self.room.require_presenter(member)
            await self.ask(msg, settings)
        elif isinstance(msg, AnswerMsg):
            self.answer(member, msg)
        else:
            self.room.require_presenter(member)
            await self.reveal(msg, settings)

    async def ask(self, msg: AskMsg, settings: Settings) -> Question:
        """A new question about the next step; a playing room pauses so that step waits."""
        if (q := self.open) is not None:
            raise InvalidError(STILL_OPEN.format(id=q.id))
        runner = self.room.runner
        if runner.playing:
            await runner.command(PauseMsg(type="pause"), settings)
        config = await runner.read("config")
        spec = msg.question
        target = {"layer": spec.layer, "i": spec.i, "j": spec.j}
        q = make_question(
            self.next_id, spec.kind, target, list(config["layers"]), runner.step_count
        )
        self._asked(q)
        self._share({"e": "ask", "q": q.state()})
        return q

    def _asked(self, q: Question) -> None:
        """Keep a new question (bounded) and show it here."""
        self.next_id = max(self.next_id, q.id + 1)
        self.questions[q.id] = q
        while len(self.questions) > MAX_QUESTIONS:
            self.questions.popitem(last=False)
        text = encode(q.message())
        for m in self.room.members:
            m.slot.notify("question", text)
        self._changed(True)
        self._tally_soon()

    def answer(self, member: Member, msg: AnswerMsg) -> None:
        """One answer per participant, changeable until the reveal."""
        q = self.questions.get(msg.id)
        if q is None or q.revealed:
            raise InvalidError(NO_QUESTION.format(id=msg.id))
        if member.presenter:
            raise InvalidError("the presenter asks; participants answer")
        choice = check_choice(q, msg.choice)
        if member.voter not in q.answers and len(q.answers) >= MAX_ANSWERS:
            raise InvalidError(f"question {q.id} has all the {MAX_ANSWERS} answers it keeps")
        q.answers[member.voter] = choice
        self._changed(False)
        self._tally_soon()
        self._share({"e": "answer", "id": q.id, "voter": member.voter, "choice": choice})

    async def reveal(self, msg: RevealMsg, settings: Settings) -> Question:
        """Run the step the question is about; everyone gets the answer, computed from its trace."""
        q = self.questions.get(msg.id)
        if q is None or q.revealed:
            raise InvalidError(NO_QUESTION.format(id=msg.id))
        runner = self.room.runner
        if runner.playing:  # the presenter pressed play after asking: the next step is now's
            await runner.command(PauseMsg(type="pause"), settings)
        before = await runner.read("frame")
        trace = await runner.read("trace")  # the optimizer's real next update, previewed
        if trace["step"] != before["step"]:
            raise InvalidError("the run moved while revealing: reveal again")
        after = await runner.command(StepMsg(type="step", count=1), settings)
        if after.get("step") != before["step"] + 1:
            raise InvalidError("the step did not run (the run diverged?): nothing revealed")
        correct, right = answer_key(q, trace, before.get("loss"), after.get("loss"))
        settle(q, correct, right, int(after["step"]))
        self._share({"e": "revealed", "q": q.state()})
        self._revealed(q)
        return q

    def _revealed(self, q: Question) -> None:
        """Keep a settled question and show it here."""
        self.questions[q.id] = q
        self._changed(True)
        self._send_revealed(q)
        self._send_tally(q)

    # ---- peers (app/live/cluster.py) -------------------------------------------------------

    def _share(self, event: dict[str, Any]) -> None:
        """Tell the other peers' copies of this room (each keeps every question and answer)."""
        cluster = self.room.cluster
        if cluster is not None:
            cluster.notice("room", self.room.code, "quiz", encode(event))

    def noticed(self, text: str) -> None:
        """Another peer's question, answer or reveal: kept here too, shown to this peer's people."""
        try:
            event = orjson.loads(text)
            kind = event["e"]
            if kind == "answer":
                q = self.questions.get(int(event["id"]))
                if q is not None and not q.revealed and len(q.answers) < MAX_ANSWERS:
                    q.answers[str(event["voter"])] = check_choice(q, event["choice"])
                    self._changed(False)
                    self._tally_soon()
            elif kind == "ask":
                self._asked(Question.from_state(event["q"]))
            elif kind == "revealed":  # settled there; who answered what here is kept here
                q = Question.from_state(event["q"])
                if (known := self.questions.get(q.id)) is not None:
                    q.answers = known.answers
                self._revealed(q)
        except (KeyError, TypeError, ValueError, InvalidError) as exc:
            log.debug("ignored a question notice (%s)", exc)

    # ---- out -------------------------------------------------------------------------------

    def _send_revealed(self, q: Question) -> None:
        """To everyone: the answer and the counts; to each participant, their own answer marked."""
        base = {
            "type": "revealed",
            "id": q.id,
            "kind": q.kind,
            "correct": q.correct,
            "counts": q.final_counts,
            "answered": q.answered,
            "right": q.right,
            "step": q.revealed_step,
        }
        shared = encode({**base, "yours": None})
        for m in self.room.members:
            mine = q.answers.get(m.voter)
            if mine is None:
                m.slot.notify("revealed", shared)
            else:
                yours = {"choice": mine, "right": q.is_right(mine)}
                m.slot.notify("revealed", encode({**base, "yours": yours}))

    def tally(self, q: Question) -> dict[str, Any]:
        """The presenter's live tally."""
        return {
            "type": "tally",
            "id": q.id,
            "counts": q.counts(),
            "answered": q.answered,
            "present": self.room.participants,
        }

    def _send_tally(self, q: Question) -> None:
        """The tally to the presenter's connections."""
        text = encode(self.tally(q))
        for m in self.room.members:
            if m.presenter:
                m.slot.notify("tally", text)

    def _tally_soon(self) -> None:
        """A tally within TALLY_SECONDS (trailing edge: one message for a burst of answers)."""
        if self._tally_task is None:
            self._tally_task = self.room._spawn(self._tally_later())

    async def _tally_later(self) -> None:
        """After a short pause, the newest tally of the newest question."""
        try:
            await asyncio.sleep(TALLY_SECONDS)
        finally:
            self._tally_task = None
        q = next(reversed(self.questions.values()), None)
        if q is not None:
            self._send_tally(q)

    def joined(self, member: Member) -> None:
        """A late joiner gets the open question (a presenter: its tally too)."""
        q = self.open
        if q is None:
            return
        mine = q.answers.get(member.voter)  # back after a reconnect or a restart: its answer
        member.slot.notify("question", encode({**q.message(), "yours": mine}))
        if member.presenter:
            member.slot.notify("tally", encode(self.tally(q)))

    def _changed(self, urgent: bool) -> None:
        """The room's snapshot holds the questions: write it (now, if urgent)."""
        self.room.changed(urgent)

    # ---- snapshot and export ---------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """JSON-ready, for the room's snapshot."""
        return {"next_id": self.next_id, "items": [q.state() for q in self.questions.values()]}

    def load(self, state: Any) -> None:
        """Back from a snapshot (anything unreadable is dropped, the room still comes back)."""
        if not isinstance(state, dict):
            return
        try:
            items = [Question.from_state(s) for s in state.get("items") or []]
            next_id = int(state.get("next_id", 1))
        except (KeyError, TypeError, ValueError):
            return
        self.questions = OrderedDict((q.id, q) for q in items[-MAX_QUESTIONS:])
        self.next_id = max([next_id, *(q.id + 1 for q in items)])

"""The fairness pieces on their own: the CPU gate's order and the work budget's arithmetic."""

from __future__ import annotations

import asyncio

import pytest

from app.live.fairness import ROOM, SESSION, CpuGate, OverBudgetError, WorkBudgets


def test_rooms_go_first_then_sessions_in_turn() -> None:
    order: list[str] = []

    async def main() -> None:
        gate = CpuGate()
        await gate.acquire(SESSION)  # someone holds the gate; the others queue

        async def take(name: str, priority: int) -> None:
            await gate.acquire(priority)
            order.append(name)
            await asyncio.sleep(0)
            gate.release()

        tasks = [
            asyncio.create_task(take("s1", SESSION)),
            asyncio.create_task(take("s2", SESSION)),
            asyncio.create_task(take("room", ROOM)),
            asyncio.create_task(take("s3", SESSION)),
        ]
        await asyncio.sleep(0)
        gate.release()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
        assert gate.waiting == 0

    asyncio.run(main())
    assert order == ["room", "s1", "s2", "s3"]


def test_a_cancelled_waiter_passes_its_turn_on() -> None:
    async def main() -> None:
        gate = CpuGate()
        await gate.acquire(SESSION)
        cancelled = asyncio.create_task(gate.acquire(SESSION))
        after = asyncio.create_task(gate.acquire(SESSION))
        await asyncio.sleep(0)
        cancelled.cancel()
        gate.release()
        await asyncio.wait_for(after, 10)  # granted although the one before it left
        gate.release()
        await gate.acquire(SESSION)  # and the gate is free again

    asyncio.run(main())


def test_a_session_lets_a_room_due_soon_go_first() -> None:
    now = [100.0]

    async def main() -> list[str]:
        gate = CpuGate(clock=lambda: now[0])
        order: list[str] = []
        room = object()
        gate.book(room, now[0] + 0.01)  # the room's next frame is due in 10 ms

        async def session() -> None:
            await gate.acquire(SESSION, expected=0.05)  # a 50 ms stretch would overrun it
            order.append("session")
            gate.release()

        task = asyncio.create_task(session())
        for _ in range(5):
            await asyncio.sleep(0)
        assert order == []  # waiting for the room
        await gate.acquire(ROOM)
        gate.started(room)
        order.append("room")
        gate.release()
        await asyncio.wait_for(task, 10)
        return order

    assert asyncio.run(main()) == ["room", "session"]


def test_late_rooms_shrink_the_sessions_share_and_on_time_frames_grow_it() -> None:
    now = [0.0]
    gate = CpuGate(clock=lambda: now[0])
    room = object()
    start = gate.share
    gate.book(room, 0.0)
    now[0] = 0.05  # the room's stretch starts 50 ms late
    gate.started(room)
    assert gate.share < start
    low = gate.share
    gate.book(room, 0.1)
    now[0] = 0.1
    gate.started(room)  # on time
    assert gate.share > low


def test_work_budget_per_address() -> None:
    now = [0.0]
    budgets = WorkBudgets(rate=100.0, burst=1000.0, clock=lambda: now[0])
    budgets.charge("a", 900)
    with pytest.raises(OverBudgetError) as refused:
        budgets.charge("a", 200)
    assert refused.value.retry_after is not None and 0 < refused.value.retry_after <= 2
    assert "wait" in str(refused.value)
    budgets.charge("b", 900)  # another address has its own budget
    now[0] = 2.0  # refilled at 100 per second
    budgets.charge("a", 200)
    budgets.charge("c", 5000)  # over the burst: allowed once from a full bucket ...
    with pytest.raises(OverBudgetError) as empty:
        budgets.charge("c", 1)  # ... emptying it ...
    assert (
        empty.value.retry_after is not None and empty.value.retry_after <= 0.02
    )  # ... but no more: no debt past one burst

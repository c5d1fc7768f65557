"""Runs held per client address (sessions, rooms), one count for the whole cluster.

A creation first *reserves* a place (refused when the address holds, or is creating, as many as
it may), makes the run, then *confirms* the place under the run's key, or gives it back if the
creation failed: concurrent creations never pass the limit. On cluster peers the count lives in
Redis (`bp:q:{kind}:{address}`, one script per change), so N peers give the limits of one; a run
counts while its snapshot is in the cluster's index, a reservation for RESERVE_SECONDS at most
(its peer may die mid-creation). Alone, the same in memory: a run counts while it is held here.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING

from app.domain.errors import UnavailableError
from app.live.keys import cap_key, quota_key
from app.live.state import RedisBackend

if TYPE_CHECKING:
    import redis.asyncio as aioredis

log = logging.getLogger(__name__)

RESERVE_SECONDS = 60  # a reservation never confirmed (its peer died mid-creation) lapses
QUOTA_TTL_MS = 86_400_000  # an address that made nothing for a day: its count is forgotten

# Members: confirmed runs by key (score +inf), reservations "r:{id}" (score: when they lapse).
# Lapsed reservations and runs no longer in the index are dropped before counting.
RESERVE = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms)
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '+inf', '+inf')) do
  if redis.call('SISMEMBER', KEYS[2], ARGV[4] .. m) == 0 then redis.call('ZREM', KEYS[1], m) end
end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ms + tonumber(ARGV[3]), 'r:' .. ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
"""
# The cluster's cap on one kind: runs of that kind in the index plus creations under way
# (reservations in KEYS[1], dropped once lapsed); refused at the cap. Confirming drops the
# reservation after the run entered the index, so a run in between counts twice, never zero
# times: concurrent creations on any number of peers never pass the cap.
RESERVE_CAP = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms)
local n = redis.call('ZCARD', KEYS[1])
local prefix = ARGV[4]
for _, m in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if string.sub(m, 1, #prefix) == prefix then n = n + 1 end
end
if n >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ms + tonumber(ARGV[3]), 'r:' .. ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""
CONFIRM = """
redis.call('ZREM', KEYS[1], 'r:' .. ARGV[1])
redis.call('ZADD', KEYS[1], '+inf', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""


class AddressQuota:
    """How many runs of one kind each address holds or is creating; at most `limit`."""

    def __init__(
        self,
        kind: str,
        limit: int,
        alive: Callable[[str], bool],
        redis: aioredis.Redis | None = None,
    ) -> None:
        """`alive(key)`: whether a run still exists here (alone); `redis`: count cluster-wide."""
        self.kind = kind
        self.limit = limit
        self._alive = alive
        self._redis = redis
        self._held: dict[str, set[str]] = {}
        self._pending: dict[str, set[str]] = {}

    async def reserve(self, address: str) -> Reservation | None:
        """A place for one more run of `address`, or None when it has no place left."""
        rid = secrets.token_hex(8)
        if self._redis is None:
            if self.count(address) >= self.limit:
                return None
            self._pending.setdefault(address, set()).add(rid)
            return Reservation(self, address, rid)
        try:
            placed = await self._redis.eval(
                RESERVE, 2, quota_key(self.kind, address), RedisBackend.INDEX, rid, self.limit,
                RESERVE_SECONDS * 1000, f"{self.kind}:", QUOTA_TTL_MS,
            )  # fmt: skip
        except Exception as exc:
            raise UnavailableError(
                "the shared store is unreachable right now; try again in a few seconds",
                retry_after=3,
            ) from exc
        return Reservation(self, address, rid) if int(placed) else None

    def count(self, address: str) -> int:
        """Runs held here by `address` plus its creations under way (alone; dead ones dropped)."""
        ids = self._held.get(address)
        if ids:
            ids.intersection_update({i for i in ids if self._alive(i)})
            if not ids:
                del self._held[address]
        return len(self._held.get(address, ())) + len(self._pending.get(address, ()))

    async def _settle(self, address: str, rid: str, key: str | None) -> None:
        """Turn a reservation into a held run (`key`), or give it back (None)."""
        if self._redis is None:
            pending = self._pending.get(address)
            if pending is not None:
                pending.discard(rid)
                if not pending:
                    del self._pending[address]
            if key is not None:
                self._held.setdefault(address, set()).add(key)
            return
        name = quota_key(self.kind, address)
        try:
            if key is None:
                await self._redis.zrem(name, f"r:{rid}")
            else:
                await self._redis.eval(CONFIRM, 1, name, rid, key, QUOTA_TTL_MS)
        except Exception as exc:  # the reservation lapses by itself within RESERVE_SECONDS
            log.warning("cannot settle a %s reservation (%s)", self.kind, exc)


class ClusterCap:
    """The cluster's cap on runs of one kind, reserved in Redis before a run is made.

    Alone, the registry's own check is enough (it counts and adds without an await between);
    peers count the index each tick, which concurrent creations on several peers outrun.
    """

    def __init__(self, kind: str, cap: int, redis: aioredis.Redis) -> None:
        """`cap` runs of `kind` across every peer sharing `redis`."""
        self.kind = kind
        self.cap = cap
        self._redis = redis

    async def reserve(self) -> str | None:
        """A reservation's id, or None at the cap; UnavailableError if Redis is unreachable."""
        rid = secrets.token_hex(8)
        try:
            placed = await self._redis.eval(
                RESERVE_CAP, 2, cap_key(self.kind), RedisBackend.INDEX, rid, self.cap,
                RESERVE_SECONDS * 1000, f"{self.kind}:",
            )  # fmt: skip
        except Exception as exc:
            raise UnavailableError(
                "the shared store is unreachable right now; try again in a few seconds",
                retry_after=3,
            ) from exc
        return rid if int(placed) else None

    async def settle(self, rid: str) -> None:
        """The run is in the index (or was never made): its reservation goes."""
        try:
            await self._redis.zrem(cap_key(self.kind), f"r:{rid}")
        except Exception as exc:  # it lapses by itself within RESERVE_SECONDS
            log.warning("cannot settle a %s cap reservation (%s)", self.kind, exc)


class Reservation:
    """One place reserved for a run being made: confirm it with the run's key, or release it.

    `cap`: the cluster-wide place held with it (ClusterCap), settled at the same time.
    """

    def __init__(self, quota: AddressQuota, address: str, rid: str) -> None:
        self.quota = quota
        self.address = address
        self.rid = rid
        self.done = False
        self.cap: tuple[ClusterCap, str] | None = None

    async def confirm(self, key: str) -> None:
        """The run exists under `key`: it holds the place from now on."""
        if not self.done:
            self.done = True
            await self.quota._settle(self.address, self.rid, key)
            await self._settle_cap()

    async def release(self) -> None:
        """The run was not made: the place is free again (no-op once confirmed)."""
        if not self.done:
            self.done = True
            await self.quota._settle(self.address, self.rid, None)
            await self._settle_cap()

    async def _settle_cap(self) -> None:
        """The cluster-wide place: counted by the index from now on, or free again."""
        if self.cap is not None:
            cap, rid = self.cap
            self.cap = None
            await cap.settle(rid)

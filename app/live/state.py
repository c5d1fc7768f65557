"""State that outlives a process: snapshots of sessions and rooms in a StateBackend.

One interface for both kinds of run (a room is a session with a code and a presenter's token
digest), so the registry that later merges SessionStore and RoomRegistry hooks in the same way:
`watch(kind, key, runner, extra)` when a run is added, `forget(kind, key)` when it is dropped.
The Runner calls back after every frame it publishes; the Persister encodes the run's state on
the event loop (array copies: cheap), zips it and writes it in one writer thread, at once for a
step, pause, reset or settings change and at most every `interval` seconds while playing.
The embedded backend is SQLite (stdlib, WAL) in BACKPROP_STATE_DIR. Nothing stored stops a
start: a damaged file is renamed aside, an unreadable run set aside (both kept, one log line).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from app.domain.errors import UnavailableError
from app.live.keys import (
    ASIDE_PATTERN,
    INDEX,
    SAVED,
    aside_key,
    fence_key,
    lease_key,
    member,
    snapshot_key,
)

if TYPE_CHECKING:
    from app.live.stream import Runner

log = logging.getLogger(__name__)

FORMAT = 1  # bump when a snapshot's meaning changes; older ones are skipped, not misread
PLAY_INTERVAL = 0.5  # while playing, a snapshot at least this often: a kill loses under 1 s
META = "__meta__"

Key = tuple[str, str]  # (kind, key): ("session", id) or ("room", code)


class StateBackend(Protocol):
    """Where snapshots live: opaque bytes by (kind, key). Called from one thread at a time."""

    aside: list[str]  # runs set aside since opening, "kind key (why)", for the startup log
    aside_where: str  # where set-aside runs are kept

    def snapshot(self, kind: str, key: str, blob: bytes, token: int | None = None) -> None:
        """Store (replace) the snapshot of one run; `token`: its lease's fencing token."""

    def load(self, kind: str, key: str) -> bytes | None:
        """The stored snapshot, or None."""

    def delete(self, kind: str, key: str) -> None:
        """Forget a run (deleted or reaped)."""

    def list(self) -> list[Key]:
        """Every stored (kind, key)."""

    def set_aside(self, kind: str, key: str, reason: str) -> None:
        """Move an unreadable run out of the stored ones, keeping its bytes (never deleted)."""

    def close(self) -> None:
        """Release files and connections."""


class MemoryBackend:
    """A dict: for tests, and to show what the protocol asks."""

    def __init__(self) -> None:
        self.blobs: dict[Key, bytes] = {}
        self.set_aside_blobs: dict[Key, bytes] = {}
        self.aside: list[str] = []
        self.aside_where = "memory"

    def snapshot(self, kind: str, key: str, blob: bytes, token: int | None = None) -> None:
        """Store (replace) the snapshot of one run (no leases here: the token is not used)."""
        self.blobs[(kind, key)] = blob

    def load(self, kind: str, key: str) -> bytes | None:
        """The stored snapshot, or None."""
        return self.blobs.get((kind, key))

    def delete(self, kind: str, key: str) -> None:
        """Forget a run."""
        self.blobs.pop((kind, key), None)

    def list(self) -> list[Key]:
        """Every stored (kind, key)."""
        return list(self.blobs)

    def set_aside(self, kind: str, key: str, reason: str) -> None:
        """Move an unreadable run aside."""
        if (kind, key) in self.blobs:
            self.set_aside_blobs[(kind, key)] = self.blobs.pop((kind, key))
            self.aside.append(f"{kind} {key} ({reason})")

    def close(self) -> None:
        """Nothing to release."""


class StateUnavailableError(RuntimeError):
    """The configured store cannot be used at startup (Redis unreachable, a directory that
    cannot be written): one clear line and exit code 2, never a traceback or a hang."""


FILE = "backprop-studio.sqlite3"
ASIDE_TABLE = "set_aside"  # rows that could not be read: kept here, never deleted


class SqliteBackend:
    """One SQLite file (WAL: a write never blocks a read, a crash never leaves half a row).

    A file that is not a database or is damaged (truncated, overwritten) is renamed aside and
    a fresh one started; a row that cannot be read (a blob of the wrong type, a snapshot that
    does not decode) is moved to the `set_aside` table. Both are kept, never deleted, and each
    is said in one log line. A directory that cannot be written is StateUnavailableError.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        path = Path(directory)
        writable_dir(path)
        self.path = path / FILE
        self.aside: list[str] = []  # runs set aside since opening: "kind key (why)"
        self.aside_where = f"table {ASIDE_TABLE} of {self.path}"
        # One writer thread uses it after the startup reads: the lock makes that explicit.
        self._lock = threading.Lock()
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as exc:
            if getattr(exc, "sqlite_errorname", "") in ("SQLITE_BUSY", "SQLITE_LOCKED"):
                raise StateUnavailableError(  # another server's file: never moved away
                    f"state file {self.path} is in use by another process ({exc})"
                ) from None
            self._start_afresh(exc)
        try:
            self._set_aside_bad_rows()
        except sqlite3.Error as exc:  # the file reads but cannot be written: say so, once
            self._db.close()
            raise StateUnavailableError(
                f"cannot write the state file {self.path} ({exc})"
            ) from None

    def _start_afresh(self, damage: sqlite3.DatabaseError) -> None:
        """Rename the damaged file aside (kept) and open a new one; one log line."""
        try:
            moved = self._rename_aside()
            self._db = self._open()
        except (OSError, sqlite3.Error) as exc:
            raise StateUnavailableError(
                f"state file {self.path} could not be read ({damage}) nor replaced ({exc})"
            ) from None
        log.warning(
            "state file %s could not be read (%s): renamed to %s (kept), starting afresh",
            self.path, damage, moved.name,
        )  # fmt: skip

    def _open(self) -> sqlite3.Connection:
        """Connect, check the whole file, make the tables; DatabaseError if it is damaged."""
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a commit survives a process kill (not a power cut): enough.
            db.execute("PRAGMA synchronous=NORMAL")
            # Every page read once: a truncated or overwritten file fails here, not mid-restore.
            verdict = db.execute("PRAGMA quick_check").fetchone()
            if verdict is None or verdict[0] != "ok":
                raise sqlite3.DatabaseError(f"quick_check: {verdict[0] if verdict else None}")
            db.execute(
                "CREATE TABLE IF NOT EXISTS runs (kind TEXT NOT NULL, key TEXT NOT NULL,"
                " blob BLOB NOT NULL, saved REAL NOT NULL, PRIMARY KEY (kind, key))"
            )
            db.execute(
                f"CREATE TABLE IF NOT EXISTS {ASIDE_TABLE} (kind, key, blob, saved,"
                " reason TEXT NOT NULL, set_aside REAL NOT NULL)"
            )
            db.execute("SELECT count(*) FROM runs").fetchone()
        except BaseException:
            db.close()
            raise
        return db

    def _rename_aside(self) -> Path:
        """Move the damaged file (and its WAL files) to a new name beside it; the new name."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        moved = self.path.with_name(f"{FILE}.unreadable-{stamp}")
        n = 1
        while moved.exists():
            n += 1
            moved = self.path.with_name(f"{FILE}.unreadable-{stamp}-{n}")
        for suffix in ("-wal", "-shm"):
            side = self.path.with_name(FILE + suffix)
            if side.exists():
                side.rename(moved.with_name(moved.name + suffix))
        self.path.rename(moved)
        return moved

    def _set_aside_bad_rows(self) -> None:
        """Rows whose columns have the wrong types go to the set-aside table (one transaction)."""
        with self._lock:
            bad = self._db.execute(
                "SELECT rowid, kind, key, typeof(kind), typeof(key), typeof(blob) FROM runs"
                " WHERE typeof(kind) != 'text' OR typeof(key) != 'text' OR typeof(blob) != 'blob'"
            ).fetchall()
            if not bad:
                return
            self._db.execute("BEGIN IMMEDIATE")
            for rowid, kind, key, t_kind, t_key, t_blob in bad:
                reason = f"column types kind={t_kind}, key={t_key}, blob={t_blob}"
                self._move(rowid, reason)
                self.aside.append(f"{kind} {key} ({reason})")
            self._db.execute("COMMIT")

    def _move(self, rowid: int, reason: str) -> None:
        """Copy one row to the set-aside table and drop it from runs (caller holds the lock)."""
        self._db.execute(
            f"INSERT INTO {ASIDE_TABLE} (kind, key, blob, saved, reason, set_aside)"
            " SELECT kind, key, blob, saved, ?, ? FROM runs WHERE rowid = ?",
            (reason, time.time(), rowid),
        )
        self._db.execute("DELETE FROM runs WHERE rowid = ?", (rowid,))

    def set_aside(self, kind: str, key: str, reason: str) -> None:
        """Move a run that cannot be restored out of the way, kept for a person to look at."""
        with self._lock:
            row = self._db.execute(
                "SELECT rowid FROM runs WHERE kind = ? AND key = ?", (kind, key)
            ).fetchone()
            if row is None:
                return
            self._db.execute("BEGIN IMMEDIATE")
            self._move(row[0], reason)
            self._db.execute("COMMIT")
        self.aside.append(f"{kind} {key} ({reason})")

    def snapshot(self, kind: str, key: str, blob: bytes, token: int | None = None) -> None:
        """Store (replace) the snapshot of one run (one process: the token is not used)."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO runs (kind, key, blob, saved) VALUES (?, ?, ?, ?)",
                (kind, key, blob, time.time()),
            )

    def load(self, kind: str, key: str) -> bytes | None:
        """The stored snapshot, or None; UnreadableError when the column holds no bytes."""
        with self._lock:
            row = self._db.execute(
                "SELECT blob FROM runs WHERE kind = ? AND key = ?", (kind, key)
            ).fetchone()
        if row is None:
            return None
        if not isinstance(row[0], bytes):  # never bytes(n): 10**12 would ask for a terabyte
            raise UnreadableError(f"blob is {type(row[0]).__name__}, not bytes")
        return row[0]

    def delete(self, kind: str, key: str) -> None:
        """Forget a run."""
        with self._lock:
            self._db.execute("DELETE FROM runs WHERE kind = ? AND key = ?", (kind, key))

    def list(self) -> list[Key]:
        """Every stored (kind, key)."""
        with self._lock:
            rows = self._db.execute("SELECT kind, key FROM runs ORDER BY saved").fetchall()
        return [(str(k), str(v)) for k, v in rows]

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()


class UnreadableError(ValueError):
    """A stored snapshot that is not one (wrong type, not a snapshot, an unknown format)."""


def writable_dir(path: Path) -> None:
    """Make the state directory if needed and prove it can be written; else one clear error."""
    hint = "set BACKPROP_STATE_DIR or --state-dir to a writable directory, or use --memory"
    if path.exists() and not path.is_dir():
        raise StateUnavailableError(f"state directory {path} is not a directory; {hint}")
    try:
        path.mkdir(parents=True, exist_ok=True)
        # os.access says yes to root on a read-only mount: a real file proves it.
        probe = path / f".write-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise StateUnavailableError(
            f"cannot write the state directory {path} ({reason}); {hint}"
        ) from None


class LeaseMissingError(RuntimeError):
    """A fenced write not made: this peer holds no current lease on the run right now."""


class StaleLeaseError(LeaseMissingError):
    """A fenced write refused: another peer holds the run's lease (this one must stop)."""


class RedisBackend:
    """Snapshots in a shared Redis (BACKPROP_REDIS_URL): `bp:run:{kind}:{key}` plus an index set.

    The synchronous client, from the persister's single writer thread: short timeouts, so a
    Redis that goes away costs a failed write (retried on the next beat), never a stalled loop.
    The client reconnects by itself on the next command once Redis is back.
    """

    INDEX = INDEX
    SAVED = SAVED  # when each run's snapshot was last written (the cluster's janitor)

    def __init__(self, url: str, timeout: float = 2.0) -> None:
        import redis  # here: memory-only and SQLite deployments never import it

        self.url = url
        self.peer: str | None = None  # set on a cluster peer: writes only the runs it holds
        self.aside: list[str] = []
        self.aside_where = f"keys {ASIDE_PATTERN} of {safe_url(url)}"
        self._redis = redis.Redis.from_url(
            url, socket_connect_timeout=timeout, socket_timeout=timeout
        )
        try:
            self._redis.ping()
        except redis.RedisError as exc:
            self._redis.close()
            raise StateUnavailableError(
                f"cannot reach Redis at {safe_url(url)} ({exc}); start it, fix "
                "BACKPROP_REDIS_URL, or unset it to keep state in BACKPROP_STATE_DIR"
            ) from exc

    @staticmethod
    def _name(kind: str, key: str) -> str:
        """The key of one run's snapshot."""
        return snapshot_key(kind, key)

    # A cluster peer writes a run only under its lease's current fencing token: an owner that
    # lost its lease (a stall, a partition, a write delivered late) never overwrites the new
    # owner's snapshot. 1: written; 0: another peer holds the lease (stale: stop training);
    # -1: no lease, or ours under a newer token (Redis restarted, the lease retaken): not now.
    GUARDED = """
local holder = redis.call('GET', KEYS[1])
local token = redis.call('GET', KEYS[5])
if holder == ARGV[1] and token == ARGV[5] then
  redis.call('SET', KEYS[2], ARGV[2])
  redis.call('SADD', KEYS[3], ARGV[3])
  redis.call('HSET', KEYS[4], ARGV[3], ARGV[4])
  return 1
end
if holder and holder ~= ARGV[1] then return 0 end
return -1
"""

    def snapshot(self, kind: str, key: str, blob: bytes, token: int | None = None) -> None:
        """Store (replace) the snapshot of one run; on a cluster peer, fenced by `token`.

        StaleLeaseError when another peer holds the run's lease; LeaseMissingError when it
        cannot be written under this token now (no lease, or the token is not the current one).
        """
        run, saved = member(kind, key), f"{time.time():.3f}"
        if self.peer is not None:
            if token is None:
                raise LeaseMissingError(f"{kind} {key}: no lease held here")
            written = int(
                self._redis.eval(
                    self.GUARDED, 5, lease_key(kind, key), self._name(kind, key), self.INDEX,
                    self.SAVED, fence_key(kind, key), self.peer, blob, run, saved, str(token),
                )
            )  # fmt: skip
            if written == 0:
                raise StaleLeaseError(f"{kind} {key}: another peer holds its lease")
            if written < 0:
                raise LeaseMissingError(f"{kind} {key}: fencing token {token} is not current")
            return
        pipe = self._redis.pipeline(transaction=True)
        pipe.set(self._name(kind, key), blob)
        pipe.sadd(self.INDEX, run)
        pipe.hset(self.SAVED, run, saved)
        pipe.execute()

    def load(self, kind: str, key: str) -> bytes | None:
        """The stored snapshot, or None."""
        blob = self._redis.get(self._name(kind, key))
        return None if blob is None else _as_bytes(blob)

    def delete(self, kind: str, key: str) -> None:
        """Forget a run."""
        pipe = self._redis.pipeline(transaction=True)
        pipe.delete(self._name(kind, key))
        pipe.srem(self.INDEX, member(kind, key))
        pipe.hdel(self.SAVED, member(kind, key))
        pipe.execute()

    def set_aside(self, kind: str, key: str, reason: str) -> None:
        """Rename an unreadable run's snapshot to `bp:aside:{kind}:{key}`, out of the index."""
        run = member(kind, key)
        pipe = self._redis.pipeline(transaction=True)
        pipe.exists(self._name(kind, key))
        pipe.srem(self.INDEX, run)
        pipe.hdel(self.SAVED, run)
        found = pipe.execute()[0]
        if found:
            self._redis.rename(self._name(kind, key), aside_key(kind, key))
            self.aside.append(f"{kind} {key} ({reason})")

    def list(self) -> list[Key]:
        """Every stored (kind, key)."""
        members = self._redis.smembers(self.INDEX)
        pairs = (_as_bytes(m).decode().split(":", 1) for m in members)
        return sorted((kind, key) for kind, key in pairs)

    def close(self) -> None:
        """Close the connection pool."""
        self._redis.close()


def _as_bytes(value: bytes | str) -> bytes:
    """Replies are bytes (no decode_responses); the client's types allow str as well."""
    return value if isinstance(value, bytes) else value.encode()


def safe_url(url: str) -> str:
    """A Redis URL without its password, for messages and logs."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


# ---- encoding ------------------------------------------------------------------------------


def encode_state(state: dict[str, Any]) -> bytes:
    """Arrays as .npy members of an uncompressed zip, everything else as one JSON member."""
    arrays = {k: v for k, v in state.items() if isinstance(v, np.ndarray)}
    meta = {k: v for k, v in state.items() if not isinstance(v, np.ndarray)}
    # Python's json writes big integers (the RNG's 128-bit state) and NaN exactly.
    text = json.dumps(meta, separators=(",", ":")).encode()
    buffer = io.BytesIO()
    arrays[META] = np.frombuffer(text, dtype=np.uint8)
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def decode_state(blob: bytes) -> dict[str, Any]:
    """encode_state's inverse; never unpickles anything (a snapshot is data, not code)."""
    with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
        state: dict[str, Any] = {k: npz[k] for k in npz.files if k != META}
        meta = json.loads(npz[META].tobytes().decode())
    state.update(meta)
    return state


# ---- the persister -------------------------------------------------------------------------


class _Watched:
    """A run being kept: its runner and the extra fields its kind stores (a room's digest)."""

    __slots__ = ("extra", "runner")

    def __init__(self, runner: Runner, extra: Callable[[], dict[str, Any]] | None) -> None:
        self.runner = runner
        self.extra = extra


class Persister:
    """Keeps snapshots of watched runs current in a backend, off the hot path."""

    def __init__(self, backend: StateBackend, interval: float = PLAY_INTERVAL) -> None:
        self.backend = backend
        self.interval = interval
        self._watched: dict[Key, _Watched] = {}
        self._dirty: set[Key] = set()
        self._urgent = asyncio.Event()
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="state-writer")
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.closed = False
        self.writes = 0  # snapshots written (tests and benchmarks read it)
        self.failures = 0  # writes that failed (the backend was unreachable)
        self._failing = False
        # On a cluster peer (app/live/cluster.py): the fencing token each write carries (None:
        # no lease held on the run now, nothing written), and who hears that a write was
        # refused because another peer holds the lease.
        self.fence: Callable[[Key], int | None] | None = None
        self.on_stale: Callable[[Key], None] | None = None
        # ... and the last snapshot saved of each run, kept in memory: a peer that stepped down
        # goes on from it if Redis comes back without the run (restarted empty).
        self._saved: dict[Key, bytes] = {}

    # ---- hooks for the store and the registry --------------------------------------------

    def watch(
        self,
        kind: str,
        key: str,
        runner: Runner,
        extra: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        """Keep this run's snapshot current from now on; the first one is written soon."""
        if self.closed:
            return
        k = (kind, key)
        self._watched[k] = _Watched(runner, extra)
        runner.on_change = lambda urgent: self.mark(k, urgent)
        self.mark(k, True)

    def forget(self, kind: str, key: str) -> Future[None] | None:
        """The run is gone for good (deleted, reaped): drop its snapshot. Not at shutdown.

        The deletion, done by the writer thread (None once closed): awaited where the cluster
        must know at once (a deleted run frees its address's place on every peer).
        """
        if self.closed:
            return None
        k = (kind, key)
        self._saved.pop(k, None)
        watched = self._watched.pop(k, None)
        if watched is not None:
            watched.runner.on_change = None
        self._dirty.discard(k)
        # The same single writer thread: runs after any write of this run already queued.
        return self._writer.submit(self._quietly, self.backend.delete, kind, key)

    async def flush(self, kind: str, key: str) -> bool:
        """Write this run's snapshot now and wait for it (a run made on one peer, found on all;
        a command acknowledged only once saved). False: not kept here, nothing written."""
        k = (kind, key)
        if self.closed or k not in self._watched:
            return False
        state = self._state(k)
        token = self._token(k)
        self._dirty.discard(k)
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._writer, self._store, kind, key, state, token)
        except Exception as exc:
            self.mark(k, False)  # retried on the next beat, as any failed write
            raise UnavailableError(
                "cannot save the run in the state store right now; try again in a few seconds",
                retry_after=3,
            ) from exc
        return True

    def saved(self, kind: str, key: str) -> bytes | None:
        """The last snapshot of this run saved from here (cluster peers only), if any."""
        return self._saved.get((kind, key))

    def unwatch(self, kind: str, key: str) -> None:
        """Stop keeping this run's snapshot, leaving it stored (another peer trains it now)."""
        self._saved.pop((kind, key), None)
        watched = self._watched.pop((kind, key), None)
        if watched is not None:
            watched.runner.on_change = None
        self._dirty.discard((kind, key))

    def mark(self, key: Key, urgent: bool) -> None:
        """The run changed; urgent (not a play tick): write it now rather than on the beat."""
        self._dirty.add(key)
        if urgent:
            self._urgent.set()

    # ---- startup and shutdown ------------------------------------------------------------

    def stored(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """Every readable snapshot as (kind, key, state); unreadable ones are set aside."""
        for kind, key in self.backend.list():
            try:
                blob = self.backend.load(kind, key)
                if blob is None:
                    continue
                state = decode_state(blob)
                if state.get("format") != FORMAT:
                    raise UnreadableError(f"snapshot format {state.get('format')!r}")
            except Exception as exc:  # whatever a damaged snapshot raises: set aside, go on
                self.set_aside(kind, key, exc)
                continue
            yield kind, key, state

    def set_aside(self, kind: str, key: str, exc: BaseException) -> None:
        """Move a run that cannot be read out of the way (kept); said in restore_all's line."""
        reason = f"{type(exc).__name__}: {exc}"
        try:
            self.backend.set_aside(kind, key, reason[:200])
        except Exception as failed:  # the store is failing too: the run stays where it is
            log.warning("cannot set aside %s %s (%s): %s", kind, key, reason[:200], failed)

    def start(self) -> None:
        """The background writer (in the app's lifespan, after restoring)."""
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run())

    async def close(self) -> None:
        """Write every watched run as it is now, then release the backend (shutdown)."""
        if self.closed:
            return
        self.closed = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task], timeout=5)  # bounded: shutdown never hangs here
        # Encoded here, between two steps of every run: a consistent moment for all of them.
        items = [(k, self._state(k), self._token(k)) for k in self._watched]
        self._writer.shutdown(wait=True)
        for (kind, key), state, token in items:
            self._quietly(self._write, kind, key, state, token)
        for watched in self._watched.values():
            watched.runner.on_change = None
        self._watched.clear()
        self.backend.close()

    # ---- internals -----------------------------------------------------------------------

    def _state(self, key: Key) -> dict[str, Any]:
        """The run's state now: session state plus kind, format and the kind's extras."""
        watched = self._watched[key]
        state = watched.runner.session.state()
        state["kind"], state["key"], state["format"] = key[0], key[1], FORMAT
        state["runner"] = {
            "steps_per_frame": watched.runner.steps_per_frame,
            "fps": watched.runner.fps,
            "playing": watched.runner.playing,  # a takeover plays on (a restart comes back paused)
        }
        if watched.extra is not None:
            state.update(watched.extra())
        return state

    def _token(self, key: Key) -> int | None:
        """The fencing token a write of this run carries now (on the loop, with its state)."""
        return self.fence(key) if self.fence is not None else None

    def _store(self, kind: str, key: str, state: dict[str, Any], token: int | None) -> None:
        """Encode and store (writer thread); on a cluster peer, keep what was saved."""
        blob = encode_state(state)
        self.backend.snapshot(kind, key, blob, token)
        if self.fence is not None and (kind, key) in self._watched:
            self._saved[(kind, key)] = blob

    def _write(self, kind: str, key: str, state: dict[str, Any], token: int | None) -> None:
        """Encode and store (writer thread); a failure leaves the run dirty, retried next beat."""
        try:
            self._store(kind, key, state, token)
        except StaleLeaseError:
            # Another peer trains the run now: this one stops (on the loop's thread), no retry.
            loop = self._loop
            if loop is not None and not loop.is_closed() and self.on_stale is not None:
                loop.call_soon_threadsafe(self.on_stale, (kind, key))
            return
        except LeaseMissingError:
            # No lease under this token right now (Redis restarted, the lease being retaken):
            # dirty again, quietly; the owner's renewal decides whether it is still ours.
            loop = self._loop
            if loop is not None and not loop.is_closed():
                loop.call_soon_threadsafe(self.mark, (kind, key), False)
            return
        except Exception as exc:
            loop = self._loop
            if loop is not None and not loop.is_closed():  # dirty again, on the loop's thread
                loop.call_soon_threadsafe(self.mark, (kind, key), False)
            self.failures += 1
            if not self._failing:  # one line per outage, not two per second per run
                self._failing = True
                log.error("cannot save snapshots (%s); retrying every %g s", exc, self.interval)
            return
        if self._failing:
            self._failing = False
            log.warning("saving snapshots again after %d failed write(s)", self.failures)
        self.writes += 1

    @staticmethod
    def _quietly(fn: Callable[..., None], *args: Any) -> None:
        """A failed call is one log line (a store outage is no bug); the run goes on."""
        try:
            fn(*args)
        except Exception as exc:
            what = " ".join([getattr(fn, "__name__", "call"), *map(str, args[:2])])
            log.warning("state store: %s failed (%s: %s)", what, type(exc).__name__, exc)

    async def _run(self) -> None:
        """Write dirty runs: at once when urgent, else once per interval."""
        loop = asyncio.get_running_loop()
        while not self.closed:
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation that
            # arrives as the event is set, and close() would then wait on this loop forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._urgent.wait()
            self._urgent.clear()
            dirty, self._dirty = self._dirty, set()
            pending = []
            for key in dirty:
                if key not in self._watched:
                    continue
                token = self._token(key)
                if self.fence is not None and token is None:
                    self._dirty.add(key)  # its lease is being taken: written once it is held
                    continue
                try:
                    state = self._state(key)
                except Exception:
                    log.exception("cannot snapshot %s %s", *key)
                    continue
                pending.append(
                    loop.run_in_executor(
                        self._writer, self._quietly, self._write, *key, state, token
                    )
                )
            if pending:
                # Waiting bounds the queue: a slow disk slows the snapshots, never the training.
                await asyncio.gather(*pending)


def open_persister(state_dir: str | None, redis_url: str | None = None) -> Persister | None:
    """Redis when a URL is set, else SQLite in `state_dir`; None keeps memory only.

    StateUnavailableError when Redis cannot be reached now: the server must not start half-up.
    """
    if redis_url:
        return Persister(RedisBackend(redis_url))
    if not state_dir:
        return None
    return Persister(SqliteBackend(state_dir))


class _Store(Protocol):
    """What restore_all needs of SessionStore."""

    def restore(self, session_id: str, session: Any) -> Any:
        """Put a session back under its id."""


class _Rooms(Protocol):
    """What restore_all needs of RoomRegistry."""

    def restore(
        self,
        code: str,
        digest: bytes,
        session: Any,
        selection: Any = None,
        *,
        questions: Any = None,
    ) -> Any:
        """Put a room back under its code and token digest."""


def restore_session(state: dict[str, Any], max_samples: int) -> Any:
    """The TrainingSession a snapshot holds (its data set rebuilt from the seed)."""
    from app.domain.session import TrainingSession  # here: the engine is not needed to read bytes

    return TrainingSession.restore(state, max_samples=max_samples)


def restore_all(persist: Persister, store: _Store, rooms: _Rooms, max_samples: int) -> int:
    """Bring back every stored session and room (startup); returns how many came back."""
    count = 0
    for kind, key, state in persist.stored():
        try:  # everything read before the run is put back: a failure leaves nothing half-made
            session = restore_session(state, max_samples)
            tempo = state.get("runner") or {}
            steps_per_frame = int(tempo["steps_per_frame"]) if "steps_per_frame" in tempo else None
            fps = float(tempo["fps"]) if "fps" in tempo else None
            if kind == "session":
                runner = store.restore(key, session).runner
            elif kind == "room":
                digest = bytes.fromhex(str(state["digest"]))
                selection, questions = state.get("selection"), state.get("questions")
                runner = rooms.restore(key, digest, session, selection, questions=questions).runner
            else:
                raise UnreadableError(f"unknown kind {kind!r}")
        except Exception as exc:  # a snapshot that decodes but does not make a run
            persist.set_aside(kind, key, exc)
            continue
        if steps_per_frame is not None:
            runner.steps_per_frame = steps_per_frame
        if fps is not None:
            runner.fps = fps
        count += 1
    if count:
        log.info("restored %d run(s) from %s", count, type(persist.backend).__name__)
    aside = persist.backend.aside
    if aside:  # one line for all of them: what was moved, and where it is kept
        shown = "; ".join(aside[:5]) + (f"; and {len(aside) - 5} more" if len(aside) > 5 else "")
        log.warning(
            "set aside %d unreadable run(s), kept in %s: %s",
            len(aside), persist.backend.aside_where, shown,
        )  # fmt: skip
    return count

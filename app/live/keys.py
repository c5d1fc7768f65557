"""Every key and channel name in the shared Redis, built here and nowhere else.

Users: app/live/cluster.py (leases, frames, commands), state.py (snapshots), quotas.py (caps and
per-address counts), rooms.py (head counts). `grep -rn '"bp:' app` finds only this module.
"""

from __future__ import annotations


def lease_key(kind: str, key: str) -> str:
    """The lease of one run: the owner's peer id, expiring unless renewed."""
    return f"bp:lease:{kind}:{key}"


def fence_key(kind: str, key: str) -> str:
    """The run's fencing token: a counter raised by every acquisition of its lease."""
    return f"bp:fence:{kind}:{key}"


def snapshot_key(kind: str, key: str) -> str:
    """The run's snapshot (app/live/state.py)."""
    return f"bp:run:{kind}:{key}"


def quota_key(kind: str, address: str) -> str:
    """The runs of one kind a client address holds or is creating (app/live/quotas.py)."""
    return f"bp:q:{kind}:{address}"


def cap_key(kind: str) -> str:
    """Creations of one kind under way cluster-wide, for the cluster's cap (app/live/quotas.py)."""
    return f"bp:cap:{kind}"


INDEX = "bp:runs"  # every stored run, as "{kind}:{key}"
SAVED = "bp:saved"  # when each run's snapshot was last written (the cluster's janitor)
ASIDE_PATTERN = "bp:aside:*"  # snapshots set aside as unreadable (app/live/state.py)
FRAMES_PREFIX = "bp:f:"  # frames_channel's prefix
NOTICES_PREFIX = "bp:e:"  # notices_channel's prefix


def member(kind: str, key: str) -> str:
    """A run's member in INDEX and field in SAVED."""
    return f"{kind}:{key}"


def aside_key(kind: str, key: str) -> str:
    """Where an unreadable run's snapshot is kept, out of the index."""
    return f"bp:aside:{kind}:{key}"


def frames_channel(kind: str, key: str) -> str:
    """Where the owner publishes a run's frames and everyone its notices."""
    return f"{FRAMES_PREFIX}{kind}:{key}"


def notices_channel(kind: str, key: str) -> str:
    """Where every peer sends the run's side messages (selection, phase, head counts, quiz,
    gone): small, and wanted by its owner and every follower, viewers or not."""
    return f"{NOTICES_PREFIX}{kind}:{key}"


def run_of_channel(channel: str) -> tuple[str, str] | None:
    """(kind, key) of a frames or notices channel; None for any other channel."""
    for prefix in (FRAMES_PREFIX, NOTICES_PREFIX):
        if channel.startswith(prefix):
            kind, _, key = channel[len(prefix) :].partition(":")
            return kind, key
    return None


def watch_key(kind: str, key: str) -> str:
    """Set (expiring) while some follower has viewers of the run."""
    return f"bp:w:{kind}:{key}"


def count_key(kind: str, key: str) -> str:
    """A room's head counts, one field per peer (app/live/rooms.py)."""
    return f"bp:n:{kind}:{key}"


def peer_channel(peer: str) -> str:
    """A peer's own channel: commands and questions for it, answers to it."""
    return f"bp:p:{peer}"


def answer_key(token: str) -> str:
    """A big answer left for its asker to fetch (too big for pub/sub)."""
    return f"bp:a:{token}"

"""Names of a run's keys in the shared Redis, built in one place (app/live/cluster.py, state.py)."""

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

"""Server options and limits, read from the environment (prefix `BACKPROP_`)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Every option and bound of the server; `BACKPROP_MAX_SESSIONS=50` overrides one."""

    model_config = SettingsConfigDict(env_prefix="BACKPROP_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    # NoDecode: accept "a,b" as well as a JSON list from the environment.
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    max_layers: int = Field(8, ge=2, description="total layer count, input and output included")
    max_neurons: int = Field(64, ge=1, description="neurons in any one layer")
    max_samples: int = Field(1000, ge=1, description="rows of a data set, test split included")
    max_steps_per_request: int = Field(10_000, ge=1)
    max_steps_per_frame: int = Field(1000, ge=1)
    max_fps: float = Field(60, gt=0, le=60)
    max_message_bytes: int = Field(65_536, ge=256)
    # Above max_participants: a full room can fork. Per address: below max_sessions, so one
    # address alone never fills the server, above max_participants for a workshop behind a NAT.
    max_sessions: int = Field(1000, ge=1)
    max_sessions_per_ip: int = Field(550, ge=1)
    max_rooms_per_ip: int = Field(5, ge=1)
    idle_grace_seconds: float = Field(
        7200,
        gt=0,
        description="a session or room not playing and unused for its idle time plus this "
        "expires even with sockets open (an idle socket cannot keep it forever)",
    )
    session_idle_seconds: float = Field(1800, gt=0)
    max_rooms: int = Field(50, ge=0)
    max_participants: int = Field(500, ge=1)
    room_idle_seconds: float = Field(3600, gt=0)
    room_send_seconds: float = Field(
        5, gt=0, description="a room participant that takes no frame for this long is dropped"
    )
    ws_compression: bool = False
    # Hardening (SECURITY.md): bodies, WebSocket message rates and connection counts.
    max_body_bytes: int = Field(
        2 * 1024 * 1024, ge=1024, description="largest HTTP request body; over it: 413"
    )
    max_work_per_request: int = Field(
        2_000_000_000,
        ge=1_000_000,
        description="multiply-adds one request, play frame or gradient check may cost (roughly)",
    )
    # Above any keyboard auto-repeat (about 30/s): a learner holding the step key is not refused.
    ws_messages_per_second: float = Field(
        40, gt=0, description="messages a WebSocket may send per second, on average"
    )
    ws_message_burst: int = Field(80, ge=1, description="messages allowed at once above the rate")
    ws_flood_limit: int = Field(
        100,
        ge=1,
        description="messages refused for the rate (forgiven at the same rate) before a 1008 close",
    )
    max_connections: int = Field(1000, ge=1, description="open WebSockets, all clients together")
    max_connections_per_ip: int = Field(
        # Well under half of max_connections: two addresses can never hold every socket. A
        # room's participants (and their forks) count against the room's seats instead, so a
        # lecture hall behind one NAT still fills a room (app/web/sockets.py, docs/api.md).
        200,
        ge=1,
        description="open WebSockets from one client address besides workshop rooms' "
        "participants and their forks",
    )
    # Workshop join links and QR codes use this base (e.g. http://192.168.1.20:8000) when set,
    # else the address the presenter's browser used, which may be localhost.
    public_url: str | None = None
    # Fair share under abuse (SECURITY.md, "Availability").
    ws_send_seconds: float = Field(
        10, gt=0, description="a session viewer that takes no message for this long is dropped"
    )
    http_read_seconds: float = Field(
        20, gt=0, description="a request (headers and body) must arrive whole within this"
    )
    # About a third of one core here (a step of 8 layers of 64 on 1,000 samples is 20 M).
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="host names the server answers to, besides localhost, IP addresses and "
        "the host of public_url; '*' for any",
    )
    forwarded_allow_ips: str | None = Field(
        None,
        description="proxies whose X-Forwarded-For/-Proto are trusted ('10.0.0.5,10.0.0.6'); "
        "none by default, so a client cannot pick the address its limits are counted on",
    )
    room_lookups_per_second: float = Field(
        10, gt=0, description="room codes not found, per address"
    )
    room_lookup_burst: float = Field(20, ge=1)
    min_fps: float = Field(0.1, gt=0, description="slowest play rate; slower is refused")
    client_work_per_second: float = Field(
        1e9, gt=0, description="multiply-adds of requests per second one client address may use"
    )
    client_work_burst: float = Field(
        4e9, gt=0, description="multiply-adds one client address may use at once"
    )
    # Snapshots of every session and room (SQLite, app/live/state.py): a restart brings them back.
    # None keeps everything in memory; the `backprop-studio` command defaults to
    # $XDG_STATE_HOME/backprop-studio (~/.local/state/backprop-studio).
    state_dir: str | None = None
    # Snapshots in a shared Redis instead (redis://host:6379/0); unreachable at start: an error.
    redis_url: str | None = None
    # This peer's slot behind the proxy, "i/n" (deploy/nginx-peers.conf, app/live/route.py):
    # the ids and codes it makes route back to it. None: any peer (or one process).
    route: str | None = Field(None, pattern=r"^\d+/\d+$")

    @field_validator("allowed_origins", "allowed_hosts", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        """Env values come as `a,b` or a JSON list; origins never end with a slash."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                value = json.loads(text)
            else:
                value = [part for part in text.split(",") if part.strip()]
        if isinstance(value, list):
            return [str(v).strip().rstrip("/") for v in value]
        return value

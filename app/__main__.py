"""`backprop-studio` / `python -m app`: run the server with uvicorn."""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path

# One BLAS thread, set before NumPy loads: our matrices are small (64 x 1,000 at most), so
# threads buy little and, on a busy machine, spin for a time slice each: one step of the largest
# network took 45 times as long with OpenBLAS's default threads on a loaded two-core box.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import uvicorn  # noqa: E402

from app.live.state import StateUnavailableError  # noqa: E402
from app.main import create_app  # noqa: E402
from app.server import ReapingWebSocketProtocol, configure  # noqa: E402
from app.settings import Settings  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    """Parse --host/--port and serve until interrupted."""
    settings = Settings()
    parser = argparse.ArgumentParser(prog="backprop-studio", description=__doc__)
    parser.add_argument(
        "--host", default=settings.host, help="address to bind (default %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=settings.port, help="port (default %(default)s)"
    )
    parser.add_argument(
        "--state-dir",
        # BACKPROP_STATE_DIR set but empty: memory only (the tests' servers).
        default=settings.state_dir if "BACKPROP_STATE_DIR" in os.environ else default_state_dir(),
        help="where sessions and rooms are snapshotted, to survive a restart "
        "(BACKPROP_STATE_DIR; default %(default)s)",
    )
    parser.add_argument(
        "--memory", action="store_true", help="keep sessions and rooms in memory only"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="peer processes on this machine, sharing one port and one Redis "
        "(BACKPROP_REDIS_URL; default %(default)s)",
    )
    parser.add_argument("--fd", type=int, help=argparse.SUPPRESS)  # a worker's shared socket
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers: at least 1")
    if args.workers > 1:
        if not settings.redis_url:
            parser.error(
                "--workers N runs N peers that share their rooms and sessions through Redis: "
                "set BACKPROP_REDIS_URL=redis://host:6379/0"
            )
        from app.workers import supervise

        raise SystemExit(supervise(args.workers, args.host, args.port, worker_argv(argv)))
    state_dir = None if args.memory else args.state_dir
    settings = settings.model_copy(
        update={"host": args.host, "port": args.port, "state_dir": state_dir}
    )
    try:
        app = create_app(settings)
    except StateUnavailableError as exc:  # Redis unreachable, a state directory not writable
        print(f"backprop-studio: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        # Pinned, not "auto": the sans-I/O protocol costs the least per frame sent of uvicorn's
        # three (benchmarks/room.py --ws, BENCHMARKS.md); a room sends 15,000 frames a second.
        # uvicorn's sans-I/O protocol, aborting connections whose peer stopped reading.
        ws=ReapingWebSocketProtocol,
        http=configure(settings.http_read_seconds),  # httptools with a request-read deadline
        ws_per_message_deflate=settings.ws_compression,
        # Frames far over the message limit are cut by the protocol (close 1009) before they
        # are buffered; up to twice the limit they reach the app, which answers with an error.
        ws_max_size=2 * settings.max_message_bytes,
        # X-Forwarded-* only from the configured proxies: by default from nobody, so a client
        # cannot choose the address its per-address limits are counted against.
        proxy_headers=settings.forwarded_allow_ips is not None,
        forwarded_allow_ips=settings.forwarded_allow_ips or "",
        server_header=False,  # no need to tell the world which server version to aim at
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    if args.fd is None:
        server.run()
    else:
        # A worker of --workers N: the supervisor's listening socket, owned here (not dup'ed,
        # as uvicorn's fd= does), so shutting down closes it and frees the port at once.
        server.run(sockets=[socket.socket(fileno=args.fd)])
    if not server.started:
        raise SystemExit(3)  # uvicorn's own code for a server that could not start


def worker_argv(argv: list[str] | None) -> list[str]:
    """The command line of one worker: this one without --workers."""
    given = list(sys.argv[1:] if argv is None else argv)
    out: list[str] = []
    skip = False
    for arg in given:
        if skip:
            skip = False
        elif arg == "--workers":
            skip = True
        elif not arg.startswith("--workers="):
            out.append(arg)
    return out


def default_state_dir() -> str:
    """$XDG_STATE_HOME/backprop-studio, or ~/.local/state/backprop-studio (XDG's default)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return str(Path(base) / "backprop-studio")


if __name__ == "__main__":
    main()

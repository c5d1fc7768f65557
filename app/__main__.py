"""`backprop-studio` / `python -m app`: run the server with uvicorn."""

from __future__ import annotations

import argparse
import os

# One BLAS thread, set before NumPy loads: our matrices are small (64 x 1,000 at most), so
# threads buy little and, on a busy machine, spin for a time slice each: one step of the largest
# network took 45 times as long with OpenBLAS's default threads on a loaded two-core box.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import uvicorn  # noqa: E402

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
    args = parser.parse_args(argv)
    settings = settings.model_copy(update={"host": args.host, "port": args.port})
    uvicorn.run(
        create_app(settings),
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


if __name__ == "__main__":
    main()

"""Run the API under uvicorn, with the socket fix multi-worker serving needs.

With ``workers > 1`` uvicorn binds the shared listening socket itself and leaves its protocol
number at 0; connections accepted from it then never get ``TCP_NODELAY`` (asyncio sets it only
for sockets that say IPPROTO_TCP), so under keep-alive load every response waits ~40 ms for
the client's delayed ACK (uvicorn issue #3149). :func:`run` binds the socket the same way and
re-wraps it as IPPROTO_TCP before handing it to uvicorn's worker supervisor.

    python -m trustflow.api.server --host 127.0.0.1 --port 8000 --workers 2 [--no-access-log]
"""

from __future__ import annotations

import argparse
import contextlib
import socket

APP = "trustflow.api.app:create_app"


def run(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    *,
    access_log: bool = True,
    log_level: str = "info",
) -> None:
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(
        APP,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=access_log,
        log_level=log_level,
        use_colors=False,
    )
    if workers <= 1:
        uvicorn.Server(config).run()
        return
    sock = config.bind_socket()
    if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.proto == 0:
        sock = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, sock.detach())
    with contextlib.suppress(KeyboardInterrupt):
        Multiprocess(config, sockets=[sock]).run()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the trustflow API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--no-access-log", action="store_true")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    run(
        args.host,
        args.port,
        args.workers,
        access_log=not args.no_access_log,
        log_level=args.log_level,
    )


if __name__ == "__main__":
    main()

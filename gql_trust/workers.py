"""Several worker processes, each accepting connections on a listening socket of its own.

uvicorn's supervisor hands every worker the same listening socket. Whichever worker the
kernel wakes first accepts a whole burst of connections, so long-lived keep-alive
clients (a gateway's connection pool, a load balancer, a benchmark) can land mostly on
one worker while the others idle: 14 of 16 connections on one of two workers was seen
under load. Where the platform has ``SO_REUSEPORT`` (Linux), each worker here binds its
own socket on the same address instead, and the kernel spreads new connections across
them by a hash of the client's address and port. uvicorn still supervises: it restarts
a worker that dies and forwards signals.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
from typing import Any

from uvicorn import Config
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

logger = logging.getLogger("uvicorn.error")


def bind_reuse_port(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port) with SO_REUSEPORT, not yet listening (asyncio
    calls ``listen`` when the worker starts serving on it)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


class SocketPerWorker:
    """Stands in for the socket uvicorn passes to each worker. Workers are spawned, so
    they receive it pickled; it unpickles, in the worker, as a freshly bound socket."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port

    def __reduce__(self) -> tuple[Any, tuple[str, int]]:
        return bind_reuse_port, (self.host, self.port)


class Supervisor(Multiprocess):
    """uvicorn's supervisor, but SIGHUP asks every worker to re-read its policies rather
    than restarting them all (which would drop the requests they are serving)."""

    def handle_hup(self) -> None:
        logger.info("Received SIGHUP, asking the workers to re-read their policies.")
        for process in self.processes:
            if process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGHUP)


def serve_workers(config: Config) -> None:
    """Run ``config.workers`` supervised workers until interrupted."""
    if not hasattr(socket, "SO_REUSEPORT") or config.uds is not None or config.fd is not None:
        Supervisor(config, sockets=[config.bind_socket()]).run()
        return
    try:
        # Bound but never listening: it fails fast when the address is taken, resolves
        # port 0, and holds the port; connections only go to the workers' sockets.
        holder = bind_reuse_port(config.host, config.port)
    except OSError as exc:
        logger.error(exc)
        sys.exit(STARTUP_FAILURE)
    with holder:
        port = holder.getsockname()[1]
        scheme = "https" if config.is_ssl else "http"
        shown = f"[{config.host}]" if ":" in config.host else config.host
        logger.info(
            "Uvicorn running on %s://%s:%d with %d workers, one SO_REUSEPORT socket each "
            "(Press CTRL+C to quit)",
            scheme,
            shown,
            port,
            config.workers,
        )
        Supervisor(config, sockets=[SocketPerWorker(config.host, port)]).run()  # type: ignore[list-item]

"""Serving the app: uvicorn in the foreground, telling the caller once the socket listens,
and the Kafka reachability probe /healthz reports when Kafka is configured."""

from __future__ import annotations

import gc
import signal
import socket
from collections.abc import Callable
from typing import Any

import uvicorn

from ledger.api.connections import ConnectionLimits, bounded_protocol


class _Server(uvicorn.Server):
    """Calls `ready(port)` once the socket listens, so what it prints can be used at once."""

    def __init__(self, config: uvicorn.Config, ready: Callable[[int], None]):
        super().__init__(config)
        self.ready = ready

    def handle_exit(self, sig: int, frame: Any) -> None:
        """Graceful shutdown waits for open responses: tell the endless ones (event streams)
        to end, through the app's `ports.stopping`."""
        ports = getattr(getattr(self.config.app, "state", None), "ports", None)
        if ports is not None:
            ports.stopping.set()
        super().handle_exit(sig, frame)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        # Everything made so far (modules, routes, schemas: ~100,000 objects) lives as long as
        # the process: out of the collector's way, so a full collection, which would walk them
        # all (~50 ms on this machine), does not land in the middle of requests.
        gc.freeze()
        if self.started and self.servers:
            self.ready(self.servers[0].sockets[0].getsockname()[1])


class _Stopped(Exception):
    pass


def _stop(signum: int, frame: Any) -> None:
    raise _Stopped


def server_config(app: Any, host: str, port: int, *, log_level: str = "info",
                  limits: ConnectionLimits | None = None) -> uvicorn.Config:
    """How the API is served: our logs, no server header, connections bounded by `limits`."""
    limits = limits or ConnectionLimits()
    return uvicorn.Config(app, host=host, port=port, log_config=None,
                          log_level=log_level.lower(), server_header=False,
                          access_log=log_level.lower() == "debug", http=bounded_protocol(limits),
                          timeout_keep_alive=limits.keepalive_timeout)  # type: ignore[arg-type]


def serve_forever(app: Any, host: str, port: int, *, log_level: str = "info",
                  limits: ConnectionLimits | None = None,
                  ready: Callable[[int], None] = lambda port: None) -> None:
    """Serve until SIGINT or SIGTERM, then return normally so the caller closes its parts.
    uvicorn's logs go through ours (`ledger.logs`), to standard error."""
    config = server_config(app, host, port, log_level=log_level, limits=limits)
    # uvicorn shuts down gracefully, then re-raises the signal to the handler it found.
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        _Server(config, ready).run()
    except (KeyboardInterrupt, _Stopped):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def kafka_probe(bootstrap_servers: str) -> Callable[[], dict[str, Any]]:
    """Kafka is reachable if one of its bootstrap servers accepts a connection."""

    def probe() -> dict[str, Any]:
        for server in bootstrap_servers.split(","):
            host, _, port = server.strip().rpartition(":")
            try:
                socket.create_connection((host, int(port)), timeout=1).close()
                return {"ok": True, "bootstrap": bootstrap_servers}
            except (OSError, ValueError):
                continue
        return {"ok": False, "bootstrap": bootstrap_servers, "error": "no bootstrap server answers"}

    return probe


def port_free(host: str, port: int) -> bool:
    """Whether a server could listen on (host, port) now: asked before anything starts, so a
    busy port is one clear sentence rather than a traceback in the middle of the logs."""
    if port == 0:
        return True
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True

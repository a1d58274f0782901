"""`ledger serve --workers N`: N API processes on one socket (uvicorn's supervisor). Each
builds its own parts from the same settings and keeps its own check cache, correct on its own:
it follows the read models' change feed, and counts key revocations every 0.5 s, so a key
revoked anywhere stops within a second in every process (docs/api.md). Embedded, each process
also follows the ledger; the read models take each fact once whoever applies it first."""

from __future__ import annotations

import json
import os
from contextlib import ExitStack

import uvicorn
from fastapi import FastAPI

from ledger.api.connections import ConnectionLimits, WorkerBoundedHttp
from ledger.settings import Settings

SETTINGS = "LEDGER_SERVE_SETTINGS_JSON"  # how the supervisor hands its settings to the workers


def serve_processes(settings: Settings, host: str, port: int, workers: int) -> None:
    """Run `workers` processes until SIGINT/SIGTERM; uvicorn restarts one that dies."""
    handed = settings.model_dump(mode="json")
    if settings.signing_key is not None:  # a secret dumps as '**********': hand over its value
        handed["signing_key"] = settings.signing_key.get_secret_value()
    os.environ[SETTINGS] = json.dumps(handed)
    uvicorn.run("ledger.cli.processes:worker_app", factory=True, host=host, port=port,
                workers=workers, http=WorkerBoundedHttp,
                timeout_keep_alive=settings.http_keepalive_timeout,  # type: ignore[arg-type]
                log_config=None, log_level=settings.log_level.lower(),
                server_header=False, access_log=False)


def worker_app() -> FastAPI:
    """In a worker: the parts and the app, as `ledger serve` builds them; they live as long
    as the process (uvicorn ends it after a graceful shutdown)."""
    from ledger.cli.serve import _parts as parts_of
    from ledger.logs import configure

    settings = Settings.model_validate_json(os.environ[SETTINGS])
    WorkerBoundedHttp.limits = ConnectionLimits(settings.http_header_timeout,
                                                settings.http_keepalive_timeout,
                                                settings.http_max_connections)
    configure(settings.log_format, settings.log_level)
    _, _, app, follower = _OPEN.enter_context(parts_of(settings, embedded=not settings.kafka_bootstrap))
    if follower is not None:
        follower.start()
    return app


_OPEN = ExitStack()  # a worker's parts, open for the life of its process

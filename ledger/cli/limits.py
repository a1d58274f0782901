"""The flags of `ledger serve` and `ledger up` that bound slow and idle clients, over their
settings (`LEDGER_HTTP_*`); what they bound is `ledger.api.connections`."""

from __future__ import annotations

from typing import Any

import click

from ledger.api.connections import ConnectionLimits
from ledger.settings import Settings

SECONDS = click.FloatRange(min=0, min_open=True)


def connection_options(fn: Any) -> Any:
    """Bounds on slow and idle clients; each flag overrides its setting (docs/api.md)."""
    for flag, kind, help_text in reversed([
            ("--header-timeout", SECONDS, "Seconds a client has to send a request's headers "
             "(default 10, LEDGER_HTTP_HEADER_TIMEOUT)."),
            ("--keepalive-timeout", SECONDS, "Seconds an idle kept-alive connection stays open "
             "(default 5, LEDGER_HTTP_KEEPALIVE_TIMEOUT)."),
            ("--max-connections", click.IntRange(min=1), "Connections open at once; more are "
             "answered 503 busy (default 1000, LEDGER_HTTP_MAX_CONNECTIONS).")]):
        fn = click.option(flag, type=kind, default=None, help=help_text)(fn)
    return fn


def connection_limits(settings: Settings, header_timeout: float | None,
                      keepalive_timeout: float | None, max_connections: int | None) -> ConnectionLimits:
    """The flags given, else the settings."""
    return ConnectionLimits(header_timeout=header_timeout or settings.http_header_timeout,
                            keepalive_timeout=keepalive_timeout or settings.http_keepalive_timeout,
                            max_connections=max_connections or settings.http_max_connections)

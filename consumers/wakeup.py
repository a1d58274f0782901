"""Waking the relay when the ledger commits, instead of polling its log on a timer.

The eventsourcing library's PostgreSQL recorder sends `NOTIFY <channel>` inside every insert of
events (the ledger's writer takes the library's own insert steps), and PostgreSQL delivers it
when the transaction commits: the signal the library's own `PostgresSubscription` follows. The
relay LISTENs on that channel on a connection of its own and waits for a notification, at most
`timeout` seconds (a fallback poll: a missed signal only costs that wait). A notification
carries nothing the relay trusts: it only says "read the log again"; what is published is still
read from the log by position, so the delivery guarantee of `consumers.relay` is unchanged.
SQLite has no such signal: there the wait is a plain sleep.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Protocol


class Wakeup(Protocol):
    def drain(self) -> None:
        """Forget the signals already received (the log is about to be read anyway)."""

    def wait(self, timeout: float, stop: threading.Event) -> bool:
        """Until the ledger commits, `stop` is set or `timeout` passed; True if it committed."""

    def close(self) -> None: ...


class Sleep:
    """No signal to wait for (SQLite, tests): read the log again every `tick` seconds."""

    def __init__(self, tick: float = 0.2):
        self.tick = tick

    def drain(self) -> None:
        pass

    def wait(self, timeout: float, stop: threading.Event) -> bool:
        stop.wait(min(timeout, self.tick))
        return False

    def close(self) -> None:
        pass


class LedgerCommits:
    """LISTEN on the library's events channel on a connection held for the relay's life."""

    def __init__(self, recorder: Any):
        from psycopg.sql import SQL, Identifier

        self._held = contextlib.ExitStack()
        # a pool connection in autocommit, so LISTEN takes effect at once
        self.conn = self._held.enter_context(recorder.datastore.get_connection())
        self.conn.execute(SQL("LISTEN {0}").format(Identifier(recorder.channel_name)))

    def drain(self) -> None:
        for _ in self.conn.notifies(timeout=0.0):
            pass

    def wait(self, timeout: float, stop: threading.Event) -> bool:
        if stop.is_set():
            return False
        return any(True for _ in self.conn.notifies(timeout=timeout, stop_after=1))

    def close(self) -> None:
        self._held.close()  # hands the connection back to the pool


def ledger_commits(recorder: Any) -> Wakeup:
    """The wake-up for this store: PostgreSQL's notifications if it is PostgreSQL, else a sleep."""
    from eventsourcing.postgres import PostgresDatastore

    if isinstance(getattr(recorder, "datastore", None), PostgresDatastore):
        return LedgerCommits(recorder)
    return Sleep()

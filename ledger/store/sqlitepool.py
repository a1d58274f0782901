"""The library's SQLite connection pool, giving back what an ask that failed had taken.

eventsourcing 9.5's `ConnectionPool.get_connection` takes the writer slot (a lock: one writer
per process) or counts a reader, then asks for a connection; when that ask fails (every
connection in use past the pool's wait, a connection that cannot be opened) the exception
leaves with the slot still taken and the reader still counted. One such write and every later
write of the process waits for a writer that never returns ("Timed out waiting for return of
writer"): the embedded ledger accepts nothing until it is restarted. Readers busy with long
reads while a write waits 5 s are enough. `SQLitePool` gives both back when the ask fails,
exactly as `put_connection` does when a connection comes back; `LedgerSQLiteFactory` is the
library's SQLite factory with this pool (selected by `database.infrastructure`). PostgreSQL's
pool is psycopg_pool's, which takes nothing before a connection.
"""

from __future__ import annotations

import threading
from typing import Any

from eventsourcing.sqlite import SQLiteConnection, SQLiteConnectionPool, SQLiteFactory
from eventsourcing.utils import Environment


class SQLitePool(SQLiteConnectionPool):
    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._asking = threading.local()

    @classmethod
    def like(cls, pool: SQLiteConnectionPool) -> SQLitePool:
        """A pool of the same database with the same settings as the library's `pool`."""
        return cls(db_name=pool.db_name, lock_timeout=pool.lock_timeout, pool_size=pool.pool_size,
                   max_overflow=pool.max_overflow, pool_timeout=pool.pool_timeout,
                   max_age=pool.max_age, pre_ping=pool.pre_ping)

    def get_connection(self, timeout: float | None = None, *,
                       is_writer: bool | None = None) -> SQLiteConnection:
        self._asking.taken = False
        try:
            return super().get_connection(timeout, is_writer=is_writer)
        except BaseException:
            if self._asking.taken:
                self._give_back(is_writer)
            raise

    def _get_connection(self, timeout: float = 0.0) -> SQLiteConnection:
        # The library calls this only once the writer slot is taken or the reader counted.
        self._asking.taken = True
        return super()._get_connection(timeout)

    def _give_back(self, is_writer: bool | None) -> None:
        """What `put_connection` gives back for a writer or a reader, without a connection."""
        with self._put_condition:
            if is_writer is True:
                self._num_writers -= 1
                self._writer_lock.release()
            elif is_writer is False:
                with self._no_readers:
                    self._num_readers -= 1
                    if self._num_readers == 0 and self._mutually_exclusive_read_write:
                        self._no_readers.notify()


class LedgerSQLiteFactory(SQLiteFactory):
    """The library's SQLite factory, its datastore on `SQLitePool` (the library builds its own
    pool inside the datastore, with no connection yet: it is closed and replaced)."""

    def __init__(self, env: Environment | None):
        super().__init__(env)
        library = self.datastore.pool
        self.datastore.pool = SQLitePool.like(library)
        library.close()

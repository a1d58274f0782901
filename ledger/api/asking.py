"""A store asked on a thread of its own, with a deadline for whoever waits for the answer.

Health and the scrape must answer within a probe's timeout even when a store hangs (a frozen
server, or a partition the host's kernel still acknowledges: no connection fails, a read just
never returns). So each store is asked on a daemon thread, the request waits for the answer
until its deadline, and an ask still under way, a concurrent request's or one hung past an
earlier request's deadline, is joined rather than started again: no thread piles up behind a
hung connection, whatever the probes' rate.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import structlog

log = structlog.get_logger()

# Seconds a probe waits for a store: past a serving process's wait for a connection (5 s,
# `database.SERVE_STORE_WAIT`, `sql.SERVE_WAIT` 2 s), so that a stopped store's own error is
# what is reported, and within the usual 10 s timeout of a scraper or a load balancer.
STORE_WAIT = 6.0


class Asking:
    """One ask on a daemon thread of its own; every request under way reads its answer."""

    def __init__(self, ask: Callable[[], Any], name: str):
        self.done = threading.Event()
        self._answer: Any = TimeoutError("no answer yet")
        threading.Thread(target=self._run, args=(ask,), daemon=True, name=name).start()

    def _run(self, ask: Callable[[], Any]) -> None:
        try:
            self._answer = ask()
        except Exception as exc:  # noqa: BLE001 - a store's failure is the answer, for the caller
            self._answer = exc
        finally:
            self.done.set()

    def answer(self, deadline: float) -> Any:
        """The answer, the exception the ask raised, or a TimeoutError if none came by
        `deadline` (a monotonic time)."""
        if not self.done.wait(max(0.0, deadline - time.monotonic())):
            return TimeoutError("no answer within the probe's wait")
        return self._answer


class Asks:
    """At most one ask of each name under way: `start` joins one that is, else starts one."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self._asking: dict[str, Asking] = {}
        self._lock = threading.Lock()

    def start(self, name: str, ask: Callable[[], Any]) -> Asking:
        with self._lock:
            under_way = self._asking.get(name)
            if under_way is None or under_way.done.is_set():
                under_way = self._asking[name] = Asking(ask, name=f"{self.prefix}-{name}")
            return under_way

    def settled(self, timeout: float) -> bool:
        """Whether every ask started has returned, waiting `timeout` seconds at most."""
        deadline = time.monotonic() + timeout
        with self._lock:
            started = list(self._asking.values())
        return all(asking.done.wait(max(0.0, deadline - time.monotonic())) for asking in started)


class Background:
    """One daemon thread doing what it is given, in turn (a recount, a read-ahead of the
    feed). Not a ThreadPoolExecutor: its workers are joined when the interpreter exits, so a
    read hung on a database that does not answer kept a stopped process from exiting."""

    def __init__(self, name: str):
        self._work: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, daemon=True, name=name)
        self._thread.start()

    def __call__(self, work: Callable[[], None]) -> None:
        self._work.put(work)

    def _run(self) -> None:
        while (work := self._work.get()) is not None:
            try:
                work()
            except Exception:  # noqa: BLE001 - as an executor's worker would: the next one runs
                log.exception("background.work_failed", thread=threading.current_thread().name)

    def stop(self) -> None:
        """No more work after what is queued; not waiting for what is under way."""
        self._work.put(None)

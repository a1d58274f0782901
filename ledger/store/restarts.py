"""Passing over the pooled connections a database restart broke.

After PostgreSQL restarts (an upgrade, a failover), every connection a pool kept is broken,
and each fails at once on its first use. The pools do not look first (psycopg_pool's
`check`, the library's `POSTGRES_PRE_PING`, backs off a second, then two, then four between
failed checks, so a request meeting three broken connections waited out its 5 s and failed).
Instead a transaction is begun again on the next connection while its beginning fails at
once: a broken connection goes back to its pool, which drops it and makes a new one. A
failure that takes longer is a real one (a stopped server: the pool's wait for a connection)
and is raised, as is any failure once the transaction has begun: only BEGIN is tried again,
so nothing the block did is ever done twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import TypeVar

# At most this many connections a restart broke are passed over: the most the event store's
# pool holds (POSTGRES_POOL_SIZE 5 + POSTGRES_MAX_OVERFLOW 10, `database.library_settings`;
# the read models' pool holds 10). A failure slower than QUICK_FAILURE seconds is a real one.
BROKEN_HELD = 15
QUICK_FAILURE = 0.5

T = TypeVar("T")


@contextmanager
def begun(transaction: Callable[[], AbstractContextManager[T]],
          broken: tuple[type[BaseException], ...]) -> Iterator[T]:
    """The block inside `transaction()`, begun on a connection that works: while entering it
    raises one of `broken` at once, it is entered again (at most `BROKEN_HELD` times)."""
    with ExitStack() as stack:
        for held in range(BROKEN_HELD + 1):
            began = time.monotonic()
            try:
                value = stack.enter_context(transaction())
                break
            except broken:
                if held == BROKEN_HELD or time.monotonic() - began > QUICK_FAILURE:
                    raise
        yield value

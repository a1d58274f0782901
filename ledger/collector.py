"""The cyclic garbage collector, held off while one ingest batch is judged and recorded.

A batch allocates tens of thousands of small objects (parsed envelopes, drafts, facts, stored
records, index rows) that all live until the batch commits, so every young-generation
collection during it scans them and frees nothing: measured at 7-11 % of a 500-event batch on
SQLite (bench/ingest.py, docs/benchmarks.md "Ingest, round 4"). Reference counting still frees
everything that is not in a cycle; a cycle made during the batch waits for the next collection
after it, which the collector then runs as usual. Only the caller that turned the collector
off turns it on again, so batches on several threads never leave it off.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic collection inside the block, if the collector was on; on again after it,
    whatever the block raised."""
    if not gc.isenabled():  # off already (by the caller, or another batch in flight)
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()

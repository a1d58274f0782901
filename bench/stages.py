"""What `bench/pipeline.py` observes while the pipeline runs: how many events each stage holds
over time (sampled), what the processes spent on the CPU, and the figures drawn from those.

Lag is read off the two cumulative curves (the k-th event published, the k-th event visible):
with one license's events in order on one partition but partitions drained at their own pace,
the k-th visible event is not always the k-th published, so this is the queue's lag (how long
the k-th arrival waited for the k-th departure), resolved to the sampling interval.
"""

from __future__ import annotations

import bisect
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Samples:
    """(monotonic time, count) pairs of one stage, taken every `every` seconds by `watch`."""

    every: float = 0.05
    points: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def watch(self, stages: dict[str, Callable[[], int]]) -> threading.Thread:
        def loop() -> None:
            while not self.stop.is_set():
                for name, count in stages.items():
                    self.points.setdefault(name, []).append((time.monotonic(), count()))
                self.stop.wait(self.every)

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        return thread

    def reached(self, stage: str, count: int) -> float | None:
        """When the stage first held `count` events (None: never)."""
        for at, held in self.points.get(stage, []):
            if held >= count:
                return at
        return None

    def lags(self, stage: str, published: Sequence[float]) -> list[float]:
        """Seconds from the k-th publication to the k-th event visible in the stage."""
        points = self.points.get(stage, [])
        counts = [held for _, held in points]
        found = []
        for k, sent in enumerate(published, start=1):
            i = bisect.bisect_left(counts, k)
            if i == len(points):
                break
            found.append(max(0.0, points[i][0] - sent))
        return found


def steady_rate(samples: Samples, stage: str, total: int) -> float | None:
    """Events/s between 10 % and 90 % of `total` held: the rate without start-up and tail."""
    low, high = samples.reached(stage, total // 10), samples.reached(stage, total * 9 // 10)
    if low is None or high is None or high <= low:
        return None
    return (total * 9 // 10 - total // 10) / (high - low)


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def cpu_by_command(names: Sequence[str], since: dict[str, dict[int, float]] | None = None,
                   measure: Callable[[int], float] = cpu_seconds) -> dict[str, Any]:
    """CPU seconds of the live processes whose command name is one of `names` (the shared
    PostgreSQL's backends, the broker's JVM): {name: {pid: seconds}}; with `since` (an earlier
    answer), {name: seconds spent since then} (a process that started since counts whole).
    `measure` another per-process figure instead (`waited_on_cpu`)."""
    found: dict[str, dict[int, float]] = {n: {} for n in names}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                comm = (entry / "comm").read_text().strip()
            except OSError:
                continue
            if comm in found:
                found[comm][int(entry.name)] = measure(int(entry.name))
    if since is None:
        return found
    return {n: sum(s - since.get(n, {}).get(pid, 0.0) for pid, s in pids.items())
            for n, pids in found.items()}


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / TICKS, sum(values) / TICKS


def waited_on_cpu(pid: int) -> float:
    """Seconds the process's threads spent runnable but waiting for a core (the run queue, from
    /proc/<pid>/task/*/schedstat): a process that waits here is starved by the others, so the
    cores are saturated; 0 if the process is gone or the kernel keeps no such statistics."""
    total = 0
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return 0.0
    for task in tasks:
        try:
            total += int((task / "schedstat").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e9


@dataclass
class Processes:
    """Each worker's CPU and run-queue seconds, sampled every `every` seconds while it lives, so
    a worker that exits on its idle timeout before the bench reads the counters still counts
    (its last sample: at most `every` seconds short)."""

    pids: dict[str, int]
    every: float = 0.5
    cpu: dict[str, float] = field(default_factory=dict)
    queued: dict[str, float] = field(default_factory=dict)

    def sample(self) -> None:
        for name, pid in self.pids.items():
            if (seconds := cpu_seconds(pid)) > 0:
                self.cpu[name] = seconds
                self.queued[name] = waited_on_cpu(pid)

    def watch(self, stop: threading.Event) -> threading.Thread:
        def loop() -> None:
            while not stop.is_set():
                self.sample()
                stop.wait(self.every)

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        return thread


def advisory_key(key: int) -> tuple[int, int]:
    """(classid, objid) of a bigint advisory lock as pg_locks shows it: its high and low 32 bits."""
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    return unsigned >> 32, unsigned & 0xFFFF_FFFF


@dataclass
class LockWaits:
    """How many backends wait for the tenants' write locks (pg_locks, not granted), sampled every
    `every` seconds: summed, the seconds `consume` workers spent queued behind each other."""

    connect: Callable[[], Any]
    keys: Sequence[tuple[int, int]]
    every: float = 0.1
    samples: list[tuple[float, int]] = field(default_factory=list)

    def watch(self, stop: threading.Event) -> threading.Thread:
        classids, objids = [k[0] for k in self.keys], [k[1] for k in self.keys]

        def loop() -> None:
            with self.connect() as conn:
                while not stop.is_set():
                    row = conn.execute(
                        "SELECT count(*) FROM pg_locks l JOIN unnest(%s::bigint[], %s::bigint[]) "
                        "AS k(c, o) ON l.classid::bigint = k.c AND l.objid::bigint = k.o "
                        "WHERE l.locktype = 'advisory' AND NOT l.granted",
                        (classids, objids)).fetchone()
                    self.samples.append((time.monotonic(), int(row[0]) if row else 0))
                    stop.wait(self.every)

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        return thread

    def _spans(self) -> list[tuple[tuple[float, int], tuple[float, int]]]:
        return list(zip(self.samples, self.samples[1:], strict=False))

    def seconds(self) -> float:
        """Worker-seconds spent waiting for a tenant's lock: each sample's waiters times the time
        to the next sample."""
        return sum(n * (later - at) for (at, n), (later, _) in self._spans())

    def share(self) -> float:
        """The share of the time in which at least one worker waited."""
        if len(self.samples) < 2:
            return 0.0
        waited = sum(later - at for (at, n), (later, _) in self._spans() if n)
        return waited / (self.samples[-1][0] - self.samples[0][0])

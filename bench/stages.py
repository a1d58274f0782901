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


def cpu_by_command(names: Sequence[str], since: dict[str, dict[int, float]] | None = None
                   ) -> dict[str, Any]:
    """CPU seconds of the live processes whose command name is one of `names` (the shared
    PostgreSQL's backends, the broker's JVM): {name: {pid: seconds}}; with `since` (an earlier
    answer), {name: seconds spent since then} (a process that started since counts whole)."""
    found: dict[str, dict[int, float]] = {n: {} for n in names}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                comm = (entry / "comm").read_text().strip()
            except OSError:
                continue
            if comm in found:
                found[comm][int(entry.name)] = cpu_seconds(int(entry.name))
    if since is None:
        return found
    return {n: sum(s - since.get(n, {}).get(pid, 0.0) for pid, s in pids.items())
            for n, pids in found.items()}


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / TICKS, sum(values) / TICKS

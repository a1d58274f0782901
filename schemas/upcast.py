"""Old versions of event data are upcast on the way in and on the way out of the store, never rewritten."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

# (event type, from version) -> function giving the data of version + 1.
UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def register(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    def decorate(fn: Upcaster) -> Upcaster:
        UPCASTERS[(event_type, from_version)] = fn
        return fn

    return decorate


def upcast(event_type: str, version: int, data: dict[str, Any]) -> dict[str, Any]:
    """Walk data from its version up to the current one, one step at a time."""
    from schemas.events import DATA_VERSION

    while version < DATA_VERSION:
        step = UPCASTERS.get((event_type, version))
        if step is not None:
            data = step(data)
        version += 1
    return data

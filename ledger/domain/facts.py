"""What the ledger records: accepted events (facts) and the rules they can break."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

_T = TypeVar("_T")

FAR_FUTURE = datetime.max.replace(tzinfo=UTC)  # later than any time an envelope can carry


def later(moment: datetime, span: timedelta) -> datetime | None:
    """`moment + span`; None past the end of time (a term ending in year 9999 plus a plan's
    grace), where nothing happens that an answer could show."""
    try:
        return moment + span
    except OverflowError:
        return None


@dataclass(frozen=True)
class Fact:
    """An accepted event, as recorded: when it takes effect, when we learned it, and its link in
    the tenant's hash chain. `sequence` is the tenant's recorded order and breaks effective-time ties."""

    tenant: str
    subject: str
    type: str
    effective_at: datetime
    recorded_at: datetime
    source: str
    source_event_id: str
    data: dict[str, Any] = field(default_factory=dict)
    sequence: int = 0
    prev_hash: str = ""
    hash: str = ""
    position: int | None = None

    @property
    def license_id(self) -> str:
        return self.subject

    @property
    def order(self) -> tuple[datetime, int]:
        """Effective-time order, ties in recorded order."""
        return (self.effective_at, self.sequence)


def assembled(cls: type[_T], fields: dict[str, Any], **changes: Any) -> _T:
    """An instance of a frozen dataclass without `__post_init__` (`Fact`, an ingest `Outcome`)
    from every one of its fields, already typed: the frozen `__init__` sets field by field
    through `object.__setattr__`, ~5x the cost of filling `__dict__` at once, and ingest builds
    several per event. Callers name all fields (a missing one is an AttributeError on use);
    `changes` replace some of `fields` (a copy of another instance's `__dict__` with changes)."""
    made = object.__new__(cls)
    made.__dict__.update(fields, **changes)
    return made


class RuleBrokenError(Exception):
    """An event the ledger refuses: `code` is stable for machines, the message is for people."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def reject(code: str, message: str) -> RuleBrokenError:
    return RuleBrokenError(code, message)

"""RFC 3339 times, always with a zone: a zone-less time is an error, never local time."""

from __future__ import annotations

from datetime import UTC, datetime


class ZonelessTimeError(ValueError):
    """A time without a zone cannot be placed on the ledger's timeline."""


def parse_time(value: str) -> datetime:
    """Parse an RFC 3339 time; refuse one without a zone instead of guessing."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ZonelessTimeError(f"time {value!r} has no zone; add 'Z' or an offset like '+01:00'")
    return moment.astimezone(UTC)


def format_time(moment: datetime) -> str:
    """UTC with a 'Z', microseconds only when there are some: stable text for hashing and output."""
    moment = moment.astimezone(UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

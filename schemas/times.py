"""RFC 3339 times, always with a zone: a zone-less time is an error, never local time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BeforeValidator


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
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    text = (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
            f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}")
    return f"{text}.{moment.microsecond:06d}Z" if moment.microsecond else f"{text}Z"


def _text_only(value: object) -> object:
    """A number is not a time here: epoch seconds would be a guess about units and zone."""
    if isinstance(value, str | datetime):
        return value
    raise ValueError("a time must be RFC 3339 text with a zone, like '2026-03-01T00:00:00Z'")


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is out of range once converted to UTC") from None


Time = Annotated[AwareDatetime, BeforeValidator(_text_only), AfterValidator(_in_utc)]

"""RFC 3339 times, always with a zone: a zone-less time is an error, never local time.

One parser for every channel (envelope, data, query parameters, CLI flags). It takes the
RFC 3339 grammar only (section 5.6: `2026-03-01T00:00:00Z`, `...T00:00:00.5+01:00`): no digit
strings read as epoch seconds or milliseconds, no ISO 8601 week dates or basic format, no
dates without a time. Such guesses would put an event on the wrong day without a word."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BeforeValidator
from pydantic_core import PydanticCustomError

EXAMPLE = "2026-03-01T00:00:00Z"
_RFC3339 = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[Tt](?P<hour>\d{2}):(?P<minute>\d{2}):(?P<second>\d{2})"
    r"(?:\.(?P<fraction>\d+))?(?P<zone>[Zz]|[+-]\d{2}:\d{2})?", re.ASCII)


class ZonelessTimeError(ValueError):
    """A time without a zone cannot be placed on the ledger's timeline."""


class NotRfc3339Error(ValueError):
    """Text that is not an RFC 3339 date-time; the message says what was expected."""


def parse_time(value: str) -> datetime:
    """Parse an RFC 3339 time with a zone, in UTC; refuse anything else instead of guessing.
    Fractions beyond microseconds are cut (the ledger keeps microseconds); `-00:00` is UTC."""
    found = _RFC3339.fullmatch(value) if isinstance(value, str) else None
    if found is None:
        raise NotRfc3339Error(f"{_shown(value)} is not an RFC 3339 time with a zone, like {EXAMPLE!r}")
    if found["zone"] is None:
        raise ZonelessTimeError(f"time {_shown(value)} has no zone; add 'Z' or an offset like '+01:00'")
    zone = found["zone"].upper()
    if zone == "Z" and found["fraction"] is None:  # the usual spelling: no offset to apply
        if value[10] == "T" and value[19] == "Z" and found["hour"] < "24":
            # The grammar is checked above; the C parser then builds the same moment (UTC is
            # its `Z`), ~15x faster. Hours of 24 are kept from it (newer Pythons read them as
            # the next midnight); anything it refuses takes the path below, for its message.
            try:
                return datetime.fromisoformat(value)
            except ValueError:
                pass
        try:
            return datetime(int(value[0:4]), int(value[5:7]), int(value[8:10]), int(found["hour"]),
                            int(found["minute"]), int(found["second"]), tzinfo=UTC)
        except ValueError as exc:
            raise NotRfc3339Error(f"{_shown(value)} is not a valid time: {exc}") from None
    try:
        hours, minutes = (0, 0) if zone == "Z" else (int(zone[1:3]), int(zone[4:6]))
        if minutes > 59:
            raise ValueError("the offset's minutes must be in 0..59")
        offset = timezone((-1 if zone[0] == "-" else 1) * timedelta(hours=hours, minutes=minutes))
        year, month, day = (int(part) for part in found["date"].split("-"))
        micro = int((found["fraction"] or "0")[:6].ljust(6, "0"))
        moment = datetime(year, month, day, int(found["hour"]), int(found["minute"]),
                          int(found["second"]), micro, tzinfo=offset)
    except ValueError as exc:
        raise NotRfc3339Error(f"{_shown(value)} is not a valid time: {exc}") from None
    return moment.astimezone(UTC)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def format_time(moment: datetime) -> str:
    """UTC with a 'Z', microseconds only when there are some: stable text for hashing and output."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    # isoformat in UTC is exactly this text with "+00:00" for the "Z" (years padded to four
    # digits, the fraction only when there is one), from C: it runs for every fact.
    return moment.isoformat()[:-6] + "Z"


def _rfc3339_only(value: object) -> object:
    """Text goes through `parse_time`; a number is not a time here (epoch seconds would be a
    guess about units and zone). A datetime from our own code passes on to be checked aware."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("rfc3339_time", "a time must be RFC 3339 text with a zone, "
                                  "like '{example}'", {"example": EXAMPLE})
    try:
        return parse_time(value)
    except OverflowError:
        raise PydanticCustomError("rfc3339_time", "the time is out of range once converted "
                                  "to UTC") from None
    except ValueError as exc:
        raise PydanticCustomError("rfc3339_time", "{reason}", {"reason": str(exc)}) from None


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is out of range once converted to UTC") from None


Time = Annotated[AwareDatetime, BeforeValidator(_rfc3339_only), AfterValidator(_in_utc)]

"""Every time on every channel is RFC 3339 with a zone, or an error naming the field: no digit
string is read as epoch seconds or milliseconds, no ISO 8601 variant is guessed at."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from ledger.cli.main import cli
from ledger.domain.usage import month_key
from schemas.envelope import InvalidEventError, parse_envelope
from schemas.times import format_time, parse_time
from tests.builders import envelope

NOT_RFC3339 = ["1764547200", "1798761600000", "20271201", "20271201T000000Z", "2027-12-01",
               "2027-W48-3T00:00:00Z", "2027-12-01T00:00Z", "2027-12-01 00:00:00Z",
               " 2027-12-01T00:00:00Z", "2027-12-01T00:00:00Z ", "2027-12-01T00:00:00+0100",
               "2027-12-01T00:00:00+01", "2027-12-01T24:00:00Z", "2027-02-30T00:00:00Z",
               "2027-12-01T00:00:60Z", "2027-12-01T00:00:00+01:60", "2027-12-01T00:00:00.Z",
               "٢٠٢٧-12-01T00:00:00Z", "", "now", "1e9"]


def rejection(raw: dict) -> str:
    with pytest.raises(InvalidEventError) as caught:
        parse_envelope(raw)
    return str(caught.value)


@pytest.mark.parametrize("text", NOT_RFC3339)
def test_text_that_is_not_rfc3339_is_refused_as_the_envelope_time(text: str) -> None:
    raw = envelope("license.granted", "2026-03-01", customer_id="c", plan="pro")
    raw["time"] = text
    assert "field 'time'" in rejection(raw)


@pytest.mark.parametrize("text", NOT_RFC3339)
def test_text_that_is_not_rfc3339_is_refused_in_data(text: str) -> None:
    raw = envelope("license.granted", "2026-03-01", customer_id="c", plan="pro", ends_at=text)
    assert "field 'data.ends_at'" in rejection(raw)


@pytest.mark.parametrize("number", [1764547200, 1798761600000, 1.7e9])
def test_a_number_is_not_a_time(number: float) -> None:
    raw = envelope("license.renewed", "2026-03-01", ends_at=number)
    assert "field 'data.ends_at'" in rejection(raw)


@pytest.mark.parametrize("text", NOT_RFC3339)
def test_parse_time_refuses_what_is_not_rfc3339(text: str) -> None:
    with pytest.raises(ValueError, match="RFC 3339|valid time"):
        parse_time(text)


@pytest.mark.parametrize(("text", "utc"), [
    ("2026-03-01T00:00:00Z", "2026-03-01T00:00:00Z"),
    ("2026-03-01t00:00:00z", "2026-03-01T00:00:00Z"),
    ("2026-03-01T01:30:00+01:30", "2026-03-01T00:00:00Z"),
    ("2026-03-01T00:00:00-00:00", "2026-03-01T00:00:00Z"),
    ("2026-03-01T00:00:00.5Z", "2026-03-01T00:00:00.500000Z"),
    ("2026-03-01T00:00:00.123456789Z", "2026-03-01T00:00:00.123456Z"),
])
def test_rfc3339_times_with_a_zone_are_read_in_utc(text: str, utc: str) -> None:
    assert format_time(parse_time(text)) == utc


def test_a_zoneless_time_is_named_as_such() -> None:
    with pytest.raises(ValueError, match="has no zone"):
        parse_time("2026-03-01T00:00:00")


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                    timezones=st.just(UTC)))
def test_every_time_the_ledger_writes_reads_back_as_itself(moment: datetime) -> None:
    assert parse_time(format_time(moment)) == moment


@given(st.text(alphabet="0123456789", min_size=1, max_size=20))
def test_no_digit_string_is_a_time(digits: str) -> None:
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_time(digits)


@pytest.mark.parametrize("args", [
    ["replay", "--all", "--as-of", "1764547200"],
    ["replay", "--all", "--as-of", "2026-03-01T00:00:00Z", "--known-at", "20271201"],
    ["catalog", "publish", "--effective-at", "1798761600000", "pyproject.toml"],
    ["replay", "--all", "--as-of", "0001-01-01T00:00:00+01:00"],
])
def test_cli_time_flags_refuse_digit_strings_naming_the_flag(args: list[str]) -> None:
    result = CliRunner().invoke(cli, args)
    flag = [a for a in args if a in ("--as-of", "--known-at", "--effective-at")][-1]
    assert result.exit_code == 2 and flag in result.output
    assert "RFC 3339" in result.output or "out of range" in result.output


def _spelled_field_by_field(moment: datetime) -> str:
    """format_time as it was spelled before it used isoformat: the text it must keep giving."""
    moment = moment.astimezone(UTC)
    text = (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
            f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}")
    return f"{text}.{moment.microsecond:06d}Z" if moment.microsecond else f"{text}Z"


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                    timezones=st.just(UTC) | st.timezones()))
def test_a_formatted_time_is_the_field_by_field_spelling(moment: datetime) -> None:
    assert format_time(moment) == _spelled_field_by_field(moment)


@given(st.datetimes(max_value=datetime(9999, 12, 31), timezones=st.just(UTC)).map(
    lambda m: m.replace(microsecond=0)))
def test_a_utc_time_without_fraction_parses_as_its_fields_say(moment: datetime) -> None:
    parsed = parse_time(_spelled_field_by_field(moment))
    assert parsed == moment and parsed.tzinfo is UTC


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                    timezones=st.just(UTC) | st.timezones()))
def test_a_usage_month_is_strftimes_year_and_month_in_utc(moment: datetime) -> None:
    assert month_key(moment) == moment.astimezone(UTC).strftime("%Y-%m")

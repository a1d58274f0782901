"""The inbound envelope is strict, and bad input is named by field and rule."""

from __future__ import annotations

import json

import pytest

from schemas import upcast
from schemas.envelope import InvalidEventError, parse_envelope
from schemas.export import COMMITTED, documents
from tests.builders import envelope


def error_of(raw: object) -> str:
    with pytest.raises(InvalidEventError) as caught:
        parse_envelope(raw)
    return str(caught.value)


def test_a_time_without_a_zone_is_an_error_naming_the_field() -> None:
    raw = envelope("license.granted", "2026-03-01T00:00:00", customer_id="c", plan="pro")
    assert "field 'time'" in error_of(raw) and "zone" in error_of(raw)


def test_a_zone_less_time_inside_data_is_an_error_naming_the_field() -> None:
    raw = envelope("license.renewed", "2026-03-01", ends_at="2027-03-01T00:00:00")
    assert "field 'data.ends_at'" in error_of(raw)


def test_unknown_fields_in_data_are_errors() -> None:
    raw = envelope("license.granted", "2026-03-01", customer_id="c", plan="pro", colour="red")
    assert "field 'data.colour'" in error_of(raw)


def test_a_seat_count_sent_as_text_is_not_silently_converted() -> None:
    raw = envelope("license.seats_changed", "2026-03-01", seats="10")
    assert "field 'data.seats'" in error_of(raw)


def test_a_missing_required_field_is_named() -> None:
    assert "field 'data.plan'" in error_of(envelope("license.upgraded", "2026-03-01"))


def test_an_unknown_event_type_lists_the_known_ones() -> None:
    message = error_of(envelope("license.exploded", "2026-03-01"))
    assert "license.exploded" in message and "license.granted" in message


def test_usage_quantity_must_be_positive() -> None:
    assert "field 'data.quantity'" in error_of(envelope("usage.recorded", "2026-03-01", feature="x", quantity=0))


def test_text_that_is_not_json_is_an_invalid_event() -> None:
    assert "not JSON" in error_of("{nope")


def test_times_with_offsets_are_normalised_to_utc() -> None:
    raw = envelope("license.renewed", "2026-03-01T01:00:00+01:00", ends_at="2027-03-01T01:00:00+01:00")
    inbound = parse_envelope(raw)
    assert inbound.data["ends_at"] == "2027-03-01T00:00:00Z"
    assert inbound.time.isoformat() == "2026-03-01T00:00:00+00:00"


def test_an_older_data_version_is_upcast_on_the_way_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(upcast.UPCASTERS, ("license.seats_changed", 0),
                        lambda data: {"seats": data["seat_count"]})
    raw = {**envelope("license.seats_changed", "2026-03-01", seat_count=4), "dataversion": 0}
    assert parse_envelope(raw).data == {"seats": 4}


def test_committed_json_schemas_match_the_models() -> None:
    for name, document in documents().items():
        committed = json.loads((COMMITTED / name).read_text())
        assert committed == json.loads(json.dumps(document)), (
            f"schemas/json/{name} is stale: run `ledger schemas export schemas/json`")


def test_a_number_is_not_accepted_as_a_time() -> None:
    assert "field 'time'" in error_of({**envelope("license.reinstated", "2026-03-01"), "time": 1772323200})
    assert "field 'data.ends_at'" in error_of(envelope("license.renewed", "2026-03-01", ends_at=1800000000))


def test_ids_with_control_characters_are_refused_so_that_no_two_events_can_share_a_key() -> None:
    message = error_of({**envelope("license.reinstated", "2026-03-01"), "id": "a\x1fb"})
    assert "field 'id'" in message and "control characters" in message


def test_an_optional_field_sent_as_null_takes_its_default_and_regions_are_upper_case() -> None:
    data = parse_envelope(envelope("license.granted", "2026-03-01", customer_id="c", plan="pro",
                                   seats=None, region="de")).data
    assert data["seats"] == 1 and data["region"] == "DE"


@pytest.mark.parametrize("text", ['{"id": "big", "data": {"seats": ' + "9" * 5000 + "}}",
                                  "[" * 3000 + "]" * 3000, '{"a": ' * 3000 + "1" + "}" * 3000],
                         ids=["5000-digit integer", "3000-level array", "3000-level object"])
@pytest.mark.parametrize("as_bytes", [False, True])
def test_json_the_reader_cannot_build_is_an_invalid_event_not_a_crash(text: str, as_bytes: bool) -> None:
    # A Kafka record or an ingest line like this once raised RecursionError out of the parser.
    assert "not JSON" in error_of(text.encode() if as_bytes else text)

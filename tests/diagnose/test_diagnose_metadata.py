"""PEAT's metadata headers: both spellings, every value kept as sent, parsed where it can be."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hortus.diagnose.metadata import parse_metadata, parse_timestamp

MAY_1 = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)


def test_title_case_and_underscore_spellings_are_the_same_value():
    dashed = parse_metadata({"Gps-Accuracy": "3", "User-Id": "u", "User-Name": "Ann"})
    underscored = parse_metadata({"gps_accuracy": "3", "user_id": "u", "user_name": "Ann"})
    assert dashed.parsed() == underscored.parsed()
    assert (dashed.gps_accuracy, dashed.user_id, dashed.user_name) == (3.0, "u", "Ann")
    assert dashed.sent == {"Gps-Accuracy": "3", "User-Id": "u", "User-Name": "Ann"}


def test_every_header_is_parsed():
    sent = {"latitude": "-1.5", "longitude": "36.8", "eppo": "uromap", "crop": "bean",
            "variety": "Rosecoco", "timestamp": "1714555800"}
    meta = parse_metadata(sent)
    assert (meta.latitude, meta.longitude, meta.eppo) == (-1.5, 36.8, "UROMAP")
    assert (meta.crop, meta.variety, meta.timestamp) == ("bean", "Rosecoco", "1714555800")
    assert meta.taken_at == MAY_1 and meta.sent == sent
    assert parse_metadata({}).parsed() == parse_metadata({"crop": "  "}).parsed()  # blank
    assert parse_metadata({"crop": "  "}).sent == {"crop": "  "}  # ... is still kept as sent


@pytest.mark.parametrize("value", [
    "2024-05-01T09:30:00Z", "2024-05-01 09:30:00", "2024-05-01T11:30:00+02:00",
    "1714555800000", "Wed, 01 May 2024 09:30:00 GMT", "Wed, 01 May 2024 11:30:00 +0200",
    "01/05/2024 09:30:00", "01/05/2024 09:30", "2024:05:01 09:30:00",
])
def test_timestamps_in_the_forms_clients_send(value):
    assert parse_timestamp(value) == MAY_1


@pytest.mark.parametrize("value", [
    "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00Z",
    "31/12/9999 23:59:59", "1e300", "-1e20", "soon", "2024-13-45T99:00:00Z", "",
])
def test_timestamps_out_of_range_or_unreadable_are_unparsed(value):
    assert parse_timestamp(value) is None
    meta = parse_metadata({"timestamp": value})
    assert meta.taken_at is None and meta.sent == {"timestamp": value}


@pytest.mark.parametrize(("sent", "field"), [
    ({"latitude": "91"}, "latitude"), ({"latitude": "123"}, "latitude"),
    ({"longitude": "east"}, "longitude"), ({"Gps-Accuracy": "-1"}, "gps_accuracy"),
    ({"gps_accuracy": "inf"}, "gps_accuracy"), ({"eppo": "UROMAP!"}, "eppo"),
    ({"eppo": "Phaseolus"}, "eppo"), ({"user_name": "x" * 201}, "user_name"),
    ({"variety": "a\x01b"}, "variety"), ({"timestamp": "t" * 65}, "timestamp"),
])
def test_unparsable_values_are_kept_as_sent_and_left_unparsed(sent, field):
    meta = parse_metadata(sent)
    assert getattr(meta, field) is None and meta.sent == sent


def test_disagreeing_spellings_are_both_kept_and_neither_believed():
    meta = parse_metadata({"Gps-Accuracy": "1", "gps_accuracy": "2", "User-Id": "a",
                           "user_id": "a"})
    assert meta.gps_accuracy is None and meta.user_id == "a"
    assert meta.sent == {"Gps-Accuracy": "1", "gps_accuracy": "2", "User-Id": "a",
                         "user_id": "a"}
    assert parse_metadata({"Gps-Accuracy": "3", "gps_accuracy": "3.0"}).gps_accuracy == 3.0

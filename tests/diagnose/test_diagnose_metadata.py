"""PEAT's metadata headers: both spellings, checked values, errors naming the header."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from starlette.datastructures import Headers

from hortus.diagnose.metadata import parse_metadata
from hortus.errors import InvalidInput


def headers(**values: str) -> Headers:
    return Headers(headers=values)


def test_title_case_and_underscore_spellings_are_the_same():
    dashed = parse_metadata(Headers(headers={"Gps-Accuracy": "3", "User-Id": "u",
                                             "User-Name": "Ann"}))
    underscored = parse_metadata(headers(gps_accuracy="3", user_id="u", user_name="Ann"))
    assert dashed == underscored
    assert (dashed.gps_accuracy, dashed.user_id, dashed.user_name) == (3.0, "u", "Ann")


def test_every_header_is_parsed():
    meta = parse_metadata(headers(latitude="-1.5", longitude="36.8", eppo="uromap",
                                  crop="bean", variety="Rosecoco", timestamp="1714555800"))
    assert (meta.latitude, meta.longitude, meta.eppo) == (-1.5, 36.8, "UROMAP")
    assert (meta.crop, meta.variety, meta.timestamp) == ("bean", "Rosecoco", "1714555800")
    assert meta.taken_at == datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
    assert parse_metadata(headers()) == parse_metadata(headers(crop="  "))  # blank = absent


@pytest.mark.parametrize("value", ["2024-05-01T09:30:00Z", "2024-05-01 09:30:00",
                                   "2024-05-01T11:30:00+02:00", "1714555800000"])
def test_timestamps(value):
    assert parse_metadata(headers(timestamp=value)).taken_at == datetime(2024, 5, 1, 9, 30,
                                                                         tzinfo=UTC)


@pytest.mark.parametrize(("sent", "named"), [
    ({"latitude": "91"}, "latitude"), ({"longitude": "east"}, "longitude"),
    ({"Gps-Accuracy": "-1"}, "Gps-Accuracy"), ({"gps_accuracy": "inf"}, "gps_accuracy"),
    ({"eppo": "UROMAP!"}, "eppo"), ({"timestamp": "soon"}, "timestamp"),
    ({"user_name": "x" * 201}, "user_name"), ({"Variety": "a\x01b"}, "variety"),
])
def test_malformed_values_name_the_header(sent, named):
    with pytest.raises(InvalidInput) as caught:
        parse_metadata(Headers(headers=sent))
    assert named in caught.value.message and caught.value.status == 400


def test_both_spellings_disagreeing_is_refused():
    with pytest.raises(InvalidInput, match="Gps-Accuracy / gps_accuracy"):
        parse_metadata(Headers(headers={"Gps-Accuracy": "1", "gps_accuracy": "2"}))
    assert parse_metadata(Headers(headers={"User-Id": "a", "user_id": "a"})).user_id == "a"

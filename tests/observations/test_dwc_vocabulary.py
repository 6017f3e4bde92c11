"""The pure parts of Darwin Core exchange: licences as archives write them, dates, people's
names and handles, safe member names."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hortus.observations.dwc_people import handle_for, name_key
from hortus.observations.dwc_terms import dataset_license, license_from_text
from hortus.observations.dwca_read import Row, safe_member_name
from hortus.observations.dwca_rows import Skip, parse_event_date, parse_location, split_people

DWC = "http://rs.tdwg.org/dwc/terms/"


@pytest.mark.parametrize(("text", "code"), [
    ("CC_BY_4_0", "cc-by"), ("CC_BY_NC_4_0", "cc-by-nc"), ("CC0_1_0", "cc0"),
    ("http://creativecommons.org/licenses/by/4.0/legalcode", "cc-by"),
    ("https://creativecommons.org/licenses/by-nc-sa/4.0/", "cc-by-nc-sa"),
    ("https://creativecommons.org/licenses/by-nd/4.0/deed.fr", "cc-by-nd"),
    ("http://creativecommons.org/publicdomain/zero/1.0/", "cc0"),
    ("CC-BY-SA-4.0", "cc-by-sa"), ("cc-by-nc-nd", "cc-by-nc-nd"), ("CC BY-NC 4.0", "cc-by-nc"),
    ("CC0", "cc0"), ("CC0 1.0 Universal", "cc0"), ("cc by 4.0 international", "cc-by"),
    ("(CC BY 4.0)", "cc-by"),
    # Other versions are other licences; some are no licence at all.
    ("https://creativecommons.org/licenses/by/3.0/", None), ("CC BY-NC 2.0", None),
    ("CC_BY_SA_3_0", None), ("All rights reserved", None), ("", None), (None, None),
    ("https://example.org/licenses/by/4.0/", None), ("cc-by-xx", None), ("x" * 400, None),
    ("http://creativecommons.org/licenses/by/4.0/../../../etc", None),
    ("https://creativecommons.org/publicdomain/zero/10.0/", None),
])
def test_licences_as_archives_write_them(text, code):
    assert license_from_text(text) == code


def test_a_dataset_licence_is_as_restrictive_as_its_records():
    assert dataset_license({"cc0"}) == "cc0"
    assert dataset_license({"cc0", "cc-by"}) == "cc-by"
    assert dataset_license({"cc-by", "cc-by-nc"}) == "cc-by-nc"
    assert dataset_license({"cc-by-sa"}) == "cc-by-nc"  # GBIF publishes under three only


def _row(**values: str) -> Row:
    return Row(line=7, id="x", values={DWC + k: v for k, v in values.items()})


NOW = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(("values", "moment"), [
    ({"eventDate": "2024-04-02"}, datetime(2024, 4, 2, tzinfo=UTC)),
    ({"eventDate": "2024-04-02T09:30:00Z"}, datetime(2024, 4, 2, 9, 30, tzinfo=UTC)),
    ({"eventDate": "2024-04-02T11:30:00+02:00"}, datetime(2024, 4, 2, 9, 30, tzinfo=UTC)),
    ({"eventDate": "2024-04-02T09:30"}, datetime(2024, 4, 2, 9, 30, tzinfo=UTC)),
    ({"eventDate": "2024-04"}, datetime(2024, 4, 1, tzinfo=UTC)),
    ({"eventDate": "1999"}, datetime(1999, 1, 1, tzinfo=UTC)),
    ({"eventDate": "2020-09-09/2020-09-12"}, datetime(2020, 9, 9, tzinfo=UTC)),
    ({"eventDate": "", "year": "2010", "month": "5", "day": "6"},
     datetime(2010, 5, 6, tzinfo=UTC)),
])
def test_event_dates(values, moment):
    assert parse_event_date(_row(**values), now=NOW) == moment


@pytest.mark.parametrize("values", [
    {"eventDate": ""}, {"eventDate": "yesterday"}, {"eventDate": "2024-13-01"},
    {"eventDate": "1650-01-01"}, {"eventDate": "2030-01-01"}, {"year": "2010", "month": "13"},
    {"eventDate": "1700000000000"},
])
def test_unusable_event_dates_leave_the_occurrence_out(values):
    with pytest.raises(Skip) as skip:
        parse_event_date(_row(**values), now=NOW)
    assert skip.value.reason == "no usable date"


def test_locations():
    assert parse_location(_row()) == (None, None, None)
    assert parse_location(_row(decimalLatitude="43.61", decimalLongitude="-3.5",
                               coordinateUncertaintyInMeters="12")) == (43.61, -3.5, 12.0)
    assert parse_location(_row(decimalLatitude="1", decimalLongitude="2",
                               coordinateUncertaintyInMeters="-4")) == (1.0, 2.0, None)
    for bad in ({"decimalLatitude": "91", "decimalLongitude": "0"},
                {"decimalLatitude": "1"}, {"decimalLatitude": "nan", "decimalLongitude": "1"},
                {"decimalLatitude": "1", "decimalLongitude": "east"}):
        with pytest.raises(Skip):
            parse_location(_row(**bad))


def test_people():
    assert split_people("Ana | Bo;  Cy |ana| ") == ["Ana", "Bo", "Cy"]
    assert split_people("") == []
    assert len(split_people("|".join(f"p{i}" for i in range(50)))) == 10
    assert name_key("Jean  Dupont") == name_key("jean dupont") != name_key("Jean Dupond")
    assert handle_for("Jean Dupont") == "Jean.Dupont"
    assert handle_for("Zoé Ñúñez") == "Zoe.Nunez"
    assert handle_for("李明") is None and handle_for("Al") is None
    assert handle_for("anonymous #12") == "anonymous.12"
    assert len(handle_for("x" * 80) or "") == 32


@pytest.mark.parametrize(("name", "safe"), [
    ("occurrence.txt", True), ("media/ab.jpg", True), ("dataset/x.xml", True),
    ("../x", False), ("media/../../x", False), ("/etc/passwd", False), ("C:evil", False),
    ("media\\x.jpg", False), ("a\x00b", False), ("", False), (" x", False), ("x" * 2000, False),
])
def test_member_names(name, safe):
    assert safe_member_name(name) is safe

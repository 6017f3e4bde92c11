"""Stored analyses on SQLite and PostgreSQL: any metadata a client sends is stored and read back.

The picture and the engine are not needed here: the row is written the way the service writes
it, so the database's column types (text lengths, time stamps near the ends of the range) meet
the values clients can send.
"""

from __future__ import annotations

import uuid

import pytest

from hortus.accounts import service as accounts
from hortus.bootstrap import prepare_database
from hortus.config import Settings
from hortus.diagnose import service
from hortus.diagnose.metadata import parse_metadata
from hortus.diagnose.models import Analysis
from hortus.errors import NotFound

ANSWER = {"big_enough": True, "code": 200, "healthy": None, "image_analysis": [],
          "objects_net": [{"name": "daisy", "rank": 1, "similarity": 88}], "plant_net": [],
          "recognized": "False", "recognized_bool": False}


@pytest.mark.parametrize("sent", [
    {"timestamp": "0001-01-02T00:00:00Z", "latitude": "123", "eppo": "Phaseolus"},
    {"timestamp": "9999-12-30T00:00:00+00:00", "Gps-Accuracy": "1", "gps_accuracy": "2"},
    {"timestamp": "0001-01-01T00:00:00+01:00", "user_name": "n" * 3000, "variety": "v" * 300,
     "crop": "c" * 250, "User-Id": "\u00e9t\u00e9", "user": "field-team-3"},
])
def test_any_metadata_is_stored_and_read_back(any_settings: Settings, sent):
    database = prepare_database(any_settings)
    pic_id = str(uuid.uuid4())
    try:
        metadata = parse_metadata(sent)
        with database.write() as session:
            account = accounts.get_or_create_account(session=session, email="a@example.org")
            session.flush()
            account_id = account.id
            session.add(Analysis(id=pic_id, account_id=account_id, picture_path="x.jpg",
                                 picture_format="JPEG", picture_bytes=1, width=500, height=500,
                                 answer={**ANSWER, "pic_id": pic_id}, metadata_raw=metadata.sent,
                                 **metadata.parsed()))
        with database.read() as session:
            stored = service.get_analysis(session=session, account_id=account_id,
                                          pic_id=uuid.UUID(pic_id))
            with pytest.raises(NotFound):
                service.get_analysis(session=session, account_id=account_id + 1,
                                     pic_id=uuid.UUID(pic_id))
    finally:
        database.dispose()
    body = stored.model_dump(mode="json")
    assert body["metadata"]["headers"] == sent
    assert {k: body[k] for k in ANSWER} == ANSWER and body["pic_id"] == pic_id
    expected = metadata.taken_at.isoformat() if metadata.taken_at else None
    assert body["metadata"]["taken_at"] == expected
    assert (body["metadata"]["latitude"], body["metadata"]["eppo"]) == (None, None)

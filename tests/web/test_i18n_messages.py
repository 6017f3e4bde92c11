"""Other domains' messages on the pages, in the visitor's language: each sentence that
:mod:`hortus.web.service_messages` knows is made by the real service (password rules, handles,
keys, the plant browser's checks, missing plants and problems, photos that cannot be read) and
comes out translated, values kept; a service that rewords one is caught here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hortus.accounts import passwords, service
from hortus.accounts.models import Account
from hortus.db import Database
from hortus.diagnose import catalogue_service
from hortus.diagnose.service import PICTURE_MISSING
from hortus.errors import HortusError
from hortus.plants import browse
from hortus.plants.profile import plant_profile
from hortus.vision.decode import ImageDecodeError, check_dimensions, decode_image
from hortus.web import i18n
from hortus.web.service_messages import _patterns, translated

SRC = Path(__file__).resolve().parents[2] / "src" / "hortus"


def message_of(call, *args, **kwargs) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises((HortusError, ImageDecodeError)) as raised:
        call(*args, **kwargs)
    error = raised.value
    return error.reason if isinstance(error, ImageDecodeError) else error.message


def produced(database: Database) -> list[str]:
    """The messages, as the services make them."""
    messages = [
        message_of(passwords.check_strength, ""),
        message_of(passwords.check_strength, "short"),
        message_of(passwords.check_strength, "x" * (passwords.MAX_LENGTH + 1)),
        message_of(passwords.check_strength, "aaaaaaaaaaaaa"),
        message_of(passwords.check_strength, "password123"),
        message_of(passwords.check_strength, "gardener12345", email="gardener12345@example.org"),
        message_of(service.normalise_email, "not an address"),
        service.HANDLE_HELP,
        message_of(service.normalise_handle, "!!"),
        service.public_name(account_id=7, handle=None) or "",
        message_of(browse.browse_query, browse.BrowseParams(q="x" * 600)),
        message_of(browse.browse_query, browse.BrowseParams(q="%%%")),
        message_of(browse.browse_query, browse.BrowseParams(page="abc")),
        message_of(browse.browse_query, browse.BrowseParams(sort="price")),
        message_of(browse.browse_query, browse.BrowseParams(edible="maybe")),
        message_of(browse.browse_query, browse.BrowseParams(zone="14")),
        message_of(decode_image, b""),
        message_of(decode_image, b"hello, this is no photo at all"),
        message_of(decode_image, b"\x89PNG\r\n\x1a\n" + b"\x00" * 40),
        message_of(check_dimensions, 5000, 4000, 1_000_000),
        PICTURE_MISSING,
    ]
    with database.write() as session:
        first = service.get_or_create_account(session=session, email="one@example.org")
        second = service.get_or_create_account(session=session, email="two@example.org")
        service.set_handle(session=session, account=first, handle="Gardener")
        messages.append(message_of(service.set_handle, session=session, account=second,
                                   handle="gardener"))
        messages.append(message_of(service.set_handle, session=session,
                                   account=Account(id=987654, email="gone@example.org"),
                                   handle=None))
        messages.append(message_of(service.get_own_key, session=session, account=first,
                                   key_id="nokey"))
    with database.read() as session:
        messages.append(message_of(browse.browse_plants, session=session,
                                   query=browse.BrowseQuery(q="Helianthus annuus", page=50)))
        messages.append(message_of(browse.browse_plants, session=session,
                                   query=browse.BrowseQuery(page=5000)))
        messages.append(message_of(plant_profile, session=session, slug="no-such-plant"))
        messages.append(message_of(catalogue_service.get_disease, session=session, peat_id=1))
    return messages


# Sentences no service call here makes without contrived inputs: their English text must still
# be in the domain's source, so a rewording is noticed.
IN_SOURCE = {
    "JPEG headers end before the image data": "vision/decode.py",
    "JPEG header structure is corrupt": "vision/decode.py",
    "JPEG ends inside its scan header": "vision/decode.py",
    "JPEG is truncated: no end-of-image marker": "vision/decode.py",
    "WebP is truncated: shorter than its RIFF size": "vision/decode.py",
    "the %(format)s data is truncated or corrupt: %(detail)s": "vision/decode.py",
    "The picture cannot be analysed: %(reason)s": "diagnose/service.py",
}


def test_every_known_sentence_is_what_a_service_says(database: Database) -> None:
    messages = produced(database)
    for pattern, sentence in _patterns():
        if any(pattern.fullmatch(m) for m in messages):
            continue
        assert sentence in IN_SOURCE, f"no service says {sentence!r} any more"
        fixed = [part for part in re.split(r"%\(\w+\)s", sentence) if len(part) > 3]
        source = (SRC / IN_SOURCE[sentence]).read_text(encoding="utf-8")
        assert all(part in source for part in fixed), sentence


@pytest.mark.parametrize("language", ["fr", "de", "es"])
def test_the_services_messages_are_translated_with_their_values(database: Database,
                                                                language: str) -> None:
    messages = produced(database)
    with i18n.speaking(language):
        for message in messages:
            shown = translated(message)
            assert shown != message, (language, message)
            assert "%(" not in shown, shown
            for value in re.findall(r"'[^']*'|\b\d+\b", message):  # names and numbers kept
                assert value in shown.replace("\u00a0", " ") or value.strip("'") in shown, \
                    (message, shown)


def test_examples_read_as_people_write() -> None:
    with i18n.speaking("fr"):
        assert translated("The password is too short: use at least 10 characters.") == \
            "Le mot de passe est trop court\u00a0: utilisez au moins 10 caractères."
        sorts = translated(message_of(browse.browse_query, browse.BrowseParams(sort="price")))
        assert sorts == ("Les résultats ne peuvent être triés que par pertinence, nom (a–z), "
                         "nom scientifique (a–z), mis à jour récemment.")
        handle = translated(message_of(service.normalise_handle, "!!"))
        assert handle.startswith("'!!' ne peut pas être un pseudonyme\u00a0: utilisez 3 à 32")
    with i18n.speaking("de"):
        edible = translated(message_of(browse.browse_query, browse.BrowseParams(edible="maybe")))
        assert edible == "Essbar kann Ja, Nein sein: Wählen Sie einen dieser Werte."
        zone = translated(message_of(browse.browse_query, browse.BrowseParams(zone="14")))
        assert zone.startswith("Winterhärtezone (USDA) kann Zone 1, Zone 2")
    with i18n.speaking("es"):
        assert translated("Something no catalogue knows.") == "Something no catalogue knows."
    assert translated("Choose a password.") == "Choose a password."  # English outside

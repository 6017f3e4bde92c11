"""An identification in the visitor's language, with the packaged model and real photos: the
result names the plant by its name in that language, its organs, care facts, date and notices
are translated, the same result reads in another language for another visitor, and the form's
errors and the script's sentences are translated too."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from fastapi.testclient import TestClient
from web_support import csrf_of

from hortus.config import Settings

FRENCH = {"Accept-Language": "fr-FR,fr;q=0.9"}


def oxford(shared_data: Path, kind: str, n: int = 3) -> bytes:
    return sorted((shared_data / "oxford17" / kind).glob("*.jpg"))[n].read_bytes()


def identify(client: TestClient, photos: list[tuple[str, bytes]], organs: list[str],
             headers: dict[str, str]) -> object:
    token = csrf_of(client.get("/identify", headers=headers).text)
    return client.post("/identify", headers=headers, data={"csrf_token": token, "organs": organs},
                       files=[("images", (name, data, "image/jpeg")) for name, data in photos])


def test_identify_in_french_then_read_in_german(settings: Settings, shared_data: Path) -> None:
    from hortus.app import create_app

    with TestClient(create_app(settings), follow_redirects=False) as client:
        answer = identify(client, [("tournesol.jpg", oxford(shared_data, "sunflower"))],
                          ["flower"], FRENCH)
        assert answer.status_code == 303, answer.text[:400]
        location = answer.headers["location"]
        french = html.unescape(client.get(location, headers=FRENCH).text)
        assert "<h1>Probablement\u00a0: Tournesol</h1>" in french
        assert "Helianthus annuus" in french  # the scientific name as it is
        assert "Photo 1 · fleur" in french and "Vos photos" in french
        assert "<dt>Comestible</dt><dd>Oui</dd>" in french
        assert re.search(r"Identifiée le \d{1,2} [a-zéû]+\.? \d{4}, \d\d:\d\d UTC", french)
        assert "Tournesol\u00a0: comment la cultiver" in french
        for english in ("Most likely", "Your photos", "Keep or share it", "Sunflower"):
            assert english not in french, english
        # The same result for a German reader.
        german = html.unescape(client.get(location, headers={"Accept-Language": "de"}).text)
        assert "<h1>Wahrscheinlich Sonnenblume</h1>" in german
        assert "Foto 1 · Blüte" in german and "Aufbewahren oder teilen" in german

        # Two photos of different plants: the notice in Spanish.
        spanish_headers = {"Accept-Language": "es"}
        mixed = identify(client, [("a.jpg", oxford(shared_data, "daisy", 5)),
                                  ("b.jpg", oxford(shared_data, "daffodil", 5))],
                         ["flower", "flower"], spanish_headers)
        assert mixed.status_code == 303, mixed.text[:400]
        notice = html.unescape(client.get(mixed.headers["location"],
                                          headers=spanish_headers).text)
        assert "Puede que las fotos no muestren una sola planta" in notice
        assert "la foto 1 se parece a" in notice and "Identifica una planta cada vez" in notice


def test_the_forms_errors_and_script_sentences_are_translated(web_client: TestClient) -> None:
    german = {"Accept-Language": "de"}
    form = web_client.get("/identify", headers=german).text
    sentences = json.loads(html.unescape(re.search(
        r'<script type="application/json" id="identify-messages">(.*?)</script>', form,
        re.S).group(1)))  # type: ignore[union-attr]
    assert sentences["remove"] == "Foto {number} entfernen"
    assert sentences["chosen_many"] == "{count} Fotos ausgewählt (bis zu {max}), {size}."
    assert 'data-busy="Wird bestimmt …"' in form
    assert '<option value="auto">Nicht sicher: Hortus entscheidet</option>' in form
    token = csrf_of(form)
    nothing = web_client.post("/identify", headers=german, data={"csrf_token": token},
                              files=[("images", ("", b"", "application/octet-stream"))])
    assert nothing.status_code == 400
    assert "Wählen Sie mindestens ein Foto" in html.unescape(nothing.text)
    not_a_photo = web_client.post("/identify", headers=german, data={"csrf_token": token},
                                  files=[("images", ("notes.txt", b"just some text here",
                                                     "text/plain"))])
    assert not_a_photo.status_code == 415
    assert ("Foto 1 (notes.txt) ist kein Foto, das Hortus lesen kann: Senden Sie JPEG-, PNG-, "
            "WebP- oder HEIC-Fotos (iPhone).") in html.unescape(not_a_photo.text)

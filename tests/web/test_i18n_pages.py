"""The pages in English, French, German and Spanish over real HTTP: each language's text on the
home, identify, diagnose, plant search, plant profile, crop problem and sign-in pages (and none
of the English it replaces), plant and disease names in the visitor's language, and language
names from Babel's locale data."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient
from web_support import sign_up

# Per page: a sentence in each language; the English one must be gone from the others.
PAGES: dict[str, dict[str, list[str]]] = {
    "/": {
        "en": ["Search the plant knowledge base", "Three APIs, one key"],
        "fr": ["Rechercher dans la base de connaissances des plantes", "Trois API, une seule clé"],
        "de": ["In der Pflanzen-Wissensdatenbank suchen", "Drei APIs, ein Schlüssel"],
        "es": ["Buscar en la base de conocimiento de plantas", "Tres API, una sola clave"],
    },
    "/identify": {
        "en": ["Identify a plant", "What each photo shows", "Without an account"],
        "fr": ["Identifier une plante", "Ce que montre chaque photo", "Sans compte"],
        "de": ["Eine Pflanze bestimmen", "Was jedes Foto zeigt", "Ohne Konto"],
        "es": ["Identificar una planta", "Qué muestra cada foto", "Sin cuenta"],
    },
    "/diagnose": {
        "en": ["Diagnose a crop", "Sign in to diagnose a photo"],
        "fr": ["Diagnostiquer une culture", "Connectez-vous pour diagnostiquer une photo"],
        "de": ["Eine Kulturpflanze diagnostizieren",
               "Melden Sie sich an, um ein Foto zu diagnostizieren"],
        "es": ["Diagnosticar un cultivo", "Inicia sesión para diagnosticar una foto"],
    },
    "/plants?q=tomato": {
        "en": ["Filters and sorting", "Search plants by name in any language"],
        "fr": ["Filtres et tri", "Rechercher des plantes par nom dans n'importe quelle langue"],
        "de": ["Filter und Sortierung", "Pflanzen nach Namen in jeder Sprache"],
        "es": ["Filtros y orden", "Buscar plantas por nombre en cualquier idioma"],
    },
    "/plants/solanum-lycopersicum-tomato": {
        "en": ["Problems of this plant", "Good companions:", "<dt>German</dt>"],
        "fr": ["Problèmes de cette plante", "Bonnes compagnes\u00a0:", "<dt>Allemand</dt>"],
        "de": ["Probleme dieser Pflanze", "Gute Nachbarn:", "<dt>Deutsch</dt>"],
        "es": ["Problemas de esta planta", "Buenas compañeras:", "<dt>Alemán</dt>"],
    },
    "/login": {
        "en": ["E-mail address", "No account yet?"],
        "fr": ["Adresse e-mail", "Pas encore de compte\u00a0?"],
        "de": ["E-Mail-Adresse", "Noch kein Konto?"],
        "es": ["Dirección de correo", "¿Todavía no tienes cuenta?"],
    },
    "/signup": {
        "en": ["Password again", "Already have an account?"],
        "fr": ["Mot de passe (confirmation)", "Vous avez déjà un compte\u00a0?"],
        "de": ["Passwort wiederholen", "Sie haben schon ein Konto?"],
        "es": ["Repite la contraseña", "¿Ya tienes cuenta?"],
    },
    "/diseases?q=blight": {
        "en": ["Crop problems", "Any kind"],
        "fr": ["Problèmes des cultures", "Tous types"],
        "de": ["Probleme von Kulturpflanzen", "Jede Art"],
        "es": ["Problemas de los cultivos", "Cualquier tipo"],
    },
}
LANGUAGES = ("en", "fr", "de", "es")
NAMES = {"en": "Names", "fr": "Noms", "de": "Namen", "es": "Nombres"}


def page_in(client: TestClient, path: str, language: str) -> str:
    answer = client.get(path, headers={"Accept-Language": language})
    assert answer.status_code == 200, (path, language, answer.text[:500])
    assert answer.headers["content-language"] == language
    return html.unescape(answer.text)


def main_of(text: str) -> str:
    return text.split('<main id="main">', 1)[1]


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("path", list(PAGES))
def test_each_page_speaks_the_visitors_language(client: TestClient, path: str,
                                                language: str) -> None:
    text = page_in(client, path, language)
    assert f'<html lang="{language}">' in text
    for sentence in PAGES[path][language]:
        assert sentence in text, (path, language, sentence)
    if language != "en":
        for english in PAGES[path]["en"]:
            assert english not in text, (path, language, english)
        # The header is translated too, and the switch marks the current language.
        assert "Skip to content" not in text and ">Sign in<" not in text
    assert re.search(rf'<button name="language" value="{language}" lang="{language}" '
                     rf'class="link" aria-current="true">', text)


@pytest.mark.parametrize("language, name, german, french", [
    ("en", "Tomato", "German", "French"),
    ("fr", "Tomate", "Allemand", "Français"),
    ("de", "Tomate", "Deutsch", "Französisch"),
    ("es", "Tomate", "Alemán", "Francés"),
])
def test_a_profile_names_the_plant_and_the_languages_in_the_visitors_language(
        client: TestClient, language: str, name: str, german: str, french: str) -> None:
    text = page_in(client, "/plants/solanum-lycopersicum-tomato", language)
    assert f"<h1>{name}</h1>" in text and f"<title>{name} · Hortus</title>" in text
    assert f'<dt>{german}</dt><dd lang="de">' in text
    assert f'<dt>{french}</dt><dd lang="fr">' in text
    names_section = text.split(f"<h2>{NAMES[language]}</h2>", 1)[1]
    names = re.findall(r'<dd lang="([a-z-]+)">', names_section)
    assert names[0] == language and len(names) == 7  # the visitor's own language first
    assert ">de<" not in text and ">fr<" not in text  # no bare codes
    # The scientific name stays as it is.
    assert "<em>Solanum lycopersicum</em>" in text


def test_values_and_filters_read_in_the_visitors_language(client: TestClient) -> None:
    profile = page_in(client, "/plants/solanum-lycopersicum-tomato", "fr")
    assert "<dt>Comestible</dt><dd>oui</dd>" in profile
    assert "<dt>Besoin en lumière</dt><dd>Plein soleil</dd>" in profile
    assert "<dt>Zone de rusticité USDA</dt><dd>10–11</dd>" in profile
    assert "Light requirement" not in profile and "Full sun" not in profile
    cards = page_in(client, "/plants?q=tomato&edible=yes&layer=herbs", "de")
    assert "Essbar: Ja · Schicht: Kräuter" in cards
    assert "<li>Essbar: ja</li>" in cards
    spanish = page_in(client, "/plants?q=tomato&sort=name", "es")
    assert '<option value="name" selected>Nombre (A–Z)</option>' in spanish
    assert "Name (A–Z)" not in spanish


def test_the_plant_browser_names_plants_in_the_visitors_language(client: TestClient) -> None:
    titles = re.compile(r'class="card-title"><a href="[^"]+">([^<]+)</a>')
    english = titles.findall(page_in(client, "/plants?q=Helianthus annuus", "en"))
    french = titles.findall(page_in(client, "/plants?q=Helianthus annuus", "fr"))
    german = titles.findall(page_in(client, "/plants?q=Helianthus annuus", "de"))
    assert english[0] == "Sunflower" and french[0] == "Tournesol" and german[0] == "Sonnenblume"
    # A variety names its parent in the visitor's language too.
    varieties = page_in(client, "/plants?q=Solanum&kind=variety", "fr")
    assert "variété de Tomate" in varieties and "variety of" not in varieties


@pytest.mark.parametrize("language, name", [
    ("en", "Late blight of potato and tomato"),
    ("fr", "Mildiou de la pomme de terre"),
    ("de", "Kraut- und Knollenfäule"),
    ("es", "Tizón tardío"),
])
def test_crop_problems_are_named_in_the_visitors_language(client: TestClient, language: str,
                                                          name: str) -> None:
    page = page_in(client, "/diseases/late-blight-potato-tomato", language)
    assert f"<h1>{name}</h1>" in page
    # The catalogue's descriptions are English only: marked so, and said so to others.
    assert '<p lang="en">' in page
    assert ('class="help" id="english-only"' in page) == (language != "en")
    listing = page_in(client, "/diseases?q=blight", language)
    assert f"<strong>{name}</strong>" in listing
    profile = page_in(client, "/plants/solanum-lycopersicum-tomato", language)
    assert f">{name}</a>" in main_of(profile)


def test_error_pages_and_form_errors_are_translated(client: TestClient) -> None:
    missing = client.get("/nowhere", headers={"Accept-Language": "es", "Accept": "text/html"})
    assert missing.status_code == 404
    text = html.unescape(missing.text)
    assert "<h1 id=\"error-title\">Página no encontrada</h1>" in text
    assert "No hay ninguna página en /nowhere" in text and "There is no page" not in text
    bad_page = client.get("/plants?page=abc", headers={"Accept-Language": "fr"})
    assert bad_page.status_code == 400
    assert "« abc » n'est pas un numéro de page" in html.unescape(bad_page.text).replace(
        "\u00a0", " ")
    no_observation = client.get("/observations/999999", headers={"Accept-Language": "fr"})
    assert no_observation.status_code == 404
    text = html.unescape(no_observation.text).replace("\u00a0", " ")
    assert "<h1 id=\"error-title\">Observation introuvable</h1>" in text
    assert "Il n'y a aucune observation à cette adresse : le lien" in text
    assert "Observation not found" not in text and "There is no observation" not in text
    client.follow_redirects = False
    token = re.search(r'name="csrf_token" value="([^"]+)"',
                      client.get("/signup", headers={"Accept-Language": "de"}).text)
    assert token
    weak = client.post("/signup", headers={"Accept-Language": "de"}, data={
        "email": "a@example.org", "password": "short", "password_confirm": "short",
        "csrf_token": token.group(1)})
    assert weak.status_code == 400
    assert "Das Passwort ist zu kurz: Verwenden Sie mindestens 10 Zeichen." in weak.text
    assert "too short" not in weak.text


def test_signed_in_pages_are_translated(client: TestClient) -> None:
    client.follow_redirects = False
    sign_up(client, "jardin@example.org")
    keys = html.unescape(client.get("/settings/api-key",
                                    headers={"Accept-Language": "fr"}).text)
    assert "Générez votre clé d'API privée" in keys and "Generate your private API key" not in keys
    assert 'data-label="Utilisé aujourd\'hui"' in keys
    assert "Base de données des plantes" in keys  # the usage table's API names
    diagnose = html.unescape(client.get("/diagnose", headers={"Accept-Language": "es"}).text)
    assert "Foto de la planta enferma" in diagnose and "Photo of the sick plant" not in diagnose
    history = html.unescape(client.get("/identify/history",
                                       headers={"Accept-Language": "de"}).text)
    assert "Noch keine Bestimmungen" in history and "No identifications yet" not in history

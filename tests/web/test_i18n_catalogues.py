"""The gettext catalogues: every message the pages use (templates and Python, extracted the way
``tools/i18n_catalogues.py`` extracts them) has a non-empty, reviewed translation in French,
German and Spanish with the same placeholders; the template is up to date; the catalogues load
without a compile step and ship with the package."""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from hortus.web import i18n

REPO = Path(__file__).resolve().parents[2]


def _tool():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("i18n_catalogues",
                                                  REPO / "tools" / "i18n_catalogues.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


TOOL = _tool()


@pytest.fixture(scope="module")
def extracted():  # type: ignore[no-untyped-def]
    return TOOL.extracted()


def test_the_extraction_finds_templates_python_and_contexts(extracted) -> None:  # type: ignore[no-untyped-def]
    ids = {_key(m) for m in extracted}
    assert (None, "Identify a plant") in ids  # a template
    assert (None, "The two passwords differ.") in ids  # Python, translated where it is made
    assert (None, "Your public name was saved.") in ids  # Python, marked with N_
    assert ("Soil type", "Medium") in ids and ("Growth", "Medium") in ids  # NP_, two meanings
    assert (None, ("%(num)d plant", "%(num)d plants")) in ids  # a plural
    assert len(ids) > 400


@pytest.mark.parametrize("language", ["fr", "de", "es"])
def test_every_message_is_translated(language: str) -> None:
    problems = TOOL.problems(language)
    assert not problems, "\n".join(problems[:40])


def test_the_languages_are_the_catalogues() -> None:
    assert set(TOOL.languages()) | {"en"} == set(i18n.LANGUAGES)
    assert i18n.DEFAULT_LANGUAGE == "en"


def _key(message):  # type: ignore[no-untyped-def]
    return message.context, message.id if isinstance(message.id, str) else tuple(message.id)


def test_the_template_is_up_to_date(extracted) -> None:  # type: ignore[no-untyped-def]
    with TOOL.TEMPLATE.open("rb") as pot:
        template = read_po(pot)
    assert {_key(m) for m in template if m.id} == {_key(m) for m in extracted if m.id}, \
        "run: .venv/bin/python tools/i18n_catalogues.py update"


def test_the_catalogues_load_from_the_po_files_with_plurals() -> None:
    french = i18n.translations("fr")
    assert french.gettext("Identify a plant") == "Identifier une plante"
    assert french.pgettext("Growth", "Medium") == "Moyenne"
    assert french.pgettext("Soil type", "Medium") == "Moyen"
    # French: 0 and 1 are singular.
    assert french.ngettext("%(num)d plant", "%(num)d plants", 0) == "%(num)d plante"
    assert french.ngettext("%(num)d plant", "%(num)d plants", 1) == "%(num)d plante"
    assert french.ngettext("%(num)d plant", "%(num)d plants", 2) == "%(num)d plantes"
    german = i18n.translations("de")
    assert german.ngettext("%(num)d plant", "%(num)d plants", 0) == "%(num)d Pflanzen"
    assert i18n.translations("es").gettext("Sign in") == "Iniciar sesión"
    assert i18n.translations("en").gettext("Sign in") == "Sign in"
    with pytest.raises(ValueError):
        i18n.translations("xx")
    # No compiled catalogue is kept beside the .po files: they are the only copy.
    assert not list(i18n.LOCALE_DIR.rglob("*.mo"))


def test_the_catalogues_ship_in_the_package() -> None:
    """pyproject's package data (setuptools globs, relative to the package) holds every
    catalogue."""
    with (REPO / "pyproject.toml").open("rb") as project:
        config = tomllib.load(project)
    patterns = config["tool"]["setuptools"]["package-data"]["*"]
    web = REPO / "src" / "hortus" / "web"
    shipped = {path for pattern in patterns for path in web.glob(pattern)}
    for language in ("fr", "de", "es"):
        assert i18n.catalogue_path(language) in shipped
    assert any(dependency.lower().startswith("babel")
               for dependency in config["project"]["dependencies"])

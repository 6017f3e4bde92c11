"""Plants, crop problems and languages named in the visitor's language.

The knowledge base keeps common names in several languages, and the disease catalogue a
common name per language for most problems. A page in French names a plant by its first French
name when it has one, else as before (its primary name, in English); in English nothing
changes. Languages are named by Babel's locale data (``de`` reads ``German``, ``Allemand`` or
``Deutsch``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.orm import Session

from hortus.plants import service as plants
from hortus.web.i18n import DEFAULT_LANGUAGE, current_language, language_name


def plant_names(*, session: Session, plant_ids: Iterable[int]) -> dict[int, str]:
    """The visitor's-language name of each plant that has one (empty in English: the pages
    show the plants' own names)."""
    language = current_language()
    ids = sorted({plant_id for plant_id in plant_ids if plant_id})
    if language == DEFAULT_LANGUAGE or not ids:
        return {}
    return plants.names_in_language(session=session, plant_ids=ids, language=language)


def disease_name(default: str, common_names: dict[str, str]) -> str:
    """A crop problem's name: its common name in the visitor's language, else ``default``
    (the catalogue's English name)."""
    language = current_language()
    if language == DEFAULT_LANGUAGE:
        return default
    return common_names.get(language) or default


def names_by_language(names: dict[str, list[str]]) -> list[tuple[str, str, list[str]]]:
    """``[(code, language name, names), ...]``: the visitor's language first, then English,
    then the others by their name in the visitor's language."""
    language = current_language()
    rows = [(code, language_name(code), values) for code, values in names.items()]
    return sorted(rows, key=lambda row: (row[0] != language, row[0] != DEFAULT_LANGUAGE,
                                         row[1].lower()))


def first_in_language(names: dict[str, list[str]], default: str) -> str:
    """A plant's name in the visitor's language from its names by language, else
    ``default``."""
    language = current_language()
    if language == DEFAULT_LANGUAGE:
        return default
    values = names.get(language) or []
    return values[0] if values else default


def ids_of(items: Sequence[Any]) -> list[int]:
    return [item.id for item in items if item is not None]

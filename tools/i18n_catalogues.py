"""Extract the web pages' text into the gettext catalogues, and check the catalogues.

    .venv/bin/python tools/i18n_catalogues.py update   # after changing text in src/hortus/web
    .venv/bin/python tools/i18n_catalogues.py check    # every message translated, placeholders kept
    .venv/bin/python tools/i18n_catalogues.py add it   # start a new language's catalogue

``update`` extracts every marked message of ``src/hortus/web`` (Python: ``_``, ``gettext``,
``ngettext``, ``pgettext``, ``N_``, ``NP_``; templates: ``{{ _("...") }}`` and friends) into
``src/hortus/web/locale/messages.pot``, then merges it into each language's ``messages.po``:
new messages arrive untranslated (or fuzzy, with a near match as a suggestion), removed ones
are dropped. Translate the new entries (and clear the fuzzy flag), then run ``check``. The
server reads the ``.po`` files themselves (:mod:`hortus.web.i18n`): nothing is compiled.
It does what ``pybabel extract -k N_ -k NP_:1c,2`` (with a mapping of ``**.py`` to python and
``templates/**.html`` to jinja2) and ``pybabel update`` do, with the repository's options.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po, write_po

REPO = Path(__file__).resolve().parents[1]
WEB = REPO / "src" / "hortus" / "web"
LOCALE = WEB / "locale"
TEMPLATE = LOCALE / "messages.pot"
METHODS = [("**.py", "python"), ("templates/**.html", "jinja2")]
KEYWORDS = {**DEFAULT_KEYWORDS, "N_": None, "NP_": ((1, "c"), 2)}
WIDTH = 100


def extracted() -> Catalog:
    """Every marked message of the web package, with the files that use it."""
    catalogue = Catalog(project="Hortus", msgid_bugs_address="", copyright_holder="Hortus",
                        fuzzy=False)
    for filename, lineno, message, comments, context in extract_from_dir(
            str(WEB), METHODS, {}, KEYWORDS, strip_comment_tags=True):
        catalogue.add(message, None, [(f"src/hortus/web/{filename}", lineno)],
                      auto_comments=comments, context=context)
    return catalogue


def _write(catalogue: Catalog, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        write_po(out, catalogue, width=WIDTH, sort_by_file=True, ignore_obsolete=True,
                 include_lineno=False)


def _read(path: Path, language: str) -> Catalog:
    with path.open("rb") as po:
        return read_po(po, locale=language)


def languages() -> list[str]:
    """The languages that have a catalogue."""
    return sorted(p.name for p in LOCALE.iterdir() if (p / "LC_MESSAGES" / "messages.po").is_file())


def po_path(language: str) -> Path:
    return LOCALE / language / "LC_MESSAGES" / "messages.po"


def update() -> None:
    template = extracted()
    _write(template, TEMPLATE)
    for language in languages():
        catalogue = _read(po_path(language), language)
        catalogue.update(template, update_header_comment=False)
        catalogue.revision_date = datetime.now(UTC)
        _write(catalogue, po_path(language))
    print(f"{len(template)} messages; catalogues: {', '.join(languages())}")


def add(language: str) -> None:
    path = po_path(language)
    if path.exists():
        sys.exit(f"{path} exists: run update")
    catalogue = Catalog(locale=language, project="Hortus", fuzzy=False)
    catalogue.update(extracted())
    _write(catalogue, path)
    print(f"created {path.relative_to(REPO)}: translate it, then add {language!r} to "
          "LANGUAGES in src/hortus/web/i18n.py")


def problems(language: str) -> list[str]:
    """What keeps the language's catalogue from covering every extracted message: missing,
    empty or fuzzy translations, and placeholders that differ from the English ones."""
    catalogue = _read(po_path(language), language)
    found = []
    for message in extracted():
        if not message.id:
            continue
        translated = catalogue.get(message.id, context=message.context)
        shown = message.id if isinstance(message.id, str) else message.id[0]
        if translated is None:
            found.append(f"{language}: missing {shown!r}")
            continue
        strings = translated.string if isinstance(translated.string, tuple | list) \
            else (translated.string,)
        if not all(strings) or translated.fuzzy:
            found.append(f"{language}: {'fuzzy' if translated.fuzzy else 'empty'} {shown!r}")
    for message, errors in catalogue.check():
        found += [f"{language}: {message.id!r}: {error}" for error in errors]
    return found


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    if command == "update":
        update()
    elif command == "add" and len(argv) == 2:
        add(argv[1])
    elif command == "check":
        found = [p for language in languages() for p in problems(language)]
        print("\n".join(found) or f"every message is translated in {', '.join(languages())}")
        return 1 if found else 0
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

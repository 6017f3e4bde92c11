"""The pages' languages: the gettext catalogues, the language of the request being answered,
and the translation functions that read it.

The catalogues are Babel's ``.po`` files under ``locale/<language>/LC_MESSAGES/messages.po``
(the English text is the message id, so English needs none). They are read with
:mod:`babel.messages.pofile` and compiled in memory when the app is built
(:func:`load_catalogues`, once per process): the ``.po`` file is the only copy, nobody runs a
compile step, and no compiled file can fall behind it.

The language is per request, in a context variable set by
:class:`hortus.web.languages.LanguageMiddleware` for the whole request (worker threads that
run a page's handler get a copy of it): concurrent requests in different languages never see
each other's. Outside a request the pages speak English.

Mark text in Python with :func:`gettext` (``_``) where it is shown, or with :func:`N_` where a
table of English text is defined and translated later; templates use ``{{ _("...") }}``.
Placeholders are ``%(name)s``, filled after translation.
"""

from __future__ import annotations

import gettext as gettext_module
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import ParamSpec, TypeVar

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

# The languages of the pages, in the order the language switch lists them.
LANGUAGES = ("en", "fr", "de", "es")
DEFAULT_LANGUAGE = "en"
LOCALE_DIR = Path(__file__).with_name("locale")
DOMAIN = "messages"

_language: ContextVar[str] = ContextVar("hortus_page_language", default=DEFAULT_LANGUAGE)


def catalogue_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(language: str) -> gettext_module.NullTranslations:
    """The compiled catalogue of one of :data:`LANGUAGES` (English: the message ids as they
    are). Fuzzy entries are left out, as ``pybabel compile`` leaves them out."""
    if language == DEFAULT_LANGUAGE:
        return gettext_module.NullTranslations()
    if language not in LANGUAGES:
        raise ValueError(f"no catalogue for language {language!r}")
    with catalogue_path(language).open("rb") as po:
        catalogue = read_po(po, locale=language, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalogue, use_fuzzy=False)
    compiled.seek(0)
    return Translations(fp=compiled, domain=DOMAIN)


def load_catalogues() -> None:
    """Read every language's catalogue now (once per process)."""
    for language in LANGUAGES:
        translations(language)


@contextmanager
def speaking(language: str) -> Iterator[None]:
    """Answer in ``language`` (one of :data:`LANGUAGES`) within the block."""
    token = _language.set(language if language in LANGUAGES else DEFAULT_LANGUAGE)
    try:
        yield
    finally:
        _language.reset(token)


P = ParamSpec("P")
T = TypeVar("T")


def in_this_language(fn: Callable[P, T]) -> Callable[P, T]:
    """``fn`` to run in another thread (a pool that does not copy the request's context) in
    the current request's language."""
    language = current_language()

    def call(*args: P.args, **kwargs: P.kwargs) -> T:
        with speaking(language):
            return fn(*args, **kwargs)

    return call


def current_language() -> str:
    """The language of the request being answered (``en`` outside any request)."""
    return _language.get()


def gettext(message: str) -> str:
    """``message`` in the current language (as given when the catalogue lacks it)."""
    return translations(_language.get()).gettext(message)


_ = gettext


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form for ``n`` things in the current language (``%(num)d`` is not filled in)."""
    return translations(_language.get()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    """``message`` in the current language, where ``context`` tells apart two meanings of the
    same English word (``Medium`` growth, ``medium`` soil)."""
    return translations(_language.get()).pgettext(context, message)


def N_(message: str) -> str:
    """Mark ``message`` for the catalogues without translating it (tables of English text,
    translated with :func:`gettext` where they are shown)."""
    return message


def NP_(context: str, message: str) -> tuple[str, str]:
    """Mark ``message`` in ``context`` for the catalogues; translated by :func:`pgettext`."""
    return context, message


def language_name(code: str, in_language: str | None = None) -> str:
    """The name of the language ``code`` (``de``, ``pt-BR``) in ``in_language`` (default: the
    current one), from Babel's locale data, capitalised as a label: ``German``, ``Allemand``,
    ``Deutsch``. A code Babel does not know is shown as it is."""
    try:
        named = Locale.parse(code.strip().replace("-", "_"))
        name = named.get_display_name(in_language or current_language())
    except (ValueError, TypeError, UnknownLocaleError):
        return code
    return name[:1].upper() + name[1:] if name else code


def own_names() -> list[tuple[str, str]]:
    """Each page language with its name in itself (``Deutsch``), for the language switch."""
    return [(code, language_name(code, code)) for code in LANGUAGES]

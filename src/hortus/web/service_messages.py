"""Other domains' messages, as the pages show them, in the visitor's language.

The services (accounts, plants, diagnose) raise errors whose message is an English sentence,
some with a value in it (``The password is too short: use at least 10 characters.``). The
pages show that sentence to people, so this module knows the sentences they may show: each is
a message id of the catalogues with ``%(name)s`` where the service puts a value. A message is
matched against them; the match's translation gets the values back (values that are
themselves known sentences, or that a rule below rewrites, are translated too). A message
that matches none is shown as the service wrote it, in English.

The tests make each of these sentences with the real service and check that it is translated
(tests/web/test_i18n_messages.py), so a service that rewords one is noticed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

from hortus.plants.facets import FACETS
from hortus.web.i18n import N_, gettext
from hortus.web.vocabulary import choice_label, facet_label, sort_labels

SENTENCES = (
    # accounts: passwords, handles, keys
    N_("Choose a password."),
    N_("The password is too short: use at least %(count)s characters."),
    N_("The password is too long (over %(count)s characters)."),
    N_("The password is too simple: mix letters with digits, capitals or symbols."),
    N_("This password is one of the most common ones; choose another."),
    N_("The password must not be your e-mail address."),
    N_("%(email)s is not a valid e-mail address."),
    N_("3 to 32 characters: letters A-Z and a-z, digits, dots, underscores and hyphens, "
       "starting with a letter or a digit"),
    N_("%(handle)s cannot be a handle: use %(rules)s."),
    N_("The handle %(handle)s is taken (handles ignore case): choose another."),
    N_("The account no longer exists."),
    N_("You have no active API key %(key)s."),
    N_("anonymous #%(number)s"),
    # plants: the browser's checks and missing plants
    N_("That search is too long: use at most %(count)s characters."),
    N_("Type a name or a word to search for: letters or digits, not only punctuation."),
    N_("“%(page)s” is not a page number: pages are numbered 1, 2, 3 …"),
    N_("Results can be sorted by %(orders)s only."),
    N_("%(filter)s can be %(choices)s: choose one of these."),
    N_("There is no page %(page)s: this search has %(pages)s page."),
    N_("There is no page %(page)s: this search has %(pages)s pages."),
    N_("There is no plant %(name)s."),
    # vision: why a photo cannot be read (inside "Photo 2: ..." on the identify page)
    N_("the file is empty"),
    N_("the file is not a JPEG, PNG or WebP image"),
    N_("JPEG is truncated: no end-of-image marker"),
    N_("PNG is truncated: no IEND chunk"),
    N_("WebP is truncated: shorter than its RIFF size"),
    N_("JPEG headers end before the image data"),
    N_("JPEG header structure is corrupt"),
    N_("JPEG ends inside its scan header"),
    N_("the %(format)s data is truncated or corrupt: %(detail)s"),
    N_("image is %(width)sx%(height)s = %(pixels)s pixels, over the %(limit)s limit"),
    # diagnose: analyses and the catalogue
    N_("The picture cannot be analysed: %(reason)s"),
    N_("There is no disease with peat_id %(id)s."),
    N_("The picture of this analysis is not stored (any more)."),
)


def _orders(_: str, __: dict[str, str]) -> str:
    return ", ".join(label.lower() for label in sort_labels().values())


def _choices(_: str, values: dict[str, str]) -> str:
    facet = next((f for f in FACETS if f.label == values.get("filter")), None)
    if facet is None:
        return values["choices"]
    return ", ".join(choice_label(facet, value, label) for value, label in facet.choices)


def _filter(text: str, _: dict[str, str]) -> str:
    facet = next((f for f in FACETS if f.label == text), None)
    return facet_label(facet) if facet is not None else text


# Values rewritten in the visitor's language (the rest are names, numbers, what was typed).
_VALUES: dict[str, Callable[[str, dict[str, str]], str]] = {
    "orders": _orders, "choices": _choices, "filter": _filter,
}
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@cache
def _patterns() -> list[tuple[re.Pattern[str], str]]:
    """Each sentence as a regular expression with one named group per placeholder."""
    patterns = []
    for sentence in SENTENCES:
        parts, position = [], 0
        for match in _PLACEHOLDER.finditer(sentence):
            parts.append(re.escape(sentence[position:match.start()]))
            parts.append(f"(?P<{match.group(1)}>.+?)")
            position = match.end()
        parts.append(re.escape(sentence[position:]))
        patterns.append((re.compile("".join(parts), re.DOTALL), sentence))
    return patterns


def translated(message: str) -> str:
    """``message`` in the visitor's language when it is one of :data:`SENTENCES`, else as it
    is."""
    for pattern, sentence in _patterns():
        match = pattern.fullmatch(message)
        if match is None:
            continue
        values = match.groupdict()
        shown = {name: _VALUES[name](value, values) if name in _VALUES else translated(value)
                 for name, value in values.items()}
        return gettext(sentence) % shown
    return message


def translated_all(messages: list[str]) -> list[str]:
    return [translated(message) for message in messages]

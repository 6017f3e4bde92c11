"""The knowledge base's words as the pages show them, in the visitor's language.

The plant database keeps Permapeople's English vocabulary (attribute names such as ``Light
requirement``, values such as ``Full sun, partial sun/shade``), and the plant browser's filters
and orders are labelled with the same words (:mod:`hortus.plants.facets`,
:mod:`hortus.plants.browse`). This module marks that closed vocabulary for the catalogues and
translates it where a page shows it; a word outside it (free text such as a warning, a height,
a family name) is shown as stored.

A value term is translated in the context of its attribute (``Medium`` growth and ``medium``
soil differ in French), with :func:`~hortus.web.i18n.pgettext`.
"""

from __future__ import annotations

from collections.abc import Iterable

from hortus.plants.browse import SORTS
from hortus.plants.display import CARD_FACTS
from hortus.plants.facets import BY_NAME, Facet
from hortus.web.i18n import N_, NP_, current_language, gettext, pgettext

# The attributes' names, as profile labels.
ATTRIBUTE_NAMES = frozenset((
    N_("Edible"), N_("Edible parts"), N_("Family"), N_("Genus"), N_("Growth"), N_("Height"),
    N_("Layer"), N_("Life cycle"), N_("Light requirement"), N_("Soil type"),
    N_("USDA Hardiness zone"), N_("Warning"), N_("Water requirement"), N_("Width"),
))
# The short labels of result cards' facts (hortus.plants.display.CARD_FACTS).
CARD_LABELS = frozenset((N_("Light"), N_("Water"), N_("Zones")))
# The enumerated values, by attribute: each term of a comma-separated value.
_TERMS = (
    NP_("Light requirement", "Full sun"), NP_("Light requirement", "Partial sun/shade"),
    NP_("Light requirement", "Full shade"),
    NP_("Water requirement", "Dry"), NP_("Water requirement", "Moist"),
    NP_("Water requirement", "Wet"),
    NP_("Soil type", "Light (sandy)"), NP_("Soil type", "Medium"),
    NP_("Soil type", "Medium (loamy)"), NP_("Soil type", "Heavy (clay)"),
    NP_("Layer", "Canopy"), NP_("Layer", "Trees"), NP_("Layer", "Shrubs"),
    NP_("Layer", "Climbers"), NP_("Layer", "Herbs"), NP_("Layer", "Low flowering plants"),
    NP_("Layer", "Ground cover"), NP_("Layer", "Root crops"), NP_("Layer", "Grains"),
    NP_("Life cycle", "Annual"), NP_("Life cycle", "Biennial"), NP_("Life cycle", "Perennial"),
    NP_("Growth", "Slow"), NP_("Growth", "Medium"), NP_("Growth", "Fast"),
    NP_("Edible parts", "Bulb"), NP_("Edible parts", "Flowers"), NP_("Edible parts", "Fruit"),
    NP_("Edible parts", "Leaves"), NP_("Edible parts", "Root"), NP_("Edible parts", "Sap"),
    NP_("Edible parts", "Seedpods"), NP_("Edible parts", "Seeds"),
    NP_("Edible parts", "Shoots"), NP_("Edible parts", "Stems"), NP_("Edible parts", "Tubers"),
)
TERMS = {(key, term.lower()): (key, term) for key, term in _TERMS}
YES_NO = {"yes": N_("yes"), "no": N_("no"), "Yes": N_("Yes"), "No": N_("No")}
# Facet labels and choices not already among the words above.
_FACET_WORDS = (N_("Light"), N_("Water"), N_("Hardiness zone (USDA)"), N_("Kind"),
                N_("Species"), N_("Varieties"))
SORT_LABELS = (N_("Best match"), N_("Name (A–Z)"), N_("Scientific name (A–Z)"),
               N_("Recently updated"))
_CARD_KEYS = {label: key for key, label in CARD_FACTS}


def _known(message: str, words: Iterable[str]) -> str:
    return gettext(message) if message in words else message


def attribute_name(key: str) -> str:
    """An attribute's name as a label (``Light requirement`` → ``Besoin en lumière``)."""
    return _known(key, ATTRIBUTE_NAMES)


def attribute_value(key: str, value: str) -> str:
    """A value as :func:`hortus.plants.display.readable_value` shows it, translated term by
    term where the vocabulary has every term (else as it is)."""
    if value in YES_NO:
        return gettext(YES_NO[value])
    terms = [term.strip() for term in value.split(",")]
    found = [TERMS.get((key, term.lower())) for term in terms]
    if not terms or any(entry is None for entry in found) or current_language() == "en":
        return value
    words = [pgettext(*entry) for entry in found if entry is not None]
    if current_language() != "de":  # German nouns keep their capital inside a list
        words = [words[0]] + [w[:1].lower() + w[1:] for w in words[1:]]
    return ", ".join(words)


def card_fact(label: str, value: str) -> tuple[str, str]:
    """A result card's fact (``("Light", "Full sun")``) translated."""
    key = _CARD_KEYS.get(label, label)
    shown = gettext(label) if label in ATTRIBUTE_NAMES or label in CARD_LABELS else label
    return shown, attribute_value(key, value)


def facet_label(facet: Facet) -> str:
    return gettext(facet.label)


def choice_label(facet: Facet, choice: str, label: str) -> str:
    """A filter choice's label: ``Zone 7``, ``Full sun``, ``Yes``, in the visitor's language."""
    if facet.name == "zone":
        return gettext("Zone %(zone)s") % {"zone": choice}
    if label in YES_NO:
        return gettext(YES_NO[label])
    entry = TERMS.get((facet.key, label.lower()))
    return pgettext(*entry) if entry is not None else gettext(label)


def chosen_filters(facets: dict[str, str]) -> list[str]:
    """The chosen filters as people read them (``Edible: Yes``), translated."""
    shown = []
    for name, choice in facets.items():
        facet = BY_NAME[name]
        shown.append(gettext("%(filter)s: %(choice)s") % {
            "filter": facet_label(facet),
            "choice": choice_label(facet, choice, facet.label_of(choice))})
    return shown


def sort_labels() -> dict[str, str]:
    """The browser's orders (value → label) in the visitor's language."""
    return {value: gettext(label) for value, label in SORTS.items()}


TEMPLATE_HELPERS = {
    "attribute_name": attribute_name, "attribute_value": attribute_value,
    "card_fact": card_fact, "facet_label": facet_label, "choice_label": choice_label,
}

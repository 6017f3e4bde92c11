"""The plant browser's filters: a whitelist of facets over the knowledge base's attributes.

Each facet is one query parameter of ``/plants`` with a closed set of choices; a choice stands
for one or more attribute values, matched (ORed) by the same facet tokens as the API's
attribute filters (:func:`hortus.db.fulltext.facet_tokens`), so a choice "Full sun" finds
"Full sun, partial sun/shade" too. The choices are the values of Permapeople's vocabulary that
the knowledge base uses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hortus.plants.display import ZONE_KEY
from hortus.plants.search import TYPE_FACET

ZONES = range(1, 14)


def _zone_values(choice: str) -> list[str]:
    """The stored values of a plant hardy in zone ``choice``: the zone alone, or any range
    ``a-b`` holding it (``7`` → ``7``, ``1-7`` ... ``7-13``)."""
    zone = int(choice)
    return [choice, *(f"{low}-{high}" for low in ZONES for high in ZONES
                      if low <= zone <= high and low < high)]


@dataclass(frozen=True)
class Facet:
    """A filter: its query parameter, label, attribute, and choices (URL value → label)."""

    name: str
    label: str
    key: str
    choices: tuple[tuple[str, str], ...]
    values: Callable[[str], list[str]] | None = None  # a choice's attribute values

    def attribute_values(self, choice: str) -> list[str]:
        """The attribute values (lower-case) a choice stands for."""
        if self.values is not None:
            return [v.lower() for v in self.values(choice)]
        return [dict(self.choices)[choice].lower()]

    def label_of(self, choice: str) -> str:
        return dict(self.choices)[choice]


def _choices(*labels: str) -> tuple[tuple[str, str], ...]:
    return tuple((label.lower().replace(" ", "-").replace("/", "-"), label) for label in labels)


FACETS = (
    Facet("edible", "Edible", "Edible", (("yes", "Yes"), ("no", "No")),
          values=lambda choice: ["true" if choice == "yes" else "false"]),
    Facet("light", "Light", "Light requirement",
          _choices("Full sun", "Partial sun/shade", "Full shade")),
    Facet("water", "Water", "Water requirement", _choices("Dry", "Moist", "Wet")),
    Facet("layer", "Layer", "Layer",
          _choices("Canopy", "Trees", "Shrubs", "Climbers", "Herbs", "Low flowering plants",
                   "Ground cover", "Root crops", "Grains")),
    Facet("cycle", "Life cycle", "Life cycle", _choices("Annual", "Biennial", "Perennial")),
    Facet("zone", "Hardiness zone (USDA)", ZONE_KEY,
          tuple((str(z), f"Zone {z}") for z in ZONES), values=_zone_values),
    Facet("kind", "Kind", TYPE_FACET, (("species", "Species"), ("variety", "Varieties")),
          values=lambda choice: ["plant" if choice == "species" else "variety"]),
)
BY_NAME = {facet.name: facet for facet in FACETS}


def attribute_filters(chosen: dict[str, str]) -> dict[str, list[str]]:
    """Search filters (attribute key → values) for the chosen facets (name → choice)."""
    return {BY_NAME[name].key: BY_NAME[name].attribute_values(choice)
            for name, choice in chosen.items()}

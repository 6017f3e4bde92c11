"""Darwin Core's vocabulary as Hortus writes and reads it: term URIs, row types, licences.

Terms are Darwin Core's (``http://rs.tdwg.org/dwc/terms/``) and Dublin Core's
(``http://purl.org/dc/terms/``); photos use GBIF's Simple Multimedia extension
(``http://rs.gbif.org/terms/1.0/Multimedia``). Licences are written as URIs; read, they may
be URIs of any Creative Commons licence, GBIF's licence names (``CC_BY_4_0``), SPDX
identifiers (``CC-BY-NC-4.0``), Pl@ntNet's codes (``cc-by-nc``) or plain names
(``CC BY-NC 4.0``). Only the licences an observation may carry (Creative Commons 4.0, CC0)
map to a code; any other (an older version, "all rights reserved") maps to none, and a photo
under it is not stored (Hortus serves every stored photo publicly).
"""

from __future__ import annotations

import re

from hortus.observations.licenses import LICENSE_URLS

DWC = "http://rs.tdwg.org/dwc/terms/"
DC = "http://purl.org/dc/terms/"
DWC_TEXT_NAMESPACE = "http://rs.tdwg.org/dwc/text/"
OCCURRENCE_ROW_TYPE = DWC + "Occurrence"
GBIF = "http://rs.gbif.org/terms/1.0/"
MULTIMEDIA_ROW_TYPE = GBIF + "Multimedia"

BASIS_OF_RECORD = "HumanObservation"
KINGDOM = "Plantae"
STILL_IMAGE = "StillImage"
RESEARCH, CASUAL = "research", "casual"  # identificationVerificationStatus: valid or not

# The columns of occurrence.txt after its id column, in order.
OCCURRENCE_TERMS: tuple[str, ...] = (
    DWC + "occurrenceID", DWC + "basisOfRecord", DC + "modified", DC + "license",
    DC + "rightsHolder", DWC + "occurrenceStatus", DWC + "recordedBy", DWC + "eventDate",
    DWC + "decimalLatitude", DWC + "decimalLongitude", DWC + "geodeticDatum",
    DWC + "coordinateUncertaintyInMeters", DWC + "locality", DWC + "scientificName",
    DWC + "scientificNameAuthorship", DWC + "taxonRank", DWC + "kingdom", DWC + "family",
    DWC + "genus", DWC + "identifiedBy", DWC + "verbatimIdentification",
    DWC + "identificationVerificationStatus",
)
# The columns of multimedia.txt after its coreid column, in order. The organ a photo shows
# (Pl@ntNet's leaf, flower ...) is its description: the extension has no organ term.
MULTIMEDIA_TERMS: tuple[str, ...] = (
    DC + "type", DC + "format", DC + "identifier", DC + "description", DC + "created",
    DC + "creator", DC + "license", DC + "rightsHolder",
)

# GBIF accepts these three licences for data, by URI or by name.
GBIF_LICENSE_NAMES = {"cc0": "CC0_1_0", "cc-by": "CC_BY_4_0", "cc-by-nc": "CC_BY_NC_4_0"}

_CC_URL = re.compile(
    r"^https?://(?:www\.)?creativecommons\.org/(?:licenses/(?P<kind>by(?:-nc)?(?:-sa|-nd)?)"
    r"/(?P<version>[0-9.]+)|publicdomain/zero/(?P<zero>[0-9.]+))"
    r"(?:/(?:legalcode(?:\.[a-z_-]+)?|deed\.[a-z_-]+)?)?$")
_NAME = re.compile(r"^(?:cc[-_ ]?)?(?P<kind>zero|0|by(?:[-_ ]nc)?(?:[-_ ](?:sa|nd))?)"
                   r"(?:[-_ ]+(?:v(?:ersion)?[-_ ]?)?(?P<version>[0-9][0-9._]*))?"
                   r"(?:[-_ ]+(?:universal|international|intl))?$")


def term_name(uri: str) -> str:
    """A term's short name (``scientificName``) from its URI."""
    return uri.rsplit("/", 1)[-1]


def license_uri(code: str) -> str:
    """The URI of a stored licence code (``cc-by-sa`` → its Creative Commons URL)."""
    return LICENSE_URLS.get(code, "")


def license_from_text(value: str | None) -> str | None:
    """The stored code of a licence as an archive writes it; None when it is empty or no
    Creative Commons 4.0 / CC0 1.0 licence."""
    text = (value or "").strip()
    if not text or len(text) > 300:
        return None
    url = _CC_URL.match(text.lower())
    if url is not None:
        if url.group("zero") is not None:
            return "cc0" if url.group("zero") in ("1", "1.0") else None
        code = "cc-" + url.group("kind")
        return code if url.group("version") in ("4.0", "4") and code in LICENSE_URLS else None
    name = _NAME.match(" ".join(text.lower().replace("(", " ").replace(")", " ").split()))
    if name is None:
        return None
    kind = name.group("kind").replace("_", "-").replace(" ", "-")
    version = (name.group("version") or "").replace("_", ".").rstrip(".")
    if kind in ("0", "zero"):
        return "cc0" if version in ("", "1", "1.0") else None
    code = "cc-" + kind
    if code not in LICENSE_URLS:
        return None
    # Pl@ntNet's codes name no version and mean 4.0; other versions are other licences.
    return code if version in ("", "4", "4.0") else None


def is_gbif_license_value(value: str) -> bool:
    """Whether GBIF's validator reads ``value`` as a licence: a URI, or one of its names."""
    return value.startswith(("http://", "https://")) or value in GBIF_LICENSE_NAMES.values()


def dataset_license(codes: set[str]) -> str:
    """The licence code to declare for a whole dataset whose records carry ``codes``: one of
    the three GBIF publishes under, at least as restrictive as every record's (CC BY-NC when a
    record is share-alike or no-derivatives, which GBIF cannot express; each record and photo
    states its own licence anyway)."""
    if not codes or codes == {"cc0"}:
        return "cc0"
    if codes <= {"cc0", "cc-by"}:
        return "cc-by"
    return "cc-by-nc"

"""What the identification pages show: organs in plain words, and a stored result turned into
cards (the person's photos, each candidate's names, reference photos with their credits, key
care facts and profile link from the knowledge base, and whether the photos disagree).

Names, care facts and links are read from the knowledge base each time a result is shown, so
they follow its edits; the candidates, scores and reference photos are as they were answered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from babel.dates import format_datetime

from hortus.db import Database
from hortus.plants import service as plants
from hortus.plants.taxonomy import SpeciesRecord, known_records
from hortus.vision.engine import ReferencePhoto
from hortus.web.i18n import N_, current_language
from hortus.web.i18n import gettext as _
from hortus.web.identify_agreement import Disagreement, PhotoVerdict, disagreement
from hortus.web.identify_models import WebIdentification
from hortus.web.vocabulary import attribute_value

# The organs a person can choose, in the order offered, with plain-language labels.
# (English here; the template translates them.)
ORGAN_CHOICES: tuple[tuple[str, str], ...] = (
    ("auto", N_("Not sure: Hortus decides")),
    ("flower", N_("Flower or blossom")),
    ("leaf", N_("Leaf or leaves")),
    ("fruit", N_("Fruit, berry, seed or pod")),
    ("bark", N_("Bark or stem")),
    ("habit", N_("The whole plant")),
)
ORGAN_NAMES = {"auto": N_("part not given"), "flower": N_("flower"), "leaf": N_("leaf"),
               "fruit": N_("fruit"), "bark": N_("bark"), "habit": N_("whole plant"),
               "other": N_("other")}
SHOWN_MIN_SCORE = 0.01  # candidates under 1 % are left out (the first is always shown)
REFERENCE_ROUTE = "/v2/media/references"
# Care facts shown on a card, in this order, with the label people read.
CARE_LABELS = (
    ("Edible", N_("Edible")),
    ("Light requirement", N_("Light")),
    ("Water requirement", N_("Water")),
    ("Soil type", N_("Soil")),
    ("Life cycle", N_("Life cycle")),
    ("Height", N_("Height")),
    ("USDA Hardiness zone", N_("Hardiness (USDA zone)")),
)
WARNING_KEY = "Warning"


def reference_entry(reference: ReferencePhoto) -> dict[str, Any]:
    """What a result keeps of one reference photo."""
    return {"sha256": reference.sha256, "author": reference.author, "licence": reference.licence,
            "organ": reference.organ, "date": reference.date, "citation": reference.citation}


def readable_value(key: str, value: str) -> str:
    """A care value as people read it (``true`` → ``Yes``), in the visitor's language where the
    knowledge base's vocabulary has it."""
    if key == "Edible":
        value = {"true": "Yes", "false": "No"}.get(value.strip().lower(), value)
    return attribute_value(key, value)


@dataclass
class ReferenceView:
    small: str
    large: str
    alt: str
    credit: str


@dataclass
class CandidateView:
    rank: int
    name: str  # the common name, else the scientific one
    scientific_name: str
    authorship: str
    family: str
    percent: int
    profile: str | None  # /plants/<slug>
    care: list[tuple[str, str]]
    warning: str | None
    references: list[ReferenceView]
    outside: list[tuple[str, str]]  # (label, url)


@dataclass
class PhotoView:
    index: int
    medium: str
    small: str
    organ: str
    alone: str | None  # "Sunflower, 93 %"
    no_match: bool = False


@dataclass
class ResultView:
    id: str
    created_at: datetime
    when: str
    photos: list[PhotoView]
    candidates: list[CandidateView]
    notice: Disagreement
    notice_lines: list[str] = field(default_factory=list)
    owned: bool = False


def describe_time(moment: datetime) -> str:
    """``3 May 2025, 14:02 UTC`` (``3 mai 2025, 14:02 UTC`` in French)."""
    return format_datetime(moment, "d MMMM y, HH:mm", tzinfo=UTC,
                           locale=current_language()) + " UTC"


def photo_url(identification_id: str, index: int, size: str) -> str:
    return f"/identify/results/{identification_id}/photos/{index + 1}/{size}"


def _display_name(record: SpeciesRecord | None, name: str) -> str:
    if record is not None and record.common_names:
        return record.common_names[0]
    return record.scientific_name if record is not None else name


def _outside_links(record: SpeciesRecord) -> list[tuple[str, str]]:
    links = []
    gbif = record.external_ids.get("gbif", "")
    if gbif.isdigit():
        links.append(("GBIF", f"https://www.gbif.org/species/{gbif}"))
    powo = record.external_ids.get("powo", "")
    if powo:
        lsid = powo if powo.startswith("urn:") else f"urn:lsid:ipni.org:names:{powo}"
        links.append(("Plants of the World Online", f"https://powo.science.kew.org/taxon/{lsid}"))
    return links


def _references(entries: Sequence[dict[str, Any]], name: str) -> list[ReferenceView]:
    views = []
    for entry in entries:
        sha = str(entry.get("sha256", ""))
        if len(sha) != 64:
            continue
        author = entry.get("author") or _("unknown author")
        licence = entry.get("licence") or _("licence not recorded")
        organ = ORGAN_NAMES.get(str(entry.get("organ") or ""), "")
        alt = _("Reference photo of %(plant)s (%(organ)s)") % {"plant": name, "organ": _(organ)} \
            if organ else _("Reference photo of %(plant)s") % {"plant": name}
        views.append(ReferenceView(
            small=f"{REFERENCE_ROUTE}/{sha}/m", large=f"{REFERENCE_ROUTE}/{sha}/o",
            alt=alt, credit=f"© {author} · {licence}"))
    return views


def _verdicts(photos: Sequence[dict[str, Any]]) -> list[PhotoVerdict]:
    verdicts = []
    for photo in photos:
        if "top_score" not in photo:
            return []  # a single photo (or a result saved without them)
        verdicts.append(PhotoVerdict(top=photo.get("top"), score=float(photo["top_score"]),
                                     rejected=bool(photo.get("rejected"))))
    return verdicts


def result_view(*, database: Database, identification: WebIdentification,
                account_id: int | None) -> ResultView:
    """The result page's content (blocking: reads the knowledge base)."""
    candidates = [c for i, c in enumerate(identification.candidates)
                  if i == 0 or float(c.get("score", 0)) >= SHOWN_MIN_SCORE]
    verdicts = _verdicts(identification.photos)
    names = [str(c["name"]) for c in candidates] + [v.top for v in verdicts if v.top]
    # Names in the visitor's language (the knowledge base falls back to English).
    records = known_records(database, names, current_language()) if names else {}
    plant_ids = sorted({r.plant_id for r in records.values() if r.plant_id is not None})
    with database.read() as session:
        profiles = {p.id: p for p in plants.plant_reads(session=session, ids=plant_ids)}
    cards = []
    for rank, candidate in enumerate(candidates, start=1):
        name = str(candidate["name"])
        record = records.get(name) or SpeciesRecord(name=name, scientific_name=name)
        profile = profiles.get(record.plant_id) if record.plant_id is not None else None
        display = _display_name(record, name)
        care = [(_(label), readable_value(key, record.care[key]))
                for key, label in CARE_LABELS if record.care.get(key)]
        cards.append(CandidateView(
            rank=rank, name=display, scientific_name=record.scientific_name,
            authorship=record.authorship or "",
            family=record.family.name if record.family else "",
            percent=round(float(candidate.get("score", 0)) * 100),
            profile=f"/plants/{profile.slug}" if profile is not None else None,
            care=care, warning=record.care.get(WARNING_KEY),
            references=_references(candidate.get("references") or [], display),
            outside=_outside_links(record)))
    photos = []
    for index, photo in enumerate(identification.photos):
        verdict = verdicts[index] if verdicts else None
        alone = None
        if verdict is not None and verdict.top and not verdict.rejected:
            alone = (f"{_display_name(records.get(verdict.top), verdict.top)}, "
                     f"{round(verdict.score * 100)} %")
        photos.append(PhotoView(
            index=index, medium=photo_url(identification.id, index, "m"),
            small=photo_url(identification.id, index, "s"),
            organ=_(ORGAN_NAMES.get(str(photo.get("organ")), ORGAN_NAMES["auto"])), alone=alone,
            no_match=bool(verdict and verdict.rejected)))
    fused = float(identification.candidates[0].get("score", 0)) if candidates else 0.0
    notice = disagreement(verdicts, fused)
    return ResultView(
        id=identification.id, created_at=identification.created_at,
        when=describe_time(identification.created_at), photos=photos,
        candidates=cards, notice=notice, notice_lines=_notice_lines(notice, records),
        owned=account_id is not None and identification.account_id == account_id)


def _notice_lines(notice: Disagreement, records: dict[str, SpeciesRecord]) -> list[str]:
    lines = []
    if notice.different:
        lines.append(_("These photos may show different plants: %(photos)s.") % {
            "photos": "; ".join(_("photo %(number)s looks like %(plant)s (%(percent)s %%)") % {
                "number": i + 1, "plant": _display_name(records.get(name), name),
                "percent": round(score * 100)} for i, name, score in notice.different)})
    if notice.unsure_together:
        lines.append(_("Together the photos point to no plant clearly, though a photo alone "
                       "does: the answer below mixes them."))
    if notice.no_match:
        which = ", ".join(str(i + 1) for i in notice.no_match)
        if len(notice.no_match) == 1:
            lines.append(_("Photo %(numbers)s alone looks like none of the plants Hortus knows.")
                         % {"numbers": which})
        else:
            lines.append(_("Photos %(numbers)s alone look like none of the plants Hortus "
                           "knows.") % {"numbers": which})
    if lines:
        lines.append(_("Identify one plant at a time: send photos of different plants "
                       "separately."))
    return lines


@dataclass
class HistoryEntry:
    id: str
    created_at: datetime
    when: str
    thumb: str | None
    photo_count: int
    best: str
    percent: int


def history_entries(*, database: Database, items: Sequence[WebIdentification]
                    ) -> list[HistoryEntry]:
    """One line per result on the history page (blocking)."""
    names = [str(item.candidates[0]["name"]) for item in items if item.candidates]
    records = known_records(database, names, current_language()) if names else {}
    entries = []
    for item in items:
        best, percent = _("No plant matched"), 0
        if item.candidates:
            name = str(item.candidates[0]["name"])
            best = _display_name(records.get(name), name)
            percent = round(float(item.candidates[0].get("score", 0)) * 100)
        entries.append(HistoryEntry(
            id=item.id, created_at=item.created_at, when=describe_time(item.created_at),
            thumb=photo_url(item.id, 0, "s") if item.photos else None,
            photo_count=len(item.photos), best=best, percent=percent))
    return entries

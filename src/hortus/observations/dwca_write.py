"""Writing the observations as a Darwin Core Archive (``hortus export --format dwca FILE``).

The zip holds:

* ``occurrence.txt`` — the core, one row per observation (``id`` = ``occurrenceID``), the terms
  of :data:`~hortus.observations.dwc_terms.OCCURRENCE_TERMS`;
* ``multimedia.txt`` — GBIF's Simple Multimedia extension, one row per photo: its type, format,
  identifier (``media/<sha256>.<ext>``, relative to the archive; for a photo an import could not
  store, its original URL), organ (``description``), date, creator, licence, rights holder;
* ``media/`` — the photos themselves, byte for byte as stored, so that importing the archive
  into an empty server restores them;
* ``meta.xml`` (tab-separated UTF-8, one header line) and ``eml.xml`` (GBIF's metadata profile:
  title, creator, contact, the dataset's licence).

Values are written on one line: a tab or a line break inside a value becomes a space. By
default only valid observations are written (those a GBIF publication wants); ``only_valid=
False`` writes every observation not deleted, the others marked ``casual``. The archive is
written beside its destination and moved into place at the end, so a failed export leaves no
half-written file.
"""

from __future__ import annotations

import csv
import os
import tempfile
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from sqlalchemy import func, select

from hortus.db import Database, utcnow
from hortus.media.store import MediaStore, sniff_content_type
from hortus.observations.dwc import (
    OccurrenceRecord,
    dataset_identifier,
    iter_observations,
    occurrence_records,
)
from hortus.observations.dwc_serialize import iso_moment
from hortus.observations.dwc_terms import (
    BASIS_OF_RECORD,
    CASUAL,
    DWC_TEXT_NAMESPACE,
    KINGDOM,
    MULTIMEDIA_ROW_TYPE,
    MULTIMEDIA_TERMS,
    OCCURRENCE_ROW_TYPE,
    OCCURRENCE_TERMS,
    RESEARCH,
    STILL_IMAGE,
    dataset_license,
    license_uri,
    term_name,
)
from hortus.observations.models import Observation, ObservationLabel

OCCURRENCE_FILE = "occurrence.txt"
MULTIMEDIA_FILE = "multimedia.txt"
EML_FILE = "eml.xml"
META_FILE = "meta.xml"
MEDIA_DIR = "media"
DEFAULT_TITLE = "Hortus observations"
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
# The licence URLs GBIF recognises in eml.xml, as its own tools (the IPT) write them.
GBIF_LICENSE_URLS = {
    "cc0": "http://creativecommons.org/publicdomain/zero/1.0/legalcode",
    "cc-by": "http://creativecommons.org/licenses/by/4.0/legalcode",
    "cc-by-nc": "http://creativecommons.org/licenses/by-nc/4.0/legalcode",
}
LICENSE_TITLES = {
    "cc0": "Public Domain (CC0 1.0)",
    "cc-by": "Creative Commons Attribution (CC-BY) 4.0 License",
    "cc-by-nc": "Creative Commons Attribution Non Commercial (CC-BY-NC) 4.0 License",
}
Progress = Callable[[int, int], None]  # (observations written, total)


@dataclass
class ExportReport:
    """What an export wrote: observations, photo files, photo rows that are only a URL, and
    photos the media store no longer holds (left out)."""

    observations: int = 0
    photos: int = 0
    remote_photos: int = 0
    missing_photos: int = 0
    bytes_written: int = 0


def _clean(value: object) -> str:
    """A value on one line of a tab-separated file (floats as Python writes them back)."""
    if value is None:
        return ""
    text = repr(value) if isinstance(value, float) else str(value)
    for character in "\t\r\n":
        text = text.replace(character, " ")
    return text


def occurrence_row(record: OccurrenceRecord) -> list[str]:
    """One line of occurrence.txt: the id, then :data:`OCCURRENCE_TERMS` in order."""
    located = record.latitude is not None and record.longitude is not None
    if record.label:
        name, rank = record.scientific_name, record.taxon_rank
    elif record.verbatim_name and record.verbatim_name != KINGDOM:
        name, rank = record.verbatim_name, None  # an import's name this server did not know
    else:
        name, rank = KINGDOM, "kingdom"  # nobody has named it
    values = {
        "occurrenceID": record.occurrence_id, "basisOfRecord": BASIS_OF_RECORD,
        "modified": iso_moment(record.modified), "license": license_uri(record.license_code),
        "rightsHolder": record.recorded_by, "occurrenceStatus": "present",
        "recordedBy": record.recorded_by, "eventDate": iso_moment(record.observed_at),
        "decimalLatitude": record.latitude if located else None,
        "decimalLongitude": record.longitude if located else None,
        "geodeticDatum": "WGS84" if located else None,
        "coordinateUncertaintyInMeters": record.accuracy if located else None,
        "locality": record.place, "scientificName": name,
        "scientificNameAuthorship": record.authorship, "taxonRank": rank, "kingdom": KINGDOM,
        "family": record.family, "genus": record.genus,
        "identifiedBy": " | ".join(record.identified_by),
        "verbatimIdentification": record.verbatim_identification,
        "identificationVerificationStatus": RESEARCH if record.valid else CASUAL,
    }
    return [_clean(record.occurrence_id),
            *(_clean(values[term_name(term)]) for term in OCCURRENCE_TERMS)]


def _meta_xml() -> bytes:
    ET.register_namespace("", DWC_TEXT_NAMESPACE)
    ns = f"{{{DWC_TEXT_NAMESPACE}}}"
    root = ET.Element(f"{ns}archive", {"metadata": EML_FILE})
    for tag, row_type, location, id_tag, terms in (
            ("core", OCCURRENCE_ROW_TYPE, OCCURRENCE_FILE, "id", OCCURRENCE_TERMS),
            ("extension", MULTIMEDIA_ROW_TYPE, MULTIMEDIA_FILE, "coreid", MULTIMEDIA_TERMS)):
        element = ET.SubElement(root, f"{ns}{tag}", {
            "encoding": "UTF-8", "fieldsTerminatedBy": "\\t", "linesTerminatedBy": "\\n",
            "fieldsEnclosedBy": "", "ignoreHeaderLines": "1", "rowType": row_type})
        files = ET.SubElement(element, f"{ns}files")
        ET.SubElement(files, f"{ns}location").text = location
        ET.SubElement(element, f"{ns}{id_tag}", {"index": "0"})
        for index, term in enumerate(terms, start=1):
            ET.SubElement(element, f"{ns}field", {"index": str(index), "term": term})
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _eml_xml(*, dataset: str, title: str, licence: str, publisher: str, now: datetime) -> bytes:
    eml_ns = "eml://ecoinformatics.org/eml-2.1.1"
    ET.register_namespace("eml", eml_ns)
    root = ET.Element(f"{{{eml_ns}}}eml", {
        "packageId": f"{dataset}/v{now.strftime('%Y%m%d%H%M%S')}", "system": "http://gbif.org",
        "scope": "system", "{http://www.w3.org/XML/1998/namespace}lang": "en"})
    data = ET.SubElement(root, "dataset")
    ET.SubElement(data, "alternateIdentifier").text = dataset
    ET.SubElement(data, "title", {"{http://www.w3.org/XML/1998/namespace}lang": "en"}).text = \
        title
    for role in ("creator", "metadataProvider"):
        ET.SubElement(ET.SubElement(data, role), "organizationName").text = publisher
    ET.SubElement(data, "pubDate").text = now.date().isoformat()
    ET.SubElement(data, "language").text = "en"
    ET.SubElement(ET.SubElement(data, "abstract"), "para").text = (
        "Plant observations made with Hortus: photos of one plant each, named by their author "
        "and reviewed by other people with Pl@ntNet's published label aggregation.")
    rights = ET.SubElement(ET.SubElement(data, "intellectualRights"), "para")
    rights.text = "This work is licensed under a "
    link = ET.SubElement(rights, "ulink", {"url": GBIF_LICENSE_URLS[licence]})
    ET.SubElement(link, "citetitle").text = LICENSE_TITLES[licence]
    link.tail = (". Each occurrence and each photo states its own licence (the license columns "
                 "of occurrence.txt and multimedia.txt); credit their rights holders.")
    ET.SubElement(ET.SubElement(data, "contact"), "organizationName").text = publisher
    # Not indented: the rights paragraph mixes text and elements, and indenting would add
    # white space inside it.
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


class _Writer:
    """The archive being written: photos go straight into the zip, the two tables to temporary
    files that join it at the end (a zip takes one member at a time)."""

    def __init__(self, archive: zipfile.ZipFile, media: MediaStore, workdir: Path) -> None:
        self.archive, self.media = archive, media
        self.occurrences: IO[str] = (workdir / OCCURRENCE_FILE).open("w", encoding="utf-8",
                                                                       newline="")
        self.multimedia: IO[str] = (workdir / MULTIMEDIA_FILE).open("w", encoding="utf-8",
                                                                      newline="")
        self.core = csv.writer(self.occurrences, delimiter="\t", quoting=csv.QUOTE_NONE,
                               quotechar=None, escapechar=None, lineterminator="\n")
        self.extension = csv.writer(self.multimedia, delimiter="\t", quoting=csv.QUOTE_NONE,
                                    quotechar=None, escapechar=None, lineterminator="\n")
        self.core.writerow(["id", *map(term_name, OCCURRENCE_TERMS)])
        self.extension.writerow(["coreid", *map(term_name, MULTIMEDIA_TERMS)])
        self.written: dict[str, tuple[str, str]] = {}  # sha256 -> (path, format)
        self.licences: set[str] = set()

    def photo(self, sha256: str, report: ExportReport) -> tuple[str, str] | None:
        """The photo in the archive (written once whatever the number of observations showing
        it): its path and format; None when the store no longer holds it."""
        if sha256 in self.written:
            return self.written[sha256]
        body = self.media.open(sha256)
        if body is None:
            return None
        chunks = iter(body)
        first = next(chunks, b"")
        kind = sniff_content_type(first[:16])
        path = f"{MEDIA_DIR}/{sha256}.{EXTENSIONS.get(kind, 'bin')}"
        info = zipfile.ZipInfo(path, date_time=(2000, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_STORED  # photos are compressed already
        with self.archive.open(info, "w") as member:
            member.write(first)
            report.bytes_written += len(first)
            for chunk in chunks:
                member.write(chunk)
                report.bytes_written += len(chunk)
        self.written[sha256] = (path, kind)
        report.photos += 1
        return self.written[sha256]

    def record(self, record: OccurrenceRecord, report: ExportReport) -> None:
        self.core.writerow(occurrence_row(record))
        self.licences.add(record.license_code)
        created = iso_moment(record.observed_at)
        for media in record.media:
            if media.sha256 is None:
                identifier, kind = media.url or "", ""
                report.remote_photos += 1
            else:
                stored = self.photo(media.sha256, report)
                if stored is None:
                    report.missing_photos += 1
                    continue
                identifier, kind = stored
            values = {"type": STILL_IMAGE, "format": kind, "identifier": identifier,
                      "description": media.organ if media.organ not in (None, "auto") else "",
                      "created": created, "creator": media.creator, "license": media.license,
                      "rightsHolder": media.rights_holder}
            self.extension.writerow([_clean(record.occurrence_id),
                                     *(_clean(values[term_name(t)]) for t in MULTIMEDIA_TERMS)])
        report.observations += 1

    def finish(self, meta: Iterable[tuple[str, bytes]]) -> None:
        for handle, name in ((self.occurrences, OCCURRENCE_FILE),
                             (self.multimedia, MULTIMEDIA_FILE)):
            handle.close()
            self.archive.write(handle.name, name, compress_type=zipfile.ZIP_DEFLATED)
        for name, data in meta:
            self.archive.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)

    def close(self) -> None:
        self.occurrences.close()
        self.multimedia.close()


def _count(database: Database, only_valid: bool) -> int:
    with database.read() as session:
        query = select(func.count(Observation.id)).where(Observation.deleted_at.is_(None))
        if only_valid:
            query = query.join(ObservationLabel,
                               ObservationLabel.observation_id == Observation.id) \
                .where(ObservationLabel.valid.is_(True))
        return session.scalar(query) or 0


def write_archive(*, database: Database, media: MediaStore, target: Path,
                  only_valid: bool = True, title: str = DEFAULT_TITLE,
                  publisher: str = "Hortus", progress: Progress | None = None) -> ExportReport:
    """Write the observations (valid ones, or with ``only_valid=False`` all not deleted) and
    their photos to a Darwin Core Archive at ``target`` (blocking)."""
    report = ExportReport()
    total = _count(database, only_valid)
    dataset = dataset_identifier(database)
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial",
                                       dir=target.parent)
    os.close(handle)
    try:
        with tempfile.TemporaryDirectory() as workdir, \
                zipfile.ZipFile(partial, "w", allowZip64=True) as archive:
            writer = _Writer(archive, media, Path(workdir))
            try:
                with database.read() as session:
                    for rows in iter_observations(session, only_valid=only_valid):
                        for record in occurrence_records(session, rows, dataset=dataset):
                            writer.record(record, report)
                        if progress is not None:
                            progress(report.observations, total)
                now = utcnow().astimezone(UTC)
                licence = dataset_license(writer.licences)
                writer.finish([(META_FILE, _meta_xml()),
                               (EML_FILE, _eml_xml(dataset=dataset, title=title,
                                                   licence=licence, publisher=publisher,
                                                   now=now))])
            finally:
                writer.close()
        os.replace(partial, target)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return report


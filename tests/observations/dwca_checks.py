"""Structural checks of a Darwin Core Archive, after the rules GBIF's validator applies
(gbif/dwca-validator, gbif/gbif-data-validator): written here from those rules, not from
Hortus's code, so that an archive Hortus writes is judged by an independent reader.

* meta.xml parses, in the DwC text namespace, with one core and its rowType;
* every data file it names is in the zip, is UTF-8, and every row has every column meta.xml
  names (index < number of columns);
* the core's id column is filled and unique; every extension row's coreid is a core id;
* required terms are present: occurrenceID, basisOfRecord (from Darwin Core's vocabulary),
  scientificName, eventDate; in a multimedia extension, identifier;
* every licence value is a URI or one of GBIF's licence names;
* every term is a URI of a known namespace;
* eml.xml parses and has a title, a creator, a contact and intellectualRights naming a
  licence URL;
* a relative media identifier names a file of the archive.
"""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field

TEXT_NS = "{http://rs.tdwg.org/dwc/text/}"
DWC = "http://rs.tdwg.org/dwc/terms/"
DC = "http://purl.org/dc/terms/"
KNOWN_NAMESPACES = (DWC, DC, "http://rs.gbif.org/terms/1.0/", "http://rs.tdwg.org/ac/terms/")
BASIS_OF_RECORD = {"PreservedSpecimen", "FossilSpecimen", "LivingSpecimen", "HumanObservation",
                   "MachineObservation", "MaterialSample", "Occurrence", "MaterialCitation",
                   "MaterialEntity"}
GBIF_LICENCE_NAMES = {"CC0_1_0", "CC_BY_4_0", "CC_BY_NC_4_0"}
ESCAPES = {"\\t": "\t", "\\n": "\n", "\\r\\n": "\r\n"}


@dataclass
class Table:
    """A data file as meta.xml describes it, with its rows."""

    row_type: str
    location: str
    id_index: int
    columns: dict[str, int]
    rows: list[list[str]] = field(default_factory=list)

    def values(self, term: str) -> list[str]:
        index = self.columns[term]
        return [row[index] for row in self.rows]

    def records(self) -> list[dict[str, str]]:
        """Each row as {term short name: value}, plus "id"."""
        return [{"id": row[self.id_index],
                 **{t.rsplit("/", 1)[-1]: row[i] for t, i in self.columns.items()}}
                for row in self.rows]


def _table(archive: zipfile.ZipFile, element: ET.Element, id_tag: str) -> Table:
    location = element.find(f"{TEXT_NS}files/{TEXT_NS}location")
    assert location is not None and location.text, "a data file without a location"
    name = location.text.strip()
    assert name in archive.namelist(), f"meta.xml names {name}, which the zip lacks"
    assert (element.get("encoding") or "").upper() in ("UTF-8", "UTF8")
    delimiter = ESCAPES.get(element.get("fieldsTerminatedBy", ","),
                            element.get("fieldsTerminatedBy", ","))
    quote = element.get("fieldsEnclosedBy", '"')
    id_element = element.find(f"{TEXT_NS}{id_tag}")
    assert id_element is not None, f"{name}: no {id_tag} column"
    columns = {}
    for field_element in element.findall(f"{TEXT_NS}field"):
        term = field_element.get("term", "")
        assert term.startswith(KNOWN_NAMESPACES), f"unknown term namespace: {term}"
        assert term not in columns, f"{term} twice"
        columns[term] = int(field_element.get("index", "-1"))
    text = archive.read(name).decode("utf-8")  # UnicodeDecodeError: not UTF-8
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter,
                        quotechar=quote or None,
                        quoting=csv.QUOTE_MINIMAL if quote else csv.QUOTE_NONE)
    rows = [row for row in reader if row]
    header = int(element.get("ignoreHeaderLines", "0"))
    table = Table(row_type=element.get("rowType", ""), location=name,
                  id_index=int(id_element.get("index", "-1")), columns=columns,
                  rows=rows[header:])
    width = max([table.id_index, *columns.values()]) + 1
    for number, row in enumerate(table.rows, start=header + 1):
        assert len(row) >= width, f"{name} line {number}: {len(row)} columns < {width}"
    return table


@dataclass
class CheckedArchive:
    core: Table
    extensions: dict[str, Table]
    eml: ET.Element
    names: list[str]


def check_archive(data: bytes) -> CheckedArchive:
    """Every rule of the module docstring, asserted; the archive's tables."""
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None
    meta = ET.fromstring(archive.read("meta.xml"))
    assert meta.tag == f"{TEXT_NS}archive"
    cores = meta.findall(f"{TEXT_NS}core")
    assert len(cores) == 1
    core = _table(archive, cores[0], "id")
    assert core.row_type == DWC + "Occurrence"
    ids = [row[core.id_index] for row in core.rows]
    assert all(ids), "an empty core id"
    assert len(set(ids)) == len(ids), "core ids are not unique"
    for term in ("occurrenceID", "basisOfRecord", "scientificName", "eventDate"):
        assert DWC + term in core.columns, f"required term {term} missing"
    assert set(core.values(DWC + "basisOfRecord")) <= BASIS_OF_RECORD
    occurrence_ids = core.values(DWC + "occurrenceID")
    assert all(occurrence_ids) and len(set(occurrence_ids)) == len(occurrence_ids)
    extensions = {}
    for element in meta.findall(f"{TEXT_NS}extension"):
        table = _table(archive, element, "coreid")
        extensions[table.row_type] = table
        assert {row[table.id_index] for row in table.rows} <= set(ids), "orphan extension rows"
    for table in (core, *extensions.values()):
        if DC + "license" in table.columns:
            for value in table.values(DC + "license"):
                assert value.startswith(("http://", "https://")) or value in GBIF_LICENCE_NAMES, \
                    f"licence {value!r} is neither a URI nor a GBIF licence name"
    multimedia = extensions.get("http://rs.gbif.org/terms/1.0/Multimedia")
    if multimedia is not None:
        assert DC + "identifier" in multimedia.columns
        for identifier in multimedia.values(DC + "identifier"):
            assert identifier
            if "://" not in identifier:
                assert identifier in archive.namelist(), f"{identifier} is not in the archive"
    eml_name = meta.get("metadata", "eml.xml")
    eml = ET.fromstring(archive.read(eml_name))
    dataset = eml.find("dataset")
    assert dataset is not None
    for tag in ("title", "creator", "contact", "intellectualRights"):
        assert dataset.find(tag) is not None, f"eml.xml has no {tag}"
    link = dataset.find("intellectualRights/para/ulink")
    assert link is not None and link.get("url", "").startswith(
        ("http://creativecommons.org/", "https://creativecommons.org/"))
    return CheckedArchive(core=core, extensions=extensions, eml=eml, names=archive.namelist())

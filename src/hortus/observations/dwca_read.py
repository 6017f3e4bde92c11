"""Reading a Darwin Core Archive safely: the zip, its meta.xml, its rows, its photos.

An archive comes from anywhere, so nothing in it is trusted. Before anything is read:

* the file must be a zip whose every member name is a plain relative path (no ``/`` or drive
  at the start, no ``..``, no backslash or NUL), each name once, none encrypted;
* no member may be a zip bomb: over :attr:`ArchiveLimits.ratio_floor` bytes, a member may
  not expand more than :attr:`ArchiveLimits.max_ratio` times, and all members together not
  past :attr:`ArchiveLimits.max_total_bytes` (the zip module then stops any member at the
  size it declares, so a lying header cannot expand further);
* ``meta.xml`` must be small, well-formed UTF-8 XML without a DTD (an archive never needs one;
  refusing it rules out entity expansion and external entities), with an Occurrence core.

Then each data file is read as a stream of rows — strictly UTF-8, each row long enough for
every column meta.xml names, each core id once — and a photo only when asked for, never over
its size cap. Every refusal is an :class:`ArchiveError` whose message says what is wrong and
where; nothing is ever extracted to disk.
"""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import TracebackType

from hortus.errors import InvalidInput
from hortus.observations.dwc_terms import (
    DWC,
    DWC_TEXT_NAMESPACE,
    MULTIMEDIA_ROW_TYPE,
    OCCURRENCE_ROW_TYPE,
)

META_FILE = "meta.xml"
MAX_COLUMNS = 10_000
MAX_FIELD_CHARS = 131_072  # the csv module's own limit on a field
_ESCAPES = {"\\t": "\t", "\\n": "\n", "\\r": "\r", "\\r\\n": "\r\n", "\\\\": "\\"}
_UTF8 = {"utf-8", "utf8"}
_DRIVE = re.compile(r"^[A-Za-z]:")


class ArchiveError(InvalidInput):
    """An archive Hortus will not read, and why."""

    def __init__(self, message: str) -> None:
        super().__init__(message, error="invalid archive")


@dataclass(frozen=True)
class ArchiveLimits:
    """How much an archive may hold (the defaults suit a GBIF download of a few hundred
    thousand occurrences)."""

    max_members: int = 2_000_000
    max_meta_bytes: int = 1024 * 1024
    max_text_bytes: int = 8 * 1024**3
    max_photo_bytes: int = 50 * 1024 * 1024
    max_total_bytes: int = 256 * 1024**3
    max_ratio: float = 200.0
    ratio_floor: int = 1024 * 1024
    max_rows: int = 500_000
    max_media_per_occurrence: int = 50


@dataclass(frozen=True)
class DataFile:
    """One data file as meta.xml describes it."""

    location: str
    row_type: str
    id_index: int | None  # the core's id column, or an extension's coreid column
    fields: dict[str, int]  # term URI -> column
    defaults: dict[str, str]  # term URI -> constant value (a field without a column)
    delimiter: str
    quote: str  # "" for none
    header_lines: int

    @property
    def width(self) -> int:
        """The fewest columns a row must have."""
        used = [*self.fields.values(), *([self.id_index] if self.id_index is not None else [])]
        return max(used) + 1 if used else 0


@dataclass(frozen=True)
class Row:
    """One data row: its line in the file, its id (or coreid), its values by term URI."""

    line: int
    id: str
    values: dict[str, str] = field(default_factory=dict)

    def get(self, term: str) -> str:
        """The value of a term (a Darwin Core term by its short name), stripped; "" if none."""
        uri = term if "/" in term else DWC + term
        return self.values.get(uri, "").strip()


def safe_member_name(name: str) -> bool:
    """Whether a member name (or a photo's relative identifier) is a plain relative path."""
    if not name or len(name) > 1024 or "\\" in name or "\x00" in name or _DRIVE.match(name):
        return False
    path = PurePosixPath(name)
    return not path.is_absolute() and ".." not in path.parts and name.strip() == name


def _unescape(value: str | None, default: str) -> str:
    if value is None:
        return default
    return _ESCAPES.get(value, value)


def _int(value: str | None, what: str, default: int | None = None) -> int:
    if value is None or value.strip() == "":
        if default is None:
            raise ArchiveError(f"meta.xml: {what} is missing.")
        return default
    text = value.strip()
    if not text.isdigit() or len(text) > 6:
        raise ArchiveError(f"meta.xml: {what} must be a whole number; {text[:20]!r} is not.")
    return int(text)


class DarwinCoreArchive:
    """An opened archive (use as a context manager): :attr:`core`, :attr:`multimedia`, the
    rows of each, and photos by name."""

    def __init__(self, path: Path, limits: ArchiveLimits | None = None) -> None:
        self.limits = limits or ArchiveLimits()
        self.ignored_extensions: list[str] = []
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
            raise ArchiveError(f"{Path(path).name} is not a readable zip archive ({exc}).") \
                from None
        try:
            self._members = self._check_members()
            self.core, self.multimedia = self._read_meta()
        except BaseException:
            self._zip.close()
            raise

    # -- the zip -----------------------------------------------------------------------------

    def _check_members(self) -> dict[str, zipfile.ZipInfo]:
        infos = self._zip.infolist()
        if len(infos) > self.limits.max_members:
            raise ArchiveError(f"The archive has {len(infos)} members, over the limit of "
                               f"{self.limits.max_members}.")
        members: dict[str, zipfile.ZipInfo] = {}
        total = 0
        for info in infos:
            name = info.filename
            if not safe_member_name(name):
                raise ArchiveError(f"The archive has a member named {name[:120]!r}: only "
                                   "plain relative paths are allowed (no absolute path, "
                                   "'..', backslash or drive).")
            if name in members:
                raise ArchiveError(f"The archive has two members named {name[:120]!r}.")
            if info.flag_bits & 0x1:
                raise ArchiveError(f"{name[:120]} is encrypted.")
            total += info.file_size
            if total > self.limits.max_total_bytes:
                raise ArchiveError("The archive expands to more than "
                                   f"{self.limits.max_total_bytes:,} bytes.")
            if info.file_size > self.limits.ratio_floor and \
                    info.file_size > self.limits.max_ratio * max(info.compress_size, 1):
                raise ArchiveError(
                    f"{name[:120]} expands {info.file_size / max(info.compress_size, 1):,.0f} "
                    f"times ({info.compress_size:,} bytes to {info.file_size:,}): a zip bomb "
                    f"(at most {self.limits.max_ratio:g} times is accepted).")
            if not info.is_dir():
                members[name] = info
        return members

    def has_member(self, name: str) -> bool:
        return name in self._members

    def read_member(self, name: str, max_bytes: int) -> bytes:
        """A member's bytes; ArchiveError when it is missing or over ``max_bytes``."""
        info = self._members.get(name)
        if info is None:
            raise ArchiveError(f"The archive has no member {name[:120]!r}.")
        if info.file_size > max_bytes:
            raise ArchiveError(f"{name[:120]} has {info.file_size:,} bytes, over the limit of "
                               f"{max_bytes:,}.")
        try:
            with self._zip.open(info) as member:
                data = member.read(max_bytes + 1)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
            raise ArchiveError(f"{name[:120]} cannot be read: {exc}.") from None
        if len(data) > max_bytes:
            raise ArchiveError(f"{name[:120]} is over the limit of {max_bytes:,} bytes.")
        return data

    # -- meta.xml ----------------------------------------------------------------------------

    def _read_meta(self) -> tuple[DataFile, DataFile | None]:
        if META_FILE not in self._members:
            raise ArchiveError("The archive has no meta.xml: it is not a Darwin Core Archive.")
        raw = self.read_member(META_FILE, self.limits.max_meta_bytes)
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ArchiveError(f"meta.xml is not UTF-8 (byte {exc.start}).") from None
        if re.search(rb"<!\s*(DOCTYPE|ENTITY)", raw, re.IGNORECASE):
            raise ArchiveError("meta.xml declares a DTD or entities; a Darwin Core Archive "
                               "never needs them, and they are refused.")
        try:
            root = ET.fromstring(raw)
        except ET.ParseError as exc:
            raise ArchiveError(f"meta.xml is not well-formed XML: {exc}.") from None
        ns = f"{{{DWC_TEXT_NAMESPACE}}}"
        if root.tag not in (f"{ns}archive", "archive"):
            raise ArchiveError(f"meta.xml's root is {root.tag[:80]!r}, not a Darwin Core "
                               "archive element.")
        cores = [e for e in root if e.tag in (f"{ns}core", "core")]
        if len(cores) != 1:
            raise ArchiveError(f"meta.xml must describe exactly one core; it has {len(cores)}.")
        core = self._data_file(cores[0], "core", ns)
        if core.row_type != OCCURRENCE_ROW_TYPE:
            raise ArchiveError(f"The archive's core is {core.row_type[:120]!r}; Hortus imports "
                               f"occurrences ({OCCURRENCE_ROW_TYPE}).")
        if core.id_index is None and DWC + "occurrenceID" not in core.fields:
            raise ArchiveError("meta.xml's core has neither an id column nor occurrenceID.")
        multimedia = None
        for element in root:
            if element.tag not in (f"{ns}extension", "extension"):
                continue
            row_type = (element.get("rowType") or "").strip()
            if row_type != MULTIMEDIA_ROW_TYPE or multimedia is not None:
                self.ignored_extensions.append(row_type[:200])
                continue
            if core.id_index is None:
                raise ArchiveError("meta.xml has an extension but its core has no id column.")
            multimedia = self._data_file(element, "extension", ns)
        return core, multimedia

    def _data_file(self, element: ET.Element, kind: str, ns: str) -> DataFile:
        row_type = (element.get("rowType") or "").strip()
        encoding = (element.get("encoding") or "UTF-8").strip().lower()
        if encoding not in _UTF8:
            raise ArchiveError(f"meta.xml: the {kind} is {encoding[:40]!r}; Hortus reads "
                               "UTF-8 archives only.")
        locations = [(e.text or "").strip() for e in element.iter()
                     if e.tag in (f"{ns}location", "location")]
        if len(locations) != 1 or not locations[0]:
            raise ArchiveError(f"meta.xml: the {kind} must name exactly one file location.")
        location = locations[0]
        if not safe_member_name(location) or location not in self._members:
            raise ArchiveError(f"meta.xml: the {kind}'s file {location[:120]!r} is not in the "
                               "archive.")
        if self._members[location].file_size > self.limits.max_text_bytes:
            raise ArchiveError(f"{location} is over the limit of "
                               f"{self.limits.max_text_bytes:,} bytes.")
        delimiter = _unescape(element.get("fieldsTerminatedBy"), ",")
        quote = _unescape(element.get("fieldsEnclosedBy"), '"')
        lines = _unescape(element.get("linesTerminatedBy"), "\n")
        if len(delimiter) != 1 or len(quote) > 1 or delimiter == quote:
            raise ArchiveError(f"meta.xml: the {kind}'s fieldsTerminatedBy must be one "
                               "character and fieldsEnclosedBy at most one, another.")
        if lines not in ("\n", "\r\n", "\r"):
            raise ArchiveError(f"meta.xml: the {kind}'s linesTerminatedBy must be a line break.")
        id_tag = "id" if kind == "core" else "coreid"
        ids = [e for e in element if e.tag in (f"{ns}{id_tag}", id_tag)]
        if kind == "extension" and len(ids) != 1:
            raise ArchiveError("meta.xml: the multimedia extension must have one coreid column.")
        id_index = _int(ids[0].get("index"), f"the {kind}'s {id_tag} index") if ids else None
        fields: dict[str, int] = {}
        defaults: dict[str, str] = {}
        for e in element:
            if e.tag not in (f"{ns}field", "field"):
                continue
            term = (e.get("term") or "").strip()
            if not term or len(term) > 300:
                raise ArchiveError(f"meta.xml: a field of the {kind} has no term.")
            if term in fields or term in defaults:
                raise ArchiveError(f"meta.xml: the {kind} names the term {term[:120]!r} twice.")
            if e.get("index") is not None:
                fields[term] = _int(e.get("index"), f"the index of {term[:80]}")
            elif e.get("default") is not None:
                defaults[term] = (e.get("default") or "")[:MAX_FIELD_CHARS]
            else:
                raise ArchiveError(f"meta.xml: the field {term[:120]!r} has neither an index "
                                   "nor a default.")
        spec = DataFile(location=location, row_type=row_type, id_index=id_index, fields=fields,
                        defaults=defaults, delimiter=delimiter, quote=quote,
                        header_lines=_int(element.get("ignoreHeaderLines"),
                                          "ignoreHeaderLines", 0))
        if spec.width > MAX_COLUMNS:
            raise ArchiveError(f"meta.xml: the {kind} names column {spec.width - 1}, over "
                               f"{MAX_COLUMNS}.")
        return spec

    # -- rows --------------------------------------------------------------------------------

    def rows(self, spec: DataFile) -> Iterator[Row]:
        """Every data row of a file; ArchiveError for bytes that are not UTF-8, a malformed
        row, or a row with fewer columns than meta.xml names."""
        id_term = DWC + "occurrenceID"
        width, count = spec.width, 0
        with self._zip.open(self._members[spec.location]) as member:
            text = io.TextIOWrapper(member, encoding="utf-8", errors="strict", newline="")
            reader = csv.reader(text, delimiter=spec.delimiter, quotechar=spec.quote or None,
                                quoting=csv.QUOTE_MINIMAL if spec.quote else csv.QUOTE_NONE,
                                strict=bool(spec.quote))
            try:
                for values in reader:
                    line = reader.line_num
                    if line <= spec.header_lines or not any(v.strip() for v in values):
                        continue
                    if len(values) < width:
                        raise ArchiveError(
                            f"{spec.location}, line {line}: {len(values)} columns, but meta.xml "
                            f"names column {width - 1} (columns count from 0).")
                    count += 1
                    if count > self.limits.max_rows:
                        raise ArchiveError(f"{spec.location} has more than "
                                           f"{self.limits.max_rows:,} rows.")
                    found = dict(spec.defaults)
                    found.update({term: values[index] for term, index in spec.fields.items()})
                    key = (values[spec.id_index] if spec.id_index is not None
                           else found.get(id_term, "")).strip()
                    yield Row(line=line, id=key, values=found)
            except UnicodeDecodeError as exc:
                raise ArchiveError(f"{spec.location} is not UTF-8 (near line "
                                   f"{reader.line_num + 1}, byte {exc.start} of a block).") \
                    from None
            except csv.Error as exc:
                raise ArchiveError(f"{spec.location}, line {reader.line_num}: {exc}.") from None
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise ArchiveError(f"{spec.location} cannot be read: {exc}.") from None

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> DarwinCoreArchive:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

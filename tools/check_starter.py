#!/usr/bin/env python3
"""Validate the Hortus starter knowledge base (src/hortus/plants/starter/plants.jsonl).

Checks the record schema, the controlled vocabularies of the `data` facets,
uniqueness of scientific names, that companions/antagonists/parents point at
existing records, and prints summary counts. Exit status 1 on any error.

Usage: python tools/check_starter.py [path/to/plants.jsonl] [--min N]
"""

from __future__ import annotations

import collections
import json
import re
import sys
from pathlib import Path

DEFAULT = (
    Path(__file__).resolve().parents[1] / "src" / "hortus" / "plants" / "starter" / "plants.jsonl"
)

KEYS = [
    "scientific_name",
    "authorship",
    "genus",
    "genus_authorship",
    "family",
    "family_authorship",
    "type",
    "parent",
    "name",
    "common_names",
    "description",
    "data",
    "external_ids",
    "companions",
    "antagonists",
]
REQUIRED_LANGS = ("en", "fr", "de", "es")
KNOWN_LANGS = {"en", "fr", "de", "es", "it", "nl", "pt"}
EXTERNAL_KEYS = {"gbif", "powo", "eppo", "iucn"}
DATA_KEYS = {
    "Edible",
    "Edible parts",
    "Growth",
    "Water requirement",
    "Light requirement",
    "Soil type",
    "USDA Hardiness zone",
    "Layer",
    "Family",
    "Life cycle",
    "Height",
    "Native range",
    "Warning",
    "Medicinal",
}
LAYERS = {
    "Canopy",
    "Trees",
    "Shrubs",
    "Climbers",
    "Herbs",
    "Low flowering plants",
    "Ground cover",
    "Root crops",
    "Grains",
}
VOCAB = {
    "Edible": {"true", "false"},
    "Growth": {"Slow", "Medium", "Fast"},
    "Life cycle": {"Annual", "Biennial", "Perennial"},
    "Layer": LAYERS,
}
COMBO = {
    "Water requirement": ["dry", "moist", "wet"],
    "Light requirement": ["full sun", "partial sun/shade", "full shade"],
    "Soil type": ["light (sandy)", "medium", "heavy (clay)"],
}
REQUIRED_NAMES = [
    "Narcissus pseudonarcissus",
    "Galanthus nivalis",
    "Convallaria majalis",
    "Hyacinthoides non-scripta",
    "Crocus vernus",
    "Iris germanica",
    "Lilium lancifolium",
    "Tulipa gesneriana",
    "Fritillaria meleagris",
    "Helianthus annuus",
    "Leucanthemum vulgare",
    "Bellis perennis",
    "Tussilago farfara",
    "Taraxacum officinale",
    "Primula veris",
    "Ranunculus acris",
    "Anemone coronaria",
    "Viola × wittrockiana",
    "Rosa",
    "Phaseolus vulgaris",
]
EPPO_RE = re.compile(r"^[0-9A-Z]{5,6}$")
ZONE_RE = re.compile(r"^\d{1,2}(-\d{1,2})?$")


def check_combo(key: str, value: str) -> bool:
    if key == "Soil type" and value == "Medium (loamy)":
        return True
    parts = [p.strip().lower() for p in value.split(",")]
    order = COMBO[key]
    if not parts or any(p not in order for p in parts):
        return False
    idx = [order.index(p) for p in parts]
    return idx == sorted(set(idx)) and value[0].isupper()


def main(argv: list[str]) -> int:
    path = DEFAULT
    minimum = 320
    args = list(argv)
    if "--min" in args:
        i = args.index("--min")
        minimum = int(args[i + 1])
        del args[i : i + 2]
    if args:
        path = Path(args[0])
    errors: list[str] = []
    records = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            errors.append(f"line {n}: blank line")
            continue
        try:
            records.append((n, json.loads(line)))
        except json.JSONDecodeError as e:
            errors.append(f"line {n}: invalid JSON: {e}")
    names = collections.Counter(r.get("scientific_name") for _, r in records)
    for s, c in names.items():
        if c > 1:
            errors.append(f"duplicate scientific_name {s!r} ({c}x)")
    known = set(names)
    lang_counts = collections.Counter()
    ext_counts = collections.Counter()
    type_counts = collections.Counter()
    layer_counts = collections.Counter()
    family_counts = collections.Counter()
    comp_links = anta_links = 0
    pairs_c, pairs_a = set(), set()
    for n, r in records:
        where = f"line {n} ({r.get('scientific_name')})"
        if list(r.keys()) != KEYS:
            missing = [k for k in KEYS if k not in r]
            extra = [k for k in r if k not in KEYS]
            if missing or extra:
                errors.append(f"{where}: keys missing={missing} extra={extra}")
        sci = r.get("scientific_name")
        if not isinstance(sci, str) or not sci or sci != sci.strip():
            errors.append(f"{where}: bad scientific_name")
            continue
        if " x " in sci:
            errors.append(f"{where}: use '×' for hybrids")
        if r.get("genus") != sci.split()[0]:
            errors.append(f"{where}: genus {r.get('genus')!r} does not match name")
        t = r.get("type")
        type_counts[t] += 1
        if t not in ("Plant", "Variety"):
            errors.append(f"{where}: bad type {t!r}")
        if t == "Variety":
            if r.get("parent") not in known:
                errors.append(f"{where}: parent {r.get('parent')!r} not in file")
            elif not sci.startswith(r["parent"] + " '"):
                errors.append(f"{where}: variety name should be parent + 'Cultivar'")
        elif r.get("parent") is not None:
            errors.append(f"{where}: Plant with a parent")
        for k in ("authorship", "genus_authorship", "family_authorship"):
            if r.get(k) is not None and (not isinstance(r[k], str) or not r[k].strip()):
                errors.append(f"{where}: {k} must be a non-empty string or null")
        if not isinstance(r.get("family"), str) or not r["family"].endswith("aceae"):
            errors.append(f"{where}: bad family {r.get('family')!r}")
        family_counts[r.get("family")] += 1
        if not isinstance(r.get("name"), str) or not r["name"]:
            errors.append(f"{where}: missing name")
        cn = r.get("common_names") or {}
        if not isinstance(cn, dict):
            errors.append(f"{where}: common_names must be an object")
            cn = {}
        for lang, lst in cn.items():
            if lang not in KNOWN_LANGS:
                errors.append(f"{where}: unexpected language {lang!r}")
            if (
                not isinstance(lst, list)
                or not lst
                or not all(isinstance(x, str) and x.strip() for x in lst)
            ):
                errors.append(f"{where}: common_names[{lang}] must be a non-empty list of strings")
            elif len(set(lst)) != len(lst):
                errors.append(f"{where}: duplicate names in common_names[{lang}]")
            lang_counts[lang] += 1
        for lang in REQUIRED_LANGS:
            if lang not in cn and t == "Plant":
                errors.append(f"{where}: missing common_names[{lang}]")
        if "en" in cn and r.get("name") not in cn["en"]:
            errors.append(f"{where}: name {r.get('name')!r} not among English common names")
        desc = r.get("description")
        if not isinstance(desc, str) or len(desc) < 40:
            errors.append(f"{where}: description missing or too short")
        data = r.get("data")
        if not isinstance(data, list):
            errors.append(f"{where}: data must be a list")
            data = []
        seen = set()
        dd = {}
        for item in data:
            if not isinstance(item, dict) or set(item) != {"key", "value"}:
                errors.append(f"{where}: bad data item {item!r}")
                continue
            k, v = item["key"], item["value"]
            if k in seen:
                errors.append(f"{where}: duplicate data key {k!r}")
            seen.add(k)
            dd[k] = v
            if k not in DATA_KEYS:
                errors.append(f"{where}: unknown data key {k!r}")
            if not isinstance(v, str) or not v:
                errors.append(f"{where}: data {k!r} must be a non-empty string")
                continue
            if k in VOCAB and v not in VOCAB[k]:
                errors.append(f"{where}: data {k!r}={v!r} not in vocabulary")
            if k in COMBO and not check_combo(k, v):
                errors.append(f"{where}: data {k!r}={v!r} not in vocabulary")
            if k == "USDA Hardiness zone":
                if not ZONE_RE.match(v):
                    errors.append(f"{where}: bad zone {v!r}")
                else:
                    a, _, b = v.partition("-")
                    if b and int(a) > int(b):
                        errors.append(f"{where}: zone range reversed {v!r}")
            if k == "Family" and v != r.get("family"):
                errors.append(f"{where}: data Family differs from family")
            if k == "Edible parts" and not v[0].isupper():
                errors.append(f"{where}: Edible parts should be capitalised")
        if "Edible parts" in dd and dd.get("Edible") != "true":
            errors.append(f"{where}: Edible parts without Edible=true")
        if "Layer" in dd:
            layer_counts[dd["Layer"]] += 1
        ext = r.get("external_ids")
        if not isinstance(ext, dict):
            errors.append(f"{where}: external_ids must be an object")
            ext = {}
        for k, v in ext.items():
            if k not in EXTERNAL_KEYS:
                errors.append(f"{where}: unknown external id {k!r}")
            ext_counts[k] += 1
            if k == "eppo" and not EPPO_RE.match(str(v)):
                errors.append(f"{where}: bad EPPO code {v!r}")
        for field in ("companions", "antagonists"):
            lst = r.get(field)
            if not isinstance(lst, list):
                errors.append(f"{where}: {field} must be a list")
                continue
            if len(set(lst)) != len(lst):
                errors.append(f"{where}: duplicate in {field}")
            for other in lst:
                if other not in known:
                    errors.append(f"{where}: {field} -> {other!r} not in file")
                if other == sci:
                    errors.append(f"{where}: {field} references itself")
                pair = tuple(sorted((sci, other)))
                (pairs_c if field == "companions" else pairs_a).add(pair)
            if field == "companions":
                comp_links += len(lst)
            else:
                anta_links += len(lst)
    for pair in sorted(pairs_c & pairs_a):
        errors.append(f"pair {pair} is both companion and antagonist")
    for req in REQUIRED_NAMES:
        if req not in known:
            errors.append(f"required record missing: {req}")
    if len(records) < minimum:
        errors.append(f"only {len(records)} records (< {minimum})")

    print(f"records: {len(records)}")
    print("by type:", dict(type_counts))
    print("by layer:", dict(sorted(layer_counts.items(), key=lambda x: -x[1])))
    print("families:", len(family_counts))
    print("languages:", dict(sorted(lang_counts.items(), key=lambda x: -x[1])))
    print("external ids:", dict(ext_counts))
    print(f"companion links (as listed): {comp_links}; distinct pairs: {len(pairs_c)}")
    print(f"antagonist links (as listed): {anta_links}; distinct pairs: {len(pairs_a)}")
    if errors:
        print(f"\n{len(errors)} error(s):")
        for e in errors[:200]:
            print("  -", e)
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""External ids in Pl@ntNet's answer: POWO ids as Pl@ntNet gives them (bare IPNI ids), GBIF
keys as integers, whatever form the knowledge base stores."""

from __future__ import annotations

from hortus.identify.serialize import species_list_entry
from hortus.plants.taxonomy import SpeciesRecord


def test_powo_lsid_is_answered_as_the_bare_ipni_id():
    record = SpeciesRecord("Lantana camara", "Lantana camara", external_ids={
        "powo": "urn:lsid:ipni.org:names:325686-2", "gbif": "2925303"})
    entry = species_list_entry(record)
    assert entry.powo_id == "325686-2"
    assert entry.gbif_id == 2925303
    bare = species_list_entry(SpeciesRecord("X", "X", external_ids={"powo": "325686-2"}))
    assert bare.powo_id == "325686-2"
    assert species_list_entry(SpeciesRecord("Y", "Y")).powo_id is None

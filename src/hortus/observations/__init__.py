"""Observations: saved identifications with their photos, people's votes on them, and the
label aggregation's state (community review, issue 11).

``models`` (tables), ``form`` (the creating form), ``names`` (one spelling per species),
``votes`` (what each kind of vote settles), ``review_records`` and ``review_store`` (the
aggregation's rows, and its state kept between votes under one lock), ``service`` (use
cases), ``views`` and ``serialize`` (reading), ``schemas`` and ``router`` (the Pl@ntNet v2
wire format).
"""

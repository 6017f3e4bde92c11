"""Observations, votes and label aggregation (community review).

``aggregation`` holds Pl@ntNet's published formulas as pure functions, ``loop`` the full
iterative aggregation, ``incremental`` the vote-by-vote update that equals it, and ``state``
the records a database layer persists.
"""

"""A NamedTuple made from its values in one call (`new`), for the two the hot path makes per
timesheet: its Sheet (ledger.sheets) and, most often, its Claim (ledger.desk).

This file is what runs where nothing is compiled: `tuple.__new__`, one C call where a NamedTuple's
generated `__new__` is a Python function (0.11 against 0.34 µs for a claim's 16 fields, timeit).
setup.py compiles `tuples.pyx` in its place: the same tuple, allocated and filled in C (CPython
reached it through `tuple.__new__`'s argument parsing and a temporary tuple: 2 % of the parse path,
perf 2026-12-06), and not tracked by the garbage collector, which would otherwise visit every
claim (and each of its 16 values) once before finding it holds no container it could be in a cycle
with: 3 % of the parse path went to those visits. A Sheet or a Claim holds strings, numbers and
tuples of them only. tests/unit/ledger/test_tuples.py holds the two equal.
"""

from __future__ import annotations

new = tuple.__new__

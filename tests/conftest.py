"""Run order for the whole suite: the files with slow tests first.

`make test` spreads the test files over pytest-xdist processes (`--dist loadfile`), in the order of
the collection. A long file that starts near the end of the run decides when the run ends, so the
tests marked `slow` (up to a minute or so each: the fault tests, the demo, the browser, scale-out)
go to the front, which brings their files first, and the short files fill in around them. The
order within each group is kept.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

import streams  # noqa: F401  before the domain's modules: an extension older than its source is not imported (streams/compiled.py)


def pytest_collection_modifyitems(session, config, items) -> None:
    for item in items:
        # schemathesis names each operation's test `test_x[POST /v1/events]` but gives all of them
        # the function's node id; pytest-xdist's file scheduling keys tests by node id, so it would
        # run one operation and drop the others without a word.
        # pytest keeps a node id as a NodeId (pytest >= 9): its `params` is the part in brackets.
        if "[" in item.name and not item.nodeid.endswith("]") and dataclasses.is_dataclass(item._id):
            item._id = dataclasses.replace(item._id, params=item.name.partition("[")[2].removesuffix("]"))
    duplicates = sorted(i for i, n in Counter(item.nodeid for item in items).items() if n > 1)
    if duplicates:
        raise pytest.UsageError(f"tests with the same node id would run once under pytest-xdist: {duplicates}")
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)

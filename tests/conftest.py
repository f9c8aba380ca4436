"""Run order for the whole suite: the files with slow tests first.

`make test` spreads the test files over pytest-xdist processes (`--dist loadfile`), in the order of
the collection. A long file that starts near the end of the run decides when the run ends, so the
tests marked `slow` (up to a minute or so each: the fault tests, the demo, the browser, scale-out)
go to the front, which brings their files first, and the short files fill in around them. The
order within each group is kept.
"""

from __future__ import annotations


def pytest_collection_modifyitems(session, config, items) -> None:
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)

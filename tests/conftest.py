"""Run order for the whole suite: the slow tests first.

`make test` spreads the tests over pytest-xdist processes, two at a time (`--dist load
--maxschedchunk 2`). A long test that starts near the end of the run decides when the run ends, so
the tests marked `slow` (up to a minute or so each: the fault tests, the demo, the browser,
scale-out) go to the front of the queue and spread over the processes, and the short ones fill in
around them. The order within each group is kept. (Not `--dist worksteal`: it hands each process a
contiguous third of the queue at once, which would give all the slow tests to the first.)
"""

from __future__ import annotations


def pytest_collection_modifyitems(session, config, items) -> None:
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)

"""The live view's figures, read through the owner's Store with the report's own functions.

One snapshot holds the HTML report's data (`streams.audit.report_html.report_data`: programmes,
operations, contracts against their trajectories, daily counted hours), the intake accounting
(deploy/clickhouse/queries/accounting.sql), the freshness (live_freshness.sql) and the Kafka lag
(streams/live/lag.py). `Snapshots` reads at most one every `min_age` seconds whatever the number
of viewers, and one at a time: the loader's inserts share the store's handle with these reads.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any, Callable

from streams.audit.report_html import report_data
from streams.store import Store

# Contracts on the live page: the ones that need attention first.
STATUS_ORDER = ("at_risk", "behind", "not_started", "on_track")


def status_rank(status: Any) -> int:
    text = str(status or "")
    return STATUS_ORDER.index(text) if text in STATUS_ORDER else len(STATUS_ORDER)


def attention_order(contracts: list[dict]) -> list[dict]:
    """At risk first, then behind, not started, on track, anything else; within a status the
    largest shortfall (most negative gap) first, then by contract id."""
    def key(c: dict):
        gap = c.get("gap")
        return status_rank(c.get("status")), (float(gap) if gap is not None else 0.0), str(c.get("contract_id"))
    return sorted(contracts, key=key)


def status_counts(contracts: list[dict]) -> dict[str, int]:
    counts = Counter(str(c.get("status") or "unknown") for c in contracts)
    ordered = sorted(counts, key=lambda s: (status_rank(s), s))
    return {s: counts[s] for s in ordered}


def read_snapshot(store: Store, lag: dict | None = None) -> dict[str, Any]:
    """Every figure of the live page (Python values: Decimal, date, datetime)."""
    data = report_data(store)
    accounting = store.rows("accounting")[0]
    accounting["accounted"] = accounting["accepted"] + accounting["rejected"] + accounting["pending"]
    freshness = store.rows("live_freshness")[0]
    kafka = {k: v for k, v in (lag or {}).items()}
    return dict(data, contracts=attention_order(data["contracts"]), statuses=status_counts(data["contracts"]),
                accounting=accounting, freshness=freshness, kafka=kafka)


class Snapshots:
    """The latest snapshot, read again once it is `min_age` seconds old (single flight)."""

    def __init__(self, store: Store, lag: Callable[[], dict] | None = None, min_age: float = 1.0,
                 clock: Callable[[], float] = time.monotonic):
        self.store, self.lag, self.min_age, self.clock = store, lag, min_age, clock
        self._lock = threading.Lock()
        self._latest: tuple[float, dict] | None = None
        self.reads = 0

    def get(self) -> dict[str, Any]:
        with self._lock:
            if self._latest is None or self.clock() - self._latest[0] >= self.min_age:
                snapshot = read_snapshot(self.store, self.lag() if self.lag else None)
                self.reads += 1
                self._latest = (self.clock(), snapshot)
            return self._latest[1]

"""The worker's counters (streams.metrics.observe_outcomes), counted per routed message."""

from __future__ import annotations

from prometheus_client import REGISTRY

from ledger.desk import Outcome
from streams import metrics

SERIES = [("ledger_events_received_total", {}), ("ledger_events_accepted_total", {"type": "timesheet.submitted"}),
          ("ledger_events_rejected_total", {"reason": "duplicate_event"}),
          ("ledger_events_pending_total", {"reason": "unknown_contract"}), ("ledger_hours_attributed_total", {})]


def values() -> list[float]:
    return [REGISTRY.get_sample_value(name, labels) or 0.0 for name, labels in SERIES]


def entry(hours: str, status: str = "counted", kind: str = "credit") -> dict:
    return {"hours": hours, "status": status, "kind": kind}


def test_a_messages_outcomes_are_counted_once_each_and_its_credited_hours_summed():
    outcomes = [
        Outcome("o", "1", "timesheet.submitted", "accepted",
                [entry("7.50"), entry("-1.00", kind="reversal"), entry("2.00", status="not_counted")]),
        Outcome("o", "2", "timesheet.submitted", "accepted", [entry("1.25")]),
        Outcome("o", "3", "timesheet.submitted", "rejected", rejection={"reason": "duplicate_event"}),
        Outcome("o", "4", "timesheet.submitted", "repeated"),  # decided already: not counted again
        Outcome("o", "5", "timesheet.submitted", "pending", pending={"reason": "unknown_contract"}),
        # released later: received when it was parked, accepted now
        Outcome("o", "5", "timesheet.submitted", "accepted", [entry("3.00")], pending={"reason": "unknown_contract"}),
    ]
    before = values()
    metrics.observe_outcomes(outcomes, message_timestamp=1.0, now=2.0)
    assert [a - b for a, b in zip(values(), before)] == [4, 3, 1, 1, 11.75]

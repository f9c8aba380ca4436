"""A contract's linear trajectory and status, in Python, exactly as the view `contract_trajectory` computes them.

deploy/clickhouse/schema/005_analytics_views.sql: expected hours to date run linearly from the start date
(0 h) to the end date (the target); the status is 'not_started' when start_date > as_of, 'on_track' when
done >= expected, 'behind' when done >= 80% of expected, 'at_risk' otherwise. The synthetic programme
states each contract's status with this rule, from its own numbers, and the demo compares it with the
store's.

Expected hours are exact: target x elapsed days / length in days, in cents, rounded half up (the one
rounding rule of hours, ledger.events.to_hundredths), computed in integers by the view and here.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

STATUSES = ("on_track", "behind", "at_risk", "not_started")
DAYS_PER_MONTH = 30.44  # 365.25 / 12: an average month, where a duration is shown or drawn in months


def fraction_elapsed(start: dt.date, end: dt.date, as_of: dt.date) -> float:
    """Share of the contract's period elapsed at as_of, clamped to [0, 1] (1 once the end date is reached)."""
    if as_of >= end:
        return 1.0
    if as_of <= start:
        return 0.0
    return (as_of - start).days / (end - start).days


def expected_to_date(target: Decimal, start: dt.date, end: dt.date, as_of: dt.date) -> Decimal:
    """Hours the trajectory expects by as_of, to the cent, as the view gives them."""
    if as_of >= end:
        return target.quantize(Decimal("0.01"))
    if as_of <= start:
        return Decimal("0.00")
    length, elapsed = (end - start).days, (as_of - start).days
    cents = int(target * 100) * elapsed * 2 + length
    return Decimal(cents // (2 * length)) / 100


def contract_status(start: dt.date, end: dt.date, target: Decimal, done: Decimal, as_of: dt.date) -> str:
    """'not_started', 'on_track', 'behind' or 'at_risk', as contract_trajectory.status."""
    if start > as_of:
        return "not_started"
    expected = expected_to_date(target, start, end, as_of)
    if done >= expected:
        return "on_track"
    if done * 10 >= expected * 8:
        return "behind"
    return "at_risk"

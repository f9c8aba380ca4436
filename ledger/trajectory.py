"""A contract's linear trajectory and status, in Python, exactly as the view `contract_trajectory` computes them.

deploy/clickhouse/schema/005_analytics_views.sql: expected hours to date run linearly from the start date
(0 h) to the end date (the target); the status is 'not_started' when start_date > as_of, 'on_track' when
done >= expected, 'behind' when done >= 80% of expected, 'at_risk' otherwise. The synthetic programme
states each contract's status with this rule, from its own numbers, and the demo compares it with the
store's.

The view computes expected hours in floating point, `toDecimal64(round(toFloat64(target) * fraction, 2),
2)`: ClickHouse's round multiplies by 100, rounds half to even and divides by 100, and its conversion of a
Float64 to Decimal(2) multiplies by 100 and truncates, so the result is sometimes a cent below the rounded
value (a target of 20,528.60 h on an ended contract is expected at 20,528.59 h). This module does the same
operations on the same doubles, so that the two agree to the cent.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

STATUSES = ("on_track", "behind", "at_risk", "not_started")


def fraction_elapsed(start: dt.date, end: dt.date, as_of: dt.date) -> float:
    """Share of the contract's period elapsed at as_of, clamped to [0, 1] (1 once the end date is reached)."""
    if as_of >= end:
        return 1.0
    if as_of <= start:
        return 0.0
    return (as_of - start).days / (end - start).days


def expected_to_date(target: Decimal, start: dt.date, end: dt.date, as_of: dt.date) -> Decimal:
    """Hours the trajectory expects by as_of, to the cent as the view gives them."""
    product = float(target) * fraction_elapsed(start, end, as_of)
    rounded = round(product * 100.0) / 100.0  # ClickHouse round(x, 2) on a Float64 (ties to even)
    return Decimal(int(rounded * 100.0)) / 100  # toDecimal64(x, 2): scaled, then truncated


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

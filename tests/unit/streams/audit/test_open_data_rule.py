"""The open data's small-group rule (streams/audit/open_data.py), on hand-made trees."""

import datetime as dt
from decimal import Decimal

from streams.audit.open_data import build_tree, rows_at, publishable
from streams.audit.workbook import HIDDEN, UNDER_FIVE, suppress


def cells(spec):
    """spec: (programme, operation, contract, month, hours, people ids)."""
    return [{"programme_id": p, "operation_id": o, "contract_id": c, "month": dt.date(2025, m, 1),
             "counted_hours": Decimal(h), "people": ids} for p, o, c, m, h, ids in spec]


def test_publishable():
    assert [publishable(n) for n in range(7)] == [True, False, False, False, False, True, True]


def test_a_small_contract_is_merged_with_the_smallest_other():
    root = build_tree(cells([
        ("p", "o", "big", 1, 100, list(range(20))),
        ("p", "o", "mid", 1, 50, list(range(100, 108))),
        ("p", "o", "tiny", 1, 7, [200]),
    ]), [], [])
    contracts = rows_at(root, 3)
    shown = [g.path[-1] for g, parent in contracts if parent is None]
    merged = [sorted(n.path[-1] for n in g) for g, parent in contracts if parent is not None]
    assert shown == ["big"] and merged == [["mid", "tiny"]]
    # The file adds up, and the months of a merged contract are not shown on their own.
    months = rows_at(root, 4)
    assert [g.path for g, parent in months if parent is None] == [("p", "o", "big", "2025-01")]
    assert sum(g.hours if parent is None else sum(n.hours for n in g) for g, parent in months) == 157


def test_people_are_counted_once_across_groups():
    root = build_tree(cells([
        ("p", "o", "a", 1, 10, [1, 2, 3]), ("p", "o", "a", 2, 10, [1, 2, 3]),   # 3 people, twice
        ("p", "o", "b", 1, 40, list(range(10, 20))),
    ]), [], [])
    (group, parent), = [r for r in rows_at(root, 3) if r[1] is not None]
    # "a" alone has 3 people: merged with "b", the only other.
    assert parent.path == ("p", "o") and len(frozenset().union(*(n.people for n in group))) == 13


def test_workbook_suppression_hides_small_groups_and_one_more():
    rows = [{"p": "x", "value": v, "people": n, "hours": Decimal(n * 10)} for v, n in
            (("a", 2), ("b", 6), ("c", 9))]
    out = {r["value"]: (r["people"], r["hours"]) for r in suppress(rows, ("p",), "value", ("hours",))}
    assert out == {"a": (UNDER_FIVE, UNDER_FIVE), "b": (HIDDEN, HIDDEN), "c": (9, Decimal(90))}
    # Hidden groups adding up to 5 or more need no other.
    rows = [{"p": "x", "value": v, "people": n, "hours": 0} for v, n in (("a", 2), ("b", 3), ("c", 9))]
    assert [r["people"] for r in suppress(rows, ("p",), "value", ("hours",))] == [UNDER_FIVE, UNDER_FIVE, 9]

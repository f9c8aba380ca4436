"""`ledger export --open-data DIR`: counted hours as open data, a Frictionless Data Package.

DIR/datapackage.json describes four CSV files (docs/open-data.md): programmes.csv,
operations.csv, contracts.csv and contract_months.csv. No row is about a beneficiary, and no
figure (published, or found by adding and subtracting published figures, across the files too)
describes 1 to 4 people. The rule, on the tree programme > operation > contract > month of the
counted hours up to the store's reference date:

- a node's people are the distinct beneficiaries with net counted hours > 0 in it (the hours of
  an SIAE invoice have none); a node is *publishable* when it has 0 or at least 5 people;
- at each node, the children that are not publishable are merged into one "other" group of the
  node; while that group has 1-4 people, the smallest remaining child (fewest people, then fewest
  hours, then id) is merged into it too. A merged child is merged whole: none of its figures, nor
  those of its descendants, are published on their own;
- every file lists the groups of its level that are not merged, and one "other" row for each
  merged group above them (row_kind says which). Each file's rows add up to the whole ledger, and
  every row of a coarser file is a sum of rows of the finer ones: nothing is left to subtract.

Reference data (ids, lots, contractors' SIRET and SIREN, dates, targets) describe no person and
are published for every programme, operation and contract; the figures derived from hours (done,
%, gap, status, forecast) are left empty for a merged one (`figures` = "merged").
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from streams.audit.tools import csv_cell, csv_writer, read_only_query
from streams.store import Store, query_text

SMALL_GROUP = 5
LEVELS = ("programme", "operation", "contract", "month")


@dataclass
class Node:
    path: tuple[str, ...]                      # ids from the root: (programme, operation, contract, month)
    children: dict[str, Node] = field(default_factory=dict)
    hours: Decimal = Decimal(0)
    people: frozenset = frozenset()
    merged: list[Node] = field(default_factory=list)   # children merged into this node's "other" group

    @property
    def depth(self) -> int:
        return len(self.path)

    def child(self, key: str) -> Node:
        if key not in self.children:
            self.children[key] = Node(self.path + (key,))
        return self.children[key]


def publishable(people: int) -> bool:
    return people == 0 or people >= SMALL_GROUP


def _union(nodes: list[Node]) -> frozenset:
    return frozenset().union(*(n.people for n in nodes)) if nodes else frozenset()


def merge_small_groups(node: Node) -> None:
    """Totals of every node, and which children each node merges (bottom-up)."""
    for child in node.children.values():
        merge_small_groups(child)
    if node.children:
        node.hours = sum((c.hours for c in node.children.values()), Decimal(0))
        node.people = _union(list(node.children.values()))
    children = sorted(node.children.values(), key=lambda c: (len(c.people), c.hours, c.path[-1]))
    node.merged = [c for c in children if not publishable(len(c.people))]
    rest = [c for c in children if publishable(len(c.people))]
    while node.merged and not publishable(len(_union(node.merged))) and rest:
        node.merged.append(rest.pop(0))


def build_tree(cells: list[dict], contracts: list[dict], programmes: list[dict]) -> Node:
    root = Node(())
    for p in programmes:
        root.child(p["programme_id"])
    for c in contracts:  # contracts without hours are nodes too (0 people, 0 h)
        root.child(c["programme_id"]).child(c["operation_id"]).child(c["contract_id"])
    for cell in cells:
        leaf = (root.child(cell["programme_id"]).child(cell["operation_id"]).child(cell["contract_id"])
                .child(cell["month"].strftime("%Y-%m")))
        leaf.hours, leaf.people = Decimal(cell["counted_hours"]), frozenset(cell["people"])
    merge_small_groups(root)
    return root


def rows_at(root: Node, depth: int) -> list[tuple[Node | list[Node], Node | None]]:
    """The published groups of a file at `depth`: (node, None) for a node of that depth shown on its
    own, (merged nodes, parent) for the "other" group of a node above it."""
    out: list[tuple[Any, Node | None]] = []

    def walk(node: Node) -> None:
        merged = {id(m) for m in node.merged}
        for key in sorted(node.children):
            child = node.children[key]
            if id(child) in merged:
                continue
            if child.depth == depth:
                out.append((child, None))
            else:
                walk(child)
        if node.merged:
            out.append((node.merged, node))

    walk(root)
    return out


def shown_nodes(root: Node) -> set[tuple[str, ...]]:
    """Paths of the nodes whose own figures are published (neither they nor an ancestor merged)."""
    shown: set[tuple[str, ...]] = set()

    def walk(node: Node) -> None:
        merged = {id(m) for m in node.merged}
        for child in node.children.values():
            if id(child) not in merged:
                shown.add(child.path)
                walk(child)

    walk(root)
    return shown


OTHER_KIND = {0: "other_programmes", 1: "other_operations", 2: "other_contracts", 3: "other_months"}

# Field: (name, frictionless type, description). Fields that are empty for some rows say so.
KEY_FIELDS = {
    "programme": [("programme_id", "string", "Programme id (the buyer's programme).")],
    "operation": [("operation_id", "string", "Operation (line, part of the programme) id.")],
    "contract": [("contract_id", "string", "Contract (marché, lot) id.")],
    "month": [("month", "yearmonth", "Month of the work dates (YYYY-MM).")],
}
ROW_KIND = ("row_kind", "string", "What the row is: the level's own group (programme, operation, contract, "
            "contract_month) or an 'other' group merging small groups under the parent named by the row's ids "
            "(other_programmes, other_operations, other_contracts, other_months): docs/open-data.md.")
FIGURE_FIELDS = [
    ("counted_hours", "number", "Counted insertion hours (net of corrections) on work dates up to the reference "
                                "date. Empty when the group is merged into an 'other' row."),
    ("beneficiaries", "integer", "Distinct beneficiaries with counted hours in the group (0 or at least 5). "
                                 "Empty when the group is merged into an 'other' row."),
]
TRAJECTORY_FIELDS = [
    ("start_date", "date", "Start of the clause's period."), ("end_date", "date", "End of the clause's period."),
    ("target_hours", "number", "Target of insertion hours."),
    ("expected_to_date", "number", "Hours expected by the reference date on a linear trajectory from 0 at the "
                                   "start to the target at the end."),
]
STATUS_FIELDS = [
    ("pct_done", "number", "Counted hours as a percentage of the target. Empty when merged."),
    ("gap", "number", "Counted hours minus expected hours (negative: behind). Empty when merged."),
    ("status", "string", "on_track (done >= expected), behind (>= 80% of expected), at_risk, not_started. "
                         "Empty when merged."),
    ("figures", "string", "'published', or 'merged' when this group's figures are in an 'other' row "
                          "(fewer than 5 people, or merged so that a small group cannot be recovered)."),
]
RESOURCES = [
    # name, depth, title, description
    ("programmes", 1, "Programmes", "Each programme: target, counted hours to date, trajectory and status."),
    ("operations", 2, "Operations", "Each operation (line) of a programme: its contracts' targets and counted hours."),
    ("contracts", 3, "Contracts", "Each contract: contractor, target, counted hours to date, trajectory and status."),
    ("contract_months", 4, "Counted hours per contract and month", "Counted hours per contract and month of work."),
]


def schema_fields(depth: int) -> list[tuple[str, str, str]]:
    fields = [ROW_KIND]
    for level in LEVELS[:depth]:
        fields += KEY_FIELDS[level]
    if depth == 1:
        fields += [("name", "string", "Programme name.")]
    if depth == 3:
        fields += [("lot", "string", "Lot of the contract."),
                   ("contractor_siret", "string", "SIRET of the contractor's establishment holding the contract."),
                   ("contractor_siren", "string", "SIREN of the contractor's company (first 9 digits of the SIRET).")]
    if depth == 2:
        fields += [("contracts", "integer", "Contracts registered under the operation.")]
    if depth <= 3:
        fields += TRAJECTORY_FIELDS[2:] if depth == 2 else TRAJECTORY_FIELDS
    fields += FIGURE_FIELDS
    if depth <= 3:
        fields += STATUS_FIELDS
    return fields


def export_data(store: Store) -> dict[str, Any]:
    def rows(name: str) -> list[dict]:
        return read_only_query(store, query_text(name)).as_dicts()

    as_of = rows("workbook_period")[0]["as_of"]
    programmes, operations, contracts = rows("analytics_programmes"), rows("analytics_operations"), \
        rows("analytics_contracts")
    root = build_tree(rows("open_data_cells"), contracts, programmes)
    reference = {1: {(p["programme_id"],): p for p in programmes},
                 2: {(o["programme_id"], o["operation_id"]): o for o in operations},
                 3: {(c["programme_id"], c["operation_id"], c["contract_id"]): c for c in contracts}}
    tables: dict[str, list[dict]] = {}
    for name, depth, _, _ in RESOURCES:
        out = []
        keys = [f for level in LEVELS[:depth] for f, _, _ in KEY_FIELDS[level]]
        published = set()
        for group, parent in rows_at(root, depth):
            if parent is None:  # a node of this level, shown on its own
                row = _row(group.path, reference.get(depth, {}).get(group.path), depth)
                row.update(row_kind=LEVELS[depth - 1] if depth < 4 else "contract_month",
                           counted_hours=group.hours, beneficiaries=len(group.people))
                if depth <= 3:
                    row["figures"] = "published"
                published.add(group.path)
            else:  # the "other" group of `parent`
                people = _union(group)
                row = {k: None for k in keys}
                row.update(_row(parent.path, None, parent.depth))
                row.update(row_kind=OTHER_KIND[parent.depth],
                           counted_hours=sum((g.hours for g in group), Decimal(0)) if publishable(len(people)) else None,
                           beneficiaries=len(people) if publishable(len(people)) else None)
            out.append(row)
        if depth <= 3:  # every programme, operation, contract is listed; merged ones with reference data only
            for path, ref in sorted(reference[depth].items()):
                if path not in published:
                    row = _row(path, ref, depth)
                    row.update(row_kind=LEVELS[depth - 1], figures="merged")
                    for f in ("counted_hours", "beneficiaries", "pct_done", "gap", "status"):
                        row[f] = None
                    out.append(row)
            for row in out:
                if row.get("figures") == "published":
                    ref = reference[depth][tuple(row[f"{level}_id"] for level in LEVELS[:depth])]
                    row.update(pct_done=ref["pct_done"], gap=ref.get("gap", _gap(ref)), status=ref["status"])
        tables[name] = sorted(out, key=_order(keys))
    return {"as_of": as_of, "tables": tables}


def _gap(ref: dict) -> Decimal | None:
    if ref.get("hours_done") is None or ref.get("expected_to_date") is None:
        return None
    return Decimal(ref["hours_done"]) - Decimal(ref["expected_to_date"])


def _row(path: tuple[str, ...], ref: dict | None, depth: int) -> dict:
    row: dict[str, Any] = {f"{level}_id" if level != "month" else "month": key
                           for level, key in zip(LEVELS, path)}
    if ref is not None:
        for f in ("name", "lot", "contractor_siret", "start_date", "end_date", "target_hours", "expected_to_date",
                  "contracts"):
            if f in ref:
                row[f] = ref[f]
        if "contractor_siret" in ref:
            row["contractor_siren"] = ref["contractor_siret"][:9]
    return row


def _order(keys: list[str]):
    def key(row: dict) -> tuple:
        return tuple((row.get(k) is None, str(row.get(k) or "")) for k in keys) + (row["row_kind"],)
    return key


def datapackage(as_of: dt.date) -> dict[str, Any]:
    return {
        "profile": "tabular-data-package",
        "name": "insertion-hours",
        "title": "Insertion hours under social clauses of public works contracts",
        "description": ("Counted insertion hours per programme, operation, contract and month, up to the reference "
                        f"date {as_of.isoformat()}, from an event-level ledger. No row describes a person; groups of "
                        "1 to 4 beneficiaries are merged into 'other' rows (docs/open-data.md)."),
        "created": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "temporalCoverage": {"end": as_of.isoformat()},
        # The licence is the publisher's choice (e.g. Licence Ouverte 2.0, ODbL): add "licenses" here.
        "resources": [{
            "name": name, "path": f"{name}.csv", "profile": "tabular-data-resource", "title": title,
            "description": description, "format": "csv", "mediatype": "text/csv", "encoding": "utf-8",
            "dialect": {"delimiter": ",", "lineTerminator": "\r\n", "header": True},
            "schema": {"fields": [{"name": f, "type": t, "description": d} for f, t, d in schema_fields(depth)],
                       "missingValues": [""]},
        } for name, depth, title, description in RESOURCES],
    }


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    return csv_cell(value)


def write_open_data(store: Store, directory: Path) -> list[Path]:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    data = export_data(store)
    package = datapackage(data["as_of"])
    written = []
    for resource in package["resources"]:
        fields = [f["name"] for f in resource["schema"]["fields"]]
        path = directory / resource["path"]
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv_writer(f)
            writer.writerow(fields)
            for row in data["tables"][resource["name"]]:
                writer.writerow([_cell(row.get(name)) for name in fields])
        written.append(path)
    path = directory / "datapackage.json"
    path.write_text(json.dumps(package, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return [path, *written]


"""The schema of a ClickHouse cluster, made from the single-server files by one function.

The files of deploy/clickhouse/schema/ stay the one source: `cluster_statements` turns each of their
statements into what a cluster of replicated shards needs (docs/scaling.md, "ClickHouse: one server,
then a cluster"). Every table falls in one of three kinds, and a table of no kind is an error:

- REPLICATED_EVERYWHERE: reference data and bookkeeping (a few thousand rows). Every node holds all
  of it (the Keeper path has no shard), so the views' joins with it stay local to a shard.
- SHARDED: the ledger, what waits or was rejected, the dedup stage and the aggregates. Each becomes
  `<name>_local` (a Replicated engine under `/clickhouse/tables/{shard}/...`) and `<name>`, a
  Distributed table over it. The sharding key of a table that keeps one row per id is that id (its
  dedup id), so two copies of an entry land on the same shard: FINAL, applied per shard, keeps one,
  and the dedup stage (entries_new_from_ledger_mv looking up entry_keys) finds the first copy on that shard.
  The aggregates are only sums: any shard may hold a part of a sum (the repairs insert anywhere).
- LOCAL: the Null table the dedup stage passes new entries through; it stores nothing.

Materialized views are attached to the local tables (an INSERT into a Distributed table reaches the
local table of one replica per shard, whose views fire there; the replicas copy the results), so
every sharded name in a view's body becomes its local name. Plain views, the queries and the
dashboards keep the plain names: they read the Distributed tables, which read every shard. INSERTs
(the backfills) go through the Distributed tables too. String literals are left alone.

Replicated tables deduplicate inserts by default (replicated_deduplication_window), with the same
insert_deduplication_token the loader sends: `non_replicated_deduplication_window` becomes that.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

# Sharded tables and their sharding key: the column whose value is one row (or one of its copies),
# or rand() for sums, where any shard may hold any part.
SHARDED: dict[str, str] = {
    "ledger_entries": "cityHash64(entry_id)",
    "rejections": "cityHash64(rejection_id)",
    "pending_timesheets": "cityHash64(event_id)",
    "claim_resolutions": "cityHash64(event_id)",
    "entry_keys": "cityHash64(entry_id)",
    "rejection_claims": "cityHash64(rejection_id)",
    "hours_by_contract_day": "rand()",
    "hours_by_contract_month": "rand()",
    "hours_by_beneficiary_contract": "rand()",
    "people_contract_hours": "rand()",
    "hours_by_programme_day": "rand()",
    "hours_by_operation_day": "rand()",
    "rejections_by_reason_day": "rand()",
    "accepted_events": "rand()",
    "unmarked_sources": "cityHash64(source_event_id)",
    "ledger_freshness": "rand()",
}
REPLICATED_EVERYWHERE = frozenset({
    "programme_definitions", "contract_registrations", "beneficiary_enrolments", "pooling_agreements",
    "beneficiary_outcomes", "loader_batches", "ledger_settings", "analytics_backfills", "schema_versions",
})
LOCAL = frozenset({"entries_new"})

LOCAL_SUFFIX = "_local"
SHARD_PATH = "/clickhouse/tables/{shard}/{database}/{table}"
EVERYWHERE_PATH = "/clickhouse/tables/all/{database}/{table}"
REPLICA = "{replica}"

_CREATE_TABLE = re.compile(r"^CREATE TABLE IF NOT EXISTS (\w+)(?=\s)")
_CREATE_VIEW = re.compile(r"^(CREATE OR REPLACE VIEW|DROP VIEW IF EXISTS|DROP TABLE IF EXISTS) (\w+)(?=\s|$)")
_CREATE_MV = re.compile(r"^CREATE MATERIALIZED VIEW IF NOT EXISTS (\w+)(?=\s)")
_ALTER_TABLE = re.compile(r"^ALTER TABLE (\w+)(?=\s)")
_ENGINE = re.compile(r"\bENGINE = (\w*MergeTree)(?:\(([^()]*)\))?")
_NON_REPLICATED_WINDOW = re.compile(r"\bnon_replicated_deduplication_window\b")
_LITERAL = re.compile(r"'(?:[^'\\]|\\.)*'")


class UnknownTable(ValueError):
    """A schema table the cluster variant does not know how to place: say where it goes first."""


def table_kind(name: str) -> str:
    if name in SHARDED:
        return "sharded"
    if name in REPLICATED_EVERYWHERE:
        return "everywhere"
    if name in LOCAL:
        return "local"
    raise UnknownTable(f"table {name!r}: add it to SHARDED (with its sharding key), REPLICATED_EVERYWHERE or "
                       "LOCAL in streams/cluster.py")


def cluster_statements(statements: Iterable[str], cluster: str, database: str) -> list[str]:
    """The cluster variant of single-server schema statements, in the same order."""
    out: list[str] = []
    for statement in statements:
        if m := _CREATE_TABLE.match(statement):
            out.extend(_table(statement, m.group(1), m.end(), cluster, database))
        elif m := _CREATE_MV.match(statement):
            on_cluster = _on_cluster(statement, m.end(), cluster)
            out.append(_outside_literals(on_cluster, _to_local))
        elif m := _CREATE_VIEW.match(statement):
            out.append(_on_cluster(statement, m.end(), cluster))
        elif m := _ALTER_TABLE.match(statement):
            out.extend(_alter(statement, m.group(1), m.end(), cluster))
        elif statement.startswith("INSERT INTO "):
            out.append(statement)
        else:
            raise ValueError(f"no cluster variant for the statement: {statement[:80]!r}")
    return out


def digest(statements: Iterable[str]) -> str:
    """Names one version of the schema (streams/store.py applies a cluster's schema once per version)."""
    return hashlib.sha256("\n;\n".join(statements).encode()).hexdigest()[:16]


def _table(statement: str, name: str, head_end: int, cluster: str, database: str) -> list[str]:
    """`head_end`: where `CREATE TABLE IF NOT EXISTS <name>` ends in `statement`."""
    kind = table_kind(name)
    if kind == "local":
        return [_on_cluster(statement, head_end, cluster)]
    local = name + LOCAL_SUFFIX if kind == "sharded" else name
    replicated = _replicated(statement[head_end:], SHARD_PATH if kind == "sharded" else EVERYWHERE_PATH)
    created = f"CREATE TABLE IF NOT EXISTS {local} ON CLUSTER {cluster}{replicated}"
    if kind == "everywhere":
        return [created]
    distributed = (f"CREATE TABLE IF NOT EXISTS {name} ON CLUSTER {cluster} AS {local}\n"
                   f"ENGINE = Distributed({cluster}, {sql_string(database)}, {local}, {SHARDED[name]})")
    return [created, distributed]


def _alter(statement: str, name: str, head_end: int, cluster: str) -> list[str]:
    """An ALTER of a sharded table changes its local tables and the Distributed table over them
    (which was made `AS` the local table: it does not follow a later change by itself)."""
    kind = table_kind(name)
    altered = _on_cluster(statement, head_end, cluster)
    if kind != "sharded":
        return [altered]
    local = f"ALTER TABLE {name}{LOCAL_SUFFIX}{altered[head_end:]}"
    return [local, altered]


def _replicated(statement: str, path: str) -> str:
    m = _ENGINE.search(statement)
    if m is None:
        raise ValueError(f"no MergeTree engine to replicate in: {statement[:80]!r}")
    own = (m.group(2) or "").strip()
    args = [sql_string(path), sql_string(REPLICA)] + ([own] if own else [])
    engine = f"ENGINE = Replicated{m.group(1)}({', '.join(args)})"
    return _NON_REPLICATED_WINDOW.sub("replicated_deduplication_window",
                                      statement[:m.start()] + engine + statement[m.end():])


def _on_cluster(statement: str, at: int, cluster: str) -> str:
    return f"{statement[:at]} ON CLUSTER {cluster}{statement[at:]}"


_SHARDED_NAME = re.compile(r"\b(" + "|".join(sorted(SHARDED, key=len, reverse=True)) + r")\b")


def _to_local(sql: str) -> str:
    return _SHARDED_NAME.sub(lambda m: m.group(1) + LOCAL_SUFFIX, sql)


def _outside_literals(sql: str, change) -> str:
    parts, last = [], 0
    for literal in _LITERAL.finditer(sql):
        parts += [change(sql[last:literal.start()]), literal.group(0)]
        last = literal.end()
    return "".join(parts + [change(sql[last:])])


def sql_string(text: str) -> str:
    """`text` as a ClickHouse string literal (streams/store.py quotes its values with it too)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"

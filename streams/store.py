"""The ClickHouse store, embedded (chDB) or a server, behind one clickhouse-connect client.

The DSN chooses: `chdb://PATH` runs the ClickHouse engine inside this process (one process owns a
path), `http(s)://user:password@host:8123` talks to a server. SQL lives in deploy/clickhouse/.

With a cluster's name (LEDGER_CLICKHOUSE_CLUSTER) the schema is the cluster variant of the same
files (streams/cluster.py): created ON CLUSTER, replicated, sharded, read through Distributed tables
under the single-server names, so that the loader, the queries and the dashboards do not change.
`chdb://PATH?config-file=FILE` starts the embedded engine with a server configuration file (the
tests give it a cluster of one local shard to run the cluster variant's tables and views).
"""

from __future__ import annotations

import json
import re
import threading
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse, urlunparse

import clickhouse_connect
from clickhouse_connect.driver.exceptions import DatabaseError

from streams.cluster import cluster_statements, digest, sql_string
from streams.settings import REPO_ROOT, Settings

SQL_DIR = REPO_ROOT / "deploy" / "clickhouse"
SCHEMA_DIR = SQL_DIR / "schema"
CLUSTER_SCHEMA_VERSIONS = SQL_DIR / "cluster" / "schema_versions.sql"
QUERIES_DIR = SQL_DIR / "queries"
_STATEMENT_END = re.compile(r";\s*(?:--[^\n]*)?$", re.MULTILINE)


def split_statements(sql: str) -> list[str]:
    """Statements of a schema file: each ends with ';' at the end of a line."""
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    text = "\n".join(lines)
    return [s.strip() for s in _STATEMENT_END.split(text) if s.strip()]


@cache
def query_text(name: str) -> str:
    return (QUERIES_DIR / f"{name}.sql").read_text()


# Engine settings a query file runs with, whoever runs it. Plan choices only: the same rows, no limit
# lifted. They live here rather than in the file's SETTINGS clause because readers run with
# readonly=1, which refuses a query that changes a setting.
QUERY_SETTINGS: dict[str, dict[str, Any]] = {
    # hours_by_operation_day is sorted by (status, work_date, programme_id, operation_id): aggregated
    # in that order, the groups come out already sorted, and the ORDER BY costs nothing (at 10 M
    # entries 59 -> 31 ms in the engine; see docs/scaling.md, "Queries").
    "daily_counted_hours": {"optimize_aggregation_in_order": 1},
}


def _names_an_alias(error: Exception, database: str) -> bool:
    """Whether the engine refused a view because its database is named like one of the view's table
    aliases: a view's tables are stored qualified (`p.programmes AS p`), and the analyzer then reads
    `p.ledger_as_of` as a column of the alias `p` (UNKNOWN_IDENTIFIER, an error that names neither)."""
    text = str(error)
    return f"identifier '{database}." in text and "cannot be resolved as table expression" in text


class Store:
    def __init__(self, dsn: str, database: str, create: bool = True, cluster: str = ""):
        """`create`: make the database if missing (the loader's right; readers only read).
        `cluster`: a ClickHouse cluster's name (remote_servers) to create the schema on."""
        self.dsn = dsn
        self.database = database
        self.cluster = cluster
        self._lock = threading.Lock()  # one chDB handle: serialise loader writes and readers' queries
        # The loader's insert waits until every shard has its part of the batch (not queued on the
        # node it wrote to), so that offsets are committed only after the rows are on their shards.
        self._insert_settings = {"distributed_foreground_insert": 1} if cluster else {}
        if create:
            admin = _client(dsn)
            admin.command(self._prepare(f"CREATE DATABASE IF NOT EXISTS `{database}`" + self.on_cluster))
            admin.close()
        self.client = _client(dsn, database)

    @classmethod
    def from_settings(cls, cfg: Settings, create: bool = True) -> Store:
        return cls(cfg.clickhouse_dsn, cfg.clickhouse_database, create=create, cluster=cfg.clickhouse_cluster)

    @property
    def on_cluster(self) -> str:
        return f" ON CLUSTER {self.cluster}" if self.cluster else ""

    def schema_statements(self, schema_dir: Path = SCHEMA_DIR) -> list[str]:
        """The schema files' statements in order, or their cluster variant on a cluster."""
        statements = [s for path in sorted(schema_dir.glob("*.sql")) for s in split_statements(path.read_text())]
        if not self.cluster:
            return statements
        versions = split_statements(CLUSTER_SCHEMA_VERSIONS.read_text())
        return cluster_statements(versions + statements, self.cluster, self.database)

    def apply_schema(self, schema_dir: Path = SCHEMA_DIR) -> None:
        """Run every schema file in order. Idempotent: IF NOT EXISTS tables, OR REPLACE views.

        On a cluster each version of the schema is applied once (schema_versions): a DDL statement
        ON CLUSTER waits for every node, so a loader restarted while a replica is down would wait
        on each statement; it starts at once when its version is already there, and the replica
        that was down catches up from Keeper when it returns."""
        statements = self.schema_statements(schema_dir)
        version = digest(statements) if self.cluster else None
        with self._lock:
            if version is not None and self._has_schema_version(version):
                return
            for statement in statements:
                try:
                    self.client.command(self._prepare(statement))
                except DatabaseError as error:
                    if _names_an_alias(error, self.database):
                        raise ValueError(
                            f"the database name {self.database!r} (LEDGER_CLICKHOUSE_DATABASE) is also a table alias "
                            "in the schema's views (deploy/clickhouse/schema), which ClickHouse then cannot tell "
                            "from it: choose another name") from error
                    raise
            if version is not None:
                self.client.command(f"INSERT INTO schema_versions (digest) VALUES ({sql_string(version)})")

    def _has_schema_version(self, version: str) -> bool:
        if not self.client.command("EXISTS TABLE schema_versions"):
            return False
        return bool(self.client.command(f"SELECT count() FROM schema_versions WHERE digest = {sql_string(version)}"))

    @staticmethod
    def _prepare(statement: str) -> str:
        return statement

    def insert_json_rows(self, table: str, rows: bytes, token: str | None = None) -> None:
        """Insert JSONEachRow lines: the records' own JSON, without per-field conversion here.

        `token`: the insert's deduplication token (tables with a deduplication window skip an
        insert whose token they already hold, and so do their materialized views).

        optimize_on_insert=0: the engine does not collapse each inserted block by the table's
        merge logic (Replacing, Aggregating) for the ledger table and each table its views feed.
        Nothing relies on it: the ledger is read with FINAL, the dedup stage keeps one row per id
        itself (LIMIT 1 BY), the aggregates are read with sum() ... GROUP BY. It cost ~16 % of
        an entry's insert, merges included (bench/insert_settings.py: median ratio 0.84)."""
        settings = {"input_format_skip_unknown_fields": 1, "date_time_input_format": "best_effort",
                    "optimize_on_insert": 0, **self._insert_settings}
        if token is not None:
            settings["insert_deduplication_token"] = token
        with self._lock:
            self.client.raw_insert(table, insert_block=rows, fmt="JSONEachRow", settings=settings)

    def log_batch(self, group: str, batch_id: str, ranges: dict[tuple[str, int], tuple[int, int]]) -> None:
        """Record a loader batch's offset ranges (deploy/clickhouse/schema/002_ledger.sql: loader_batches)."""
        lines = b"\n".join(json.dumps({"loader_group": group, "batch_id": batch_id, "topic": topic, "partition": partition,
                                        "first_offset": first, "last_offset": last}).encode()
                           for (topic, partition), (first, last) in sorted(ranges.items()))
        self.insert_json_rows("loader_batches", lines)

    def logged_batches(self, group: str, committed: dict[tuple[str, int], int]) -> list[dict[tuple[str, int], tuple[int, int]]]:
        """The batches of `group` with a range past the committed offset of one of these partitions, oldest
        first, each with all its ranges."""
        if not committed:
            return []
        conditions = " OR ".join(f"(topic = {sql_string(topic)} AND partition = {int(partition)} AND last_offset >= {int(offset)})"
                                 for (topic, partition), offset in committed.items())
        with self._lock:
            result = self.client.query(
                "SELECT batch_id, topic, partition, first_offset, last_offset, written_at FROM loader_batches "
                "WHERE loader_group = {group:String} AND batch_id IN (SELECT batch_id FROM loader_batches "
                f"WHERE loader_group = {{group:String}} AND ({conditions})) ORDER BY written_at, batch_id",
                parameters={"group": group})
        batches: dict[str, dict[tuple[str, int], tuple[int, int]]] = {}
        for batch_id, topic, partition, first, last, _ in result.result_rows:
            batches.setdefault(batch_id, {})[(topic, int(partition))] = (int(first), int(last))
        return list(batches.values())

    def query(self, sql: str, parameters: dict[str, Any] | None = None, settings: dict[str, Any] | None = None):
        with self._lock:
            return self.client.query(sql, parameters=parameters, settings=settings)

    def named(self, name: str, parameters: dict[str, Any] | None = None):
        """Run a query from deploy/clickhouse/queries/NAME.sql (with its QUERY_SETTINGS)."""
        return self.query(query_text(name), parameters, QUERY_SETTINGS.get(name))

    def rows(self, name: str, parameters: dict[str, Any] | None = None) -> list[dict]:
        result = self.named(name, parameters)
        return [dict(zip(result.column_names, row)) for row in result.result_rows]

    def close(self) -> None:
        self.client.close()


def _client(dsn: str, database: str | None = None):
    """A client for the DSN. A chdb:// DSN's `config-file` parameter goes to the engine."""
    dsn = _resolve(dsn)
    parsed = urlparse(dsn)
    options = parse_qs(parsed.query)
    config = options.pop("config-file", None)
    if parsed.scheme != "chdb" or config is None:
        return clickhouse_connect.get_client(dsn=dsn, database=database)
    rest = urlencode({key: values[-1] for key, values in options.items()})
    return clickhouse_connect.get_client(dsn=urlunparse(parsed._replace(query=rest)), database=database,
                                         chdb_options={"config-file": config[-1]})


def _resolve(dsn: str) -> str:
    # chdb://relative/path means a path relative to the working directory (its parameters kept).
    if dsn.startswith("chdb://") and not dsn.startswith("chdb:///"):
        path, sep, parameters = dsn[len("chdb://"):].partition("?")
        return "chdb:///" + str(Path(path).resolve()).lstrip("/") + sep + parameters
    return dsn



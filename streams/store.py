"""The ClickHouse store, embedded (chDB) or a server, behind one clickhouse-connect client.

The DSN chooses: `chdb://PATH` runs the ClickHouse engine inside this process (one process owns a
path), `http(s)://user:password@host:8123` talks to a server. SQL lives in deploy/clickhouse/.
"""

from __future__ import annotations

import re
import threading
from functools import cache
from pathlib import Path
from typing import Any

import clickhouse_connect

from streams.settings import REPO_ROOT, Settings

SQL_DIR = REPO_ROOT / "deploy" / "clickhouse"
SCHEMA_DIR = SQL_DIR / "schema"
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


class Store:
    def __init__(self, dsn: str, database: str, create: bool = True):
        """`create`: make the database if missing (the loader's right; readers only read)."""
        self.dsn = dsn
        self.database = database
        self._lock = threading.Lock()  # one chDB handle: serialise loader writes and readers' queries
        if create:
            admin = clickhouse_connect.get_client(dsn=_resolve(dsn))
            admin.command(f"CREATE DATABASE IF NOT EXISTS `{database}`")
            admin.close()
        self.client = clickhouse_connect.get_client(dsn=_resolve(dsn), database=database)

    @classmethod
    def from_settings(cls, cfg: Settings, create: bool = True) -> Store:
        return cls(cfg.clickhouse_dsn, cfg.clickhouse_database, create=create)

    def apply_schema(self, schema_dir: Path = SCHEMA_DIR) -> None:
        """Run every schema file in order. Idempotent: IF NOT EXISTS tables, OR REPLACE views."""
        with self._lock:
            for path in sorted(schema_dir.glob("*.sql")):
                for statement in split_statements(path.read_text()):
                    self.client.command(statement)

    def insert_json_rows(self, table: str, rows: bytes) -> None:
        """Insert JSONEachRow lines: the records' own JSON, without per-field conversion here."""
        with self._lock:
            self.client.raw_insert(table, insert_block=rows, fmt="JSONEachRow",
                                   settings={"input_format_skip_unknown_fields": 1,
                                             "date_time_input_format": "best_effort"})

    def query(self, sql: str, parameters: dict[str, Any] | None = None):
        with self._lock:
            return self.client.query(sql, parameters=parameters)

    def named(self, name: str, parameters: dict[str, Any] | None = None):
        """Run a query from deploy/clickhouse/queries/NAME.sql."""
        return self.query(query_text(name), parameters)

    def rows(self, name: str, parameters: dict[str, Any] | None = None) -> list[dict]:
        result = self.named(name, parameters)
        return [dict(zip(result.column_names, row)) for row in result.result_rows]

    def close(self) -> None:
        self.client.close()


def _resolve(dsn: str) -> str:
    # chdb://relative/path means a path relative to the working directory.
    if dsn.startswith("chdb://") and not dsn.startswith("chdb:///"):
        return "chdb:///" + str(Path(dsn[len("chdb://"):]).resolve()).lstrip("/")
    return dsn

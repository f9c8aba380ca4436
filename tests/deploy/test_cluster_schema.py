"""The cluster variant of the schema (streams/cluster.py) against the single-server files.

Checked without a cluster: every statement parses in ClickHouse's own parser (formatQuery, run by
the embedded engine in a process of its own), and each replicated table has the columns, ORDER BY,
PARTITION BY, TTL and settings of its single-server table, its engine replicated under a Keeper
path of its kind, and its Distributed table sharded by the table's dedup id. What the variant
gives when it runs (local tables, Distributed tables, the views, the figures) is in
tests/integration/test_cluster_layout.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from streams.cluster import LOCAL, REPLICATED_EVERYWHERE, SHARDED, UnknownTable, cluster_statements, table_kind
from streams.store import REPO_ROOT, SCHEMA_DIR, split_statements
from tests.integration import analytics_data as data

CLUSTER, DATABASE = "ledger", "insertion"
FORMAT = """
import json, sys
import chdb
statements = json.load(sys.stdin)
quote = lambda s: "'" + s.replace("\\\\", "\\\\\\\\").replace("'", "\\\\'") + "'"
out = [json.loads(chdb.query("SELECT formatQuery(" + quote(s) + ") AS q", "JSONEachRow").bytes())["q"] for s in statements]
json.dump(out, sys.stdout)
"""
CREATE_TABLE = re.compile(r"^CREATE TABLE IF NOT EXISTS (\w+)")
CREATE_VIEW = re.compile(r"^CREATE (?:OR REPLACE )?(?:MATERIALIZED )?VIEW (?:IF NOT EXISTS )?(\w+)")


def formatted(statements: list[str]) -> list[str]:
    done = subprocess.run([sys.executable, "-c", FORMAT], input=json.dumps(statements), capture_output=True,
                          text=True, cwd=REPO_ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def single() -> list[str]:
    return [s for path in sorted(SCHEMA_DIR.glob("*.sql")) for s in split_statements(path.read_text())]


@pytest.fixture(scope="module")
def cluster(single) -> list[str]:
    return cluster_statements(single, CLUSTER, DATABASE)


@pytest.fixture(scope="module")
def parsed(single, cluster) -> dict[str, dict[str, str]]:
    """Table name -> formatted CREATE statement, for the single server and for the cluster."""
    texts = formatted(single + cluster)
    tables = {"single": {}, "cluster": {}}
    for side, statements, shown in (("single", single, texts[:len(single)]), ("cluster", cluster, texts[len(single):])):
        for statement, text in zip(statements, shown):
            if m := CREATE_TABLE.match(statement):
                tables[side].setdefault(m.group(1), text)  # 004 repeats beneficiary_outcomes IF NOT EXISTS
    return tables


def clause(text: str, name: str) -> str | None:
    """One top-level clause of a formatted CREATE TABLE (formatQuery puts each on its own line)."""
    found = [line for line in text.splitlines() if line.startswith(name + " ")]
    return found[0] if found else None


def columns(text: str) -> str:
    return text[text.index("(") : text.index("\nENGINE")]


def test_every_statement_of_the_cluster_variant_parses(cluster):
    shown = formatted(cluster)
    assert len(shown) == len(cluster)
    for statement, text in zip(cluster, shown):
        if not statement.startswith("INSERT"):
            assert f"ON CLUSTER {CLUSTER}" in text, statement[:80]


def test_every_table_of_the_schema_has_a_place_on_the_cluster(single):
    names = {m.group(1) for s in single if (m := CREATE_TABLE.match(s))}
    assert names <= set(SHARDED) | REPLICATED_EVERYWHERE | LOCAL
    assert not set(SHARDED) & REPLICATED_EVERYWHERE and not (set(SHARDED) | REPLICATED_EVERYWHERE) & LOCAL
    with pytest.raises(UnknownTable, match="new_table"):
        table_kind("new_table")
    with pytest.raises(UnknownTable):
        cluster_statements(["CREATE TABLE IF NOT EXISTS new_table\n(\n    x UInt8\n)\nENGINE = MergeTree\nORDER BY x"],
                           CLUSTER, DATABASE)


def test_replicated_tables_keep_the_columns_keys_and_settings_of_one_server(parsed):
    for name, text in parsed["single"].items():
        kind = table_kind(name)
        if kind == "local":
            assert parsed["cluster"][name].replace(f" ON CLUSTER {CLUSTER}", "") == text
            continue
        local = parsed["cluster"][f"{name}_local" if kind == "sharded" else name]
        assert columns(local) == columns(text), name
        for key in ("ORDER BY", "PARTITION BY", "PRIMARY KEY", "TTL"):
            assert clause(local, key) == clause(text, key), (name, key)
        engine, replicated = clause(text, "ENGINE ="), clause(local, "ENGINE =")
        m = re.fullmatch(r"ENGINE = (\w+)(?:\((.*)\))?", engine)
        path = "/clickhouse/tables/{shard}/{database}/{table}" if kind == "sharded" else \
            "/clickhouse/tables/all/{database}/{table}"
        args = [f"'{path}'", "'{replica}'"] + ([m.group(2)] if m.group(2) else [])
        assert replicated == f"ENGINE = Replicated{m.group(1)}({', '.join(args)})", name
        single_settings = (clause(text, "SETTINGS") or "").replace("non_replicated_deduplication_window",
                                                                   "replicated_deduplication_window")
        assert (clause(local, "SETTINGS") or "") == single_settings, name


def test_distributed_tables_are_sharded_by_the_dedup_id(parsed):
    """Copies of a row (same ORDER BY key of a ReplacingMergeTree) land on one shard, so FINAL and
    the dedup stage, which work per shard, still see them together. Only sums may go anywhere."""
    for name, key in SHARDED.items():
        text, local = parsed["cluster"][name], parsed["single"][name]
        assert clause(text, "ENGINE =") == f"ENGINE = Distributed({CLUSTER}, '{DATABASE}', {name}_local, {key})", name
        assert f"AS {name}_local" in text.splitlines()[0], name
        if key == "rand()":
            assert clause(local, "ENGINE =").startswith("ENGINE = AggregatingMergeTree"), name
            continue
        column = re.fullmatch(r"cityHash64\((\w+)\)", key).group(1)
        order_by = re.findall(r"\w+", clause(local, "ORDER BY")[len("ORDER BY"):])
        assert column in order_by, (name, column, order_by)
    assert SHARDED["ledger_entries"] == "cityHash64(entry_id)"
    assert SHARDED["entry_keys"] == SHARDED["ledger_entries"]  # the dedup stage finds an entry's first copy
    assert SHARDED["rejections"] == SHARDED["rejection_claims"] == "cityHash64(rejection_id)"


def test_materialized_views_read_and_write_local_tables_and_views_read_distributed_ones(single, cluster):
    sharded = re.compile(r"\b(" + "|".join(SHARDED) + r")\b")
    literal = re.compile(r"'(?:[^'\\]|\\.)*'")
    def others(statements):
        return [s for s in statements if not s.startswith(("CREATE TABLE", "ALTER TABLE"))]

    for before, after in zip(others(single), others(cluster), strict=True):
        body = literal.sub("''", after)
        if after.startswith("CREATE MATERIALIZED VIEW"):
            assert not sharded.search(body), after[:120]  # every sharded name became <name>_local
            assert literal.findall(after) == literal.findall(before)  # 'rejections' AS source stays
        elif after.startswith("INSERT"):
            assert after == before
        else:
            assert "_local" not in body and after.replace(f" ON CLUSTER {CLUSTER}", "", 1) == before, after[:120]


def test_an_alter_of_a_sharded_table_changes_its_local_tables_and_its_distributed_table(single, cluster):
    """The Distributed table is made `AS` its local table once: a column added later must be added
    to both, on every node, or reads through it would not see the column."""
    altered = [s for s in single if s.startswith("ALTER TABLE")]
    assert altered, "the schema has ALTERs (the upgrades of older stores)"
    expected = []
    for statement in altered:
        name, rest = statement[len("ALTER TABLE "):].split(" ", 1)
        on_cluster = f" ON CLUSTER {CLUSTER} {rest}"
        if name in SHARDED:
            expected += [f"ALTER TABLE {name}_local{on_cluster}", f"ALTER TABLE {name}{on_cluster}"]
        else:
            expected.append(f"ALTER TABLE {name}{on_cluster}")
    assert [s for s in cluster if s.startswith("ALTER TABLE")] == expected
    assert "ALTER TABLE ledger_entries_local ON CLUSTER" in "\n".join(expected)


def test_the_dashboards_read_only_views(single):
    """So the same dashboards work on one server and on the cluster: views read the Distributed
    tables under the single-server names."""
    views = {m.group(1) for s in single if (m := CREATE_VIEW.match(s)) and "MATERIALIZED" not in s}
    read = set()
    for _, dashboard in data.load_dashboards():
        for _, target in data.clickhouse_targets(dashboard):
            read |= set(re.findall(r"\b(?:FROM|JOIN)\s+([A-Za-z_]\w*)", data.render_sql(target["rawSql"]), re.I))
    assert read and read <= views, read - views

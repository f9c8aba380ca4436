"""The cluster variant of the schema (streams/cluster.py) gives the single server's figures.

A subprocess (tests/integration/cluster_layout.py) runs the cluster variant on chDB with a cluster
of one local shard: local tables under the materialized views, Distributed tables under the
single-server names, views over those. Only what needs ClickHouse Keeper is undone there (the
Replicated engines and ON CLUSTER); what replication adds is checked statically in
tests/deploy/test_cluster_schema.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest

from streams.cluster import LOCAL, REPLICATED_EVERYWHERE, SHARDED
from streams.store import REPO_ROOT, Store
from tests.integration import analytics_data as data
from tests.integration.cluster_layout import figures


@pytest.fixture(scope="module")
def layout(tmp_path_factory) -> dict:
    workdir = tmp_path_factory.mktemp("cluster-layout")
    done = subprocess.run([sys.executable, "-m", "tests.integration.cluster_layout", str(workdir)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def single(chdb_path) -> dict:
    store = Store(f"chdb://{chdb_path}", database=f"single_{uuid.uuid4().hex[:10]}")
    store.apply_schema()
    data.load(store)
    data.replay_batches(store)
    try:
        return figures(store)
    finally:
        store.close()


def test_the_cluster_layout_reads_the_figures_of_one_server(layout, single):
    """Every Grafana panel, the progress views, the rejections and the ledger read with FINAL, on
    a store holding copies of entries written through the Distributed table: the same as on one
    server, and the analytical model agrees with the ledger."""
    shown = layout["figures"]
    assert shown["analytics_check"] == [] == single["analytics_check"]
    assert shown["ledger_rows"] == single["ledger_rows"] > len(data.entries())  # the copies are there, unmerged
    assert shown["panels"].keys() == single["panels"].keys()
    for title, rows in single["panels"].items():
        assert shown["panels"][title] == rows, title
    for name in ("contract_progress", "programme_progress", "withheld_hours", "intake_accounting",
                 "rejections_by_reason", "ledger_final"):
        assert shown[name] and shown[name] == single[name], name
    assert any(row[5] != "0.00" for row in shown["programme_progress"])  # hours, not a store of zeros


def test_a_batch_retried_through_the_distributed_table_is_written_once(layout):
    assert layout["rows_of_a_batch_written_twice"] == 7


def test_sharded_tables_are_local_under_a_distributed_name(layout):
    engines = layout["engines"]
    for name in SHARDED:
        assert engines[name] == "Distributed", name
        assert engines[f"{name}_local"].endswith("MergeTree"), name
    for name in REPLICATED_EVERYWHERE:
        assert engines[name].endswith("MergeTree") and f"{name}_local" not in engines, name
    for name in LOCAL:
        assert engines[name] == "Null"
    views = {name for name, engine in engines.items() if engine == "MaterializedView"}
    assert len(views) >= 12


def test_a_cluster_schema_is_applied_once_per_version(layout):
    """A loader restarted on a cluster runs no DDL when its version of the schema is there (an ON
    CLUSTER statement would wait for a replica that is down)."""
    assert layout["statements_applied"] > 100
    assert layout["statements_applied_again"] == 0
    assert layout["schema_versions"] == 1

"""The cluster variant of the schema, run on the embedded engine: `python -m tests.integration.cluster_layout DIR`.

chDB cannot run what needs ClickHouse Keeper (Replicated engines, ON CLUSTER), but given a server
configuration with a cluster of one local shard it runs Distributed tables. So this applies the
cluster variant (streams/cluster.py) through Store.apply_schema with only those two things undone
(`unreplicated`), loads the dashboards' dataset through the Distributed tables as the loader would,
with copies, and prints what the dashboards, the progress views and the checks read, as JSON.
tests/integration/test_cluster_layout.py compares it with the single-server schema's figures. It
runs in a process of its own: one process runs one chDB engine, started with one configuration.
"""

from __future__ import annotations

import json
import re
import sys
import uuid
from pathlib import Path

from streams.store import Store
from tests.integration import analytics_data as data

CLUSTER = "ledger"
DATABASE = "insertion"
CONFIG = f"""<clickhouse>
    <tcp_port>9000</tcp_port>
    <remote_servers>
        <{CLUSTER}>
            <shard>
                <internal_replication>true</internal_replication>
                <replica><host>localhost</host><port>9000</port></replica>
            </shard>
        </{CLUSTER}>
    </remote_servers>
</clickhouse>
"""
ON_CLUSTER = re.compile(rf" ON CLUSTER {CLUSTER}\b")
REPLICATED_ENGINE = re.compile(r"\bReplicated(\w*MergeTree)\('/clickhouse/tables/[^']*', '\{replica\}'(?:, )?")
# The queries whose figures the test compares (besides every Grafana panel), by name.
QUERIES = {
    "contract_progress": "SELECT * FROM contract_progress ORDER BY contract_id",
    "programme_progress": "SELECT * FROM programme_progress ORDER BY programme_id",
    "withheld_hours": "SELECT * FROM withheld_hours ORDER BY status, reason",
    "intake_accounting": "SELECT * FROM intake_accounting",
    "rejections_by_reason": "SELECT * FROM rejections_by_reason ORDER BY reason",
    "ledger_final": "SELECT entry_id, kind, status, contract_id, work_date, hours FROM ledger_entries FINAL ORDER BY entry_id",
}


def unreplicated(statement: str) -> str:
    """A cluster statement as one chDB process can run it: no ON CLUSTER, no Replicated engine."""
    statement = ON_CLUSTER.sub("", statement)
    statement = REPLICATED_ENGINE.sub(lambda m: f"{m.group(1)}(", statement)
    return statement.replace("replicated_deduplication_window", "non_replicated_deduplication_window")


class LayoutStore(Store):
    applied = 0

    def _prepare(self, statement: str) -> str:
        LayoutStore.applied += 1
        return unreplicated(statement)


def main(workdir: Path) -> dict:
    config = workdir / "cluster.xml"
    config.write_text(CONFIG)
    store = LayoutStore(f"chdb://{workdir / 'store'}?config-file={config}", DATABASE, cluster=CLUSTER)
    store.apply_schema()
    first = LayoutStore.applied
    store.apply_schema()  # the same version: nothing to run
    engines = dict(store.query("SELECT name, engine FROM system.tables WHERE database = {d:String}",
                               {"d": DATABASE}).result_rows)
    data.load(store)
    data.replay_batches(store, ledger_table="ledger_entries_local")
    read = figures(store)
    # The loader's retry of a batch through the Distributed table, under its batch's token, with
    # its rows in another order (another block hash): the second write is skipped on the shard only
    # if the token went along with the shard's part of the block.
    rows = [dict(row, entry_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"retry-{n}")))
            for n, row in enumerate(data.entries()[:7])]
    before = store.query("SELECT count() FROM ledger_entries").result_rows[0][0]
    for batch in (rows, rows[::-1]):
        store.insert_json_rows("ledger_entries", data._rows(batch), token="loader-retry-of-one-batch")
    retried = store.query("SELECT count() FROM ledger_entries").result_rows[0][0] - before
    out = {"statements_applied": first, "statements_applied_again": LayoutStore.applied - first,
           "schema_versions": store.query("SELECT count() FROM schema_versions").result_rows[0][0],
           "engines": engines, "figures": read, "rows_of_a_batch_written_twice": retried}
    store.close()
    return out


def figures(store: Store) -> dict:
    """What the dashboards (but the two that show when the store was last written), the progress
    views and the checks read, as JSON values (the same on both sides of the comparison)."""
    from tests.integration.test_dashboards import WRITE_TIME_PANELS, panel_results
    shown = {title: rows for title, rows in panel_results(store).items() if title not in WRITE_TIME_PANELS}
    read = {"panels": shown, **{name: store.query(sql).result_rows for name, sql in QUERIES.items()},
            "analytics_check": store.rows("analytics_check"),
            "ledger_rows": store.query("SELECT count() FROM ledger_entries").result_rows[0][0]}
    return json.loads(json.dumps(read, default=str))


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1])), default=str))

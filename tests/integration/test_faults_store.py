"""Faults on the store side, on the real parts: the loader process SIGKILLed between its ClickHouse
write and its offset commit, the store unavailable for a while, every event delivered twice and the
ledger loaded again from offset 0. Each test ends with the store's totals equal to the synthetic
generator's expected totals, to the hour. The rig is in tests/support/faults.py.
"""

from __future__ import annotations

import signal
import time
from collections import Counter

import pytest

from bench.harness import StoreProcess
from tests.support.faults import beneficiaries

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_loader_sigkilled_between_clickhouse_write_and_offset_commit(rigs):
    """The loader process dies by SIGKILL right after a ClickHouse write and before committing the
    offsets behind it (twice: at its 2nd, then at its 3rd commit); a new loader re-reads those
    records and writes them again; the store's ids make the second write harmless."""
    rig = rigs(beneficiaries(300), store_env={"BENCH_FAULT_KILL_AT_COMMIT": "2"})
    rig.start_worker()
    # Not post_reference(): its wait asks the store process, which this test kills at its 2nd commit.
    rig.post(rig.msgs.reference)
    rig.post(rig.msgs.activity)
    for restart_env in ({"BENCH_FAULT_KILL_AT_COMMIT": "3"}, {}):
        assert rig.store.proc.wait(timeout=240) == -signal.SIGKILL
        rig.store._stderr.close()
        rig.store = StoreProcess(rig.cfg, rig.workdir, env=restart_env)
    rig.assert_exact()
    counts = rig.store.ask("counts")
    # Rows written twice are still there until ClickHouse merges them; FINAL counts each once.
    assert counts["entries"] + counts["rejections"] + counts["reference"] >= rig.posted


def test_store_unavailable_for_a_while(rigs):
    """Simulated: the embedded ClickHouse (chDB) runs inside the loader's process and cannot be
    stopped from outside, so from its 3rd insert on every insert raises ConnectionError for 12 s.
    The loader keeps its batch, backs off, commits nothing meanwhile, and resumes."""
    rig = rigs(beneficiaries(300), store_env={"BENCH_FAULT_STORE_DOWN": "3:12"})
    rig.start_worker()
    rig.post_reference()
    rig.post(rig.msgs.activity)
    rig.assert_exact()
    faults = rig.store.ask("counts")["faults"]
    assert faults["failed"] >= 2, faults


def test_every_event_delivered_twice_then_loader_replayed_from_offset_0(rigs, tmp_path):
    """Every message is posted twice (a contractor system that retries everything): the second
    delivery of each valid event is a duplicate_event rejection, each malformed line is rejected
    twice. Then new loader groups read both topics again from offset 0, into the same database
    (every row written again, counted once) and into a fresh one: the same totals each time."""
    rig = rigs(beneficiaries(200))
    rig.start_worker()
    rig.post(rig.msgs.reference)
    rig.store.wait_accounted(rig.posted, timeout=120, workers=rig.workers)
    rig.post(rig.msgs.reference + rig.msgs.activity)
    rig.post(rig.msgs.activity)
    expected = rig.msgs.expected()
    valid = sum(1 for _, key in rig.msgs.reference + rig.msgs.activity if key is not None)
    malformed = Counter(rig.msgs.programme.expected.malformed_by_reason)
    reasons = Counter(expected["rejections_by_reason"]) + malformed + Counter({"duplicate_event": valid})
    expected.update(rejected=expected["rejected"] + valid + sum(malformed.values()),
                    rejections_by_reason=dict(reasons))
    rig.assert_exact(expected)
    written = rig.store.ask("counts")
    rig.store.stop()

    for group, database in (("-replay-same", "faults"), ("-replay-fresh", "faults_replayed")):
        rig.cfg = rig.cfg.model_copy(update={"loader_group": rig.cfg.loader_group + group,
                                             "clickhouse_database": database})
        rig.store = StoreProcess(rig.cfg, tmp_path, name=f"store{group}")
        deadline = time.monotonic() + 180
        rows = written["entries"] + written["rejections"] + written["reference"]
        while rig.store.ask("counts")["loaded"] < rows:
            assert time.monotonic() < deadline, "the replaying loader did not read the whole history"
            time.sleep(0.5)
        rig.assert_exact(expected)
        rig.store.stop()

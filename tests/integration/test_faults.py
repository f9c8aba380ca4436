"""Faults on the Kafka side, on the real parts: the worker SIGKILLed at random points, the broker
SIGKILLed and started again. Each test ends with the store's totals equal to the synthetic
generator's expected totals, to the hour (accepted, rejected by reason, hours by contract). The
store side's faults are in test_faults_store.py; the rig in tests/support/faults.py.

Sized for CI (the file in about two minutes on 2 cores). LEDGER_FAULT_SCALE multiplies the
programmes' sizes for longer runs, e.g. the Grand Paris size for the worker-kill test:

    LEDGER_FAULT_SCALE=19 .venv/bin/python -m pytest tests/integration/test_faults.py -k worker_sigkilled
"""

from __future__ import annotations

import random
import time

import pytest

from streams.kafka.localkafka import LocalKafka, free_port
from streams.settings import Settings
from tests.support.faults import SCALE, SEED, Rig, beneficiaries, restores
from tests.support.kafka import log_starts

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_worker_sigkilled_at_random_points_while_100k_events_flow(rigs):
    """SIGKILL the worker 3 times at random moments while >= 100k events are posted and
    processed; each time a new worker takes over (its partitions' state restored from the state
    log, uncommitted messages decided again, identically). Snapshots are written every ~1 MB of
    deltas, and the log before each committed one deleted, so the restores start at snapshots
    while the kills fall anywhere around them. Seed: LEDGER_FAULT_SEED."""
    rng = random.Random(SEED)
    rig = rigs(beneficiaries(1200), worker_snapshot_min_bytes=1_000_000, log_level="info")
    assert len(rig.msgs.activity) >= 100_000 * min(1.0, SCALE), len(rig.msgs.activity)
    worker = rig.start_worker()
    rig.post(rig.msgs.reference)
    rig.store.wait_accounted(rig.posted, timeout=120, workers=rig.workers)

    chunks = 4
    activity = rig.msgs.activity
    step = -(-len(activity) // chunks)
    kills = []
    for i in range(chunks):
        rig.post(activity[i * step:(i + 1) * step])
        if i == chunks - 1:
            break
        # Let the (new) worker get going on this chunk: its partitions restored and rows coming (the
        # loader catching up on the killed worker's outputs alone would not say it). Before the last
        # kill, a snapshot is committed and the log before it deleted, so that the next worker
        # restores from one however fast this machine is. Then kill it at a random point.
        deadline = time.monotonic() + 90
        before = kills[-1] if kills else len(rig.msgs.reference)
        while (not restores(rig, rig.started_workers - 1) or rig.rows() <= before) and time.monotonic() < deadline:
            time.sleep(0.5)
        while i == chunks - 2 and not any(log_starts(rig.cfg.bootstrap_servers, rig.cfg.state_topic).values()) \
                and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(rng.uniform(0.5, 5.0))
        assert worker.poll() is None, "the worker died on its own"
        kills.append(rig.rows())
        rig.kill_worker(worker)
        worker = rig.start_worker()
    print(f"seed {SEED}: {len(activity)} activity events, killed at {kills} rows visible")
    rig.assert_exact()
    assert len(kills) == 3
    starts = log_starts(rig.cfg.bootstrap_servers, rig.cfg.state_topic)
    print(f"state log starts (records deleted before the last committed snapshot): {starts}")
    assert any(starts.values()), starts
    restored = [line for n in range(1, rig.started_workers) for line in restores(rig, n)]
    assert any("from a snapshot" in line for line in restored), restored


def test_broker_killed_and_restarted_mid_stream(tmp_path):
    """The broker (its own, on its own data directory) is SIGKILLed while the worker and the loader
    are busy, then started again on the same directory and port; the rest is posted after. The
    worker and the loader ride the outage out on their own, no process restarted: whatever they
    could not send or commit meanwhile they retry once the broker is back."""
    base = Settings()
    broker = LocalKafka(tmp_path / "kafka", base.kafka_version, base.kafka_cache, port=free_port())
    dsn = broker.start()
    rig = None
    try:
        rig = Rig(dsn, tmp_path, beneficiaries(300), log_level="info")
        rig.start_worker()
        rig.post(rig.msgs.reference)
        rig.store.wait_accounted(rig.posted, timeout=120, workers=rig.workers)
        half = len(rig.msgs.activity) // 2
        rig.post(rig.msgs.activity[:half])
        time.sleep(2)
        broker.kill()
        time.sleep(5)
        broker.start()
        rig.post(rig.msgs.activity[half:])
        rig.assert_exact()
    finally:
        if rig is not None:
            rig.close()
        broker.stop()

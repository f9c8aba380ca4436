"""Scale-out: two worker processes in one consumer group share the intake partitions, and the totals
stay exact when a worker joins in the middle of a stream and another leaves (SIGTERM) in the middle.

Ground truth is the synthetic generator's (ledger.synthetic), as in `ledger demo`.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from decimal import Decimal

import pytest

from bench.harness import wait_workers_assigned
from ledger.synthetic import Size, generate
from streams.demo import check, start_worker, stop_process
from tests.integration.events import contract, enrolment, timesheet
from tests.support.kafka import log_starts

pytestmark = pytest.mark.integration

SIZE = replace(Size(), operations=2, contracts=6, contractors=3, partners=4, beneficiaries=40,
               days_per_beneficiary=24, months=3, malformed_lines=4)
CHUNKS = 8


@pytest.mark.slow
def test_a_worker_joins_and_another_leaves_mid_stream_and_the_totals_stay_exact(pipeline_factory, tmp_path):
    pipeline = pipeline_factory(start=False)
    # The stream below takes longer than the fixture's few seconds of patience for late reference
    # data (a worker starting, another stopping): timesheets whose enrolment comes at the end of
    # the activity (the generator's late enrolments) must still be waiting for it. What still
    # waits once everything is posted expires when the test moves stream time on (let_time_pass),
    # not after a wall-clock wait.
    # Snapshots every ~20 kB of deltas: the partitions change hands with their state logs cut
    # before snapshots, by the worker that leaves and by the one that stays.
    pipeline.cfg = pipeline.cfg.model_copy(update={"pending_timeout_hours": 0.5, "worker_snapshot_min_bytes": 20_000})
    cfg = pipeline.cfg
    assert cfg.partitions >= 2, "the intake topic must have partitions to share"
    pipeline.start_worker()
    pipeline.start_loader()
    first = pipeline.worker

    prog = generate(seed=7, size=SIZE)
    phases = dict(prog.phases)  # reference, activity, follow_up, resolutions (the demo's order)
    lines = [json.dumps(e) if isinstance(e, dict) else e for e in phases.pop("activity")]
    assert len(lines) > 500 and prog.expected.total_hours > 0

    pipeline.post(*phases.pop("reference"), validate=True)
    pipeline.wait_accounted(timeout=180)
    wait_workers_assigned(cfg, [first])

    size = -(-len(lines) // CHUNKS)
    chunks = [lines[i:i + size] for i in range(0, len(lines), size)]
    second = None
    try:
        for n, chunk in enumerate(chunks):
            pipeline.post(*chunk)  # as the lines are, malformed ones included: the worker rejects those
            if n == 1:
                # A second worker joins the group while the stream flows: the partitions are shared.
                second = start_worker(cfg.model_copy(update={"worker_datadir": tmp_path / "worker-b"}),
                                      tmp_path / "worker-b.log")
            elif n == 3:
                # The first worker leaves (SIGTERM) in the middle of the stream, right after the
                # join's rebalance: the second takes over its partitions, their tables restored
                # from the changelogs, and the rest of the stream follows. (Faust 0.15 itself can
                # lose messages in flight at a rebalance; streams.kafka.offsets reads them again.)
                wait_workers_assigned(cfg, [first, second])
                stop_process(first)
                assert first.returncode is not None
                pipeline.worker = second
            time.sleep(0.3)
        pipeline.wait_accounted(timeout=300)
        for events in phases.values():  # follow-ups (corrections, retractions...), then resolutions
            pipeline.post(*events)
            pipeline.wait_accounted(timeout=180)
        pipeline.let_time_pass()
        accounting = pipeline.wait_settled(timeout=300)
        assert second.poll() is None, "the second worker stopped"

        stored = {r["contract_id"]: r["hours"] for r in pipeline.store.rows("hours_by_contract")}
        expected = {c: h for c, h in prog.expected.hours_by_contract.items() if h}
        assert stored == expected
        assert sum(stored.values(), Decimal(0)) == prog.expected.total_hours
        assert check(pipeline.store, prog, pipeline.posted, accounting), "see MISMATCH lines above"
        assert accounting["accepted"] == prog.expected.accepted
        assert accounting["accepted"] + accounting["rejected"] == pipeline.posted
        assert any(log_starts(cfg.bootstrap_servers, cfg.state_topic).values())
        taken_over = [line for line in (tmp_path / "worker-b.log").read_text(errors="replace").splitlines()
                      if "restored at offset" in line]
        assert any("from a snapshot" in line for line in taken_over), taken_over
    finally:
        if second is not None:
            stop_process(second)
        if pipeline.worker is second:
            pipeline.worker = None


def test_each_worker_learns_the_contracts_registered_through_the_others_partitions(pipeline_factory, tmp_path):
    """Two workers in a stable group (no rebalance to copy the GlobalTable again): contracts keyed
    to one worker's partitions are named by timesheets on the other's. Nothing is rejected as
    unknown_contract, and every hour counts."""
    pipeline = pipeline_factory(start=False)
    cfg = pipeline.cfg
    pipeline.start_worker()
    pipeline.start_loader()
    second = start_worker(cfg.model_copy(update={"worker_datadir": tmp_path / "worker-b"}), tmp_path / "worker-b.log")
    try:
        wait_workers_assigned(cfg, [pipeline.worker, second])
        contracts = [f"c-{n}" for n in range(12)]  # spread over the partitions by their keys
        people = [f"b-{n:010d}" for n in range(12)]
        pipeline.post(*[contract(c) for c in contracts], *[enrolment(b) for b in people])
        pipeline.wait_accounted()
        pipeline.post(*[timesheet(c, b, f"2024-05-{n + 1:02d}", 1) for n, c in enumerate(contracts) for b in people])
        accounting = pipeline.wait_settled(timeout=180)
        assert accounting["rejected"] == 0 and accounting["accepted"] == pipeline.posted
        assert {r["contract_id"]: r["hours"] for r in pipeline.store.rows("hours_by_contract")} == \
            {c: Decimal("12.00") for c in contracts}
        wait_workers_assigned(cfg, [pipeline.worker, second], timeout=0)  # still both, stable: no rebalance helped
    finally:
        stop_process(second)

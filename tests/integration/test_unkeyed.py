"""Exactness does not depend on the producer's message key (issue 10).

A contractor system posts with its own client: `kcat -P -l FILE` sets no key, so librdkafka spreads
one event per message over the partitions, and a person's events land on any of them. With two
workers in the group, every figure must still equal the generator's: duplicates recognised, the
training cap and the daily maximum applied, corrections finding their originals, late enrolments
releasing their timesheets. Before the routing stage (streams/worker/routing.py), the same file
left 2,692 timesheets pending and 118 duplicates unrecognised with two workers.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import replace

import pytest
from kafka import KafkaProducer

from bench.harness import wait_workers_assigned
from ledger.synthetic import Size, generate
from streams.demo import check, start_worker, stop_process
from streams.worker.routing import _split

pytestmark = pytest.mark.integration

SIZE = replace(Size(), operations=2, contracts=6, contractors=3, partners=4, beneficiaries=40,
               days_per_beneficiary=24, months=3, malformed_lines=4)


def post_unkeyed(cfg, lines: list[str], path) -> None:
    """One message per line and no key: with kcat where it is installed (CI installs it), else with
    kafka-python's producer, whose partitioner also picks a partition at random for a null key."""
    kcat = shutil.which("kcat") or shutil.which("kafkacat")
    if kcat:
        path.write_text("\n".join(lines) + "\n")
        subprocess.run([kcat, "-P", "-b", cfg.bootstrap_servers[0], "-t", cfg.intake_topic, "-l", str(path)],
                       check=True, timeout=300)
        return
    producer = KafkaProducer(bootstrap_servers=cfg.bootstrap_servers, acks="all")
    try:
        for line in lines:
            producer.send(cfg.intake_topic, value=line.encode())
        producer.flush()
    finally:
        producer.close()


def unkeyed_lines(events, per_line: int) -> list[str]:
    """The lines a contractor system posts: one event each, as json writes it; or, `per_line` > 1,
    arrays of that many events written compact (which the routing cuts as posted, `_split`), a line
    that is no event alone."""
    if per_line == 1:
        return [json.dumps(e) if isinstance(e, dict) else e for e in events]
    lines, run = [], []
    for e in events:
        if isinstance(e, dict):
            run.append(e)
            if len(run) < per_line:
                continue
        if run:
            lines.append(json.dumps(run, separators=(",", ":")))
            run = []
        if not isinstance(e, dict):
            lines.append(e)
    if run:
        lines.append(json.dumps(run, separators=(",", ":")))
    return lines


@pytest.mark.slow
@pytest.mark.parametrize("per_line", [1, 25], ids=["one-event-a-line", "compact-arrays"])
def test_events_posted_without_a_key_to_two_workers_are_counted_exactly(pipeline_factory, tmp_path, per_line):
    pipeline = pipeline_factory(start=False)
    pipeline.cfg = pipeline.cfg.model_copy(update={"pending_timeout_hours": 120 / 3600})
    cfg = pipeline.cfg
    assert cfg.partitions >= 2
    pipeline.start_worker()
    second = start_worker(cfg.model_copy(update={"worker_datadir": tmp_path / "worker-b"}), tmp_path / "worker-b.log")
    pipeline.start_loader()
    try:
        wait_workers_assigned(cfg, [pipeline.worker, second])
        prog = generate(seed=11, size=SIZE)
        posted = cut = 0
        for name, events in prog.phases:  # the demo's phases, each as one kcat file
            lines = unkeyed_lines(events, per_line)
            cut += sum(len(found[0]) for found in map(_split, (line.encode() for line in lines)) if found)
            post_unkeyed(cfg, lines, tmp_path / f"{name}.jsonl")
            posted += len(events)
            pipeline.posted = posted
            pipeline.wait_accounted(timeout=300)
        # Arrays: most events cut as posted (`_split`), the arrays with a space in a value parsed.
        assert cut > posted // 2 if per_line > 1 else cut == 0
        # Stream time passes every pending deadline only once everything is posted.
        pipeline.let_time_pass()
        accounting = pipeline.wait_settled(timeout=300)
        assert check(pipeline.store, prog, posted, accounting), "totals differ from the generator's"
        assert accounting["pending"] == 0
        rejected = {r["reason"]: r["n"] for r in pipeline.rows(
            "SELECT reason, count() AS n FROM rejections FINAL GROUP BY reason")}
        assert "processing_error" not in rejected
        assert rejected.get("duplicate_event", 0) == prog.expected.rejections_by_reason["duplicate_event"]
    finally:
        stop_process(second)

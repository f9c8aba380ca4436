"""The topics of record keep their history: what `check_retention` finds wrong, without a broker."""

from __future__ import annotations

from streams.kafka.topics import KEEP_FOREVER, retention_problems, topic_configs
from streams.settings import Settings

CFG = Settings(topic_prefix="t")


def test_every_topic_of_record_is_kept_forever():
    configs = topic_configs(CFG)
    assert set(configs) == {CFG.intake_topic, CFG.ledger_topic, CFG.rejections_topic, CFG.routed_topic,
                            CFG.state_topic}
    assert all(c == KEEP_FOREVER for c in configs.values())


def test_topics_as_wanted_have_no_problem():
    assert retention_problems(CFG, lambda names: {n: dict(KEEP_FOREVER) for n in names}) == []


def test_a_retention_a_compaction_or_a_missing_topic_is_named_with_what_it_would_delete():
    def describe(names):
        found = {n: dict(KEEP_FOREVER) for n in names}
        found[CFG.ledger_topic]["retention.ms"] = "604800000"
        found[CFG.intake_topic]["cleanup.policy"] = "compact"
        del found[CFG.rejections_topic]
        return found

    problems = retention_problems(CFG, describe)
    assert len(problems) == 3
    text = "\n".join(problems)
    assert (f"{CFG.ledger_topic}: retention.ms=604800000 (deletes records older than 7 days); "
            "needs retention.ms=-1") in text
    assert f"{CFG.intake_topic}: cleanup.policy=compact (compaction keeps only the last record of each key)" in text
    assert f"{CFG.rejections_topic}: no such topic, or its configuration cannot be read" in text


def test_on_a_cluster_the_topics_of_record_need_their_in_sync_replicas():
    """A record acknowledged (acks=all) by a 3-broker cluster with min.insync.replicas=2 is on two
    brokers; a topic created with the broker's default of 1 is named, as a retention is."""
    cluster = Settings(topic_prefix="t", replication_factor=3, min_insync_replicas=2)
    configs = topic_configs(cluster)
    assert all(c == {**KEEP_FOREVER, "min.insync.replicas": "2"} for c in configs.values())

    def describe(names):
        found = {n: {**KEEP_FOREVER, "min.insync.replicas": "2"} for n in names}
        found[cluster.ledger_topic]["min.insync.replicas"] = "1"
        return found

    assert retention_problems(cluster, describe) == [
        f"{cluster.ledger_topic}: min.insync.replicas=1; needs min.insync.replicas=2"]


def test_the_topics_the_workers_write_are_created_for_larger_batches_and_checked_as_before():
    from streams.kafka.topics import WORKER_TOPIC_BATCH_BYTES, creation_configs

    created = creation_configs(CFG)
    for name in (CFG.routed_topic, CFG.ledger_topic, CFG.rejections_topic, CFG.state_topic):
        assert created[name] == {**KEEP_FOREVER, "max.message.bytes": str(WORKER_TOPIC_BATCH_BYTES)}
    # Contractors write the intake with their own clients: Kafka's default stays theirs.
    assert created[CFG.intake_topic] == KEEP_FOREVER
    # Not a requirement: a topic created before keeps its limit, and the worker's batches fit it.
    assert all("max.message.bytes" not in configs for configs in topic_configs(CFG).values())


def test_the_worker_s_batches_fit_what_every_topic_it_writes_accepts():
    from streams.kafka.topics import KAFKA_DEFAULT_BATCH_BYTES, MIN_BATCH_BYTES, REQUEST_BUDGET_BYTES, batch_bytes_allowed

    def topics(limits: dict[str, str | None]):
        return lambda names: {n: ({"max.message.bytes": limits[n]} if limits.get(n) else {}) for n in names}

    written = [CFG.routed_topic, CFG.ledger_topic, CFG.rejections_topic, CFG.state_topic]
    roomy = {n: str(8 * 1024 * 1024) for n in written}
    assert CFG.partitions * 2 * CFG.worker_batch_bytes <= REQUEST_BUDGET_BYTES
    assert batch_bytes_allowed(CFG, topics(roomy)) == CFG.worker_batch_bytes
    # One topic left at Kafka's default (created before): every batch is cut to it, with room for framing.
    assert batch_bytes_allowed(CFG, topics({**roomy, CFG.state_topic: str(2 * 1024 * 1024)})) == 2 * 1024 * 1024 - 1024
    assert batch_bytes_allowed(CFG, topics({**roomy, CFG.ledger_topic: str(KAFKA_DEFAULT_BATCH_BYTES)})) == MIN_BATCH_BYTES
    assert batch_bytes_allowed(CFG, topics({**roomy, CFG.ledger_topic: None})) == MIN_BATCH_BYTES  # unreadable: the default
    # Many partitions: the busy topics' batches together stay within a share of a request.
    many = CFG.model_copy(update={"partitions": 24})
    assert batch_bytes_allowed(many, topics(roomy)) == REQUEST_BUDGET_BYTES // 48 < CFG.worker_batch_bytes
    assert batch_bytes_allowed(CFG.model_copy(update={"partitions": 200}), topics(roomy)) == MIN_BATCH_BYTES


def test_a_worker_s_start_reads_the_topics_once_for_retention_and_for_its_batches():
    import pytest

    from streams.kafka.topics import RetentionError, check_worker_topics

    reads: list[list[str]] = []

    def broker(configs: dict[str, dict[str, str]]):
        def describe(names):
            reads.append(names)
            return {n: configs[n] for n in names if n in configs}
        return describe

    written = {CFG.routed_topic, CFG.ledger_topic, CFG.rejections_topic, CFG.state_topic}
    good = {n: {**KEEP_FOREVER, **({"max.message.bytes": str(2 * 1024 * 1024)} if n in written else {})}
            for n in topic_configs(CFG)}
    assert check_worker_topics(CFG, broker(good)) == 2 * 1024 * 1024 - 1024
    assert len(reads) == 1 and set(reads[0]) == set(topic_configs(CFG)) | written

    reads.clear()
    deleting = {**good, CFG.ledger_topic: {**good[CFG.ledger_topic], "retention.ms": "604800000"}}
    with pytest.raises(RetentionError, match="deletes records older than 7 days"):
        check_worker_topics(CFG, broker(deleting))
    assert len(reads) == 1

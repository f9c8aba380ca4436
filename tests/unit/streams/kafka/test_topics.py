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

"""The ledger's topics, their creation on the broker (idempotent) and the check of their retention.

The intake, ledger and rejection topics are the book of record: `ledger replay` and `ledger
reconcile` read them from offset 0, so they must never delete a record. `TOPIC_CONFIGS` says, per
topic, the configuration it is created with (`ensure_topics`) and checked against at every start
(`check_retention`): add a topic there (a key naming its `Settings` property) to have both. The
topics the workers write are also created for larger record batches (`creation_configs`), which
is not required of a topic that exists: the worker's batches are cut to what it accepts
(`batch_bytes_allowed`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.errors import TopicAlreadyExistsError

from streams.settings import Settings

log = logging.getLogger(__name__)

# Kept forever: no deletion by age (retention.ms) or by size (retention.bytes), and no compaction
# (which keeps only the last record of each key: the intake and the ledger are keyed by
# beneficiary, so it would delete all but one of a person's timesheets). Alternative not taken:
# compaction or a finite retention plus an archive (Kafka tiered storage, or a sink to object
# storage) from which replay and reconcile would read; see docs/security.md.
KEEP_FOREVER: dict[str, str] = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}

# Per topic (the name of the Settings property that gives it), the configuration it must have.
# Another topic of record (e.g. a routed intake or a worker state topic) is one more line here.
TOPIC_CONFIGS: dict[str, dict[str, str]] = {
    "intake_topic": KEEP_FOREVER,
    "ledger_topic": KEEP_FOREVER,
    "rejections_topic": KEEP_FOREVER,
    # The workers' own topics: the intake's events by the partition of their key, which the workers
    # decide from (a replay of the routed log decides the same), and each partition's state deltas,
    # which a restore reads from the start: no retention deletes them, but the workers delete the
    # records before each committed snapshot themselves (streams/worker/state.py).
    "routed_topic": KEEP_FOREVER,
    "state_topic": KEEP_FOREVER,
}


# The topics the workers write, and the largest record batch they are created to accept. Kafka's
# default (max.message.bytes, 1 MiB) holds about one routed or ledger message: the worker's producer
# then waited for the broker's answer at nearly every send (streams/worker/app.py). Only a creation
# default: a topic that exists keeps its own, and the worker's batches are cut to it at the start.
WORKER_TOPICS = ("routed_topic", "ledger_topic", "rejections_topic", "state_topic")
WORKER_TOPIC_BATCH_BYTES = 8 * 1024 * 1024
# Kafka's own limits: a record batch of a topic created without max.message.bytes, and a request
# (socket.request.max.bytes). aiokafka puts one batch of every partition with one ready into a
# request, whatever its size: the batches of the two busy topics (routed, ledger) must fit in a
# request well under the broker's limit.
KAFKA_DEFAULT_BATCH_BYTES = 1024 * 1024 + 12
REQUEST_BUDGET_BYTES = 64 * 1024 * 1024
MIN_BATCH_BYTES = 1024 * 1024


def topic_configs(cfg: Settings) -> dict[str, dict[str, str]]:
    """Topic name -> the configuration it must have, for these settings (with min.insync.replicas
    on a cluster: an acknowledged record is then on at least that many brokers)."""
    durability = {"min.insync.replicas": str(cfg.min_insync_replicas)} if cfg.min_insync_replicas > 1 else {}
    return {getattr(cfg, prop): {**configs, **durability} for prop, configs in TOPIC_CONFIGS.items()}


def creation_configs(cfg: Settings) -> dict[str, dict[str, str]]:
    """What `ensure_topics` creates a topic with: its required configuration, and for the topics the
    workers write, room for larger batches."""
    batches = {getattr(cfg, prop) for prop in WORKER_TOPICS}
    return {name: {**configs, **({"max.message.bytes": str(WORKER_TOPIC_BATCH_BYTES)} if name in batches else {})}
            for name, configs in topic_configs(cfg).items()}


def batch_bytes_allowed(cfg: Settings, describe: Callable[[list[str]], dict[str, dict[str, str]]] | None = None) -> int:
    """The largest producer batch a worker may send: LEDGER_WORKER_BATCH_BYTES, cut to what every
    topic it writes accepts (max.message.bytes, read from the broker) and to a share of a request
    (REQUEST_BUDGET_BYTES over the routed and ledger partitions), never under 1 MiB."""
    names = [getattr(cfg, prop) for prop in WORKER_TOPICS]
    actual = _configs(cfg, describe, names)
    accepted = []
    for name in names:
        value = (actual.get(name) or {}).get("max.message.bytes")
        accepted.append(int(value) if value and value.isdigit() else KAFKA_DEFAULT_BATCH_BYTES)
    # The batch's own framing (61 bytes) and the record overheads count in max.message.bytes.
    allowed = min(cfg.worker_batch_bytes, min(accepted) - 1024, REQUEST_BUDGET_BYTES // (2 * cfg.partitions))
    return max(MIN_BATCH_BYTES, allowed)


def ensure_topics(cfg: Settings) -> None:
    """intake is read by the workers; ledger and rejections carry their outputs to the loader.

    The ledger topic gets as many partitions as intake: the worker writes an intake partition's
    outputs to the same-numbered ledger partition, which keeps each beneficiary's entries in order.
    Topics of record are created with their TOPIC_CONFIGS (kept forever); a topic that already
    exists is left as it is: `check_retention` says if it would delete history.
    """
    admin = KafkaAdminClient(bootstrap_servers=cfg.bootstrap_servers, client_id="ledger-admin")
    try:
        wanted = [NewTopic(name, cfg.partitions, cfg.replication_factor, topic_configs=configs)
                  for name, configs in creation_configs(cfg).items()]
        existing = set(admin.list_topics())
        missing = [t for t in wanted if t.name not in existing]
        if missing:
            try:
                admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another process created them in between
            log.info("created topics %s", [t.name for t in missing])
    finally:
        admin.close()


class RetentionError(RuntimeError):
    """A topic of record would delete history (or cannot be checked): refuse to run."""


def _explain(key: str, value: str | None) -> str:
    if value is None:
        return f"{key} unknown"
    if key == "retention.ms" and value.lstrip("-").isdigit() and int(value) >= 0:
        return f"retention.ms={value} (deletes records older than {int(value) / 86_400_000:g} days)"
    if key == "retention.bytes" and value.lstrip("-").isdigit() and int(value) >= 0:
        return f"retention.bytes={value} (deletes the oldest records beyond {value} bytes per partition)"
    if key == "cleanup.policy":
        return f"cleanup.policy={value} (compaction keeps only the last record of each key)" \
            if "compact" in value else f"cleanup.policy={value}"
    return f"{key}={value}"


def retention_problems(cfg: Settings, describe: Callable[[list[str]], dict[str, dict[str, str]]] | None = None
                       ) -> list[str]:
    """What is wrong with the topics of record's configuration on the broker (empty: nothing)."""
    wanted = topic_configs(cfg)
    actual = _configs(cfg, describe, list(wanted))
    problems = []
    for topic, configs in wanted.items():
        have = actual.get(topic) or {}
        if not have:
            problems.append(f"{topic}: no such topic, or its configuration cannot be read")
            continue
        wrong = [key for key, value in configs.items() if have.get(key) != value]
        if wrong:
            problems.append(f"{topic}: " + ", ".join(_explain(key, have.get(key)) for key in wrong)
                            + "; needs " + ", ".join(f"{key}={configs[key]}" for key in wrong))
    return problems


def _configs(cfg: Settings, describe: Callable[[list[str]], dict[str, dict[str, str]]] | None,
             names: list[str]) -> dict[str, dict[str, str]]:
    """`describe(names)`, or the broker's configuration of `names` when no `describe` is given."""
    return describe(names) if describe is not None else describe_topic_configs(cfg, names)


def describe_topic_configs(cfg: Settings, names: list[str]) -> dict[str, dict[str, str]]:
    """Topic -> its effective configuration (every key, whatever its source), read from the broker."""
    admin = KafkaAdminClient(bootstrap_servers=cfg.bootstrap_servers, client_id="ledger-retention-check")
    try:
        found = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name) for name in names],
                                       config_filter="all")
    finally:
        admin.close()
    topics = found.get("topic", {})
    return {name: {key: entry.get("value") for key, entry in (topics.get(name) or {}).items()} for name in names}


def check_worker_topics(cfg: Settings, describe: Callable[[list[str]], dict[str, dict[str, str]]] | None = None
                        ) -> int:
    """A worker's start: `check_retention`, then the producer batch it may send (`batch_bytes_allowed`),
    from one read of the topics' configuration (each read is an admin client's connection and
    metadata round trips; the worker's start made two until 2026-12-05)."""
    names = sorted({*topic_configs(cfg), *(getattr(cfg, prop) for prop in WORKER_TOPICS)})
    found = _configs(cfg, describe, names)

    def read(topics: list[str]) -> dict[str, dict[str, str]]:
        return {name: found.get(name) or {} for name in topics}

    check_retention(cfg, read)
    return batch_bytes_allowed(cfg, read)


def check_retention(cfg: Settings, describe: Callable[[list[str]], dict[str, dict[str, str]]] | None = None
                    ) -> None:
    """Refuse to run (RetentionError) if a topic of record would delete history.

    Reads the topics' configuration back from the broker (or from `describe`). Call it at the start
    of every process that relies on the topics' whole history: the worker (`check_worker_topics`)
    and the loader (after `ensure_topics`), the gateway, `ledger replay` and `ledger reconcile`.
    """
    problems = retention_problems(cfg, describe)
    if problems:
        raise RetentionError(
            "the ledger's topics of record must keep their whole history (replay and reconcile read them "
            "from offset 0), and on a cluster their in-sync replicas (LEDGER_MIN_INSYNC_REPLICAS), but:\n  "
            + "\n  ".join(problems) + "\nSet them with, e.g., kafka-configs.sh "
            "--bootstrap-server HOST:PORT --alter --entity-type topics --entity-name TOPIC --add-config "
            "retention.ms=-1,retention.bytes=-1,cleanup.policy=delete (see docs/security.md); "
            "records already deleted are lost to replay")


def read_topic(cfg: Settings, topic: str, timeout: float | None = 120, client_id: str = "ledger-reader") -> Iterator:
    """Every message of `topic`, from offset 0 to the end offsets taken when reading starts
    (committed transactions only), each partition's in offset order, partitions interleaved as
    polled; `timeout` bounds the whole read (None: no bound, for a long history).

    A consumer without a group: it commits nothing and disturbs no one's offsets. `ledger
    reconcile` reads the ledger and rejection topics with it, `ledger replay` the intake.
    """
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=cfg.bootstrap_servers, group_id=None, enable_auto_commit=False,
                             client_id=client_id, auto_offset_reset="earliest", isolation_level="read_committed",
                             max_poll_records=5000)
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise LookupError(f"no topic {topic!r} on {cfg.kafka_dsn}")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        remaining = {tp for tp in tps if consumer.position(tp) < end[tp]}
        deadline = None if timeout is None else time.monotonic() + timeout
        while remaining:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: could not read up to the end offsets in {timeout:.0f}s")
            for tp, messages in consumer.poll(timeout_ms=500).items():
                for message in messages:
                    if message.offset < end[tp]:
                        yield message
            remaining = {tp for tp in remaining if consumer.position(tp) < end[tp]}
    finally:
        consumer.close(autocommit=False)

"""The ledger's topics, and their creation on the broker (idempotent)."""

from __future__ import annotations

import logging

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from streams.settings import Settings

log = logging.getLogger(__name__)

# The worker's Faust tables (streams/app.py). Their changelog topics are created here, before Faust
# starts: with several tables Faust could create one too late for its own metadata check and then
# refuse every write to it ("changelog topic has 0 partitions").
WORKER_TABLES = ("contracts", "beneficiaries", "events", "days", "training", "pending")


def changelog_topic(cfg: Settings, table: str) -> str:
    return f"{cfg.worker_id}-{table}-changelog"


def ensure_topics(cfg: Settings) -> None:
    """intake is read by the workers; ledger and rejections carry their outputs to the loader.

    The ledger topic gets as many partitions as intake: the worker writes an intake partition's
    outputs to the same-numbered ledger partition, which keeps each beneficiary's entries in order.
    """
    admin = KafkaAdminClient(bootstrap_servers=cfg.bootstrap_servers, client_id="ledger-admin")
    try:
        wanted = [NewTopic(name, cfg.partitions, cfg.replication_factor)
                  for name in (cfg.intake_topic, cfg.ledger_topic, cfg.rejections_topic)]
        wanted += [NewTopic(changelog_topic(cfg, table), cfg.partitions, cfg.replication_factor,
                            topic_configs={"cleanup.policy": "compact"}) for table in WORKER_TABLES]
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

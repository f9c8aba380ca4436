"""The Faust application of the ledger worker: its topics and tables.

Tables hold the reference data timesheets are checked against, and the first delivery of every
event id. Beneficiaries and event ids are partitioned like the intake topic (its messages are keyed
by beneficiary); contracts are a global table because any partition's timesheets may name any
contract.
"""

from __future__ import annotations

import faust

from streams.settings import load_rulebook, settings
from streams.topics import WORKER_TABLES

cfg = settings()

app = faust.App(
    cfg.worker_id,
    broker=cfg.kafka_dsn,
    store=cfg.table_store,
    datadir=str(cfg.worker_datadir),
    topic_partitions=cfg.partitions,
    topic_replication_factor=cfg.replication_factor,
    producer_acks=-1,
    # Outputs and table changelogs are one send per event: let them share produce requests
    # (with no linger each went out alone, and socket writes took a third of the worker's time).
    producer_linger=cfg.worker_linger_seconds,
    producer_max_batch_size=1024 * 1024,
    consumer_auto_offset_reset="earliest",
    # A killed worker's partitions stay idle until the group gives up on it: Faust's 60 s for both
    # waits is longer than Kafka's own default session (45 s); the setting lets tests shorten it.
    broker_session_timeout=cfg.worker_session_timeout_seconds,
    broker_rebalance_timeout=cfg.worker_session_timeout_seconds,
    broker_heartbeat_interval=min(3.0, cfg.worker_session_timeout_seconds / 10),
    web_enabled=False,
    autodiscover=False,
)

# acks=False: the intake's offsets are committed by streams.offsets, not from Faust's acks.
intake_topic = app.topic(cfg.intake_topic, key_type=bytes, value_type=bytes,
                         key_serializer="raw", value_serializer="raw", acks=False)
ledger_topic = app.topic(cfg.ledger_topic, key_serializer="raw", value_serializer="raw")
rejections_topic = app.topic(cfg.rejections_topic, key_serializer="raw", value_serializer="raw")

# Values are JSON, parsed back into models by streams.agents.TableBooks. All but contracts are keyed
# by something of one beneficiary's (or one event's), whose events share an intake partition.
# Names as in streams.topics.WORKER_TABLES, which creates their changelogs first.
contracts = app.GlobalTable("contracts", key_type=str, value_type=str, default=None)
beneficiaries = app.Table("beneficiaries", key_type=str, value_type=str, default=None)
# event_id -> its first delivery's decision and, for a timesheet, its standing claim
events = app.Table("events", key_type=str, value_type=str, default=None)
days = app.Table("days", key_type=str, value_type=str, default=None)  # beneficiary|date -> claims that day
training = app.Table("training", key_type=str, value_type=str, default=None)  # beneficiary -> training claims
pending = app.Table("pending", key_type=str, value_type=str, default=None)  # event_id -> parked timesheet
assert {t.name for t in (contracts, beneficiaries, events, days, training, pending)} == set(WORKER_TABLES)

rulebook = load_rulebook(cfg)

from streams import agents  # noqa: E402,F401  (registers the agent on the app)

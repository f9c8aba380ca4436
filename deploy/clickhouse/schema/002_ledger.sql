-- The ledger: immutable entries, one per entry_id. A replayed batch writes the same ids again and
-- ReplacingMergeTree keeps one row each; queries read it with FINAL (or through the views).
-- Every table the loader writes keeps the tokens of its last 10,000 inserts
-- (non_replicated_deduplication_window): the loader sends each table insert with an
-- insert_deduplication_token derived from the Kafka offset ranges it holds, so a batch retried
-- after a crash (same ranges, rebuilt identically) is skipped by the engine, materialized views
-- included. A store created before this setting keeps working without it (the analytics stay
-- exact, see 004); an administrator enables it with
--   ALTER TABLE <table> MODIFY SETTING non_replicated_deduplication_window = 10000
-- On a cluster the Replicated*MergeTree tables deduplicate by default
-- (replicated_deduplication_window), with the same tokens.
-- A correction never updates a row: it adds a `reversal` entry (hours negated, same status) and a
-- new `credit`. Hours count towards targets where status = 'counted'; sums over any status net out
-- reversals by construction.

CREATE TABLE IF NOT EXISTS ledger_entries
(
    entry_id          UUID,
    kind              LowCardinality(String),
    status            LowCardinality(String),
    reason            LowCardinality(String),
    source_event_id   UUID,
    source_event_type LowCardinality(String),
    reverses_entry_id Nullable(UUID),
    programme_id      LowCardinality(String),
    operation_id      LowCardinality(String),
    contract_id       String,
    lot               String,
    contractor_siret  String,
    beneficiary_id    String,
    siae_siret        Nullable(String),
    mode              LowCardinality(String),
    work_date         Date,
    hours             Decimal(12, 2),
    rule              LowCardinality(String),
    rulebook_version  LowCardinality(String),
    submitted_at      DateTime64(3, 'UTC'),
    loaded_at         DateTime64(3, 'UTC') DEFAULT now64(3),
    -- True on the first entry its source event caused, false on its others (the worker marks
    -- them: every entry an event causes is made while that event is decided). intake_accounting
    -- counts accepted events by summing it (accepted_events, 004). NULL on entries of workers
    -- older than the mark (2026-12-05): those events are counted by their distinct ids.
    opens_source      Nullable(Bool)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYear(work_date)
ORDER BY (programme_id, contract_id, entry_id)
SETTINGS non_replicated_deduplication_window = 10000;

-- A store made before the mark: its entries read NULL.
ALTER TABLE ledger_entries ADD COLUMN IF NOT EXISTS opens_source Nullable(Bool);

-- Every event the worker could not count, with its original payload and where it was delivered.
CREATE TABLE IF NOT EXISTS rejections
(
    rejection_id       UUID,
    reason             LowCardinality(String),
    detail             String,
    event_id           Nullable(String),
    event_type         LowCardinality(Nullable(String)),
    source_topic       LowCardinality(String),
    source_partition   UInt32,
    source_offset      UInt64,
    source_index       UInt32,
    payload            String,
    payload_truncated  Bool,
    loaded_at          DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY rejection_id
SETTINGS non_replicated_deduplication_window = 10000;

-- Timesheets waiting for their contract or enrolment, and what became of them (one row per state:
-- pending, then resolved or expired). Facilitators read the open ones in pending_now.
CREATE TABLE IF NOT EXISTS pending_timesheets
(
    event_id        UUID,
    event_type      LowCardinality(String),
    state           LowCardinality(String),
    reason          LowCardinality(String),
    waiting_for     String,
    beneficiary_id  String,
    contract_id     String,
    parked_at       DateTime64(3, 'UTC'),
    expires_at      DateTime64(3, 'UTC'),
    loaded_at       DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (event_id, state)
SETTINGS non_replicated_deduplication_window = 10000;

-- Facilitators' decisions on flagged claims (claim.resolved), one row each. Their effect on the
-- hours is in ledger_entries (source_event_id = event_id); a decision whose conflict the other
-- claim's decision had already ended changes no entry (entries = 0) and is accepted all the same:
-- intake_accounting counts decisions here.
CREATE TABLE IF NOT EXISTS claim_resolutions
(
    event_id          UUID,
    flagged_event_id  UUID,
    beneficiary_id    String,
    contract_id       LowCardinality(String),
    facilitator_id    LowCardinality(String),
    decision          LowCardinality(String),
    reason            String,
    entries           UInt32,
    version           UInt64,
    loaded_at         DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (beneficiary_id, event_id)
SETTINGS non_replicated_deduplication_window = 10000;

-- The loader's batch log: the Kafka offset ranges of each batch, written before the batch's rows.
-- A loader restarted before it committed its offsets reads here which batches it had written (or
-- was writing) past the committed offsets, and rebuilds them identically (same ranges, same
-- insert_deduplication_token), as clickhouse-kafka-connect does with its KeeperMap state. One row
-- per partition per batch; a week of them is kept (Kafka's default retention).
CREATE TABLE IF NOT EXISTS loader_batches
(
    loader_group  String,
    batch_id      String,
    topic         LowCardinality(String),
    partition     UInt32,
    first_offset  UInt64,
    last_offset   UInt64,
    written_at    DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY (loader_group, topic, partition, last_offset)
TTL toDateTime(written_at) + INTERVAL 7 DAY;

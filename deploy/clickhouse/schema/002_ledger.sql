-- The ledger: immutable entries, one per entry_id. A replayed batch writes the same ids again and
-- ReplacingMergeTree keeps one row each; queries read it with FINAL (or through the views).
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
    loaded_at         DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYear(work_date)
ORDER BY (programme_id, contract_id, entry_id);

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
ORDER BY rejection_id;

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
ORDER BY (event_id, state);

-- Reference data, kept as the history of the events that set it (one row per event, never
-- updated); the views in 003 give the current state. `version` is the ledger-topic offset of the
-- record: later registrations of the same contract win.

CREATE TABLE IF NOT EXISTS programme_definitions
(
    event_id        UUID,
    programme_id    LowCardinality(String),
    name            String,
    target_hours    Decimal(14, 2),
    start_date      Date,
    end_date        Date,
    version         UInt64,
    loaded_at       DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (programme_id, event_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS contract_registrations
(
    event_id          UUID,
    contract_id       String,
    programme_id      LowCardinality(String),
    operation_id      LowCardinality(String),
    lot               String,
    contractor_siret  String,
    start_date        Date,
    end_date          Date,
    target_hours      Decimal(14, 2),
    amount_eur        Nullable(Decimal(16, 2)),
    labour_share      Nullable(Decimal(6, 4)),
    clause_rate       Nullable(Decimal(6, 4)),
    hourly_cost_eur   Nullable(Decimal(16, 2)),
    version           UInt64,
    loaded_at         DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (contract_id, event_id)
SETTINGS non_replicated_deduplication_window = 10000;

-- Pseudonymous: the key, birth year, gender and eligibility; never a name, number or address.
CREATE TABLE IF NOT EXISTS beneficiary_enrolments
(
    event_id        UUID,
    beneficiary_id  String,
    facilitator_id  LowCardinality(String),
    criteria        Array(LowCardinality(String)),
    eligible_from   Date,
    eligible_until  Date,
    birth_year      Nullable(UInt16),
    gender          LowCardinality(Nullable(String)),
    version         UInt64,
    loaded_at       DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (beneficiary_id, event_id)
SETTINGS non_replicated_deduplication_window = 10000;

-- A buyer's agreement that pools a contractor's contracts (globalisation): see contract_progress_pooled.
CREATE TABLE IF NOT EXISTS pooling_agreements
(
    event_id          UUID,
    agreement_id      String,
    programme_id      LowCardinality(String),
    contractor_siret  String,
    contract_ids      Array(String),
    effective_from    Date,
    effective_until   Nullable(Date),
    version           UInt64,
    loaded_at         DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (agreement_id, event_id)
SETTINGS non_replicated_deduplication_window = 10000;

-- Outcomes (sorties dynamiques) reported by facilitators.
CREATE TABLE IF NOT EXISTS beneficiary_outcomes
(
    beneficiary_id  String,
    outcome         LowCardinality(String),
    outcome_date    Date,
    event_id        UUID,
    facilitator_id  LowCardinality(String),
    detail          Nullable(String),
    version         UInt64,
    loaded_at       DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (beneficiary_id, event_id)
SETTINGS non_replicated_deduplication_window = 10000;

-- Analytical model: what the dashboards, the HTML report and auditors read (views in 005).
--
-- EXACTNESS UNDER DUPLICATE INSERTS
-- ledger_entries is a ReplacingMergeTree read with FINAL: the same entry may be written twice.
-- Two causes: (1) the loader retrying a batch after a crash between its insert and its offset
-- commit: the loader rebuilds the same batch with the same insert_deduplication_token and the
-- engine skips it (002), materialized views included; (2) a worker that re-sends after a crash:
-- byte-identical entries with the same ids, at later Kafka offsets (another token), and a loader
-- in another consumer group replaying the topic. Plain summing views over ledger_entries would
-- add those copies for ever, so the model has a DEDUP STAGE keyed by entry_id:
--   entry_keys        one row per entry_id seen (work day first, then contract, then id);
--   entries_new       a Null table. Its MV passes on only the rows of an inserted block whose
--                     (work_date, contract_id, entry_id) is not in entry_keys yet (a primary-key
--                     range read of the days and contracts the block touches: the cost of a batch
--                     does not grow with the store), one row per entry_id of the block (LIMIT 1
--                     BY entry_id); what it passes on goes to entry_keys and to the aggregates;
--   rejection_claims  the same for rejections (by reason, event type, claimed day, rejection_id).
-- The aggregates (AggregatingMergeTree of SimpleAggregateFunction sum/min/max) are fed by plain
-- MVs FROM entries_new: each new entry is added once, a copy adds nothing, a reversal adds its
-- negative hours. Nothing reads the totals back at insert time. They are read with plain
-- sum() ... GROUP BY, never FINAL.
-- Guarantee: every entry_id counts once, provided that
--   * ONE BLOCK PER INSERT: inside one INSERT, ClickHouse reuses an MV's subquery sets from the
--     first block for the next ones, so a copy in a later block of a multi-block INSERT (an
--     INSERT ... SELECT of more than max_insert_block_size = 1,048,449 rows) would count again.
--     The loader's inserts are one block (LEDGER_LOADER_BATCH_SIZE rows, at most 100,000). Bulk
--     loads: one block per INSERT (as the benches do), or run analytics_repair.sql afterwards;
--   * one writer at a time (the loader's Store serialises its writes): two concurrent INSERTs
--     of the same new entry could both find it absent. Several loaders (LEDGER_LOADER_GROUP)
--     own disjoint partitions, and a worker re-sends on the partition of the original, so copies
--     meet in one loader except during a rebalance;
--   * deploy/clickhouse/queries/analytics_check.sql lists every key whose totals differ from the
--     ledger read with FINAL (expected: none); analytics_repair.sql writes the differences for
--     all keys at once (idempotent), the periodic exact refresh for anything the above misses.
-- Inside an MV every reference to `ledger_entries` (or `rejections`) is the inserted block, not
-- the table: the NOT IN filters rely on that.
--
-- Stores made before this version had "difference" MVs (hours_by_contract_day_mv, ...), which
-- read the true totals of the touched keys at every insert, and two level-1 copies
-- (entries_by_contract_day, entries_by_beneficiary). Their aggregate tables hold true totals and
-- are kept as they are; the old MVs are dropped below (DROP VIEW), the dedup stage is filled from
-- the ledger before the new MVs exist, and the two old copies are no longer written (an
-- administrator may drop them). The same for the stores of 2026-11-27 to 2026-12-04, whose dedup
-- stage was one wide table, entries_seen (see the dedup stage below).
--
-- REFERENCE DATE ("to date") for trajectories: `ledger_as_of.as_of` is today() unless a row was
-- written to `ledger_settings`:  INSERT INTO ledger_settings (as_of) VALUES ('2025-06-30')
-- (the latest row wins, `VALUES (NULL)` returns to today()). Tests and reports pin it this way.
--
-- Changing an aggregate later: MVs are CREATE ... IF NOT EXISTS (a changed definition does not
-- reach an existing store); add a new table/MV name and a new backfill marker instead.

CREATE TABLE IF NOT EXISTS ledger_settings
(
    as_of   Nullable(Date),
    set_at  DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ReplacingMergeTree(set_at)
ORDER BY tuple();

CREATE OR REPLACE VIEW ledger_as_of AS
SELECT ifNull((SELECT argMax(tuple(as_of), set_at).1 FROM ledger_settings), today()) AS as_of;

-- Outcomes of beneficiaries ("sorties dynamiques"), written by the loader. 001_reference.sql may
-- define it first (with more columns): this only makes sure the columns the views read exist.
CREATE TABLE IF NOT EXISTS beneficiary_outcomes
(
    beneficiary_id  String,
    outcome         LowCardinality(String),
    outcome_date    Date,
    event_id        UUID,
    version         UInt64,
    loaded_at       DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (beneficiary_id, event_id);

-- Backfill markers: each table below is filled once from what the store already holds when it is
-- created on a non-empty store (a store older than this file), then kept up to date by its MV.
CREATE TABLE IF NOT EXISTS analytics_backfills
(
    name     String,
    done_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY name;

-- The MVs of earlier versions (see the top).
DROP VIEW IF EXISTS hours_by_contract_day_mv;
DROP VIEW IF EXISTS hours_by_contract_month_mv;
DROP VIEW IF EXISTS hours_by_beneficiary_contract_mv;
DROP VIEW IF EXISTS rejections_by_reason_day_mv;
DROP VIEW IF EXISTS entries_by_contract_day_mv;
DROP VIEW IF EXISTS entries_by_beneficiary_mv;
DROP VIEW IF EXISTS rejection_claims_mv;
-- ... and of 2026-11-27 to 2026-12-04, which read the wide dedup stage (entries_seen, below).
DROP VIEW IF EXISTS entries_seen_mv;
DROP VIEW IF EXISTS hours_by_contract_day_sum_mv;
DROP VIEW IF EXISTS hours_by_contract_month_sum_mv;
DROP VIEW IF EXISTS hours_by_beneficiary_contract_sum_mv;
DROP VIEW IF EXISTS people_contract_hours_sum_mv;
DROP VIEW IF EXISTS hours_by_programme_day_sum_mv;

-- DEDUP STAGE for entries, in two tables:
--   entries_new   a Null table (it stores nothing): what is inserted into it is the block's new
--                 entries, one row per entry_id, and the aggregates' MVs read that;
--   entry_keys    the ids seen, ordered by the work day and contract (a loader batch carries
--                 recent days, so its lookup reads a few days' granules). Small granules (1024
--                 rows): the lookup reads many short ranges. Three columns.
-- Until 2026-12-05 one table, entries_seen, held the keys and every column the aggregates read,
-- for every entry (287 MB at 10 M entries, written and merged with each batch); keeping only the
-- keys costs ~11 % less per entry inserted (docs/scaling.md, "Loader"). A store that has
-- entries_seen keeps it, no longer written (an administrator may drop it): its MVs are dropped
-- above, and entry_keys is filled from the ledger before the new MVs exist.
CREATE TABLE IF NOT EXISTS entries_new
(
    entry_id          UUID,
    kind              LowCardinality(String),
    status            LowCardinality(String),
    reason            LowCardinality(String),
    programme_id      LowCardinality(String),
    operation_id      LowCardinality(String),
    contract_id       String,
    lot               LowCardinality(String),
    contractor_siret  LowCardinality(String),
    beneficiary_id    String,
    mode              LowCardinality(String),
    siae_siret        LowCardinality(String),
    work_date         Date,
    hours             Decimal(12, 2),
    source_event_id   UUID,
    source_event_type LowCardinality(String),
    opens_source      Nullable(Bool)
)
ENGINE = Null;

-- A store of before 2026-12-05: the columns accepted_events and unmarked_sources read.
ALTER TABLE entries_new ADD COLUMN IF NOT EXISTS source_event_id UUID;
ALTER TABLE entries_new ADD COLUMN IF NOT EXISTS source_event_type LowCardinality(String);
ALTER TABLE entries_new ADD COLUMN IF NOT EXISTS opens_source Nullable(Bool);

CREATE TABLE IF NOT EXISTS entry_keys
(
    work_date    Date,
    contract_id  String,
    entry_id     UUID
)
ENGINE = ReplacingMergeTree
ORDER BY (work_date, contract_id, entry_id)
SETTINGS index_granularity = 1024;

INSERT INTO entry_keys
SELECT work_date, contract_id, entry_id
FROM ledger_entries FINAL
WHERE (SELECT count() FROM analytics_backfills WHERE name = 'entry_keys') = 0;

INSERT INTO analytics_backfills (name)
SELECT 'entry_keys' WHERE (SELECT count() FROM analytics_backfills WHERE name = 'entry_keys') = 0;

-- Until 2026-12-05 entries_new_mv, which passed on neither the event type nor the mark: a view's
-- definition does not change in place (IF NOT EXISTS), so the new one has a new name. Applied with
-- the loaders stopped, as each loader does at its start: an insert between the two statements
-- would miss the aggregates (analytics_check.sql would list it, analytics_repair.sql fix it).
DROP VIEW IF EXISTS entries_new_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS entries_new_from_ledger_mv TO entries_new AS
SELECT entry_id, kind, status, reason, programme_id, operation_id, contract_id, lot, contractor_siret,
       beneficiary_id, mode, ifNull(siae_siret, '') AS siae_siret, work_date, hours, source_event_id,
       source_event_type, opens_source
FROM ledger_entries
WHERE (work_date, contract_id, entry_id) NOT IN
      (SELECT work_date, contract_id, entry_id FROM entry_keys
       WHERE (work_date, contract_id) IN (SELECT work_date, contract_id FROM ledger_entries))
LIMIT 1 BY entry_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS entry_keys_mv TO entry_keys AS
SELECT work_date, contract_id, entry_id
FROM entries_new;

-- DEDUP STAGE for rejections, without their payload: the claimed work day and hours parsed once.
CREATE TABLE IF NOT EXISTS rejection_claims
(
    rejection_id  UUID,
    reason        LowCardinality(String),
    event_type    LowCardinality(String),
    work_date     Date,
    hours         Decimal(12, 2),
    loaded_at     DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY (reason, event_type, work_date, rejection_id);

INSERT INTO rejection_claims
SELECT rejection_id, reason, ifNull(event_type, ''), toDateOrZero(JSONExtractString(payload, 'work_date')),
       toDecimal64OrZero(JSONExtractRaw(payload, 'hours'), 2), loaded_at
FROM rejections FINAL
WHERE (SELECT count() FROM analytics_backfills WHERE name = 'rejection_claims') = 0;

INSERT INTO analytics_backfills (name)
SELECT 'rejection_claims' WHERE (SELECT count() FROM analytics_backfills WHERE name = 'rejection_claims') = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS rejection_claims_dedup_mv TO rejection_claims AS
SELECT rejection_id, reason, event_type, work_date, hours, loaded_at
FROM
(
    SELECT rejection_id, reason, ifNull(event_type, '') AS event_type,
           toDateOrZero(JSONExtractString(payload, 'work_date')) AS work_date,
           toDecimal64OrZero(JSONExtractRaw(payload, 'hours'), 2) AS hours, loaded_at
    FROM rejections
)
WHERE (reason, event_type, work_date, rejection_id) NOT IN
      (SELECT reason, event_type, work_date, rejection_id FROM rejection_claims
       WHERE (reason, event_type, work_date) IN
             (SELECT reason, ifNull(event_type, ''), toDateOrZero(JSONExtractString(payload, 'work_date')) FROM rejections))
LIMIT 1 BY rejection_id;

-- AGGREGATES: sums of the new rows of the dedup stage. Each is filled once from the ledger read
-- with FINAL when it is created on a store that predates it, before its MV exists.

-- 1. Hours per contract and work day and status: 90-day rates, curves, the current month.
CREATE TABLE IF NOT EXISTS hours_by_contract_day
(
    work_date         Date,
    programme_id      LowCardinality(String),
    contract_id       String,
    status            LowCardinality(String),
    operation_id      LowCardinality(String),
    lot               String,
    contractor_siret  String,
    hours             SimpleAggregateFunction(sum, Decimal(38, 2)),
    credits           SimpleAggregateFunction(sum, Int64),
    reversals         SimpleAggregateFunction(sum, Int64)
)
ENGINE = AggregatingMergeTree
ORDER BY (work_date, contract_id, status, programme_id, operation_id, lot, contractor_siret);

INSERT INTO hours_by_contract_day
SELECT work_date, programme_id, contract_id, status, operation_id, lot, contractor_siret,
       sum(hours), countIf(kind = 'credit'), countIf(kind = 'reversal')
FROM ledger_entries FINAL
WHERE (SELECT count() FROM analytics_backfills WHERE name = 'hours_by_contract_day') = 0
GROUP BY work_date, programme_id, contract_id, status, operation_id, lot, contractor_siret;

INSERT INTO analytics_backfills (name)
SELECT 'hours_by_contract_day' WHERE (SELECT count() FROM analytics_backfills WHERE name = 'hours_by_contract_day') = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS hours_by_contract_day_from_new_mv TO hours_by_contract_day AS
SELECT work_date, programme_id, contract_id, status, operation_id, toString(lot) AS lot,
       toString(contractor_siret) AS contractor_siret,
       sum(hours) AS hours, toInt64(countIf(kind = 'credit')) AS credits, toInt64(countIf(kind = 'reversal')) AS reversals
FROM entries_new
GROUP BY work_date, programme_id, contract_id, status, operation_id, lot, contractor_siret;

-- 2. Hours per contract and month with the breakdowns: status and reason (flagged, not counted),
--    mode and partner structure ('' = none).
CREATE TABLE IF NOT EXISTS hours_by_contract_month
(
    month             Date,
    programme_id      LowCardinality(String),
    contract_id       String,
    status            LowCardinality(String),
    reason            LowCardinality(String),
    mode              LowCardinality(String),
    siae_siret        String,
    operation_id      LowCardinality(String),
    lot               String,
    contractor_siret  String,
    hours             SimpleAggregateFunction(sum, Decimal(38, 2)),
    credits           SimpleAggregateFunction(sum, Int64),
    reversals         SimpleAggregateFunction(sum, Int64)
)
ENGINE = AggregatingMergeTree
ORDER BY (month, contract_id, status, reason, mode, siae_siret, programme_id, operation_id, lot, contractor_siret);

INSERT INTO hours_by_contract_month
SELECT toStartOfMonth(work_date) AS month, programme_id, contract_id, status, reason, mode,
       ifNull(siae_siret, '') AS siae, operation_id, lot, contractor_siret,
       sum(hours), countIf(kind = 'credit'), countIf(kind = 'reversal')
FROM ledger_entries FINAL
WHERE (SELECT count() FROM analytics_backfills WHERE name = 'hours_by_contract_month') = 0
GROUP BY month, programme_id, contract_id, status, reason, mode, siae, operation_id, lot, contractor_siret;

INSERT INTO analytics_backfills (name)
SELECT 'hours_by_contract_month' WHERE (SELECT count() FROM analytics_backfills WHERE name = 'hours_by_contract_month') = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS hours_by_contract_month_from_new_mv TO hours_by_contract_month AS
SELECT toStartOfMonth(work_date) AS month, programme_id, contract_id, status, reason, mode,
       toString(siae_siret) AS siae_siret, operation_id, toString(lot) AS lot, toString(contractor_siret) AS contractor_siret,
       sum(hours) AS hours, toInt64(countIf(kind = 'credit')) AS credits, toInt64(countIf(kind = 'reversal')) AS reversals
FROM entries_new
GROUP BY month, programme_id, contract_id, status, reason, mode, siae_siret, operation_id, lot, contractor_siret;

-- 3. Hours per beneficiary and contract and status, with the first and last work day: people
--    counts and profiles (pseudonymous keys only; the views never show a key, and hide groups of
--    fewer than 5 people).
CREATE TABLE IF NOT EXISTS hours_by_beneficiary_contract
(
    beneficiary_id    String,
    contract_id       String,
    status            LowCardinality(String),
    programme_id      LowCardinality(String),
    operation_id      LowCardinality(String),
    lot               String,
    contractor_siret  String,
    hours             SimpleAggregateFunction(sum, Decimal(38, 2)),
    credits           SimpleAggregateFunction(sum, Int64),
    reversals         SimpleAggregateFunction(sum, Int64),
    first_work_date   SimpleAggregateFunction(min, Date),
    last_work_date    SimpleAggregateFunction(max, Date)
)
ENGINE = AggregatingMergeTree
ORDER BY (beneficiary_id, contract_id, status, programme_id, operation_id, lot, contractor_siret)
SETTINGS index_granularity = 1024;

INSERT INTO hours_by_beneficiary_contract
SELECT beneficiary_id, contract_id, status, programme_id, operation_id, lot, contractor_siret,
       sum(hours), countIf(kind = 'credit'), countIf(kind = 'reversal'), min(work_date), max(work_date)
FROM ledger_entries FINAL
WHERE (SELECT count() FROM analytics_backfills WHERE name = 'hours_by_beneficiary_contract') = 0
GROUP BY beneficiary_id, contract_id, status, programme_id, operation_id, lot, contractor_siret;

INSERT INTO analytics_backfills (name)
SELECT 'hours_by_beneficiary_contract' WHERE (SELECT count() FROM analytics_backfills WHERE name = 'hours_by_beneficiary_contract') = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS hours_by_beneficiary_contract_from_new_mv TO hours_by_beneficiary_contract AS
SELECT beneficiary_id, contract_id, status, programme_id, operation_id, toString(lot) AS lot,
       toString(contractor_siret) AS contractor_siret,
       sum(hours) AS hours, toInt64(countIf(kind = 'credit')) AS credits, toInt64(countIf(kind = 'reversal')) AS reversals,
       min(work_date) AS first_work_date, max(work_date) AS last_work_date
FROM entries_new
GROUP BY beneficiary_id, contract_id, status, programme_id, operation_id, lot, contractor_siret;

-- 3b. Counted hours per programme, beneficiary and contract, with the first work day: the people
--     views read this narrow table (no status, lot or company columns to skip), 95k rows at 10M
--     entries instead of the 160k of the table above.
CREATE TABLE IF NOT EXISTS people_contract_hours
(
    programme_id      LowCardinality(String),
    beneficiary_id    String,
    contract_id       String,
    hours             SimpleAggregateFunction(sum, Decimal(38, 2)),
    first_work_date   SimpleAggregateFunction(min, Date)
)
ENGINE = AggregatingMergeTree
ORDER BY (programme_id, beneficiary_id, contract_id);

INSERT INTO people_contract_hours
SELECT programme_id, beneficiary_id, contract_id, sum(hours), min(work_date)
FROM ledger_entries FINAL
WHERE status = 'counted' AND (SELECT count() FROM analytics_backfills WHERE name = 'people_contract_hours') = 0
GROUP BY programme_id, beneficiary_id, contract_id;

INSERT INTO analytics_backfills (name)
SELECT 'people_contract_hours' WHERE (SELECT count() FROM analytics_backfills WHERE name = 'people_contract_hours') = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS people_contract_hours_from_new_mv TO people_contract_hours AS
SELECT programme_id, beneficiary_id, contract_id, sum(hours) AS hours, min(work_date) AS first_work_date
FROM entries_new
WHERE status = 'counted'
GROUP BY programme_id, beneficiary_id, contract_id;

-- 3c. Hours per programme, work day and status: the programme's curve (a few thousand rows per
--     programme, where the day table holds one row per contract and day).
CREATE TABLE IF NOT EXISTS hours_by_programme_day
(
    programme_id  LowCardinality(String),
    work_date     Date,
    status        LowCardinality(String),
    hours         SimpleAggregateFunction(sum, Decimal(38, 2))
)
ENGINE = AggregatingMergeTree
ORDER BY (programme_id, status, work_date);

INSERT INTO hours_by_programme_day
SELECT programme_id, work_date, status, sum(hours)
FROM ledger_entries FINAL
WHERE (SELECT count() FROM analytics_backfills WHERE name = 'hours_by_programme_day') = 0
GROUP BY programme_id, work_date, status;

INSERT INTO analytics_backfills (name)
SELECT 'hours_by_programme_day' WHERE (SELECT count() FROM analytics_backfills WHERE name = 'hours_by_programme_day') = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS hours_by_programme_day_from_new_mv TO hours_by_programme_day AS
SELECT programme_id, work_date, status, sum(hours) AS hours
FROM entries_new
GROUP BY programme_id, work_date, status;

-- 3d. Hours per programme, operation, work day and status: the cumulative curves of the HTML
--     report and the live page (deploy/clickhouse/queries/daily_counted_hours.sql), ~137k rows at
--     10 M entries where the day table holds 1.5 M. Ordered by status and day, as the curves read it.
CREATE TABLE IF NOT EXISTS hours_by_operation_day
(
    programme_id  LowCardinality(String),
    operation_id  LowCardinality(String),
    status        LowCardinality(String),
    work_date     Date,
    hours         SimpleAggregateFunction(sum, Decimal(38, 2))
)
ENGINE = AggregatingMergeTree
ORDER BY (status, work_date, programme_id, operation_id);

INSERT INTO hours_by_operation_day
SELECT programme_id, operation_id, status, work_date, sum(hours)
FROM ledger_entries FINAL
WHERE (SELECT count() FROM analytics_backfills WHERE name = 'hours_by_operation_day') = 0
GROUP BY programme_id, operation_id, status, work_date;

INSERT INTO analytics_backfills (name)
SELECT 'hours_by_operation_day' WHERE (SELECT count() FROM analytics_backfills WHERE name = 'hours_by_operation_day') = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS hours_by_operation_day_from_new_mv TO hours_by_operation_day AS
SELECT programme_id, operation_id, status, work_date, sum(hours) AS hours
FROM entries_new
GROUP BY programme_id, operation_id, status, work_date;

-- 3e. Accepted events that caused entries: what intake_accounting (005) counts as accepted.
--     The worker marks the first entry of each event (opens_source, 002): accepted_events sums
--     the marks per event type. Entries of workers older than the mark (NULL) name their event in
--     unmarked_sources, counted by distinct id. Both are fed by the dedup stage, so an entry id
--     counts by its first copy, whatever the ledger's merges keep later (an old worker's unmarked
--     entries re-sent marked by an upgraded one after a crash: the first copy is unmarked, and
--     stays so here when the ledger keeps the marked one). Counting the distinct source ids of
--     the whole ledger instead read every entry (350 ms at 10 M entries). The backfills: the
--     events of the entries a store holds when the tables are created (all unmarked, in a store
--     older than the mark: its accounting then reads as many ids as before).
CREATE TABLE IF NOT EXISTS accepted_events
(
    source_event_type  LowCardinality(String),
    events             SimpleAggregateFunction(sum, Int64)
)
ENGINE = AggregatingMergeTree
ORDER BY source_event_type;

INSERT INTO accepted_events
SELECT source_event_type, count()
FROM ledger_entries FINAL
WHERE opens_source AND (SELECT count() FROM analytics_backfills WHERE name = 'accepted_events') = 0
GROUP BY source_event_type;

INSERT INTO analytics_backfills (name)
SELECT 'accepted_events' WHERE (SELECT count() FROM analytics_backfills WHERE name = 'accepted_events') = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS accepted_events_from_new_mv TO accepted_events AS
SELECT source_event_type, count() AS events
FROM entries_new
WHERE opens_source
GROUP BY source_event_type;

CREATE TABLE IF NOT EXISTS unmarked_sources
(
    source_event_type  LowCardinality(String),
    source_event_id    UUID
)
ENGINE = ReplacingMergeTree
ORDER BY (source_event_type, source_event_id);

INSERT INTO unmarked_sources
SELECT DISTINCT source_event_type, source_event_id
FROM ledger_entries
WHERE opens_source IS NULL AND (SELECT count() FROM analytics_backfills WHERE name = 'unmarked_sources') = 0;

INSERT INTO analytics_backfills (name)
SELECT 'unmarked_sources' WHERE (SELECT count() FROM analytics_backfills WHERE name = 'unmarked_sources') = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS unmarked_sources_from_new_mv TO unmarked_sources AS
SELECT DISTINCT source_event_type, source_event_id
FROM entries_new
WHERE opens_source IS NULL;

-- 4. Rejections per reason, event type and claimed work day (from the payload, 1970-01-01 when it
--    has none), with the hours rejected timesheets claimed. One per rejection_id (a delivery
--    processed twice is one rejection; the same bytes posted twice are two).
CREATE TABLE IF NOT EXISTS rejections_by_reason_day
(
    reason          LowCardinality(String),
    event_type      LowCardinality(String),
    work_date       Date,
    events          SimpleAggregateFunction(sum, Int64),
    hours_claimed   SimpleAggregateFunction(sum, Decimal(38, 2))
)
ENGINE = AggregatingMergeTree
ORDER BY (reason, event_type, work_date);

INSERT INTO rejections_by_reason_day
SELECT reason, ifNull(event_type, '') AS type, toDateOrZero(JSONExtractString(payload, 'work_date')) AS day,
       count(), sum(toDecimal64OrZero(JSONExtractRaw(payload, 'hours'), 2))
FROM rejections FINAL
WHERE (SELECT count() FROM analytics_backfills WHERE name = 'rejections_by_reason_day') = 0
GROUP BY reason, type, day;

INSERT INTO analytics_backfills (name)
SELECT 'rejections_by_reason_day' WHERE (SELECT count() FROM analytics_backfills WHERE name = 'rejections_by_reason_day') = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS rejections_by_reason_day_sum_mv TO rejections_by_reason_day AS
SELECT reason, event_type, work_date, toInt64(count()) AS events, sum(hours) AS hours_claimed
FROM rejection_claims
GROUP BY reason, event_type, work_date;

-- 5. Freshness per hour of loading: only maxima, which a duplicate cannot change (a replay is a
--    real write and shows as one). ingest lag = loaded_at - submitted_at of an entry.
CREATE TABLE IF NOT EXISTS ledger_freshness
(
    source               LowCardinality(String),
    programme_id         LowCardinality(String),
    loaded_hour          DateTime('UTC'),
    latest_submitted_at  SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    latest_loaded_at     SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    latest_work_date     SimpleAggregateFunction(max, Date),
    max_lag_seconds      SimpleAggregateFunction(max, Float64)
)
ENGINE = AggregatingMergeTree
ORDER BY (source, programme_id, loaded_hour);

CREATE MATERIALIZED VIEW IF NOT EXISTS ledger_freshness_entries_mv TO ledger_freshness AS
SELECT 'entries' AS source, programme_id, toStartOfHour(loaded_at) AS loaded_hour,
       max(submitted_at) AS latest_submitted_at, max(loaded_at) AS latest_loaded_at,
       max(work_date) AS latest_work_date,
       max(greatest(0, dateDiff('millisecond', submitted_at, loaded_at)) / 1000) AS max_lag_seconds
FROM ledger_entries
GROUP BY programme_id, loaded_hour;

CREATE MATERIALIZED VIEW IF NOT EXISTS ledger_freshness_rejections_mv TO ledger_freshness AS
SELECT 'rejections' AS source, '' AS programme_id, toStartOfHour(loaded_at) AS loaded_hour,
       toDateTime64(0, 3, 'UTC') AS latest_submitted_at, max(loaded_at) AS latest_loaded_at,
       toDate(0) AS latest_work_date, toFloat64(0) AS max_lag_seconds
FROM rejections
GROUP BY loaded_hour;

INSERT INTO ledger_freshness
SELECT 'entries', programme_id, toStartOfHour(loaded_at) AS hour, max(submitted_at), max(loaded_at), max(work_date),
       max(greatest(0, dateDiff('millisecond', submitted_at, loaded_at)) / 1000)
FROM ledger_entries
WHERE (SELECT count() FROM analytics_backfills WHERE name = 'ledger_freshness') = 0
GROUP BY programme_id, hour;

INSERT INTO ledger_freshness
SELECT 'rejections', '', toStartOfHour(loaded_at) AS hour, toDateTime64(0, 3, 'UTC'), max(loaded_at), toDate(0), 0
FROM rejections
WHERE (SELECT count() FROM analytics_backfills WHERE name = 'ledger_freshness') = 0
GROUP BY hour;

INSERT INTO analytics_backfills (name)
SELECT 'ledger_freshness' WHERE (SELECT count() FROM analytics_backfills WHERE name = 'ledger_freshness') = 0;

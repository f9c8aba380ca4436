-- Analytical model: what the dashboards, the HTML report and auditors read (views in 005).
--
-- EXACTNESS UNDER DUPLICATE INSERTS (why the aggregates are built this way)
-- ledger_entries is a ReplacingMergeTree: the loader may write the same entry twice (a batch
-- replayed after a crash, a worker re-processing a position). A SummingMergeTree, or an
-- AggregatingMergeTree of sumState, fed by a materialized view (MV) adds both copies, for ever:
-- merging two partial sums cannot tell that they share an entry. Block-level insert
-- deduplication does not help: a replayed batch is not cut into the same blocks. States that are
-- idempotent (uniqExact/groupBitmap of entry ids per key) are exact but hold one value per entry:
-- not pre-aggregated, and merging millions of ids per query costs more than reading the ledger.
-- Totals in a ReplacingMergeTree(version), recomputed per touched key, are exact but must be read
-- with FINAL, which costs 100-800 ms per query at 10M entries as soon as a fresh part overlaps.
--
-- So the model has two levels:
--   LEVEL 1  narrow entry-level copies of the ledger, each ordered by the key that level 2
--            recomputes: entries_by_contract_day (day, contract), entries_by_beneficiary
--            (beneficiary, contract), rejection_claims (reason, type, day). Plain MVs copy each
--            inserted block; duplicates there are harmless (readers keep one row per id).
--   LEVEL 2  AggregatingMergeTree tables of SimpleAggregateFunction(sum) measures (hours,
--            credits, reversals; min/max for dates). For every inserted block, each MV
--            1. recomputes the TRUE totals of every key the block touches (contract+day,
--               contract+month, beneficiary+contract, reason+type+day) from the union of (the
--               level-1 rows of those keys) and (the block), keeping one row per entry_id
--               (`LIMIT 1 BY entry_id`): a replayed entry is already in level 1, so it counts
--               once, whether or not the block's own rows are visible yet;
--            2. reads what level 2 holds for those keys (plain sums: rows add up, merged or not);
--            3. writes the DIFFERENCE (true - stored), only where it is not zero.
--            A replay writes nothing; a new entry writes its hours. Level 2 is read with plain
--            sum() ... GROUP BY, never FINAL: a few rows per contract and day or month.
-- Consequences:
--   * exact under any number of duplicate writes, and self-healing: any later block touching a
--     key writes whatever difference remains; deploy/clickhouse/queries/analytics_check.sql lists
--     every key whose totals differ from the ledger read with FINAL (expected: none) and
--     analytics_repair.sql writes the differences for all keys at once (idempotent);
--   * ONE BLOCK PER INSERT: inside one INSERT, ClickHouse reuses an MV's subquery results
--     (the IN sets) from the first block for the following blocks, so a multi-block INSERT into
--     ledger_entries (an INSERT ... SELECT of more than max_insert_block_size = 1,048,449 rows,
--     or split by max_insert_threads) would leave wrong totals. The loader's writes are one block
--     (LEDGER_LOADER_BATCH_SIZE rows, 5,000 by default). Bulk loads: one block per INSERT (as
--     bench/dashboard_queries.py does), or run analytics_repair.sql afterwards;
--   * one writer at a time (the single loader of the README, whose Store serialises writes):
--     two concurrent INSERTs touching the same key could both write the same difference (the
--     check finds it, the repair or the next write touching the key removes it);
--   * cost per loader batch: index range reads of the touched keys, at 10M entries about 0.1-0.3 s
--     of CPU for a 5,000-entry batch (bench/dashboard_queries.py measures it).
-- Inside an MV every reference to `ledger_entries` (or `rejections`) is the inserted block, not
-- the table: the union and the IN (SELECT ... FROM ledger_entries) filters rely on that.
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

-- LEVEL 1: entry-level copies ordered by the keys that level 2 recomputes, so that a recompute
-- reads only the touched keys' ranges (ledger_entries is ordered by contract then entry id, which
-- would make a per-beneficiary recompute scan whole contracts). Work day first: loader batches
-- carry recent days, so a batch reads a few days of rows. Small granules (1024 rows): a
-- recompute reads many short ranges. Narrow (no provenance columns: auditors trace figures in
-- ledger_entries itself). Duplicates are harmless here: readers keep one row per entry_id.
CREATE TABLE IF NOT EXISTS entries_by_contract_day
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
    mode              LowCardinality(String),
    siae_siret        LowCardinality(String),
    work_date         Date,
    hours             Decimal(12, 2)
)
ENGINE = ReplacingMergeTree
ORDER BY (work_date, contract_id, entry_id)
SETTINGS index_granularity = 1024;

CREATE MATERIALIZED VIEW IF NOT EXISTS entries_by_contract_day_mv TO entries_by_contract_day AS
SELECT entry_id, kind, status, reason, programme_id, operation_id, contract_id, lot, contractor_siret, mode,
       ifNull(siae_siret, '') AS siae_siret, work_date, hours
FROM ledger_entries;

INSERT INTO entries_by_contract_day
SELECT entry_id, kind, status, reason, programme_id, operation_id, contract_id, lot, contractor_siret, mode,
       ifNull(siae_siret, ''), work_date, hours
FROM ledger_entries
WHERE (SELECT count() FROM analytics_backfills WHERE name = 'entries_by_contract_day') = 0;

INSERT INTO analytics_backfills (name)
SELECT 'entries_by_contract_day' WHERE (SELECT count() FROM analytics_backfills WHERE name = 'entries_by_contract_day') = 0;

CREATE TABLE IF NOT EXISTS entries_by_beneficiary
(
    entry_id          UUID,
    kind              LowCardinality(String),
    status            LowCardinality(String),
    programme_id      LowCardinality(String),
    operation_id      LowCardinality(String),
    contract_id       String,
    lot               LowCardinality(String),
    contractor_siret  LowCardinality(String),
    beneficiary_id    String,
    work_date         Date,
    hours             Decimal(12, 2)
)
ENGINE = ReplacingMergeTree
ORDER BY (beneficiary_id, contract_id, entry_id)
SETTINGS index_granularity = 1024;

CREATE MATERIALIZED VIEW IF NOT EXISTS entries_by_beneficiary_mv TO entries_by_beneficiary AS
SELECT entry_id, kind, status, programme_id, operation_id, contract_id, lot, contractor_siret, beneficiary_id,
       work_date, hours
FROM ledger_entries;

INSERT INTO entries_by_beneficiary
SELECT entry_id, kind, status, programme_id, operation_id, contract_id, lot, contractor_siret, beneficiary_id,
       work_date, hours
FROM ledger_entries
WHERE (SELECT count() FROM analytics_backfills WHERE name = 'entries_by_beneficiary') = 0;

INSERT INTO analytics_backfills (name)
SELECT 'entries_by_beneficiary' WHERE (SELECT count() FROM analytics_backfills WHERE name = 'entries_by_beneficiary') = 0;

-- Rejections without their payload: the claimed work day and hours parsed once.
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

CREATE MATERIALIZED VIEW IF NOT EXISTS rejection_claims_mv TO rejection_claims AS
SELECT rejection_id, reason, ifNull(event_type, '') AS event_type,
       toDateOrZero(JSONExtractString(payload, 'work_date')) AS work_date,
       toDecimal64OrZero(JSONExtractRaw(payload, 'hours'), 2) AS hours, loaded_at
FROM rejections;

INSERT INTO rejection_claims
SELECT rejection_id, reason, ifNull(event_type, ''), toDateOrZero(JSONExtractString(payload, 'work_date')),
       toDecimal64OrZero(JSONExtractRaw(payload, 'hours'), 2), loaded_at
FROM rejections
WHERE (SELECT count() FROM analytics_backfills WHERE name = 'rejection_claims') = 0;

INSERT INTO analytics_backfills (name)
SELECT 'rejection_claims' WHERE (SELECT count() FROM analytics_backfills WHERE name = 'rejection_claims') = 0;

-- LEVEL 2: differences to the true totals of the keys each inserted block touches (see the top).

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

CREATE MATERIALIZED VIEW IF NOT EXISTS hours_by_contract_day_mv TO hours_by_contract_day AS
SELECT work_date, programme_id, contract_id, status, operation_id, lot, contractor_siret,
       t.hours - s.hours AS hours, t.credits - s.credits AS credits, t.reversals - s.reversals AS reversals
FROM
(
    SELECT work_date, programme_id, contract_id, status, operation_id, lot, contractor_siret,
           sum(hours) AS hours,
           toInt64(countIf(kind = 'credit')) AS credits,
           toInt64(countIf(kind = 'reversal')) AS reversals
    FROM
    (
        SELECT * FROM
        (
            SELECT entry_id, kind, status, programme_id, operation_id, contract_id, lot, contractor_siret,
                   work_date, hours
            FROM ledger_entries
            UNION ALL
            SELECT entry_id, kind, status, programme_id, operation_id, contract_id, lot, contractor_siret,
                   work_date, hours
            FROM entries_by_contract_day
            WHERE (work_date, contract_id) IN (SELECT work_date, contract_id FROM ledger_entries)
        )
        LIMIT 1 BY entry_id
    )
    GROUP BY work_date, programme_id, contract_id, status, operation_id, lot, contractor_siret
) AS t
LEFT JOIN
(
    SELECT work_date, programme_id, contract_id, status, operation_id, lot, contractor_siret,
           sum(hours) AS hours, sum(credits) AS credits, sum(reversals) AS reversals
    FROM hours_by_contract_day
    WHERE (work_date, contract_id) IN (SELECT work_date, contract_id FROM ledger_entries)
    GROUP BY work_date, programme_id, contract_id, status, operation_id, lot, contractor_siret
) AS s USING (work_date, programme_id, contract_id, status, operation_id, lot, contractor_siret)
WHERE t.hours != s.hours OR t.credits != s.credits OR t.reversals != s.reversals;

INSERT INTO hours_by_contract_day
SELECT work_date, programme_id, contract_id, status, operation_id, lot, contractor_siret,
       sum(hours), countIf(kind = 'credit'), countIf(kind = 'reversal')
FROM ledger_entries FINAL
WHERE (SELECT count() FROM analytics_backfills WHERE name = 'hours_by_contract_day') = 0
GROUP BY work_date, programme_id, contract_id, status, operation_id, lot, contractor_siret;

INSERT INTO analytics_backfills (name)
SELECT 'hours_by_contract_day' WHERE (SELECT count() FROM analytics_backfills WHERE name = 'hours_by_contract_day') = 0;

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

CREATE MATERIALIZED VIEW IF NOT EXISTS hours_by_contract_month_mv TO hours_by_contract_month AS
SELECT month, programme_id, contract_id, status, reason, mode, siae_siret, operation_id, lot, contractor_siret,
       t.hours - s.hours AS hours, t.credits - s.credits AS credits, t.reversals - s.reversals AS reversals
FROM
(
    SELECT month, programme_id, contract_id, status, reason, mode, siae_siret, operation_id, lot, contractor_siret,
           sum(hours) AS hours,
           toInt64(countIf(kind = 'credit')) AS credits,
           toInt64(countIf(kind = 'reversal')) AS reversals
    FROM
    (
        SELECT toStartOfMonth(work_date) AS month, * FROM
        (
            SELECT entry_id, kind, status, reason, programme_id, operation_id, contract_id, lot,
                   contractor_siret, mode, ifNull(siae_siret, '') AS siae_siret, work_date, hours
            FROM ledger_entries
            UNION ALL
            SELECT entry_id, kind, status, reason, programme_id, operation_id, contract_id, lot,
                   contractor_siret, mode, siae_siret, work_date, hours
            FROM entries_by_contract_day
            WHERE (toStartOfMonth(work_date), contract_id) IN (SELECT toStartOfMonth(work_date), contract_id FROM ledger_entries)
        )
        LIMIT 1 BY entry_id
    )
    GROUP BY month, programme_id, contract_id, status, reason, mode, siae_siret, operation_id, lot, contractor_siret
) AS t
LEFT JOIN
(
    SELECT month, programme_id, contract_id, status, reason, mode, siae_siret, operation_id, lot, contractor_siret,
           sum(hours) AS hours, sum(credits) AS credits, sum(reversals) AS reversals
    FROM hours_by_contract_month
    WHERE (month, contract_id) IN (SELECT toStartOfMonth(work_date), contract_id FROM ledger_entries)
    GROUP BY month, programme_id, contract_id, status, reason, mode, siae_siret, operation_id, lot, contractor_siret
) AS s USING (month, programme_id, contract_id, status, reason, mode, siae_siret, operation_id, lot, contractor_siret)
WHERE t.hours != s.hours OR t.credits != s.credits OR t.reversals != s.reversals;

INSERT INTO hours_by_contract_month
SELECT toStartOfMonth(work_date) AS month, programme_id, contract_id, status, reason, mode,
       ifNull(siae_siret, '') AS siae, operation_id, lot, contractor_siret,
       sum(hours), countIf(kind = 'credit'), countIf(kind = 'reversal')
FROM ledger_entries FINAL
WHERE (SELECT count() FROM analytics_backfills WHERE name = 'hours_by_contract_month') = 0
GROUP BY month, programme_id, contract_id, status, reason, mode, siae, operation_id, lot, contractor_siret;

INSERT INTO analytics_backfills (name)
SELECT 'hours_by_contract_month' WHERE (SELECT count() FROM analytics_backfills WHERE name = 'hours_by_contract_month') = 0;

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

CREATE MATERIALIZED VIEW IF NOT EXISTS hours_by_beneficiary_contract_mv TO hours_by_beneficiary_contract AS
SELECT beneficiary_id, contract_id, status, programme_id, operation_id, lot, contractor_siret,
       t.hours - s.hours AS hours, t.credits - s.credits AS credits, t.reversals - s.reversals AS reversals, t.first_work_date AS first_work_date, t.last_work_date AS last_work_date
FROM
(
    SELECT beneficiary_id, contract_id, status, programme_id, operation_id, lot, contractor_siret,
           sum(hours) AS hours,
           toInt64(countIf(kind = 'credit')) AS credits,
           toInt64(countIf(kind = 'reversal')) AS reversals,
           min(work_date) AS first_work_date, max(work_date) AS last_work_date
    FROM
    (
        SELECT * FROM
        (
            SELECT entry_id, kind, status, programme_id, operation_id, contract_id, lot, contractor_siret,
                   beneficiary_id, work_date, hours
            FROM ledger_entries
            UNION ALL
            SELECT entry_id, kind, status, programme_id, operation_id, contract_id, lot, contractor_siret,
                   beneficiary_id, work_date, hours
            FROM entries_by_beneficiary
            WHERE (beneficiary_id, contract_id) IN (SELECT beneficiary_id, contract_id FROM ledger_entries)
        )
        LIMIT 1 BY entry_id
    )
    GROUP BY beneficiary_id, contract_id, status, programme_id, operation_id, lot, contractor_siret
) AS t
LEFT JOIN
(
    SELECT beneficiary_id, contract_id, status, programme_id, operation_id, lot, contractor_siret,
           sum(hours) AS hours, sum(credits) AS credits, sum(reversals) AS reversals
    FROM hours_by_beneficiary_contract
    WHERE (beneficiary_id, contract_id) IN (SELECT beneficiary_id, contract_id FROM ledger_entries)
    GROUP BY beneficiary_id, contract_id, status, programme_id, operation_id, lot, contractor_siret
) AS s USING (beneficiary_id, contract_id, status, programme_id, operation_id, lot, contractor_siret)
WHERE t.hours != s.hours OR t.credits != s.credits OR t.reversals != s.reversals;

INSERT INTO hours_by_beneficiary_contract
SELECT beneficiary_id, contract_id, status, programme_id, operation_id, lot, contractor_siret,
       sum(hours), countIf(kind = 'credit'), countIf(kind = 'reversal'), min(work_date), max(work_date)
FROM ledger_entries FINAL
WHERE (SELECT count() FROM analytics_backfills WHERE name = 'hours_by_beneficiary_contract') = 0
GROUP BY beneficiary_id, contract_id, status, programme_id, operation_id, lot, contractor_siret;

INSERT INTO analytics_backfills (name)
SELECT 'hours_by_beneficiary_contract' WHERE (SELECT count() FROM analytics_backfills WHERE name = 'hours_by_beneficiary_contract') = 0;

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

CREATE MATERIALIZED VIEW IF NOT EXISTS rejections_by_reason_day_mv TO rejections_by_reason_day AS
SELECT reason, event_type, work_date,
       t.events - s.events AS events, t.hours_claimed - s.hours_claimed AS hours_claimed
FROM
(
    SELECT reason, event_type, work_date,
           toInt64(count()) AS events,
           sum(hours) AS hours_claimed
    FROM
    (
        SELECT * FROM
        (
            SELECT rejection_id, reason, ifNull(event_type, '') AS event_type,
                   toDateOrZero(JSONExtractString(payload, 'work_date')) AS work_date,
                   toDecimal64OrZero(JSONExtractRaw(payload, 'hours'), 2) AS hours
            FROM rejections
            UNION ALL
            SELECT rejection_id, reason, event_type, work_date, hours
            FROM rejection_claims
            WHERE (reason, event_type, work_date) IN
                  (SELECT reason, ifNull(event_type, ''), toDateOrZero(JSONExtractString(payload, 'work_date')) FROM rejections)
        )
        LIMIT 1 BY rejection_id
    )
    GROUP BY reason, event_type, work_date
) AS t
LEFT JOIN
(
    SELECT reason, event_type, work_date,
           sum(events) AS events, sum(hours_claimed) AS hours_claimed
    FROM rejections_by_reason_day
    WHERE (reason, event_type, work_date) IN
          (SELECT reason, ifNull(event_type, ''), toDateOrZero(JSONExtractString(payload, 'work_date')) FROM rejections)
    GROUP BY reason, event_type, work_date
) AS s USING (reason, event_type, work_date)
WHERE t.events != s.events OR t.hours_claimed != s.hours_claimed;

INSERT INTO rejections_by_reason_day
SELECT reason, ifNull(event_type, '') AS type, toDateOrZero(JSONExtractString(payload, 'work_date')) AS day,
       count(), sum(toDecimal64OrZero(JSONExtractRaw(payload, 'hours'), 2))
FROM rejections FINAL
WHERE (SELECT count() FROM analytics_backfills WHERE name = 'rejections_by_reason_day') = 0
GROUP BY reason, type, day;

INSERT INTO analytics_backfills (name)
SELECT 'rejections_by_reason_day' WHERE (SELECT count() FROM analytics_backfills WHERE name = 'rejections_by_reason_day') = 0;

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

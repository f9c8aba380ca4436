-- Repair of the analytical model (deploy/clickhouse/schema/004_analytics.sql): a SCRIPT of
-- statements (each ends with ';' at the end of a line), for the loader's user, not a dashboard
-- query. Run it after a bulk INSERT into ledger_entries made of several blocks (see 004: the dedup
-- stage is exact for one block per INSERT), or whenever analytics_check.sql lists a difference:
--   from streams.store import Store, split_statements, QUERIES_DIR
--   store = Store("chdb://.ledger/store", "insertion")   # stop the loader first (embedded store)
--   for s in split_statements((QUERIES_DIR / "analytics_repair.sql").read_text()): store.client.command(s)
-- It passes the entries missing from the dedup stage through entries_new (its MVs add them to
-- entry_keys and the aggregates), then writes to each level-2 table the difference
-- between the ledger read with FINAL and what the table holds. Idempotent: a second run writes
-- nothing. Reads the whole ledger: minutes at 10M entries on a small machine.

INSERT INTO entries_new
SELECT entry_id, kind, status, reason, programme_id, operation_id, contract_id, lot, contractor_siret,
       beneficiary_id, mode, ifNull(siae_siret, ''), work_date, hours, source_event_id, source_event_type,
       opens_source
FROM ledger_entries FINAL
WHERE entry_id NOT IN (SELECT entry_id FROM entry_keys);

INSERT INTO rejection_claims
SELECT rejection_id, reason, ifNull(event_type, ''), toDateOrZero(JSONExtractString(payload, 'work_date')),
       toDecimal64OrZero(JSONExtractRaw(payload, 'hours'), 2), loaded_at
FROM rejections FINAL
WHERE rejection_id NOT IN (SELECT rejection_id FROM rejection_claims);

INSERT INTO hours_by_contract_day
SELECT work_date, programme_id, contract_id, status, operation_id, lot, contractor_siret,
       t.hours - s.hours, t.credits - s.credits, t.reversals - s.reversals
FROM
(
    SELECT work_date, programme_id, contract_id, status, operation_id, lot, contractor_siret,
           sum(hours) AS hours, toInt64(countIf(kind = 'credit')) AS credits, toInt64(countIf(kind = 'reversal')) AS reversals
    FROM ledger_entries FINAL
    GROUP BY work_date, programme_id, contract_id, status, operation_id, lot, contractor_siret
) AS t
FULL OUTER JOIN
(
    SELECT work_date, programme_id, contract_id, status, operation_id, lot, contractor_siret,
           sum(hours) AS hours, sum(credits) AS credits, sum(reversals) AS reversals
    FROM hours_by_contract_day
    GROUP BY work_date, programme_id, contract_id, status, operation_id, lot, contractor_siret
) AS s USING (work_date, programme_id, contract_id, status, operation_id, lot, contractor_siret)
WHERE t.hours != s.hours OR t.credits != s.credits OR t.reversals != s.reversals;

INSERT INTO hours_by_contract_month
SELECT month, programme_id, contract_id, status, reason, mode, siae_siret, operation_id, lot, contractor_siret,
       t.hours - s.hours, t.credits - s.credits, t.reversals - s.reversals
FROM
(
    SELECT toStartOfMonth(work_date) AS month, programme_id, contract_id, status, reason, mode,
           ifNull(siae_siret, '') AS siae_siret, operation_id, lot, contractor_siret,
           sum(hours) AS hours, toInt64(countIf(kind = 'credit')) AS credits, toInt64(countIf(kind = 'reversal')) AS reversals
    FROM ledger_entries FINAL
    GROUP BY month, programme_id, contract_id, status, reason, mode, siae_siret, operation_id, lot, contractor_siret
) AS t
FULL OUTER JOIN
(
    SELECT month, programme_id, contract_id, status, reason, mode, siae_siret, operation_id, lot, contractor_siret,
           sum(hours) AS hours, sum(credits) AS credits, sum(reversals) AS reversals
    FROM hours_by_contract_month
    GROUP BY month, programme_id, contract_id, status, reason, mode, siae_siret, operation_id, lot, contractor_siret
) AS s USING (month, programme_id, contract_id, status, reason, mode, siae_siret, operation_id, lot, contractor_siret)
WHERE t.hours != s.hours OR t.credits != s.credits OR t.reversals != s.reversals;

INSERT INTO hours_by_beneficiary_contract
SELECT beneficiary_id, contract_id, status, programme_id, operation_id, lot, contractor_siret,
       t.hours - s.hours, t.credits - s.credits, t.reversals - s.reversals, t.first_work_date, t.last_work_date
FROM
(
    SELECT beneficiary_id, contract_id, status, programme_id, operation_id, lot, contractor_siret,
           sum(hours) AS hours, toInt64(countIf(kind = 'credit')) AS credits, toInt64(countIf(kind = 'reversal')) AS reversals,
           min(work_date) AS first_work_date, max(work_date) AS last_work_date
    FROM ledger_entries FINAL
    GROUP BY beneficiary_id, contract_id, status, programme_id, operation_id, lot, contractor_siret
) AS t
FULL OUTER JOIN
(
    SELECT beneficiary_id, contract_id, status, programme_id, operation_id, lot, contractor_siret,
           sum(hours) AS hours, sum(credits) AS credits, sum(reversals) AS reversals
    FROM hours_by_beneficiary_contract
    GROUP BY beneficiary_id, contract_id, status, programme_id, operation_id, lot, contractor_siret
) AS s USING (beneficiary_id, contract_id, status, programme_id, operation_id, lot, contractor_siret)
WHERE t.hours != s.hours OR t.credits != s.credits OR t.reversals != s.reversals;

INSERT INTO rejections_by_reason_day
SELECT reason, event_type, work_date, t.events - s.events, t.hours_claimed - s.hours_claimed
FROM
(
    SELECT reason, ifNull(event_type, '') AS event_type, toDateOrZero(JSONExtractString(payload, 'work_date')) AS work_date,
           toInt64(count()) AS events, sum(toDecimal64OrZero(JSONExtractRaw(payload, 'hours'), 2)) AS hours_claimed
    FROM rejections FINAL
    GROUP BY reason, event_type, work_date
) AS t
FULL OUTER JOIN
(
    SELECT reason, event_type, work_date, sum(events) AS events, sum(hours_claimed) AS hours_claimed
    FROM rejections_by_reason_day
    GROUP BY reason, event_type, work_date
) AS s USING (reason, event_type, work_date)
WHERE t.events != s.events OR t.hours_claimed != s.hours_claimed;

INSERT INTO people_contract_hours
SELECT programme_id, beneficiary_id, contract_id, t.hours - s.hours, t.first_work_date
FROM
(
    SELECT programme_id, beneficiary_id, contract_id, sum(hours) AS hours, min(work_date) AS first_work_date
    FROM ledger_entries FINAL WHERE status = 'counted'
    GROUP BY programme_id, beneficiary_id, contract_id
) AS t
FULL OUTER JOIN
(
    SELECT programme_id, beneficiary_id, contract_id, sum(hours) AS hours
    FROM people_contract_hours
    GROUP BY programme_id, beneficiary_id, contract_id
) AS s USING (programme_id, beneficiary_id, contract_id)
WHERE t.hours != s.hours;

INSERT INTO hours_by_programme_day
SELECT programme_id, work_date, status, t.hours - s.hours
FROM
(
    SELECT programme_id, work_date, status, sum(hours) AS hours
    FROM ledger_entries FINAL GROUP BY programme_id, work_date, status
) AS t
FULL OUTER JOIN
(
    SELECT programme_id, work_date, status, sum(hours) AS hours
    FROM hours_by_programme_day GROUP BY programme_id, work_date, status
) AS s USING (programme_id, work_date, status)
WHERE t.hours != s.hours;

INSERT INTO hours_by_operation_day
SELECT programme_id, operation_id, status, work_date, t.hours - s.hours
FROM
(
    SELECT programme_id, operation_id, work_date, status, sum(hours) AS hours
    FROM ledger_entries FINAL GROUP BY programme_id, operation_id, work_date, status
) AS t
FULL OUTER JOIN
(
    SELECT programme_id, operation_id, work_date, status, sum(hours) AS hours
    FROM hours_by_operation_day GROUP BY programme_id, operation_id, work_date, status
) AS s USING (programme_id, operation_id, work_date, status)
WHERE t.hours != s.hours;

-- accepted_events: what makes the accounting's accepted (the marks plus the unmarked events)
-- equal the distinct events of the ledger, per event type.
INSERT INTO accepted_events
SELECT source_event_type, toInt64(t.events) - toInt64(u.events) - s.events
FROM
(
    SELECT source_event_type, uniqExact(source_event_id) AS events
    FROM ledger_entries FINAL GROUP BY source_event_type
) AS t
FULL OUTER JOIN
(
    SELECT source_event_type, uniqExact(source_event_id) AS events
    FROM unmarked_sources GROUP BY source_event_type
) AS u USING (source_event_type)
FULL OUTER JOIN
(
    SELECT source_event_type, sum(events) AS events
    FROM accepted_events GROUP BY source_event_type
) AS s USING (source_event_type)
WHERE t.events != u.events + s.events;

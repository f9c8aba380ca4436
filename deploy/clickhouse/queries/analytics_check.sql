-- Exactness of the analytical model (deploy/clickhouse/schema/004_analytics.sql): every key whose
-- pre-aggregated totals differ from the ledger (or the rejections) read with FINAL. Expected: no
-- row. Reads the whole ledger several times: an auditor's check, not a dashboard query.
SELECT 'hours_by_contract_day' AS aggregate, concat(contract_id, ' ', toString(work_date), ' ', status) AS key,
       toString(l.h) AS ledger, toString(a.h) AS pre_aggregated
FROM
(
    SELECT contract_id, work_date, status, concat(toString(sum(hours)), ' h, ', toString(countIf(kind = 'credit')), ' credits') AS h
    FROM ledger_entries FINAL GROUP BY contract_id, work_date, status
) AS l
FULL OUTER JOIN
(
    SELECT contract_id, work_date, status, concat(toString(sum(hours)), ' h, ', toString(sum(credits)), ' credits') AS h
    FROM hours_by_contract_day GROUP BY contract_id, work_date, status
    HAVING sum(hours) != 0 OR sum(credits) != 0 OR sum(reversals) != 0
) AS a USING (contract_id, work_date, status)
WHERE l.h != a.h
UNION ALL
SELECT 'hours_by_contract_month' AS aggregate,
       concat(contract_id, ' ', toString(month), ' ', status, ' ', reason, ' ', mode, ' ', siae) AS key,
       toString(l.h) AS ledger, toString(a.h) AS pre_aggregated
FROM
(
    SELECT contract_id, toStartOfMonth(work_date) AS month, status, reason, mode, ifNull(siae_siret, '') AS siae,
           concat(toString(sum(hours)), ' h, ', toString(countIf(kind = 'credit')), ' credits') AS h
    FROM ledger_entries FINAL GROUP BY contract_id, month, status, reason, mode, siae
) AS l
FULL OUTER JOIN
(
    SELECT contract_id, month, status, reason, mode, siae_siret AS siae,
           concat(toString(sum(hours)), ' h, ', toString(sum(credits)), ' credits') AS h
    FROM hours_by_contract_month GROUP BY contract_id, month, status, reason, mode, siae
    HAVING sum(hours) != 0 OR sum(credits) != 0 OR sum(reversals) != 0
) AS a USING (contract_id, month, status, reason, mode, siae)
WHERE l.h != a.h
UNION ALL
SELECT 'hours_by_beneficiary_contract' AS aggregate, concat(beneficiary_id, ' ', contract_id, ' ', status) AS key,
       toString(l.h) AS ledger, toString(a.h) AS pre_aggregated
FROM
(
    SELECT beneficiary_id, contract_id, status,
           concat(toString(sum(hours)), ' h, first ', toString(min(work_date)), ', last ', toString(max(work_date))) AS h
    FROM ledger_entries FINAL GROUP BY beneficiary_id, contract_id, status
) AS l
FULL OUTER JOIN
(
    SELECT beneficiary_id, contract_id, status,
           concat(toString(sum(hours)), ' h, first ', toString(min(first_work_date)), ', last ', toString(max(last_work_date))) AS h
    FROM hours_by_beneficiary_contract GROUP BY beneficiary_id, contract_id, status
    HAVING sum(hours) != 0 OR sum(credits) != 0 OR sum(reversals) != 0
) AS a USING (beneficiary_id, contract_id, status)
WHERE l.h != a.h
UNION ALL
SELECT 'people_contract_hours' AS aggregate, concat(programme_id, ' ', beneficiary_id, ' ', contract_id) AS key,
       toString(l.h) AS ledger, toString(a.h) AS pre_aggregated
FROM
(
    SELECT programme_id, beneficiary_id, contract_id,
           concat(toString(sum(hours)), ' h, first ', toString(min(work_date))) AS h
    FROM ledger_entries FINAL WHERE status = 'counted' GROUP BY programme_id, beneficiary_id, contract_id
) AS l
FULL OUTER JOIN
(
    SELECT programme_id, beneficiary_id, contract_id,
           concat(toString(sum(hours)), ' h, first ', toString(min(first_work_date))) AS h
    FROM people_contract_hours GROUP BY programme_id, beneficiary_id, contract_id
) AS a USING (programme_id, beneficiary_id, contract_id)
WHERE l.h != a.h
UNION ALL
SELECT 'hours_by_programme_day' AS aggregate, concat(programme_id, ' ', toString(work_date), ' ', status) AS key,
       toString(l.h) AS ledger, toString(a.h) AS pre_aggregated
FROM
(
    SELECT programme_id, work_date, status, toString(sum(hours)) AS h
    FROM ledger_entries FINAL GROUP BY programme_id, work_date, status HAVING sum(hours) != 0
) AS l
FULL OUTER JOIN
(
    SELECT programme_id, work_date, status, toString(sum(hours)) AS h
    FROM hours_by_programme_day GROUP BY programme_id, work_date, status HAVING sum(hours) != 0
) AS a USING (programme_id, work_date, status)
WHERE l.h != a.h
UNION ALL
SELECT 'hours_by_operation_day' AS aggregate, concat(programme_id, ' ', operation_id, ' ', toString(work_date), ' ', status) AS key,
       toString(l.h) AS ledger, toString(a.h) AS pre_aggregated
FROM
(
    SELECT programme_id, operation_id, work_date, status, toString(sum(hours)) AS h
    FROM ledger_entries FINAL GROUP BY programme_id, operation_id, work_date, status HAVING sum(hours) != 0
) AS l
FULL OUTER JOIN
(
    SELECT programme_id, operation_id, work_date, status, toString(sum(hours)) AS h
    FROM hours_by_operation_day GROUP BY programme_id, operation_id, work_date, status HAVING sum(hours) != 0
) AS a USING (programme_id, operation_id, work_date, status)
WHERE l.h != a.h
UNION ALL
SELECT 'rejections_by_reason_day' AS aggregate, concat(reason, ' ', event_type, ' ', toString(work_date)) AS key,
       toString(l.h) AS ledger, toString(a.h) AS pre_aggregated
FROM
(
    SELECT reason, ifNull(event_type, '') AS event_type, toDateOrZero(JSONExtractString(payload, 'work_date')) AS work_date,
           concat(toString(count()), ' events, ', toString(sum(toDecimal64OrZero(JSONExtractRaw(payload, 'hours'), 2))), ' h') AS h
    FROM rejections FINAL GROUP BY reason, event_type, work_date
) AS l
FULL OUTER JOIN
(
    SELECT reason, event_type, work_date, concat(toString(sum(events)), ' events, ', toString(sum(hours_claimed)), ' h') AS h
    FROM rejections_by_reason_day GROUP BY reason, event_type, work_date
    HAVING sum(events) != 0 OR sum(hours_claimed) != 0
) AS a USING (reason, event_type, work_date)
WHERE l.h != a.h
UNION ALL
SELECT 'accepted_events' AS aggregate, source_event_type AS key, toString(l.h) AS ledger, toString(a.h) AS pre_aggregated
FROM
(
    SELECT source_event_type, toString(uniqExact(source_event_id)) AS h
    FROM ledger_entries FINAL GROUP BY source_event_type
) AS l
FULL OUTER JOIN
(
    -- the marked events plus those of the entries older than the mark (004, 3e)
    SELECT source_event_type, toString(m.events + u.events) AS h
    FROM (SELECT source_event_type, sum(events) AS events FROM accepted_events GROUP BY source_event_type) AS m
    FULL OUTER JOIN
    (SELECT source_event_type, uniqExact(source_event_id) AS events FROM unmarked_sources GROUP BY source_event_type) AS u
    USING (source_event_type)
    WHERE m.events + u.events != 0
) AS a USING (source_event_type)
WHERE l.h != a.h
ORDER BY aggregate, key

-- The buyer's workbook, sheet "Operations": each operation (line) as of ledger_as_of (view
-- operation_progress) and the hours of the period's work dates. Parameters: see workbook_programmes.sql.
SELECT o.programme_id AS programme_id, o.operation_id AS operation_id, o.contracts AS contracts,
       o.target_hours AS target_hours, o.hours_done AS hours_done, o.pct_done AS pct_done,
       o.expected_to_date AS expected_to_date, toDecimal64(o.hours_done - o.expected_to_date, 2) AS gap,
       o.status AS status,
       toDecimal64(p.counted, 2) AS counted_in_period, toDecimal64(p.flagged, 2) AS flagged_in_period,
       toDecimal64(p.not_counted, 2) AS not_counted_in_period
FROM operation_progress AS o
LEFT JOIN
(
    SELECT programme_id, operation_id, sumIf(hours, status = 'counted') AS counted,
           sumIf(hours, status = 'flagged') AS flagged, sumIf(hours, status = 'not_counted') AS not_counted
    FROM hours_by_contract_day
    WHERE work_date BETWEEN {date_from:Date} AND {date_to:Date}
    GROUP BY programme_id, operation_id
) AS p ON p.programme_id = o.programme_id AND p.operation_id = o.operation_id
WHERE {programme:String} = '' OR o.programme_id = {programme:String}
ORDER BY programme_id, operation_id

-- The buyer's workbook, sheet "Contracts": each contract against its trajectory as of
-- ledger_as_of (view contract_trajectory: target, done, %, status, forecast; as the HTML report)
-- and the hours of the period's work dates. Parameters: see workbook_programmes.sql.
SELECT t.programme_id AS programme_id, t.operation_id AS operation_id, t.contract_id AS contract_id, t.lot AS lot,
       t.contractor_siret AS contractor_siret, substring(t.contractor_siret, 1, 9) AS contractor_siren,
       t.start_date AS start_date, t.end_date AS end_date, t.target_hours AS target_hours,
       t.hours_done AS hours_done, t.pct_done AS pct_done, t.expected_to_date AS expected_to_date, t.gap AS gap,
       t.status AS status, t.rate_90d_per_day AS rate_90d_per_day,
       t.forecast_completion_date AS forecast_completion_date,
       toDecimal64(p.counted, 2) AS counted_in_period, toDecimal64(p.flagged, 2) AS flagged_in_period,
       toDecimal64(p.not_counted, 2) AS not_counted_in_period
FROM contract_trajectory AS t
LEFT JOIN
(
    SELECT contract_id, sumIf(hours, status = 'counted') AS counted, sumIf(hours, status = 'flagged') AS flagged,
           sumIf(hours, status = 'not_counted') AS not_counted
    FROM hours_by_contract_day
    WHERE work_date BETWEEN {date_from:Date} AND {date_to:Date}
    GROUP BY contract_id
) AS p ON p.contract_id = t.contract_id
WHERE {programme:String} = '' OR t.programme_id = {programme:String}
ORDER BY programme_id, operation_id, contract_id

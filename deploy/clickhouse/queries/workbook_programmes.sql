-- The buyer's workbook (ledger report --xlsx), sheet "Programme": each programme against its
-- trajectory as of ledger_as_of (view programme_trajectory, as the HTML report), and the hours of
-- the period's work dates (pre-aggregated hours_by_contract_day: counted, flagged, not counted).
-- Parameters: programme ('' = every programme), date_from, date_to (work dates, inclusive).
SELECT t.programme_id AS programme_id, t.name AS name, t.start_date AS start_date, t.end_date AS end_date,
       t.target_hours AS target_hours, t.hours_done AS hours_done, t.pct_done AS pct_done,
       t.expected_to_date AS expected_to_date, t.gap AS gap, t.status AS status,
       t.rate_90d_per_day AS rate_90d_per_day, t.forecast_completion_date AS forecast_completion_date,
       toDecimal64(p.counted, 2) AS counted_in_period, toDecimal64(p.flagged, 2) AS flagged_in_period,
       toDecimal64(p.not_counted, 2) AS not_counted_in_period
FROM programme_trajectory AS t
LEFT JOIN
(
    SELECT programme_id, sumIf(hours, status = 'counted') AS counted, sumIf(hours, status = 'flagged') AS flagged,
           sumIf(hours, status = 'not_counted') AS not_counted
    FROM hours_by_contract_day
    WHERE work_date BETWEEN {date_from:Date} AND {date_to:Date}
    GROUP BY programme_id
) AS p ON p.programme_id = t.programme_id
WHERE {programme:String} = '' OR t.programme_id = {programme:String}
ORDER BY programme_id

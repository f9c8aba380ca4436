-- The report's and the live page's cumulative curves (streams/audit/report_html.py): counted hours
-- per programme, operation and work day up to the store's reference date. Read from the
-- operation-day table of the analytical model (004_analytics.sql), not from ledger_entries FINAL:
-- at 10 M entries ~90 ms with the rows turned into Python, ~1.8 s from the ledger; the same sums
-- (analytics_check.sql). Parameter: {as_of:Date}.
SELECT programme_id, operation_id, work_date, sum(hours) AS hours
FROM hours_by_operation_day
WHERE status = 'counted' AND work_date <= {as_of:Date}
GROUP BY programme_id, operation_id, work_date
ORDER BY work_date, programme_id, operation_id

-- The report's and the live page's cumulative curves (streams/audit/report_html.py): counted hours
-- per programme, operation and work day up to the store's reference date. Read from the
-- operation-day table of the analytical model (004_analytics.sql), not from ledger_entries FINAL
-- (~1.8 s at 10 M entries); the same sums (analytics_check.sql). Parameter: {as_of:Date}.
-- Run with optimize_aggregation_in_order = 1 (streams/store.py, QUERY_SETTINGS): the table is
-- sorted by (status, work_date, programme_id, operation_id), so the groups come out in the order
-- asked and the sort finds nothing to do. Decimal(18, 2): the client reads Decimal(38, 2) one value
-- at a time (27 against 35 ms for 69,340 values here); a CAST that overflowed would fail, not wrap.
SELECT programme_id, operation_id, work_date, CAST(sum(hours) AS Decimal(18, 2)) AS hours
FROM hours_by_operation_day
WHERE status = 'counted' AND work_date <= {as_of:Date}
GROUP BY programme_id, operation_id, work_date
ORDER BY work_date, programme_id, operation_id

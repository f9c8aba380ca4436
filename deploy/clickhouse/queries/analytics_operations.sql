-- Every operation (line): its contracts' targets, hours and expected hours summed (view operation_progress, 005).
SELECT programme_id, operation_id, contracts, target_hours, hours_done, pct_done, expected_to_date, status
FROM operation_progress
ORDER BY programme_id, operation_id

-- Every programme against its linear trajectory as of ledger_as_of (view programme_trajectory, 005).
SELECT programme_id, name, start_date, end_date, target_hours, hours_done, expected_to_date, gap, pct_done,
       status, rate_90d_per_day, forecast_completion_date
FROM programme_trajectory
ORDER BY programme_id

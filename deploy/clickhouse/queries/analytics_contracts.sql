-- Every contract against its linear trajectory as of ledger_as_of (view contract_trajectory, 005).
SELECT programme_id, operation_id, contract_id, lot, contractor_siret, start_date, end_date, target_hours,
       hours_done, expected_to_date, gap, pct_done, status, rate_90d_per_day, forecast_completion_date
FROM contract_trajectory
ORDER BY programme_id, operation_id, contract_id

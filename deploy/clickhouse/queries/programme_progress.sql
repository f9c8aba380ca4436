-- Progress of every programme against its overall target (ledger progress).
SELECT programme_id, name, target_hours, hours_done, pct_done, contracts, contract_targets, beneficiaries
FROM programme_progress
ORDER BY programme_id

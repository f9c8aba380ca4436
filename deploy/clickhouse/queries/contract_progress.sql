-- Progress of every contract against its target (ledger progress).
SELECT programme_id, operation_id, contract_id, lot, target_hours, hours_done, pct_done, entries, beneficiaries
FROM contract_progress
ORDER BY programme_id, operation_id, contract_id

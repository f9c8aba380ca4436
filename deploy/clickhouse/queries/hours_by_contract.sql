-- Hours counted per contract, straight from the entries (used to check against expectations).
SELECT contract_id, toDecimal64(sum(hours), 2) AS hours, countIf(kind = 'credit') AS entries
FROM ledger_entries FINAL
WHERE status = 'counted'
GROUP BY contract_id
ORDER BY contract_id

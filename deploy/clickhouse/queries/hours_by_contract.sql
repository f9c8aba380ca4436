-- Hours credited per contract, straight from the entries (used to check against expectations).
SELECT contract_id, toDecimal64(sum(hours), 2) AS hours, count() AS entries
FROM ledger_entries FINAL
GROUP BY contract_id
ORDER BY contract_id

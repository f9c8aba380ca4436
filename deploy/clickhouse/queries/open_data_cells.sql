-- Open data (ledger export --open-data): the finest cells, one per programme, operation, contract
-- and month of work dates up to the store's reference date (ledger_as_of), with their counted
-- hours (net of reversals; an SIAE invoice's hours included) and the people in them: a 64-bit hash
-- of each beneficiary key with net counted hours > 0 in the cell. The hashes only let the exporter
-- count distinct people of any union of cells (streams/audit/open_data.py); no key and no hash is ever
-- written.
SELECT programme_id, operation_id, contract_id, month, toDecimal64(sum(hours), 2) AS counted_hours,
       groupArrayIf(person, person != 0 AND hours > 0) AS people
FROM
(
    SELECT toString(programme_id) AS programme_id, toString(operation_id) AS operation_id, contract_id,
           toStartOfMonth(work_date) AS month,
           if(beneficiary_id = '', toUInt64(0), sipHash64(beneficiary_id)) AS person, sum(hours) AS hours
    FROM ledger_entries FINAL
    WHERE status = 'counted' AND work_date <= (SELECT as_of FROM ledger_as_of)
    GROUP BY programme_id, operation_id, contract_id, month, person
)
GROUP BY programme_id, operation_id, contract_id, month
ORDER BY programme_id, operation_id, contract_id, month

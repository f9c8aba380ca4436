-- Counted hours per contract in this ledger and in a replayed one (ledger replay), and the change.
SELECT contract_id, a.hours AS current, b.hours AS replayed, b.hours - a.hours AS difference
FROM
(
    SELECT contract_id, toDecimal64(sum(hours), 2) AS hours
    FROM ledger_entries FINAL
    WHERE status = 'counted'
    GROUP BY contract_id
) AS a
FULL OUTER JOIN
(
    SELECT contract_id, toDecimal64(sum(hours), 2) AS hours
    FROM {replay_database:Identifier}.ledger_entries FINAL
    WHERE status = 'counted'
    GROUP BY contract_id
) AS b USING contract_id
ORDER BY contract_id

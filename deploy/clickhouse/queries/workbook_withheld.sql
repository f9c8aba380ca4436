-- The buyer's workbook, sheet "Withheld and flagged": hours recorded on work dates of the period
-- that do not count (status not_counted, with the rule's reason) or are flagged (a cross-contractor
-- check, until a facilitator resolves it), per reason; net of reversals. Read from the ledger
-- (FINAL). Parameters: see workbook_programmes.sql.
SELECT programme_id, toString(status) AS status, toString(reason) AS reason,
       countIf(kind = 'credit') AS credits, countIf(kind = 'reversal') AS reversals,
       toDecimal64(sum(hours), 2) AS hours
FROM ledger_entries FINAL
WHERE status != 'counted' AND work_date BETWEEN {date_from:Date} AND {date_to:Date}
  AND ({programme:String} = '' OR programme_id = {programme:String})
GROUP BY programme_id, status, reason
HAVING hours != 0 OR credits != reversals
ORDER BY programme_id, status, reason

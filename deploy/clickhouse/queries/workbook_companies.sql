-- The buyer's workbook, sheet "Companies": the whole company (SIREN, the first 9 digits of the
-- contractors' SIRET) across its establishments and contracts, as of ledger_as_of (view
-- company_progress), and the hours of the period's work dates. Parameters: see workbook_programmes.sql.
SELECT c.programme_id AS programme_id, c.contractor_siren AS contractor_siren, c.establishments AS establishments,
       c.contracts AS contracts, c.target_hours AS target_hours, c.hours_done AS hours_done, c.pct_done AS pct_done,
       c.expected_to_date AS expected_to_date, c.gap AS gap, c.status AS status, c.partner_hours AS partner_hours,
       c.partner_share_pct AS partner_share_pct,
       toDecimal64(p.counted, 2) AS counted_in_period, toDecimal64(p.flagged, 2) AS flagged_in_period,
       toDecimal64(p.not_counted, 2) AS not_counted_in_period
FROM company_progress AS c
LEFT JOIN
(
    SELECT programme_id, substring(contractor_siret, 1, 9) AS contractor_siren,
           sumIf(hours, status = 'counted') AS counted, sumIf(hours, status = 'flagged') AS flagged,
           sumIf(hours, status = 'not_counted') AS not_counted
    FROM hours_by_contract_day
    WHERE work_date BETWEEN {date_from:Date} AND {date_to:Date}
    GROUP BY programme_id, contractor_siren
) AS p ON p.programme_id = c.programme_id AND p.contractor_siren = c.contractor_siren
WHERE {programme:String} = '' OR c.programme_id = {programme:String}
ORDER BY programme_id, contractor_siren

-- The buyer's workbook, sheet "SIAE partners": each partner structure (SIAE, GEIQ...) that
-- delivered hours on work dates of the period: its modes, contracts and contractors, its counted,
-- flagged and not-counted hours, and its share of the programme's counted partner hours.
-- Read from the ledger (FINAL: each entry once) at day grain. Parameters: see workbook_programmes.sql.
SELECT programme_id, siae_siret, modes, contracts, contractors, counted_hours, flagged_hours, not_counted_hours,
       if(partner_total != 0, round(100 * toFloat64(counted_hours) / toFloat64(partner_total), 2), NULL)
           AS share_of_partner_hours_pct
FROM
(
    SELECT programme_id, assumeNotNull(siae_siret) AS siae_siret,
           arrayStringConcat(arraySort(groupUniqArray(toString(mode))), ', ') AS modes,
           uniqExact(contract_id) AS contracts, uniqExact(contractor_siret) AS contractors,
           toDecimal64(sumIf(hours, status = 'counted'), 2) AS counted_hours,
           toDecimal64(sumIf(hours, status = 'flagged'), 2) AS flagged_hours,
           toDecimal64(sumIf(hours, status = 'not_counted'), 2) AS not_counted_hours,
           sum(sumIf(hours, status = 'counted')) OVER (PARTITION BY programme_id) AS partner_total
    FROM ledger_entries FINAL
    WHERE ifNull(siae_siret, '') != '' AND work_date BETWEEN {date_from:Date} AND {date_to:Date}
      AND ({programme:String} = '' OR programme_id = {programme:String})
    GROUP BY programme_id, siae_siret
)
ORDER BY programme_id, counted_hours DESC, siae_siret

-- The buyer's workbook, sheet "Delivery modes": counted hours per mode of delivery on work dates
-- of the period, through a partner structure or not, and the share of the programme's counted
-- hours. Read from the ledger (FINAL). Parameters: see workbook_programmes.sql.
SELECT programme_id, mode, via_partner, partner_hours, counted_hours,
       if(total != 0, round(100 * toFloat64(counted_hours) / toFloat64(total), 2), NULL) AS share_pct
FROM
(
    SELECT programme_id, toString(mode) AS mode, max(ifNull(siae_siret, '') != '') AS via_partner,
           toDecimal64(sumIf(hours, ifNull(siae_siret, '') != ''), 2) AS partner_hours,
           toDecimal64(sum(hours), 2) AS counted_hours,
           sum(sum(hours)) OVER (PARTITION BY programme_id) AS total
    FROM ledger_entries FINAL
    WHERE status = 'counted' AND work_date BETWEEN {date_from:Date} AND {date_to:Date}
      AND ({programme:String} = '' OR programme_id = {programme:String})
    GROUP BY programme_id, mode
)
ORDER BY programme_id, counted_hours DESC, mode

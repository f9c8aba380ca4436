-- The buyer's workbook, sheet "Beneficiaries": the people of the period (net counted hours > 0 on
-- work dates of the period; an SIAE invoice's hours have no person), broken down by 'all', age band
-- (year of their first counted work day of the period - birth year), gender and eligibility
-- criterion (a person with two criteria counts under each). Raw group sizes: the workbook hides
-- every group under 5 people before anything is written (streams/audit/workbook.py: suppress), as the
-- view beneficiary_profile does. Parameters: see workbook_programmes.sql.
SELECT programme_id, dimension_value.1 AS dimension, dimension_value.2 AS value,
       count() AS people, toDecimal64(sum(hours), 2) AS hours
FROM
(
    SELECT p.programme_id AS programme_id, p.net_hours AS hours,
           arrayJoin(arrayConcat(
               [('all', 'all'),
                ('age_band', multiIf(b.birth_year IS NULL, 'unknown',
                                     toInt32(toYear(p.first_work_date)) - toInt32(b.birth_year) < 26, 'under_26',
                                     toInt32(toYear(p.first_work_date)) - toInt32(b.birth_year) < 50, '26_to_49',
                                     '50_and_over')),
                ('gender', ifNull(toString(b.gender), 'unknown'))],
               arrayMap(c -> ('criterion', toString(c)), if(empty(b.criteria), ['none'], b.criteria)))) AS dimension_value
    FROM
    (
        SELECT programme_id, beneficiary_id, sum(hours) AS net_hours, minIf(work_date, hours > 0) AS first_work_date
        FROM ledger_entries FINAL
        WHERE status = 'counted' AND beneficiary_id != '' AND work_date BETWEEN {date_from:Date} AND {date_to:Date}
          AND ({programme:String} = '' OR programme_id = {programme:String})
        GROUP BY programme_id, beneficiary_id
        HAVING net_hours > 0
    ) AS p
    LEFT JOIN beneficiaries AS b ON b.beneficiary_id = p.beneficiary_id
)
GROUP BY programme_id, dimension, value
ORDER BY programme_id, dimension, value

-- The buyer's workbook, sheet "Outcomes": of the people of the period (as in workbook_people.sql),
-- how many had each outcome (durable job, transition job, positive exit) dated in the period; a
-- person counts once per outcome type; 'any' = at least one. Raw group sizes and the number of
-- people: the workbook hides every group under 5 people before anything is written.
-- Parameters: see workbook_programmes.sql.
SELECT programme_id, outcome, count() AS people, any(total) AS total
FROM
(
    SELECT p.programme_id AS programme_id, p.total AS total,
           arrayJoin(if(empty(o.outcomes), [], arrayConcat(o.outcomes, ['any']))) AS outcome
    FROM
    (
        SELECT programme_id, beneficiary_id, count() OVER (PARTITION BY programme_id) AS total
        FROM
        (
            SELECT programme_id, beneficiary_id, sum(hours) AS hours
            FROM ledger_entries FINAL
            WHERE status = 'counted' AND beneficiary_id != '' AND work_date BETWEEN {date_from:Date} AND {date_to:Date}
              AND ({programme:String} = '' OR programme_id = {programme:String})
            GROUP BY programme_id, beneficiary_id
            HAVING hours > 0
        )
    ) AS p
    LEFT JOIN
    (
        SELECT beneficiary_id, groupUniqArray(toString(outcome)) AS outcomes
        FROM beneficiary_outcomes FINAL
        WHERE outcome_date BETWEEN {date_from:Date} AND {date_to:Date}
        GROUP BY beneficiary_id
    ) AS o ON o.beneficiary_id = p.beneficiary_id
)
GROUP BY programme_id, outcome
ORDER BY programme_id, outcome

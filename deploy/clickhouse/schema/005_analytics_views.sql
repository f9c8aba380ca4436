-- Views of the analytical model (tables in 004_analytics.sql). Every view reads the level-2
-- tables (plain sums, no FINAL) and the small reference views, never ledger_entries itself.
--
-- Conventions
--   * hours count towards targets where status = 'counted'; sums net out reversals.
--   * "as of": ledger_as_of.as_of (today() unless pinned in ledger_settings, see 004).
--     Day-grain figures (trajectories, curves, 90-day rates) count work dates <= as_of;
--     month-grain breakdowns (mode, SIAE partner, reasons, months) count months <= as_of's month.
--   * trajectory: linear from start_date (0 h) to end_date (target), clamped to [0, target];
--     expected_to_date = target * (as_of - start_date) / (end_date - start_date), days.
--     gap = hours_done - expected_to_date (negative: behind). status: 'not_started' when
--     start_date > as_of; 'on_track' when done >= expected; 'behind' when done >= 80% of
--     expected; 'at_risk' otherwise.
--   * rate_90d_per_day: counted hours on work dates in (as_of - 90 days, as_of], / 90.
--     forecast_completion_date: as_of when the target is reached, else as_of + ceil(remaining /
--     rate) days, NULL when the rate is <= 0 or the date would fall after 2299-12-31 (a Date32:
--     a slow start of a long programme forecasts centuries ahead, which a Date, ending in 2149,
--     wrapped round to a date in the past).
--   * people: beneficiaries with net counted hours > 0. Breakdowns of people hide any group of
--     fewer than 5 people (people and hours NULL, suppressed = 1) and, when the hidden groups of
--     a breakdown add up to 1-4 people, also the smallest visible group (so that no hidden count
--     can be recovered by difference from a total).

-- Counted hours per contract: to date and in the trailing 90 days. Whole months before as_of's
-- month come from the month table, the days of as_of's month and the 90-day window from the day
-- table (a range read: the day table is ordered by work day).
CREATE OR REPLACE VIEW counted_hours_to_date AS
WITH (SELECT as_of FROM ledger_as_of) AS as_of
SELECT programme_id, contract_id,
       toDecimal64(sum(done), 2) AS hours_done, toDecimal64(sum(last_90), 2) AS hours_90d
FROM
(
    SELECT programme_id, contract_id, toDecimal128(hours, 2) AS done, toDecimal128(0, 2) AS last_90
    FROM hours_by_contract_month
    WHERE status = 'counted' AND month < toStartOfMonth(as_of)
    UNION ALL
    SELECT programme_id, contract_id,
           if(work_date >= toStartOfMonth(as_of), toDecimal128(hours, 2), toDecimal128(0, 2)) AS done,
           if(work_date > as_of - 90, toDecimal128(hours, 2), toDecimal128(0, 2)) AS last_90
    FROM hours_by_contract_day
    WHERE status = 'counted' AND work_date > least(toStartOfMonth(as_of) - 1, as_of - 90) AND work_date <= as_of
)
GROUP BY programme_id, contract_id;

CREATE OR REPLACE VIEW contract_trajectory AS
SELECT programme_id, operation_id, contract_id, lot, contractor_siret, start_date, end_date, target_hours,
       hours_done, expected_to_date,
       toDecimal64(hours_done - expected_to_date, 2) AS gap,
       if(target_hours > 0, round(100 * toFloat64(hours_done) / toFloat64(target_hours), 2), NULL) AS pct_done,
       multiIf(start_date > as_of, 'not_started',
               hours_done >= expected_to_date, 'on_track',
               hours_done * 10 >= expected_to_date * 8, 'behind',
               'at_risk') AS status,
       round(toFloat64(hours_90d) / 90, 2) AS rate_90d_per_day,
       multiIf(hours_done >= target_hours, toDate32(as_of),
               hours_90d > 0 AND days_left <= dateDiff('day', as_of, toDate32('2299-12-31')),
               toDate32(as_of) + toIntervalDay(days_left),
               NULL) AS forecast_completion_date
FROM
(
    SELECT c.programme_id AS programme_id, c.operation_id AS operation_id, c.contract_id AS contract_id,
           c.lot AS lot, c.contractor_siret AS contractor_siret, c.start_date AS start_date,
           c.end_date AS end_date, toDecimal64(c.target_hours, 2) AS target_hours, a.as_of AS as_of,
           toDecimal64(ifNull(h.hours_done, 0), 2) AS hours_done,
           toDecimal64(ifNull(h.hours_90d, 0), 2) AS hours_90d,
           -- days to the target at the 90-day rate, rounded up (integers in cents: exact); the
           -- divisor is kept >= 1 because the engine may evaluate this where the rate is 0
           intDiv(toInt64((target_hours - hours_done) * 100) * 90 + toInt64(hours_90d * 100) - 1,
                  greatest(toInt64(hours_90d * 100), 1)) AS days_left,
           multiIf(a.as_of >= c.end_date, toDecimal64(c.target_hours, 2),
                   a.as_of <= c.start_date, toDecimal64(0, 2),
                   -- target x elapsed / length, in cents, half up: integers, exact
                   toDecimal64(intDiv(toInt64(c.target_hours * 100) * dateDiff('day', c.start_date, a.as_of) * 2 + dateDiff('day', c.start_date, c.end_date),
                                      dateDiff('day', c.start_date, c.end_date) * 2), 2) / 100) AS expected_to_date
    FROM contracts AS c
    CROSS JOIN ledger_as_of AS a
    LEFT JOIN counted_hours_to_date AS h ON h.contract_id = c.contract_id
);

CREATE OR REPLACE VIEW programme_trajectory AS
SELECT programme_id, name, start_date, end_date, target_hours, hours_done, expected_to_date,
       toDecimal64(hours_done - expected_to_date, 2) AS gap,
       if(target_hours > 0, round(100 * toFloat64(hours_done) / toFloat64(target_hours), 2), NULL) AS pct_done,
       multiIf(start_date > as_of, 'not_started',
               hours_done >= expected_to_date, 'on_track',
               hours_done * 10 >= expected_to_date * 8, 'behind',
               'at_risk') AS status,
       round(toFloat64(hours_90d) / 90, 2) AS rate_90d_per_day,
       multiIf(hours_done >= target_hours, toDate32(as_of),
               hours_90d > 0 AND days_left <= dateDiff('day', as_of, toDate32('2299-12-31')),
               toDate32(as_of) + toIntervalDay(days_left),
               NULL) AS forecast_completion_date
FROM
(
    SELECT p.programme_id AS programme_id, p.name AS name, p.start_date AS start_date, p.end_date AS end_date,
           toDecimal64(p.target_hours, 2) AS target_hours, a.as_of AS as_of,
           toDecimal64(ifNull(h.hours_done, 0), 2) AS hours_done,
           toDecimal64(ifNull(h.hours_90d, 0), 2) AS hours_90d,
           -- days to the target at the 90-day rate, rounded up (integers in cents: exact); the
           -- divisor is kept >= 1 because the engine may evaluate this where the rate is 0
           intDiv(toInt64((target_hours - hours_done) * 100) * 90 + toInt64(hours_90d * 100) - 1,
                  greatest(toInt64(hours_90d * 100), 1)) AS days_left,
           multiIf(a.as_of >= p.end_date, toDecimal64(p.target_hours, 2),
                   a.as_of <= p.start_date, toDecimal64(0, 2),
                   -- target x elapsed / length, in cents, half up: integers, exact
                   toDecimal64(intDiv(toInt64(p.target_hours * 100) * dateDiff('day', p.start_date, a.as_of) * 2 + dateDiff('day', p.start_date, p.end_date),
                                      dateDiff('day', p.start_date, p.end_date) * 2), 2) / 100) AS expected_to_date
    FROM programmes AS p
    CROSS JOIN ledger_as_of AS a
    LEFT JOIN
    (
        SELECT programme_id, sum(hours_done) AS hours_done, sum(hours_90d) AS hours_90d
        FROM counted_hours_to_date
        GROUP BY programme_id
    ) AS h ON h.programme_id = p.programme_id
);

-- Roll-ups of contract_trajectory: sums of targets, hours and expected hours of the contracts
-- registered under the group (its current registration); status from the sums, 'not_started'
-- when no contract of the group has started.
CREATE OR REPLACE VIEW operation_progress AS
SELECT programme_id, operation_id, contracts, target_hours, hours_done,
       if(target_hours > 0, round(100 * toFloat64(hours_done) / toFloat64(target_hours), 2), NULL) AS pct_done,
       expected_to_date,
       multiIf(first_start > (SELECT as_of FROM ledger_as_of), 'not_started',
               hours_done >= expected_to_date, 'on_track',
               hours_done * 10 >= expected_to_date * 8, 'behind',
               'at_risk') AS status
FROM
(
    SELECT programme_id, operation_id, count() AS contracts,
           toDecimal64(sum(target_hours), 2) AS target_hours, toDecimal64(sum(hours_done), 2) AS hours_done,
           toDecimal64(sum(expected_to_date), 2) AS expected_to_date, min(start_date) AS first_start
    FROM contract_trajectory
    GROUP BY programme_id, operation_id
);

CREATE OR REPLACE VIEW lot_progress AS
SELECT programme_id, operation_id, lot, contracts, target_hours, hours_done,
       if(target_hours > 0, round(100 * toFloat64(hours_done) / toFloat64(target_hours), 2), NULL) AS pct_done,
       expected_to_date, toDecimal64(hours_done - expected_to_date, 2) AS gap,
       multiIf(first_start > (SELECT as_of FROM ledger_as_of), 'not_started',
               hours_done >= expected_to_date, 'on_track',
               hours_done * 10 >= expected_to_date * 8, 'behind',
               'at_risk') AS status
FROM
(
    SELECT programme_id, operation_id, lot, count() AS contracts,
           toDecimal64(sum(target_hours), 2) AS target_hours, toDecimal64(sum(hours_done), 2) AS hours_done,
           toDecimal64(sum(expected_to_date), 2) AS expected_to_date, min(start_date) AS first_start
    FROM contract_trajectory
    GROUP BY programme_id, operation_id, lot
);

-- Counted hours per contract delivered through a partner (SIAE, GEIQ...), month grain.
CREATE OR REPLACE VIEW contract_partner_hours AS
SELECT contract_id,
       toDecimal64(sum(hours), 2) AS counted_hours,
       toDecimal64(sumIf(hours, siae_siret != ''), 2) AS partner_hours
FROM hours_by_contract_month
WHERE status = 'counted' AND month <= toStartOfMonth((SELECT as_of FROM ledger_as_of))
GROUP BY contract_id;

-- One establishment (SIRET) across its contracts.
CREATE OR REPLACE VIEW contractor_progress AS
SELECT programme_id, contractor_siret, substring(contractor_siret, 1, 9) AS contractor_siren,
       contracts, target_hours, hours_done,
       if(target_hours > 0, round(100 * toFloat64(hours_done) / toFloat64(target_hours), 2), NULL) AS pct_done,
       expected_to_date, toDecimal64(hours_done - expected_to_date, 2) AS gap,
       multiIf(first_start > (SELECT as_of FROM ledger_as_of), 'not_started',
               hours_done >= expected_to_date, 'on_track',
               hours_done * 10 >= expected_to_date * 8, 'behind',
               'at_risk') AS status,
       partner_hours,
       if(month_hours != 0, round(100 * toFloat64(partner_hours) / toFloat64(month_hours), 2), NULL) AS partner_share_pct
FROM
(
    SELECT t.programme_id AS programme_id, t.contractor_siret AS contractor_siret, count() AS contracts,
           toDecimal64(sum(t.target_hours), 2) AS target_hours, toDecimal64(sum(t.hours_done), 2) AS hours_done,
           toDecimal64(sum(t.expected_to_date), 2) AS expected_to_date, min(t.start_date) AS first_start,
           toDecimal64(sum(p.partner_hours), 2) AS partner_hours, toDecimal64(sum(p.counted_hours), 2) AS month_hours
    FROM contract_trajectory AS t
    LEFT JOIN contract_partner_hours AS p ON p.contract_id = t.contract_id
    GROUP BY t.programme_id, t.contractor_siret
);

-- The whole company (SIREN = first 9 digits of the SIRET) across its establishments and contracts:
-- the seed notes ask the buyer to look at the company answering a clause, and at how much of it
-- goes through SIAE partners.
CREATE OR REPLACE VIEW company_progress AS
SELECT programme_id, contractor_siren, establishments, contracts, target_hours, hours_done,
       if(target_hours > 0, round(100 * toFloat64(hours_done) / toFloat64(target_hours), 2), NULL) AS pct_done,
       expected_to_date, toDecimal64(hours_done - expected_to_date, 2) AS gap,
       multiIf(first_start > (SELECT as_of FROM ledger_as_of), 'not_started',
               hours_done >= expected_to_date, 'on_track',
               hours_done * 10 >= expected_to_date * 8, 'behind',
               'at_risk') AS status,
       partner_hours,
       if(month_hours != 0, round(100 * toFloat64(partner_hours) / toFloat64(month_hours), 2), NULL) AS partner_share_pct
FROM
(
    SELECT t.programme_id AS programme_id, substring(t.contractor_siret, 1, 9) AS contractor_siren,
           uniqExact(t.contractor_siret) AS establishments, count() AS contracts,
           toDecimal64(sum(t.target_hours), 2) AS target_hours, toDecimal64(sum(t.hours_done), 2) AS hours_done,
           toDecimal64(sum(t.expected_to_date), 2) AS expected_to_date, min(t.start_date) AS first_start,
           toDecimal64(sum(p.partner_hours), 2) AS partner_hours, toDecimal64(sum(p.counted_hours), 2) AS month_hours
    FROM contract_trajectory AS t
    LEFT JOIN contract_partner_hours AS p ON p.contract_id = t.contract_id
    GROUP BY t.programme_id, contractor_siren
);

-- Month grain, per operation (of the entries): counted, flagged and not-counted hours.
CREATE OR REPLACE VIEW monthly_progress AS
SELECT programme_id, operation_id, month,
       toDecimal64(sumIf(hours, status = 'counted'), 2) AS counted_hours,
       toDecimal64(sumIf(hours, status = 'flagged'), 2) AS flagged_hours,
       toDecimal64(sumIf(hours, status = 'not_counted'), 2) AS not_counted_hours,
       toDecimal64(sumIf(hours, status = 'counted' AND siae_siret != ''), 2) AS partner_hours
FROM hours_by_contract_month
WHERE month <= toStartOfMonth((SELECT as_of FROM ledger_as_of))
GROUP BY programme_id, operation_id, month;

-- Counted hours per mode of delivery, and their share of the programme's counted hours.
CREATE OR REPLACE VIEW hours_by_mode AS
SELECT programme_id, mode, via_partner, counted_hours,
       if(total != 0, round(100 * toFloat64(counted_hours) / toFloat64(total), 2), NULL) AS share_pct
FROM
(
    SELECT programme_id, mode, max(siae_siret != '') AS via_partner,
           toDecimal64(sum(hours), 2) AS counted_hours,
           sum(sum(hours)) OVER (PARTITION BY programme_id) AS total
    FROM hours_by_contract_month
    WHERE status = 'counted' AND month <= toStartOfMonth((SELECT as_of FROM ledger_as_of))
    GROUP BY programme_id, mode
);

-- Share of counted hours delivered through partners (SIAE: AI, ETTI, ACI/EI subcontracting; GEIQ).
CREATE OR REPLACE VIEW siae_share AS
SELECT programme_id, counted_hours, partner_hours,
       if(counted_hours != 0, round(100 * toFloat64(partner_hours) / toFloat64(counted_hours), 2), NULL) AS partner_share_pct,
       partners
FROM
(
    SELECT programme_id, toDecimal64(sum(hours), 2) AS counted_hours,
           toDecimal64(sumIf(hours, siae_siret != ''), 2) AS partner_hours,
           countIf(siae_siret != '' AND hours != 0) AS partners
    FROM
    (
        SELECT programme_id, siae_siret, sum(hours) AS hours
        FROM hours_by_contract_month
        WHERE status = 'counted' AND month <= toStartOfMonth((SELECT as_of FROM ledger_as_of))
        GROUP BY programme_id, siae_siret
    )
    GROUP BY programme_id
);

-- Each partner structure: counted hours, contracts and contractors it delivered for.
CREATE OR REPLACE VIEW siae_partner_progress AS
SELECT programme_id, siae_siret, modes, contracts, contractors, counted_hours, flagged_hours, not_counted_hours,
       if(partner_total != 0, round(100 * toFloat64(counted_hours) / toFloat64(partner_total), 2), NULL) AS share_of_partner_hours_pct
FROM
(
    SELECT programme_id, siae_siret, arraySort(groupUniqArrayIf(mode, credits != 0)) AS modes,
           uniqExactIf(contract_id, credits != 0) AS contracts, uniqExactIf(contractor_siret, credits != 0) AS contractors,
           toDecimal64(sumIf(hours, status = 'counted'), 2) AS counted_hours,
           toDecimal64(sumIf(hours, status = 'flagged'), 2) AS flagged_hours,
           toDecimal64(sumIf(hours, status = 'not_counted'), 2) AS not_counted_hours,
           sum(sumIf(hours, status = 'counted')) OVER (PARTITION BY programme_id) AS partner_total
    FROM
    (
        SELECT programme_id, siae_siret, mode, contract_id, contractor_siret, status,
               sum(hours) AS hours, sum(credits) AS credits
        FROM hours_by_contract_month
        WHERE siae_siret != '' AND month <= toStartOfMonth((SELECT as_of FROM ledger_as_of))
        GROUP BY programme_id, siae_siret, mode, contract_id, contractor_siret, status
    )
    GROUP BY programme_id, siae_siret
);

-- Hours recorded but not counted (flagged by a cross-contractor check, or not counted with a
-- reason), per reason.
CREATE OR REPLACE VIEW held_hours_by_reason AS
SELECT programme_id, status, reason,
       sum(credits) AS credits, sum(reversals) AS reversals, toDecimal64(sum(hours), 2) AS hours
FROM hours_by_contract_month
WHERE status != 'counted' AND month <= toStartOfMonth((SELECT as_of FROM ledger_as_of))
GROUP BY programme_id, status, reason;

-- Events the ledger could not count, per reason, with the hours rejected timesheets claimed
-- (duplicate_event: a retry of an event already counted, so its hours are not lost).
CREATE OR REPLACE VIEW rejected_by_reason AS
SELECT reason, event_type, sum(events) AS events, toDecimal64(sum(hours_claimed), 2) AS hours_claimed
FROM rejections_by_reason_day
GROUP BY reason, event_type
HAVING events != 0;

-- Cumulative counted hours per day against the linear trajectory to the programme's target, from
-- the first day with hours (or start_date) to the later of end_date and as_of.
-- cumulative_hours is NULL after as_of.
CREATE OR REPLACE VIEW programme_curve AS
WITH daily AS
(
    SELECT programme_id, work_date, sum(hours) AS hours
    FROM hours_by_programme_day
    WHERE status = 'counted'
    GROUP BY programme_id, work_date
)
SELECT programme_id, day, daily_hours,
       if(day <= as_of, toDecimal64(cumulative, 2), NULL) AS cumulative_hours,
       multiIf(day >= end_date, toDecimal64(target_hours, 2),
                   day <= start_date, toDecimal64(0, 2),
                   -- target x elapsed / length, in cents, half up: integers, exact
                   toDecimal64(intDiv(toInt64(target_hours * 100) * dateDiff('day', start_date, day) * 2 + dateDiff('day', start_date, end_date),
                                      dateDiff('day', start_date, end_date) * 2), 2) / 100) AS trajectory_hours
FROM
(
    SELECT programme_id, day, start_date, end_date, target_hours, as_of,
           toDecimal64(ifNull(h.hours, 0), 2) AS daily_hours,
           sum(daily_hours) OVER (PARTITION BY programme_id ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cumulative
    FROM
    (
        SELECT p.programme_id AS programme_id, p.start_date AS start_date, p.end_date AS end_date,
               p.target_hours AS target_hours, a.as_of AS as_of,
               arrayJoin(arrayMap(i -> toDate(least(p.start_date, ifNull(f.first_day, p.start_date)) + i),
                   range(toUInt32(dateDiff('day', least(p.start_date, ifNull(f.first_day, p.start_date)),
                                                  greatest(p.end_date, a.as_of)) + 1)))) AS day
        FROM programmes AS p
        CROSS JOIN ledger_as_of AS a
        LEFT JOIN
        (
            SELECT programme_id, minIf(work_date, hours != 0) AS first_day FROM daily GROUP BY programme_id
        ) AS f ON f.programme_id = p.programme_id
    ) AS d
    LEFT JOIN daily AS h ON h.programme_id = d.programme_id AND h.work_date = d.day
);

-- People of each programme (internal: the dashboards read the breakdowns below, never this):
-- beneficiaries with net counted hours > 0, with the first work day of a contract where they have
-- counted hours.
CREATE OR REPLACE VIEW programme_people AS
SELECT programme_id, beneficiary_id, sum(contract_hours) AS hours, minIf(first_day, contract_hours > 0) AS first_work_date
FROM
(
    -- FINAL merges the few parts of this small table per (programme, beneficiary, contract) in
    -- sort order, several times cheaper than a hash GROUP BY of the same rows
    SELECT programme_id, beneficiary_id, hours AS contract_hours, first_work_date AS first_day
    FROM people_contract_hours FINAL
    WHERE beneficiary_id != ''  -- an SIAE invoice's hours are nobody's
)
GROUP BY programme_id, beneficiary_id
HAVING hours > 0;

-- Profile breakdowns of the people, one pass: 'all', age band (year of the first counted work
-- day - birth year), gender, eligibility criterion (a person with two criteria counts under each).
CREATE OR REPLACE VIEW beneficiary_profile AS
WITH groups AS
(
    SELECT programme_id, dimension_value.1 AS dimension, dimension_value.2 AS value,
           count() AS n, sum(hours) AS h
    FROM
    (
        SELECT p.programme_id AS programme_id, p.hours AS hours,
               arrayJoin(arrayConcat(
                   [('all', 'all'),
                    ('age_band', multiIf(b.birth_year IS NULL, 'unknown',
                                         toInt32(toYear(p.first_work_date)) - toInt32(b.birth_year) < 26, 'under_26',
                                         toInt32(toYear(p.first_work_date)) - toInt32(b.birth_year) < 50, '26_to_49',
                                         '50_and_over')),
                    ('gender', ifNull(b.gender, 'unknown'))],
                   arrayMap(c -> ('criterion', toString(c)), if(empty(b.criteria), ['none'], b.criteria)))) AS dimension_value
        FROM programme_people AS p
        LEFT JOIN beneficiaries AS b ON b.beneficiary_id = p.beneficiary_id
    )
    GROUP BY programme_id, dimension, value
),
ranked AS
(
    SELECT programme_id, dimension, value, n, h,
           sumIf(n, n < 5) OVER (PARTITION BY programme_id, dimension) AS hidden,
           row_number() OVER (PARTITION BY programme_id, dimension, n < 5 ORDER BY n, value) AS rank_in_class
    FROM groups
)
SELECT programme_id, dimension, value,
       if(suppressed, NULL, n) AS people,
       if(suppressed, NULL, toDecimal64(h, 2)) AS hours,
       suppressed
FROM
(
    SELECT *, toUInt8(n < 5 OR (hidden BETWEEN 1 AND 4 AND n >= 5 AND rank_in_class = 1)) AS suppressed
    FROM ranked
);

-- Outcomes (durable job, transition job, positive exit) of the programme's people, dated up to
-- as_of; a person counts once per outcome type. 'any' = people with at least one outcome.
CREATE OR REPLACE VIEW outcomes_summary AS
WITH groups AS
(
    SELECT programme_id, outcome_count.1 AS outcome, outcome_count.2 AS n, total
    FROM
    (
        SELECT programme_id, count() AS total, sumMap(outcomes, arrayMap(o -> toUInt64(1), outcomes)) AS counts
        FROM
        (
            SELECT p.programme_id AS programme_id,
                   if(empty(o.outcomes), [], arrayConcat(o.outcomes, ['any'])) AS outcomes
            FROM programme_people AS p
            LEFT JOIN
            (
                SELECT beneficiary_id, groupUniqArray(toString(outcome)) AS outcomes
                FROM beneficiary_outcomes FINAL
                WHERE outcome_date <= (SELECT as_of FROM ledger_as_of)
                GROUP BY beneficiary_id
            ) AS o ON o.beneficiary_id = p.beneficiary_id
        )
        GROUP BY programme_id
    )
    ARRAY JOIN arrayZip(counts.1, counts.2) AS outcome_count
),
ranked AS
(
    SELECT programme_id, outcome, n, total,
           sumIf(n, n < 5 AND outcome != 'any') OVER (PARTITION BY programme_id) AS hidden,
           row_number() OVER (PARTITION BY programme_id, outcome = 'any', n < 5 ORDER BY n, outcome) AS rank_in_class
    FROM groups
)
SELECT programme_id, outcome,
       if(suppressed, NULL, n) AS people,
       if(suppressed, NULL, round(100 * n / total, 2)) AS pct_of_people,
       suppressed
FROM
(
    SELECT *, toUInt8(n < 5 OR (outcome != 'any' AND hidden BETWEEN 1 AND 4 AND n >= 5 AND rank_in_class = 1)) AS suppressed
    FROM ranked
);

-- Freshness of the store: newest event time and work day, last writes, ingest lag (loaded_at -
-- submitted_at, the largest among the entries of the last hour in which entries were loaded).
CREATE OR REPLACE VIEW data_freshness AS
WITH (SELECT max(loaded_hour) FROM ledger_freshness WHERE source = 'entries') AS last_hour
SELECT latest_submitted_at, latest_work_date, latest_entry_loaded_at, latest_rejection_loaded_at,
       greatest(latest_entry_loaded_at, latest_rejection_loaded_at) AS latest_loaded_at,
       ingest_lag_seconds,
       dateDiff('second', greatest(latest_entry_loaded_at, latest_rejection_loaded_at), now64(3)) AS seconds_since_last_load
FROM
(
    SELECT maxIf(latest_submitted_at, source = 'entries') AS latest_submitted_at,
           maxIf(latest_work_date, source = 'entries') AS latest_work_date,
           maxIf(latest_loaded_at, source = 'entries') AS latest_entry_loaded_at,
           maxIf(latest_loaded_at, source = 'rejections') AS latest_rejection_loaded_at,
           maxIf(max_lag_seconds, source = 'entries' AND loaded_hour = last_hour) AS ingest_lag_seconds
    FROM ledger_freshness
);

CREATE OR REPLACE VIEW freshness_by_hour AS
SELECT loaded_hour, max(max_lag_seconds) AS max_ingest_lag_seconds, max(latest_submitted_at) AS latest_submitted_at,
       max(latest_loaded_at) AS latest_loaded_at
FROM ledger_freshness
WHERE source = 'entries'
GROUP BY loaded_hour;

-- PROGRESS against targets, all entries to date (ledger progress, the live page, the report when a
-- store has no trajectory views). They read the analytical tables of 004, not ledger_entries
-- FINAL: at 10 M entries a FINAL read of the ledger took 1.3-3.2 s per view, these take a few ms
-- (bench/dashboard_queries.py). The tables hold the same sums: analytics_check.sql compares them
-- with the ledger read with FINAL, and hours_by_contract.sql still reads the ledger itself.
--   * hours and credit entries: hours_by_contract_month (every month, every status);
--   * beneficiaries: people_contract_hours holds a row per (programme, beneficiary, contract) of
--     every counted entry, so its keys are the beneficiaries with a counted entry (an SIAE
--     invoice's entries have no key and count nobody).
CREATE OR REPLACE VIEW contract_progress AS
SELECT
    c.programme_id                                   AS programme_id,
    c.operation_id                                   AS operation_id,
    c.contract_id                                    AS contract_id,
    c.lot                                            AS lot,
    c.contractor_siret                               AS contractor_siret,
    c.start_date                                     AS start_date,
    c.end_date                                       AS end_date,
    c.target_hours                                   AS target_hours,
    toDecimal64(e.hours, 2)                          AS hours_done,
    if(c.target_hours > 0, round(100 * toFloat64(e.hours) / toFloat64(c.target_hours), 2), NULL) AS pct_done,
    toUInt64(e.entries)                              AS entries,
    b.beneficiaries                                  AS beneficiaries
FROM contracts AS c
LEFT JOIN
(
    SELECT contract_id, sum(hours) AS hours, sum(credits) AS entries
    FROM hours_by_contract_month
    WHERE status = 'counted'
    GROUP BY contract_id
) AS e ON e.contract_id = c.contract_id
LEFT JOIN
(
    SELECT contract_id, uniqExact(beneficiary_id) AS beneficiaries
    FROM people_contract_hours
    WHERE beneficiary_id != ''
    GROUP BY contract_id
) AS b ON b.contract_id = c.contract_id;

CREATE OR REPLACE VIEW programme_progress AS
SELECT
    p.programme_id                                   AS programme_id,
    p.name                                           AS name,
    p.start_date                                     AS start_date,
    p.end_date                                       AS end_date,
    p.target_hours                                   AS target_hours,
    toDecimal64(e.hours, 2)                          AS hours_done,
    if(p.target_hours > 0, round(100 * toFloat64(e.hours) / toFloat64(p.target_hours), 2), NULL) AS pct_done,
    c.contracts                                      AS contracts,
    toDecimal64(c.contract_targets, 2)               AS contract_targets,
    b.beneficiaries                                  AS beneficiaries
FROM programmes AS p
LEFT JOIN
(
    SELECT programme_id, sum(hours) AS hours
    FROM hours_by_programme_day
    WHERE status = 'counted'
    GROUP BY programme_id
) AS e ON e.programme_id = p.programme_id
LEFT JOIN
(
    SELECT programme_id, uniqExact(beneficiary_id) AS beneficiaries
    FROM people_contract_hours
    WHERE beneficiary_id != ''
    GROUP BY programme_id
) AS b ON b.programme_id = p.programme_id
LEFT JOIN
(
    SELECT programme_id, count() AS contracts, sum(target_hours) AS contract_targets
    FROM contracts
    GROUP BY programme_id
) AS c ON c.programme_id = p.programme_id;

-- Posted = accepted + rejected + pending: every intake event is in exactly one. An accepted
-- timesheet (or correction, invoice) is the source of entries; reference events and facilitators'
-- decisions are rows of their tables; a pending one waits in pending_now; a rejected one is a rejection.
CREATE OR REPLACE VIEW intake_accounting AS
SELECT
    -- The first entry of each event is marked (opens_source), summed by accepted_events; the
    -- events of entries older than the mark are in unmarked_sources (004, 3e).
    (SELECT sum(events) FROM accepted_events
     WHERE source_event_type IN ('timesheet.submitted', 'timesheet.corrected', 'timesheet.retracted',
                                 'siae.invoice'))
      + (SELECT uniqExact(source_event_id) FROM unmarked_sources
         WHERE source_event_type IN ('timesheet.submitted', 'timesheet.corrected', 'timesheet.retracted',
                                     'siae.invoice'))
      -- Decisions: each has its row in claim_resolutions (a decision that changed nothing has no
      -- entry); decisions stored before that table existed are known by their entries only.
      + (SELECT uniqExact(event_id) FROM
         (SELECT event_id FROM claim_resolutions
          UNION ALL
          SELECT source_event_id AS event_id FROM ledger_entries WHERE source_event_type = 'claim.resolved'))
      + (SELECT count() FROM programme_definitions FINAL)
      + (SELECT count() FROM contract_registrations FINAL)
      + (SELECT count() FROM beneficiary_enrolments FINAL)
      + (SELECT count() FROM pooling_agreements FINAL)
      + (SELECT count() FROM beneficiary_outcomes FINAL)                 AS accepted,
    (SELECT count() FROM rejections FINAL)                               AS rejected,
    (SELECT count() FROM pending_now)                                    AS pending,
    (SELECT count() FROM rejections FINAL WHERE reason = 'duplicate_event') AS duplicates,
    (SELECT toDecimal64(sum(hours), 2) FROM hours_by_programme_day WHERE status = 'counted') AS hours;

-- Hours recorded but not counting, and flagged claims awaiting a facilitator, by reason (net of
-- reversals).
CREATE OR REPLACE VIEW withheld_hours AS
SELECT status, reason, toDecimal64(sum(hours), 2) AS hours, sum(credits) - sum(reversals) AS entries
FROM hours_by_contract_month
WHERE status != 'counted'
GROUP BY status, reason
HAVING hours != 0;

-- Pooling (globalisation): within an agreement, the surplus over target of some contracts covers
-- the shortfall of the others, in contract order; no hour counts twice (the pool's total is the
-- sum of its contracts' hours). Contracts outside any agreement keep their own hours.
CREATE OR REPLACE VIEW contract_progress_pooled AS
WITH
    members AS
    (
        SELECT agreement_id, arrayJoin(contract_ids) AS contract_id
        FROM pooling_agreements FINAL
    ),
    base AS
    (
        SELECT p.contract_id AS contract_id, p.programme_id AS programme_id, p.target_hours AS target_hours,
               p.hours_done AS hours_done, m.agreement_id AS agreement_id,
               greatest(p.hours_done - p.target_hours, toDecimal64(0, 2)) AS surplus,
               greatest(p.target_hours - p.hours_done, toDecimal64(0, 2)) AS shortfall
        FROM contract_progress AS p
        LEFT JOIN members AS m ON m.contract_id = p.contract_id
    ),
    ranked AS
    (
        SELECT *,
               sum(surplus) OVER (PARTITION BY agreement_id) AS pool_surplus,
               sum(shortfall) OVER (PARTITION BY agreement_id ORDER BY contract_id
                                    ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS shortfall_before
        FROM base
    ),
    received AS
    (
        SELECT *,
               if(agreement_id = '', toDecimal64(0, 2),
                  least(shortfall, greatest(pool_surplus - shortfall_before, toDecimal64(0, 2)))) AS received
        FROM ranked
    ),
    given AS
    (
        SELECT *,
               sum(received) OVER (PARTITION BY agreement_id) AS pool_received,
               sum(surplus) OVER (PARTITION BY agreement_id ORDER BY contract_id
                                  ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS surplus_before
        FROM received
    )
SELECT contract_id, programme_id, agreement_id, target_hours, hours_done,
       toDecimal64(received, 2) AS received_hours,
       toDecimal64(if(agreement_id = '', 0, least(surplus, greatest(pool_received - surplus_before, 0))), 2) AS given_hours,
       toDecimal64(hours_done + received_hours - given_hours, 2) AS hours_pooled
FROM given;

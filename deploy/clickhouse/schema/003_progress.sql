-- Current reference state and progress against targets. Views are replaced on every start, so a
-- changed definition reaches existing stores.

CREATE OR REPLACE VIEW programmes AS
SELECT * FROM programme_definitions FINAL
ORDER BY programme_id, version DESC
LIMIT 1 BY programme_id;

CREATE OR REPLACE VIEW contracts AS
SELECT * FROM contract_registrations FINAL
ORDER BY contract_id, version DESC
LIMIT 1 BY contract_id;

CREATE OR REPLACE VIEW beneficiaries AS
SELECT * FROM beneficiary_enrolments FINAL
ORDER BY beneficiary_id, version DESC
LIMIT 1 BY beneficiary_id;

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
    e.entries                                        AS entries,
    e.beneficiaries                                  AS beneficiaries
FROM contracts AS c
LEFT JOIN
(
    -- an SIAE invoice's hours are nobody's: its entries carry no beneficiary key
    SELECT contract_id, sum(hours) AS hours, countIf(kind = 'credit') AS entries,
           uniqExactIf(beneficiary_id, beneficiary_id != '') AS beneficiaries
    FROM ledger_entries FINAL
    WHERE status = 'counted'
    GROUP BY contract_id
) AS e ON e.contract_id = c.contract_id;

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
    e.beneficiaries                                  AS beneficiaries
FROM programmes AS p
LEFT JOIN
(
    SELECT programme_id, sum(hours) AS hours, uniqExactIf(beneficiary_id, beneficiary_id != '') AS beneficiaries
    FROM ledger_entries FINAL
    WHERE status = 'counted'
    GROUP BY programme_id
) AS e ON e.programme_id = p.programme_id
LEFT JOIN
(
    SELECT programme_id, count() AS contracts, sum(target_hours) AS contract_targets
    FROM contracts
    GROUP BY programme_id
) AS c ON c.programme_id = p.programme_id;

-- Timesheets still waiting for their contract or enrolment, and why.
CREATE OR REPLACE VIEW pending_now AS
SELECT event_id, any(event_type) AS event_type, any(reason) AS reason, any(waiting_for) AS waiting_for,
       any(beneficiary_id) AS beneficiary_id, any(contract_id) AS contract_id,
       min(parked_at) AS parked_at, max(expires_at) AS expires_at
FROM pending_timesheets FINAL
GROUP BY event_id
HAVING countIf(state != 'pending') = 0;

-- Posted = accepted + rejected + pending: every intake event is in exactly one. An accepted
-- timesheet (or correction, invoice) is the source of entries; reference events and facilitators'
-- decisions are rows of their tables; a pending one waits in pending_now; a rejected one is a rejection.
CREATE OR REPLACE VIEW intake_accounting AS
SELECT
    (SELECT uniqExact(source_event_id) FROM ledger_entries FINAL
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
    (SELECT toDecimal64(sumIf(hours, status = 'counted'), 2) FROM ledger_entries FINAL) AS hours;

-- Hours recorded but not counting, and flagged claims awaiting a facilitator, by reason (net of
-- reversals).
CREATE OR REPLACE VIEW withheld_hours AS
SELECT status, reason, toDecimal64(sum(hours), 2) AS hours, countIf(kind = 'credit') - countIf(kind = 'reversal') AS entries
FROM ledger_entries FINAL
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

CREATE OR REPLACE VIEW rejections_by_reason AS
SELECT reason, count() AS events
FROM rejections FINAL
GROUP BY reason;

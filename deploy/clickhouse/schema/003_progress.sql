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
    SELECT contract_id, sum(hours) AS hours, countIf(kind = 'credit') AS entries,
           uniqExact(beneficiary_id) AS beneficiaries
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
    SELECT programme_id, sum(hours) AS hours, uniqExact(beneficiary_id) AS beneficiaries
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

-- Posted = accepted + rejected: every intake event is one row in exactly one of these tables.
CREATE OR REPLACE VIEW intake_accounting AS
SELECT
    (SELECT uniqExact(source_event_id) FROM ledger_entries FINAL)
      + (SELECT count() FROM programme_definitions FINAL)
      + (SELECT count() FROM contract_registrations FINAL)
      + (SELECT count() FROM beneficiary_enrolments FINAL)          AS accepted,
    (SELECT count() FROM rejections FINAL)                         AS rejected,
    (SELECT count() FROM rejections FINAL WHERE reason = 'duplicate_event') AS duplicates,
    (SELECT toDecimal64(sumIf(hours, status = 'counted'), 2) FROM ledger_entries FINAL) AS hours;

CREATE OR REPLACE VIEW rejections_by_reason AS
SELECT reason, count() AS events
FROM rejections FINAL
GROUP BY reason;

-- Current reference state, and what waits or was rejected. Views are replaced on every start, so
-- a changed definition reaches existing stores. The progress views (contract_progress,
-- programme_progress, intake_accounting, withheld_hours, contract_progress_pooled) read the
-- analytical tables, so they are defined after them, in 005_analytics_views.sql.

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

-- Timesheets still waiting for their contract or enrolment, and why.
CREATE OR REPLACE VIEW pending_now AS
SELECT event_id, any(event_type) AS event_type, any(reason) AS reason, any(waiting_for) AS waiting_for,
       any(beneficiary_id) AS beneficiary_id, any(contract_id) AS contract_id,
       min(parked_at) AS parked_at, max(expires_at) AS expires_at
FROM pending_timesheets FINAL
GROUP BY event_id
HAVING countIf(state != 'pending') = 0;

CREATE OR REPLACE VIEW rejections_by_reason AS
SELECT reason, count() AS events
FROM rejections FINAL
GROUP BY reason;

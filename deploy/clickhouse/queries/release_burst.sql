-- A burst of releases (bench/run.py's late enrolments, posted at once after the steady phase): the
-- pending timesheets resolved since {since}, when the last of their entries was loaded, and how
-- many timesheets still wait for a beneficiary's enrolment (0 once every enrolment has come).
WITH resolved AS (
    SELECT event_id FROM pending_timesheets FINAL
    WHERE state = 'resolved' AND loaded_at >= parseDateTime64BestEffort({since:String}, 3)
)
SELECT
    (SELECT count() FROM resolved) AS released,
    (SELECT count() FROM ledger_entries WHERE source_event_id IN resolved) AS entries,
    (SELECT max(loaded_at) FROM ledger_entries
     WHERE source_event_id IN resolved AND loaded_at >= parseDateTime64BestEffort({since:String}, 3)) AS last_loaded_at,
    (SELECT count() FROM pending_now WHERE reason = 'unknown_beneficiary') AS waiting

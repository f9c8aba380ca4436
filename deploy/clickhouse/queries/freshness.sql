-- How long entries took from their event's submitted_at to the store (bench/run.py's freshness
-- phase: events sent paced between {since} and {until}, stamped when sent). Entries of events sent
-- in that window only: a timesheet posted earlier and released meanwhile carries its own, older
-- submitted_at. `steady`: events decided when they arrived; `released`: events that waited pending
-- for reference data sent later in the window (a late enrolment's burst), whose wait is part of it.
WITH entries AS (
    SELECT
        dateDiff('millisecond', submitted_at, loaded_at) AS ms,
        source_event_id IN (SELECT event_id FROM pending_timesheets) AS waited
    FROM ledger_entries
    WHERE loaded_at >= parseDateTime64BestEffort({since:String}, 3)
      AND submitted_at BETWEEN parseDateTime64BestEffort({since:String}, 3)
                           AND parseDateTime64BestEffort({until:String}, 3)
)
SELECT
    'all' AS part, count() AS n, quantilesExact(0.5, 0.9, 0.99, 1)(ms) AS q FROM entries
UNION ALL
SELECT 'steady', count(), quantilesExact(0.5, 0.9, 0.99, 1)(ms) FROM entries WHERE NOT waited
UNION ALL
SELECT 'released', count(), quantilesExact(0.5, 0.9, 0.99, 1)(ms) FROM entries WHERE waited

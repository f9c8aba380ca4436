-- The freshness phase's steady entries (freshness.sql) by the second their event was sent, counted
-- from {since}: how many, and the slowest. bench/run.py prints the slowest seconds, so that a tail
-- made in one stall (a long insert, a worker's pause) can be told from one spread over the phase.
WITH entries AS (
    SELECT
        dateDiff('second', parseDateTime64BestEffort({since:String}, 3), submitted_at) AS second,
        dateDiff('millisecond', submitted_at, loaded_at) AS ms
    FROM ledger_entries
    WHERE loaded_at >= parseDateTime64BestEffort({since:String}, 3)
      AND submitted_at BETWEEN parseDateTime64BestEffort({since:String}, 3)
                           AND parseDateTime64BestEffort({until:String}, 3)
      AND source_event_id NOT IN (SELECT event_id FROM pending_timesheets)
)
SELECT second, count() AS entries, max(ms) AS worst_ms, quantileExact(0.5)(ms) AS median_ms
FROM entries
GROUP BY second
ORDER BY second

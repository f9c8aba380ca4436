-- Hours recorded but not counted, or flagged, by reason (net of reversals).
SELECT status, reason, hours, entries FROM withheld_hours ORDER BY status, reason

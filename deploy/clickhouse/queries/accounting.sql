-- What the store has accounted for: accepted and rejected events, duplicates, hours.
SELECT accepted, rejected, duplicates, hours FROM intake_accounting

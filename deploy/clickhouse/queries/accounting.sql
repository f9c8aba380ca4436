-- What the store has accounted for: accepted, rejected and pending events, duplicates, counted hours.
SELECT accepted, rejected, pending, duplicates, hours FROM intake_accounting

"""The contractor side: `producer` posts timesheets and reference data to the intake topic (keyed by
the registry's subject, packed in arrays), from files (JSON Lines, CSV) or from code, and moves
stream time on (`let_time_pass`)."""

"""The insertion-hours ledger's domain: events, counting rules, attribution and entries.

Pure code: no broker, no database, no clock. Everything here is a function of its inputs, so the
same events always give the same ledger (which is what makes replays and audits possible).
"""

"""A seeded, pseudonymous ledger for the workbook and open data tests, written straight into the
store's tables (Store.insert_json_rows, the loader's own write, one block per insert) so that the
analytical materialized views run as in production.

Two programmes, five operations, eight contracts with 0 to 22 people each (so that some contracts,
months and a whole operation have fewer than 5 people), every delivery mode, partner structures,
corrections (credit, reversal, new credit), flagged and not-counted hours with reasons, an SIAE
invoice (hours without a person), enrolments with birth year, gender and criteria, and outcomes.
Beneficiaries are keys like b-0000000001: no personal data.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from uuid import NAMESPACE_URL, uuid5

AS_OF = dt.date(2025, 6, 30)
PROGRAMMES = [
    # id, name, target, start, end
    ("gpe", "Grand Paris Express (test)", 20000, "2024-07-01", "2026-06-30"),
    ("anru", "ANRU (test)", 3000, "2025-01-01", "2025-12-31"),
]
CONTRACTS = [
    # id, programme, operation, lot, contractor SIRET, start, end, target, people
    ("gpe-c01", "gpe", "L15S", "GC-01", "73282932000074", "2024-07-01", "2026-06-30", 6000, 22),
    ("gpe-c02", "gpe", "L15S", "GC-02", "73282932000108", "2025-01-01", "2025-12-31", 2500, 12),
    ("gpe-c03", "gpe", "L15S", "GC-03", "44306184100047", "2025-02-01", "2025-09-30", 900, 3),
    ("gpe-c04", "gpe", "L16", "GC-01", "44306184100047", "2024-09-01", "2025-08-31", 3000, 15),
    ("gpe-c05", "gpe", "L16", "GC-04", "55208131766522", "2025-09-01", "2026-08-31", 1200, 0),
    ("gpe-c06", "gpe", "L17", "GC-01", "55208131766522", "2025-03-01", "2025-12-31", 700, 2),
    ("anru-c01", "anru", "ANRU-1", "L-01", "38012986645116", "2025-01-01", "2025-12-31", 2000, 9),
    ("anru-c02", "anru", "ANRU-2", "L-01", "38012986645116", "2025-01-01", "2025-12-31", 1000, 1),
]
PARTNERS = {"temp_agency_etti": ["44201188000129", "44201188000210"], "siae_placement_ai": ["81234567800011"],
            "geiq": ["52345678900012"]}
MODES = ["direct_hire", "direct_hire", "temp_agency_etti", "siae_placement_ai", "geiq", "training"]
CRITERIA = ["rsa", "ass", "aah", "rqth", "long_term_job_seeker", "youth_no_qualification", "siae_pathway"]
OUTCOMES = ["durable_job", "transition_job", "positive_exit"]
MONTHS = [(2025, m) for m in range(1, 7)] + [(2024, m) for m in range(9, 13)]


def _uuid(label: str) -> str:
    return str(uuid5(NAMESPACE_URL, f"export-test:{label}"))


def person(n: int) -> str:
    return f"b-{n:010d}"


def _entry(label, contract, beneficiary, day, hours, mode, partner, status="counted", reason="", kind="credit",
           reverses=None, event_type="timesheet.submitted") -> dict:
    cid, programme, operation, lot, siret, *_ = contract
    return {"entry_id": _uuid(f"entry:{label}"), "kind": kind, "status": status, "reason": reason,
            "source_event_id": _uuid(f"event:{label}"), "source_event_type": event_type,
            "reverses_entry_id": _uuid(f"entry:{reverses}") if reverses else None, "programme_id": programme,
            "operation_id": operation, "contract_id": cid, "lot": lot, "contractor_siret": siret,
            "beneficiary_id": beneficiary, "siae_siret": partner, "mode": mode, "work_date": day.isoformat(),
            "hours": hours, "rule": "clause-2021", "rulebook_version": "test-1",
            "submitted_at": f"{day.isoformat()} 18:00:00.000", "loaded_at": f"{day.isoformat()} 20:00:00.000"}


def build(seed: int = 13) -> dict[str, list[dict]]:
    rnd = random.Random(seed)
    entries, people, next_person = [], {}, 1
    for contract in CONTRACTS:
        cid, programme, _, _, _, start, end, _, count = contract
        start, end = dt.date.fromisoformat(start), min(dt.date.fromisoformat(end), AS_OF)
        pool = []
        for _ in range(count):
            # A few people work on two contracts of gpe: a person counts once in every group.
            if programme == "gpe" and people and rnd.random() < 0.15:
                pool.append(rnd.choice([p for p, prog in people.items() if prog == "gpe"]))
            else:
                pool.append(person(next_person))
                people[person(next_person)] = programme
                next_person += 1
        for p in dict.fromkeys(pool):
            mode = rnd.choice(MODES)
            partner = rnd.choice(PARTNERS[mode]) if mode in PARTNERS else None
            months = rnd.sample(MONTHS, rnd.randint(1, 4))
            for year, month in months:
                for d in rnd.sample(range(1, 29), rnd.randint(1, 5)):
                    day = dt.date(year, month, d)
                    if not start <= day <= end:
                        continue
                    hours = rnd.choice([7, 7.5, 8, 3.5])
                    label = f"{cid}:{p}:{day}"
                    roll = rnd.random()
                    if roll < 0.06:
                        entries.append(_entry(label, contract, p, day, hours, mode, partner, status="flagged",
                                              reason="same_person_same_day_other_contractor"))
                    elif roll < 0.10:
                        entries.append(_entry(label, contract, p, day, hours, mode, partner, status="not_counted",
                                              reason=rnd.choice(["outside_eligibility_window", "training_cap_reached"])))
                    elif roll < 0.15:  # a correction: reversal and a new credit
                        entries.append(_entry(label, contract, p, day, hours + 1, mode, partner))
                        entries.append(_entry(label + ":rev", contract, p, day, -(hours + 1), mode, partner,
                                              kind="reversal", reverses=label, event_type="timesheet.corrected"))
                        entries.append(_entry(label + ":new", contract, p, day, hours, mode, partner,
                                              event_type="timesheet.corrected"))
                    elif roll < 0.17:  # retracted: nets to zero
                        entries.append(_entry(label, contract, p, day, hours, mode, partner))
                        entries.append(_entry(label + ":rev", contract, p, day, -hours, mode, partner,
                                              kind="reversal", reverses=label, event_type="timesheet.retracted"))
                    else:
                        entries.append(_entry(label, contract, p, day, hours, mode, partner))
    # An SIAE invoice converted to hours: no person.
    entries.append(_entry("invoice-1", CONTRACTS[1], "", dt.date(2025, 3, 31), 120.5, "siae_subcontract",
                          "39876543200013", event_type="siae.invoice"))
    enrolments = []
    for n, p in enumerate(sorted(people)):
        criteria = rnd.sample(CRITERIA, rnd.choice([1, 1, 2]))
        enrolments.append({"event_id": _uuid(f"enrolment:{p}"), "beneficiary_id": p, "facilitator_id": "fac-01",
                           "criteria": criteria, "eligible_from": "2024-01-01", "eligible_until": "2027-12-31",
                           "birth_year": None if n % 17 == 0 else rnd.randint(1962, 2006),
                           "gender": None if n % 19 == 0 else rnd.choice(["F", "M"]), "version": 100 + n})
    outcomes = []
    for n, p in enumerate(sorted(people)):
        if rnd.random() < 0.6:
            day = dt.date(2025, 1, 1) + dt.timedelta(days=rnd.randint(0, 240))  # some after AS_OF
            outcomes.append({"beneficiary_id": p, "outcome": rnd.choice(OUTCOMES), "outcome_date": day.isoformat(),
                             "event_id": _uuid(f"outcome:{p}"), "facilitator_id": "fac-01", "version": 1000 + n})
    programmes = [{"event_id": _uuid(f"programme:{p}"), "programme_id": p, "name": name, "target_hours": t,
                   "start_date": s, "end_date": e, "version": n} for n, (p, name, t, s, e) in enumerate(PROGRAMMES)]
    # gpe-c02 registered twice: the later registration (a new target) wins.
    contracts = [{"event_id": _uuid(f"contract:{c[0]}"), "contract_id": c[0], "programme_id": c[1],
                  "operation_id": c[2], "lot": c[3], "contractor_siret": c[4], "start_date": c[5], "end_date": c[6],
                  "target_hours": c[7] - (500 if c[0] == "gpe-c02" else 0), "version": 10 + n}
                 for n, c in enumerate(CONTRACTS)]
    contracts.append(dict(contracts[1], event_id=_uuid("contract:gpe-c02:again"), target_hours=CONTRACTS[1][7],
                          version=50))
    return {"programme_definitions": programmes, "contract_registrations": contracts,
            "beneficiary_enrolments": enrolments, "ledger_entries": entries, "beneficiary_outcomes": outcomes}


def load(store, seed: int = 13) -> dict[str, list[dict]]:
    tables = build(seed)
    for table, rows in tables.items():
        for first in range(0, len(rows), 500):
            store.insert_json_rows(table, b"\n".join(json.dumps(r).encode() for r in rows[first:first + 500]))
    store.insert_json_rows("ledger_settings", json.dumps({"as_of": AS_OF.isoformat()}).encode())
    return tables

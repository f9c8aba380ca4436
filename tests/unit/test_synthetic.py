"""The synthetic programme: deterministic, big enough, varied, pseudonymous, and true to its totals."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter, defaultdict
from decimal import Decimal

import pytest

from ledger.entries import Position
from ledger.events import InvalidEvent, parse_event
from ledger.intake import MemoryBooks, decide
from ledger.rules import Rulebook
from ledger.siret import is_valid_siret
from ledger.synthetic import Size, generate

SMALL = Size(operations=2, contracts=5, contractors=2, partners=3, beneficiaries=8, days_per_beneficiary=6,
             months=3, malformed_lines=6)
ALL_MODES = {"direct_hire", "temp_agency_etti", "siae_placement_ai", "siae_subcontract", "geiq", "training"}
PSEUDONYM = re.compile(r"^b-[0-9a-f]{16}$")


@pytest.fixture(scope="module")
def default():
    return generate()


def timesheets(prog) -> list[dict]:
    return [e for e in prog.activity if isinstance(e, dict) and e["type"] == "timesheet.submitted"]


def distinct(events: list[dict]) -> list[dict]:
    seen, out = set(), []
    for e in events:
        if e["event_id"] not in seen:
            seen.add(e["event_id"])
            out.append(e)
    return out


def periods(prog) -> dict[str, tuple[dt.date, dt.date]]:
    return {e["contract_id"]: (dt.date.fromisoformat(e["start_date"]), dt.date.fromisoformat(e["end_date"]))
            for e in prog.reference if e["type"] == "contract.registered"}


def on_a_registered_contract_in_period(prog, event: dict) -> bool:
    period = periods(prog).get(event["contract_id"])
    return period is not None and period[0] <= dt.date.fromisoformat(event["work_date"]) <= period[1]


# ---------------------------------------------------------------------------------------- determinism

@pytest.mark.parametrize("seed", [0, 1, 2015, 2**31 + 7])
def test_same_seed_same_programme(seed):
    one, two = generate(seed, SMALL), generate(seed, SMALL)
    assert one.lines() == two.lines()
    assert one.expected.as_json() == two.expected.as_json()


def test_other_seed_other_programme():
    assert generate(1, SMALL).lines() != generate(2, SMALL).lines()


def test_default_is_seed_2015(default):
    assert generate(2015).lines() == default.lines()


def test_programme_id_is_used():
    prog = generate(3, SMALL, programme_id="anru")
    assert all(e["programme_id"] == "anru" for e in prog.reference if "programme_id" in e)
    assert all(cid.startswith("anru-c") for cid in prog.expected.hours_by_contract)


# ---------------------------------------------------------------------------------------- size and variety

def test_default_size(default):
    sheets = timesheets(default)
    assert len(sheets) >= 20_000
    assert default.expected.counted_timesheets >= 20_000
    assert sum(e["type"] == "contract.registered" for e in default.reference) == 20
    assert sum(e["type"] == "beneficiary.enrolled" for e in default.reference) == 320
    assert sum(e["type"] == "programme.defined" for e in default.reference) == 1
    assert sum(isinstance(e, str) for e in default.activity) == 6


def test_default_uses_every_mode(default):
    modes = Counter(e["mode"] for e in timesheets(default))
    assert set(modes) == ALL_MODES


def test_default_has_every_kind_of_rejection(default):
    assert set(default.expected.rejections_by_reason) == {
        "duplicate_event", "unknown_contract", "not_eligible_on_work_date", "outside_contract_period"}
    assert set(default.expected.malformed_by_reason) == {"invalid_json", "invalid_event"}


def test_contract_targets_both_ways(default):
    contracts = [e for e in default.reference if e["type"] == "contract.registered"]
    given = [c for c in contracts if "target_hours" in c]
    computed = [c for c in contracts if "amount_eur" in c]
    assert given and computed and len(given) + len(computed) == len(contracts)


# ---------------------------------------------------------------------------------------- consistency

def test_every_event_is_valid_and_every_malformed_line_is_not(default):
    for event in default.reference + [e for e in default.activity if isinstance(e, dict)]:
        parse_event(json.dumps(event))  # raises if invalid
    reasons = Counter()
    for line in (e for e in default.activity if isinstance(e, str)):
        with pytest.raises(InvalidEvent) as refused:
            parse_event(line)
        reasons[refused.value.reason] += 1
    assert reasons == default.expected.malformed_by_reason


def test_sirets_are_valid(default):
    contractors = {e["contractor_siret"] for e in default.reference if e["type"] == "contract.registered"}
    partners = {e["siae_siret"] for e in timesheets(default) if "siae_siret" in e}
    assert contractors and partners
    assert all(is_valid_siret(s) for s in contractors | partners)


def test_expected_counts_add_up(default):
    expected = default.expected
    assert expected.reference_events == len(default.reference)
    assert expected.counted_timesheets == sum(expected.entries_by_contract.values())
    assert expected.accepted + expected.rejected + sum(expected.malformed_by_reason.values()) == \
        len(default.reference) + len(default.activity)
    hours = defaultdict(Decimal)
    for e in timesheets(default):
        hours[e["contract_id"]] += Decimal(str(e["hours"]))
    # Declared hours exceed the counted ones (rejections are declared too), contract by contract.
    assert all(hours[cid] >= total for cid, total in expected.hours_by_contract.items())


def test_default_programme_through_the_ledger(default):
    """The whole default programme, posted in order: the ledger's totals are the generator's."""
    books, rulebook = MemoryBooks(), Rulebook()
    hours = {cid: Decimal(0) for cid in default.expected.hours_by_contract}
    rejected = Counter()
    accepted = 0
    for offset, line in enumerate(default.lines()):
        decision = decide(line.encode(), Position(topic="t", partition=0, offset=offset), books, rulebook)
        if decision.accepted:
            accepted += 1
            if decision.entry is not None:
                hours[decision.entry.contract_id] += decision.entry.hours
        else:
            rejected[decision.rejection.reason.value] += 1
    assert hours == default.expected.hours_by_contract
    assert accepted == default.expected.accepted
    assert rejected == default.expected.rejections_by_reason + default.expected.malformed_by_reason


# ---------------------------------------------------------------------------------------- one person, one day

def test_no_beneficiary_has_two_countable_timesheets_on_a_day(default):
    # Countable here means: on a registered contract, inside its period (checked from the reference data).
    days = Counter((e["beneficiary_id"], e["work_date"]) for e in distinct(timesheets(default))
                   if on_a_registered_contract_in_period(default, e))
    assert days and max(days.values()) == 1


def test_no_beneficiary_has_two_timesheets_on_a_day(default):
    days = Counter((e["beneficiary_id"], e["work_date"]) for e in distinct(timesheets(default)))
    assert max(days.values()) == 1


def test_duplicates_are_exact_copies(default):
    by_id = defaultdict(list)
    for e in timesheets(default):
        by_id[e["event_id"]].append(e)
    copies = [group for group in by_id.values() if len(group) > 1]
    assert len(copies) == default.expected.rejections_by_reason["duplicate_event"]
    assert all(len(group) == 2 and group[0] == group[1] for group in copies)


# ---------------------------------------------------------------------------------------- personal data

ENROLMENT_FIELDS = {"type", "event_id", "schema_version", "beneficiary_id", "facilitator_id", "criteria",
                    "eligible_from", "eligible_until", "birth_year", "gender"}
TIMESHEET_FIELDS = {"type", "event_id", "schema_version", "contract_id", "beneficiary_id", "work_date", "hours",
                    "mode", "siae_siret", "submitted_at"}


def test_beneficiaries_are_pseudonymous(default):
    enrolments = [e for e in default.reference if e["type"] == "beneficiary.enrolled"]
    assert all(set(e) <= ENROLMENT_FIELDS for e in enrolments)
    assert all(set(e) <= TIMESHEET_FIELDS for e in timesheets(default))
    keys = {e["beneficiary_id"] for e in enrolments} | {e["beneficiary_id"] for e in timesheets(default)}
    assert all(PSEUDONYM.match(k) for k in keys)
    assert len({e["beneficiary_id"] for e in enrolments}) == 320
    assert all(e["gender"] in {"F", "M", "X"} and 1940 <= e["birth_year"] <= 2015 for e in enrolments)


def test_nothing_looks_like_personal_data(default):
    events = default.reference + [e for e in default.activity if isinstance(e, dict)]
    for event in events:
        for key, value in event.items():
            if key in ("contractor_siret", "siae_siret") or not isinstance(value, str):
                continue
            assert "@" not in value, (key, value)  # no e-mail
            assert not re.fullmatch(r"\d{13,15}", value), (key, value)  # no social-security number (NIR)
    names = {key for event in events for key in event}
    assert not names & {"name_of_person", "first_name", "last_name", "nir", "address", "phone", "email",
                        "birth_date", "date_of_birth"}
    # The one "name" is the programme's.
    assert [e["name"] for e in events if "name" in e] == ["Grand Paris Express (synthetic)"]

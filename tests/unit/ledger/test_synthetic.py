"""The synthetic programme: deterministic, big enough, varied, pseudonymous, and true to its totals."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from ledger.entries import EntryStatus
from ledger.events import InvalidEvent, parse_event
from ledger.rulebook import Rulebook
from ledger.siret import is_valid_siret
from ledger.synthetic import Size, generate
from ledger.trajectory import contract_status, expected_to_date
from tests.support.kit import Ledger

RULES = Path(__file__).resolve().parents[3] / "rules" / "2026.1.toml"

SMALL = Size(operations=2, contracts=5, contractors=2, partners=3, beneficiaries=8, days_per_beneficiary=6,
             months=3, malformed_lines=6)
ALL_MODES = {"direct_hire", "temp_agency_etti", "siae_placement_ai", "siae_subcontract", "geiq", "training"}
PSEUDONYM = re.compile(r"^b-[0-9a-f]{16}$")


@pytest.fixture(scope="module")
def default():
    return generate()


def timesheets(prog) -> list[dict]:
    return [e for e in prog.activity if isinstance(e, dict) and e["type"] == "timesheet.submitted"]


def of_type(events, type_: str) -> list[dict]:
    return [e for e in events if isinstance(e, dict) and e["type"] == type_]


def enrolments(prog) -> list[dict]:
    return of_type(prog.reference, "beneficiary.enrolled") + of_type(prog.activity, "beneficiary.enrolled")


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
    # 370 people; 3% of them (11) are enrolled only after their timesheets, at the end of the activity.
    assert len(of_type(default.reference, "beneficiary.enrolled")) == 359
    late = of_type(default.activity, "beneficiary.enrolled")
    assert len(late) == 11 and default.activity[-11:] == late
    assert sum(e["type"] == "programme.defined" for e in default.reference) == 1
    assert sum(isinstance(e, str) for e in default.activity) == 6


def test_default_uses_every_mode(default):
    modes = Counter(e["mode"] for e in timesheets(default))
    assert set(modes) == ALL_MODES


def test_default_has_every_kind_of_rejection_and_withheld_hours(default):
    expected = default.expected
    # Hours outside the rules are accepted as not counted; only what cannot be recorded is rejected.
    assert set(expected.rejections_by_reason) == {"duplicate_event", "unknown_contract"}
    assert set(expected.malformed_by_reason) == {"invalid_json", "invalid_event"}
    assert set(expected.not_counted_hours_by_reason) == {
        "not_eligible_on_work_date", "outside_contract_period", "permanent_hire_cap_reached", "training_cap_reached",
        "refused_by_facilitator"}
    assert all(hours > 0 for hours in expected.not_counted_hours_by_reason.values())
    assert expected.not_counted_hours_by_reason["training_cap_reached"] == 50  # 25 days x 8 h = 200 h, cap 150
    assert expected.flagged_hours > 0


def test_default_uses_every_follow_up(default):
    follow = Counter(e["type"] for e in default.follow_up)
    assert follow["timesheet.corrected"] > 0 and follow["timesheet.retracted"] > 0
    assert follow["timesheet.submitted"] == 6  # the over-claims: a second contractor on someone's day
    assert follow["beneficiary.outcome"] == 37  # 10% of 370
    assert {e["outcome"] for e in of_type(default.follow_up, "beneficiary.outcome")} == {
        "durable_job", "transition_job", "positive_exit"}
    # Both sides of each of the 6 over-claims are flagged; per pair, facilitators cycle through (count the
    # base, refuse the claim), (count both), (leave both): 2 + 2 + 0 twice = 8 resolutions, 6 count, 2 refuse.
    decisions = Counter(e["decision"] for e in default.resolutions)
    assert decisions == Counter(count=6, refuse=2)
    assert len(of_type(default.activity, "siae.invoice")) == 5
    assert len(of_type(default.reference, "pooling.agreed")) == 1
    hires = Counter(e.get("hire_type", "fixed_term") for e in timesheets(default) if e["mode"] == "direct_hire")
    assert hires["permanent"] > 0 and hires["fixed_term"] > 0


def test_corrections_and_over_claims_name_real_timesheets(default):
    by_id = {e["event_id"]: e for e in timesheets(default)}
    for fix in of_type(default.follow_up, "timesheet.corrected") + of_type(default.follow_up, "timesheet.retracted"):
        original = by_id[fix["original_event_id"]]
        assert original["beneficiary_id"] == fix["beneficiary_id"]
    contractor = {e["contract_id"]: e["contractor_siret"] for e in of_type(default.reference, "contract.registered")}
    days = defaultdict(list)
    for e in distinct(timesheets(default)):  # a contractor's retry is the same timesheet
        days[(e["beneficiary_id"], e["work_date"])].append(e)
    decided = {e["flagged_event_id"]: e["decision"] for e in default.resolutions}
    assert len(decided) == len(default.resolutions)  # one resolution per flagged timesheet
    over = of_type(default.follow_up, "timesheet.submitted")
    named = {**by_id, **{e["event_id"]: e for e in over}}
    for resolution in default.resolutions:  # about the person of the timesheet it resolves
        assert named[resolution["flagged_event_id"]]["beneficiary_id"] == resolution["beneficiary_id"]
    sides = set()
    pattern = []
    for claim in over:
        (base,) = days[(claim["beneficiary_id"], claim["work_date"])]
        assert contractor[base["contract_id"]] != contractor[claim["contract_id"]]
        total = Decimal(str(base["hours"])) + Decimal(str(claim["hours"]))
        assert claim["hours"] == base["hours"] or total > 10  # claimed twice, or over the daily maximum
        sides |= {base["event_id"], claim["event_id"]}
        pattern.append((decided.get(base["event_id"]), decided.get(claim["event_id"])))
    # Resolutions name either side of an over-claim (both are flagged), pair by pair in turn:
    # (count base, refuse claim), (count both), (leave both flagged).
    assert set(decided) <= sides
    # What is left flagged is both sides of the pairs nobody resolved.
    left = sum((Decimal(str(named[i]["hours"])) for i in sides - set(decided)), Decimal(0))
    assert left > 0 and default.expected.flagged_hours == left
    cycle = [("count", "refuse"), ("count", "count"), (None, None)]
    assert pattern == [cycle[n % 3] for n in range(len(over))]


def test_contract_targets_follow_the_rulebook(default):
    rulebook = Rulebook.from_toml(RULES.read_text())
    contracts = of_type(default.reference, "contract.registered")
    targets = {c["contract_id"]: rulebook.target_hours(parse_event(json.dumps(c))) for c in contracts}
    assert targets == default.expected.targets_by_contract
    # One of them was notified in 2019, under the GPE's 5% rate: EUR amount x 0.5 x 5% / 28.
    (old,) = [c for c in contracts if c["start_date"] == "2019-03-01"]
    assert "clause_rate" not in old and "target_hours" not in old  # the rates are left to the rulebook
    amount = Decimal(old["amount_eur"])
    assert targets[old["contract_id"]] == (amount * Decimal("0.025") / 28).quantize(Decimal("0.01"))
    assert any(c["start_date"] >= "2020-10-01" and set(c) & {"clause_rate", "target_hours"} == set()
               for c in contracts)  # and at least one under the 10% rate


def test_contract_targets_both_ways(default):
    contracts = [e for e in default.reference if e["type"] == "contract.registered"]
    given = [c for c in contracts if "target_hours" in c]
    computed = [c for c in contracts if "amount_eur" in c]
    assert given and computed and len(given) + len(computed) == len(contracts)


# ---------------------------------------------------------------------------------------- statuses as of the reference date

def test_default_shows_every_status_as_of_its_reference_date(default):
    expected = default.expected
    # The reference date is the end of the programme's 6 months, as the demo pins it for the report.
    assert expected.as_of == Size().start + dt.timedelta(days=round(6 * 30.44)) == dt.date(2025, 7, 8)
    assert Counter(expected.status_by_contract.values()) == Counter(
        on_track=5, behind=5, at_risk=6, not_started=4)
    for contract_id, (start, _) in periods(default).items():
        if expected.status_by_contract[contract_id] == "not_started":
            assert start > expected.as_of and expected.hours_by_contract[contract_id] == 0
        else:
            assert start <= expected.as_of


def test_statuses_follow_the_views_rule_on_the_generators_numbers(default):
    """From the events themselves: periods, and targets under the rulebook; the counted hours are all dated
    by as_of (test_default_programme_through_the_ledger), so that they are the hours to date."""
    expected = default.expected
    rulebook = Rulebook.from_toml(RULES.read_text())
    targets = {c["contract_id"]: rulebook.target_hours(parse_event(json.dumps(c)))
               for c in of_type(default.reference, "contract.registered")}
    assert targets == expected.targets_by_contract
    for contract_id, (start, end) in periods(default).items():
        target, done = targets[contract_id], expected.hours_by_contract[contract_id]
        assert expected.expected_to_date_by_contract[contract_id] == expected_to_date(target, start, end, expected.as_of)
        assert expected.status_by_contract[contract_id] == contract_status(start, end, target, done, expected.as_of)
    # Clear of the thresholds: hours to date / expected, for the contracts that have started.
    shares = [expected.hours_by_contract[c] / expected.expected_to_date_by_contract[c]
              for c, status in expected.status_by_contract.items() if status in ("on_track", "behind")]
    assert all(share >= Decimal("1.03") or Decimal("0.82") <= share <= Decimal("0.97") for share in shares)


def test_statuses_are_in_expected_json_and_deterministic(default):
    again = generate()
    assert again.expected.status_by_contract == default.expected.status_by_contract
    assert again.expected.targets_by_contract == default.expected.targets_by_contract
    written = json.loads(json.dumps(default.expected.as_json()))
    assert written["as_of"] == "2025-07-08"
    assert written["status_by_contract"] == default.expected.status_by_contract


@pytest.mark.parametrize("seed", range(6))
def test_other_seeds_and_sizes_state_a_status_for_every_contract(seed):
    prog = generate(seed, SMALL)
    assert set(prog.expected.status_by_contract) == set(prog.expected.hours_by_contract)
    assert set(prog.expected.status_by_contract.values()) <= {"on_track", "behind", "at_risk", "not_started"}
    assert prog.expected.status_by_contract["gpe-c004"] == "not_started"  # the fourth contract of every five


AS_OF = dt.date(2025, 6, 30)
YEAR = (dt.date(2025, 1, 1), dt.date(2025, 12, 31))  # 364 days; 180 elapsed at AS_OF


@pytest.mark.parametrize(("start", "end", "target", "done", "status"), [
    (*YEAR, "3640", "1800", "on_track"),          # exactly the expected 3,640 x 180/364 = 1,800 h
    (*YEAR, "3640", "1799.99", "behind"),         # a cent short
    (*YEAR, "3640", "1440", "behind"),            # exactly 80% of expected
    (*YEAR, "3640", "1439.99", "at_risk"),        # a cent under 80%
    (*YEAR, "3640", "0", "at_risk"),
    (AS_OF, dt.date(2026, 6, 30), "1000", "0", "on_track"),           # starts on the reference date: expected 0
    (AS_OF + dt.timedelta(days=1), dt.date(2026, 6, 30), "1000", "0", "not_started"),  # starts the day after
    (AS_OF + dt.timedelta(days=1), dt.date(2026, 6, 30), "1000", "5", "not_started"),  # whatever its hours
    (dt.date(2024, 7, 1), AS_OF, "200", "200", "on_track"),           # ends on the reference date: the target
    (dt.date(2024, 7, 1), dt.date(2025, 3, 31), "200", "160", "behind"),   # ended: 80% of the target
    (dt.date(2024, 7, 1), dt.date(2025, 9, 1), "200", "136.40", "behind"),  # 200 x 364/427 = 170.49; 80% 136.392
    (dt.date(2024, 7, 1), dt.date(2025, 9, 1), "200", "136.39", "at_risk"),
])
def test_the_status_rule_is_the_views_on_its_edges(start, end, target, done, status):
    """contract_trajectory (deploy/clickhouse/schema/005_analytics_views.sql): not_started when start_date >
    as_of; on_track when done >= expected; behind when done >= 80% of expected; at_risk otherwise.
    tests/integration/test_dashboards.py runs the same cases through the view itself."""
    assert contract_status(start, end, Decimal(target), Decimal(done), AS_OF) == status


@pytest.mark.parametrize(("start", "end", "target", "expected"), [
    (*YEAR, "3640", "1800"),
    (*YEAR, "365", "180.49"),                               # 180.4945... rounded to the cent
    (dt.date(2024, 7, 1), dt.date(2024, 9, 1), "500", "500"),  # ended: the whole target
    (AS_OF, dt.date(2026, 6, 30), "1000", "0"),            # not begun: nothing expected
    (dt.date(2024, 7, 1), dt.date(2025, 6, 1), "200", "200"),
    (dt.date(2024, 7, 1), AS_OF - dt.timedelta(days=1), "20528.60", "20528.60"),  # ended: exact (Float64 gave .59)
    (AS_OF - dt.timedelta(days=2), AS_OF + dt.timedelta(days=2), "0.01", "0.01"),  # 0.01 x 2/4 = 0.005: half up
])
def test_expected_hours_to_date_are_the_views_to_the_cent(start, end, target, expected):
    assert expected_to_date(Decimal(target), start, end, AS_OF) == Decimal(expected)


# ---------------------------------------------------------------------------------------- consistency

def test_every_event_is_valid_and_every_malformed_line_is_not(default):
    for event in default.reference + [e for e in default.activity if isinstance(e, dict)] + default.follow_up \
            + default.resolutions:
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
        len(default.lines())
    hours = defaultdict(Decimal)
    for e in distinct(timesheets(default) + of_type(default.follow_up, "timesheet.submitted")):
        hours[e["contract_id"]] += Decimal(str(e["hours"]))
    for e in of_type(default.activity, "siae.invoice"):
        hours[e["contract_id"]] += Decimal(str(e["amount_eur"])) * Decimal(str(e["labour_share"])) / 28
    # Declared hours exceed the counted ones (some are withheld or corrected down), contract by contract.
    assert all(hours[cid] >= total for cid, total in expected.hours_by_contract.items())


def test_default_programme_through_the_ledger(default):
    """The whole default programme, posted phase by phase under rules/2026.1.toml, then the pending
    timeout: the ledger's totals are the generator's, contract by contract and reason by reason."""
    ledger = Ledger(Rulebook.from_toml(RULES.read_text()))
    for _, events in default.phases:
        ledger.post_all(events)
    waiting = ledger.accounting()["pending"]
    assert waiting == default.expected.rejections_by_reason["unknown_contract"]
    ledger.later(hours=168)
    expected = default.expected
    assert {cid: ledger.counted(cid) for cid in expected.hours_by_contract} == expected.hours_by_contract
    not_counted = Counter()
    for e in ledger.entries:
        if e.status is EntryStatus.NOT_COUNTED:
            not_counted[e.reason] += e.hours
    assert not_counted == expected.not_counted_hours_by_reason
    # Every counted hour is worked by the reference date: the counted hours are the hours to date.
    assert max(e.work_date for e in ledger.entries if e.status is EntryStatus.COUNTED) <= expected.as_of
    assert ledger.net("flagged") == expected.flagged_hours
    assert ledger.accounting() == Counter(accepted=expected.accepted, rejected=expected.rejected
                                          + sum(expected.malformed_by_reason.values()))
    assert ledger.rejections() == expected.rejections_by_reason + expected.malformed_by_reason
    assert all(e.rulebook_version == "2026.1" for e in ledger.entries)


def test_every_invoice_falls_inside_its_contract_for_short_windows():
    size = Size(operations=2, contracts=5, contractors=2, partners=3, beneficiaries=8, days_per_beneficiary=6,
                months=3)
    for seed in range(40):
        prog = generate(seed, size)
        period = periods(prog)
        for invoice in of_type(prog.activity, "siae.invoice"):
            start, end = period[invoice["contract_id"]]
            assert start <= dt.date.fromisoformat(invoice["period_end"])
            assert dt.date.fromisoformat(invoice["period_start"]) <= end, (seed, invoice["contract_id"])


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
                    "eligible_from", "eligible_until", "validated_on", "derogation_reason", "birth_year", "gender"}
TIMESHEET_FIELDS = {"type", "event_id", "schema_version", "contract_id", "beneficiary_id", "work_date", "hours",
                    "mode", "siae_siret", "hire_type", "hire_date", "submitted_at"}


def test_beneficiaries_are_pseudonymous(default):
    people = enrolments(default)
    assert all(set(e) <= ENROLMENT_FIELDS for e in people)
    assert all(set(e) <= TIMESHEET_FIELDS for e in timesheets(default))
    keys = {e["beneficiary_id"] for e in people} | {e["beneficiary_id"] for e in timesheets(default)}
    assert all(PSEUDONYM.match(k) for k in keys)
    assert len({e["beneficiary_id"] for e in people}) == 370
    assert all(e["gender"] in {"F", "M", "X"} and 1940 <= e["birth_year"] <= 2015 for e in people)
    derogations = [e for e in people if "facilitator_validation" in e["criteria"]]
    assert derogations and all(e.get("derogation_reason") for e in derogations)


def test_nothing_looks_like_personal_data(default):
    events = default.reference + [e for e in default.activity if isinstance(e, dict)] + default.follow_up \
        + default.resolutions
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


def test_ownership_fields_name_the_right_parties(default):
    # The worker will refuse a retraction from another contractor's contract, a facilitator acting on
    # another facilitator's beneficiary, and a programme or contract registered by another buyer.
    owners = {e["buyer_id"] for e in of_type(default.reference, "programme.defined")
              + of_type(default.reference, "contract.registered")}
    assert owners == {"buyer-sgp"}
    by_id = {e["event_id"]: e for e in timesheets(default)}
    retractions = of_type(default.follow_up, "timesheet.retracted")
    assert retractions and all(r["contract_id"] == by_id[r["original_event_id"]]["contract_id"] for r in retractions)
    enrolled_by = {e["beneficiary_id"]: e["facilitator_id"] for e in enrolments(default)}
    acts = default.resolutions + of_type(default.follow_up, "beneficiary.outcome")
    assert {e["facilitator_id"] for e in acts} != {"fac-01"}  # not one facilitator acting for all
    assert all(e["facilitator_id"] == enrolled_by[e["beneficiary_id"]] for e in acts)


def test_every_day_of_the_programme_is_in_the_contract_range(default):
    for _, events in default.phases:
        for e in events:
            if isinstance(e, dict):
                for field, value in e.items():
                    if field.endswith(("_date", "_from", "_until", "_on", "_start", "_end", "_at")):
                        assert "2000-01-01" <= value[:10] <= "2099-12-31", (field, value)

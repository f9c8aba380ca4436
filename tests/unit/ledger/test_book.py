"""The desk's state (ledger.book): its deltas rebuild it, and a few plain-value helpers of ledger.desk."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.book import MAPS, Book, Claim, Contract, Days, Enrolment, Parked
from ledger.desk import Desk, hours_text, uuid5
from ledger.entries import LEDGER_NAMESPACE
from ledger.rulebook import Rulebook
from ledger.synthetic import Size, generate
from tests.support.kit import Ledger, encode

SMALL = Size(operations=2, contracts=5, contractors=2, partners=3, beneficiaries=8, days_per_beneficiary=6,
             months=6, malformed_lines=3, duplicate_rate=0.1, unknown_contract_rate=0.05, ineligible_rate=0.05,
             outside_contract_rate=0.05, correction_rate=0.1, retraction_rate=0.05, late_enrolment_rate=0.2)
TIMEOUT = dt.timedelta(hours=168)
TYPES = {"memos": str, "contracts": Contract, "enrolments": Enrolment, "claims": Claim, "parked": Parked}


def state(book: Book) -> dict:
    """Every map, values written out (a tuple and a list, or a Claim and a plain tuple, differ)."""
    return {name: {key: repr(value) for key, value in getattr(book, name).items()} for name in MAPS}


def check_types(book: Book) -> None:
    for name, kind in TYPES.items():
        assert all(type(v) is kind for v in getattr(book, name).values()), name
    for claim in book.claims.values():
        assert all(type(p) is tuple for p in claim.parts)
        assert claim.credited_by is None or type(claim.credited_by) is str
        assert claim.withheld is None or type(claim.withheld) is tuple
        assert claim.credited is None or type(claim.credited) is tuple
    for name in ("training", "people"):
        assert all(type(v) is tuple for v in getattr(book, name).values()), name
    # A day's only claim is kept as its id alone; two or more as a tuple, never a tuple of one.
    assert all(type(v) is str or (type(v) is tuple and len(v) != 1) for v in book.days.values()), "days"


def run(seed: int) -> tuple[Ledger, list[bytes]]:
    """A synthetic programme through the kit, its book's delta taken after every message, and the
    pending timesheets expired at the end (so that keys are removed as well as set)."""
    prog = generate(seed, SMALL)
    ledger, deltas = Ledger(), []
    for line in prog.lines():
        ledger.post(encode(line))
        delta = ledger.book.take_delta()
        if delta is not None:
            deltas.append(delta)
    ledger.tick(ledger.now + TIMEOUT)
    deltas.append(ledger.book.take_delta())
    return ledger, deltas


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1))
def test_the_deltas_of_a_run_applied_in_order_rebuild_the_book(seed):
    ledger, deltas = run(seed)
    assert ledger.book.claims and any(b"null" in d for d in deltas)  # keys set and removed
    rebuilt = Book()
    for delta in deltas:
        rebuilt.apply(delta)
    assert state(rebuilt) == state(ledger.book)
    check_types(rebuilt)
    # A delta applied twice (a state record read again) changes nothing.
    twice = Book()
    for delta in deltas:
        twice.apply(delta)
        twice.apply(delta)
    assert state(twice) == state(ledger.book)
    # Applying the deltas again over the end state changes nothing either (the last value of each key).
    for delta in deltas[-3:]:
        rebuilt.apply(delta)
    assert state(rebuilt) == state(ledger.book)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1), st.data())
def test_a_snapshot_applied_to_an_empty_book_is_the_book(seed, data):
    prog = generate(seed, SMALL)
    lines = prog.lines()
    stop = data.draw(st.integers(0, len(lines)), label="stop")
    ledger = Ledger()
    for line in lines[:stop]:
        ledger.post(encode(line))
    copy = Book()
    copy.apply(ledger.book.snapshot())
    assert state(copy) == state(ledger.book)
    check_types(copy)
    assert Book().snapshot() == Book().snapshot()
    empty = Book()
    empty.apply(Book().snapshot())
    assert state(empty) == state(Book())


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1), st.integers(200, 6000), st.randoms(use_true_random=False))
def test_deltas_cut_to_a_size_rebuild_the_book_in_any_order(seed, max_bytes, rng):
    """The worker's state records (Book.take_deltas): each at most max_bytes (a key too large alone
    is a record of its own), each changed key in exactly one, so that in any order they rebuild
    the book; taken over a run, as the commit timer does."""
    prog = generate(seed, SMALL)
    ledger, records = Ledger(), []
    lines = prog.lines()
    for n, line in enumerate(lines):
        ledger.post(encode(line))
        if n % 7 == 6 or n == len(lines) - 1:
            taken = ledger.book.take_deltas(max_bytes)
            whole = Book()
            for record in rng.sample(taken, len(taken)):
                members = json.loads(record, object_pairs_hook=list)  # repeated names kept
                keys = [(name, key) for name, changes in members for key, _ in changes]
                assert len(keys) == len(set(keys)) and keys  # no key twice (no map named twice), none empty
                assert len({name for name, _ in members}) == len(members)
                assert len(record) <= max_bytes or len(keys) == 1
                whole.apply(record)
            records.append(taken)
    assert ledger.book.take_deltas(max_bytes) == []
    rebuilt = Book()
    for taken in records:
        for record in rng.sample(taken, len(taken)):
            rebuilt.apply(record)
    assert state(rebuilt) == state(ledger.book)
    check_types(rebuilt)
    # Cut where the limit asks for it: a checkpoint's changes larger than max_bytes are several
    # records, unless they are one key alone. (Asserting that some checkpoint was cut failed when
    # hypothesis drew a limit above every checkpoint's changes: CI, 2026-12-05.)
    for taken in records:
        if sum(map(len, taken)) > max_bytes and len(taken) == 1:
            members = json.loads(taken[0], object_pairs_hook=list)
            assert sum(len(changes) for _, changes in members) == 1


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1), st.integers(1, 60), st.integers(1, 40))
def test_ids_packed_before_their_delta_is_taken_are_in_it(seed, hot_limit, every):
    """A memo or claim held whole is a change for the next delta, noted nowhere else; when more
    than `hot_limit` are held before a delta is taken (a busy second, a replay), they are packed and
    marked changed then. The deltas, taken every `every` messages, rebuild the book; and a book
    rebuilt from deltas, packing as it applies them, has no change of its own to write."""
    prog = generate(seed, SMALL)
    ledger, deltas = Ledger(), []
    ledger.book.records.hot_limit = hot_limit
    for n, line in enumerate(prog.lines()):
        ledger.post(encode(line))
        if n % every == every - 1:
            deltas += ledger.book.take_deltas(1 << 20)
    ledger.tick(ledger.now + TIMEOUT)  # ids removed too
    deltas += ledger.book.take_deltas(1 << 20)
    assert not ledger.book.changed and ledger.book.take_deltas(1 << 20) == []
    rebuilt = Book()
    rebuilt.records.hot_limit = hot_limit
    for delta in deltas:
        rebuilt.apply(delta)
    assert state(rebuilt) == state(ledger.book)
    check_types(rebuilt)
    assert not rebuilt.changed and rebuilt.take_delta() is None


def test_a_delta_applied_over_the_books_own_changes_leaves_them_changes():
    """Applied to a book with changes of its own not yet taken, a delta's values are not changes
    of that book; its own still are, memos and claims held whole among them."""
    claim = Claim("e-1", "b-1", "c-1", 739000, "direct_hire", 700, None, None, None, "2026-01-05T17:00:00Z",
                  None, (), None, None)
    book, other = Book(), Book()
    book.put_record("memos", "e-1", "o/1 d1 -")
    book.put_record("claims", "e-1", claim)
    other.put_record("memos", "e-2", "o/2 d2 -")
    other.put("people", "b-2", (739001, 739001))
    book.apply(other.take_delta())
    assert book.memos.get("e-2") == "o/2 d2 -" and book.people == {"b-2": (739001, 739001)}
    assert book.changed
    own = orjson.loads(book.take_delta())
    assert own["memos"] == {"e-1": "o/1 d1 -"} and list(own["claims"]) == ["e-1"] and "people" not in own
    assert Claim(*own["claims"]["e-1"][:11], (), None, None) == claim
    assert not book.changed


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1), st.integers(300, 6000), st.data())
def test_a_log_read_from_its_last_snapshot_rebuilds_the_book(seed, max_bytes, data):
    """The worker's state log with snapshots (Book.snapshot_parts): a snapshot's records are cut a
    few at a time, each after a checkpoint's deltas, while events go on being decided between them;
    each is cut to max_bytes like a delta. Read from the start or from any snapshot's first record,
    the log rebuilds the book."""
    prog = generate(seed, SMALL)
    ledger, log, snapshots, cutting = Ledger(), [], [], None
    lines = prog.lines()
    for n, line in enumerate(lines):
        ledger.post(encode(line))
        if n % 7 == 6:
            log += ledger.book.take_deltas(max_bytes)
            if cutting is None and data.draw(st.booleans(), label="snapshot"):
                snapshots.append(len(log))
                cutting = ledger.book.snapshot_parts(max_bytes)
            for _ in range(data.draw(st.integers(1, 3), label="records") if cutting is not None else 0):
                records = next(cutting, None)
                if records is None:
                    cutting = None
                    break
                assert all(len(r) <= max_bytes or sum(map(len, orjson.loads(r).values())) == 1 for r in records)
                log += records
    log += [record for records in cutting or () for record in records]
    log += ledger.book.take_deltas(max_bytes)
    for start in [0, *snapshots]:
        rebuilt = Book()
        for record in log[start:]:
            rebuilt.apply(record)
        assert state(rebuilt) == state(ledger.book), start
        check_types(rebuilt)


def test_a_snapshot_cut_while_the_book_changes_and_the_deltas_after_it_give_the_book():
    """What the property above draws, fixed: changes, removals and new keys between a snapshot's
    records, before and after each key's record is cut, and no delta taken among them."""
    book = Book()
    for n in range(40):
        book.put("people", f"b-{n:03d}", (n, n + 1))
        book.put_day(f"b-{n:03d}", 739000 + n, f"id-{n}")
    book.put("clock", "now", 1.0)
    book.take_deltas(1 << 20)
    parts = book.snapshot_parts(400)  # a few keys per record
    log = next(parts)  # the first part's records
    assert "b-039" not in str(orjson.loads(log[0]))
    book.put("people", "b-000", (100, 101))  # changed after its record: the next delta has it
    book.put("people", "b-039", (390, 391))  # changed before its record: the record has it
    book.drop("people", "b-038")  # removed before its record: in no record, in the delta
    book.put_day("b-039", 739500, "id-new-day")  # a day added before its person's record
    book.put("people", "b-new", (7, 8))  # made after the first record: only in the delta
    log += [record for records in parts for record in records]
    cut = {(name, key): value for record in log for name, changes in orjson.loads(record).items()
           for key, value in changes.items()}
    assert ("people", "b-038") not in cut and ("people", "b-new") not in cut
    assert cut[("people", "b-039")] == [390, 391] and cut[("days", "b-039|739500")] == "id-new-day"
    log += book.take_deltas(1 << 20)
    rebuilt = Book()
    for record in log:
        rebuilt.apply(record)
    assert state(rebuilt) == state(book)
    assert rebuilt.people["b-000"] == (100, 101) and "b-038" not in rebuilt.people


def test_a_delta_holds_the_last_value_of_each_changed_key():
    book = Book()
    assert book.take_delta() is None and not book.changed
    book.put("programmes", "gpe", "buyer-a")
    book.put("programmes", "gpe", "buyer-b")
    book.put("clock", "now", 12.5)
    book.put("people", "b-1", (1, 2))
    book.drop("people", "b-1")
    book.drop("days", "b-1|739000")
    book.drop("days", "no day key")  # nothing to remove, written as removed all the same
    delta = book.take_delta()
    assert book.take_delta() is None  # taken: nothing changed since
    other = Book()
    other.put("people", "b-1", (9,))
    other.put("days", "b-1|739000", ("x",))
    other.apply(delta)
    assert other.programmes == {"gpe": "buyer-b"} and other.clock == {"now": 12.5}
    assert other.people == {} and other.days == {}


def test_a_claim_restored_from_state_written_before_keeps_its_credit_ids(ev):
    """Claims name the event whose credits stand (the ids derive from it) since 2026-12-04; state
    written before holds the ids themselves, and a correction must still reverse those."""
    desk = Desk(Book(), Rulebook())
    sheet = ev.timesheet()
    for n, event in enumerate([ev.programme(), ev.contract(), ev.enrolment(), sheet]):
        (outcome,) = desk.decide(ev.raw(event), f"intake/0@{n}#0", 100.0)
    (credit,) = outcome.entries
    claim = desk.book.claims[sheet["event_id"]]
    assert claim.credited_by == sheet["event_id"]
    # As the state log of an older worker holds it: the tuple of the standing credits' ids.
    legacy = orjson.loads(desk.book.snapshot())
    legacy["claims"][sheet["event_id"]][12] = ["id-of-a-credit-written-before"]
    restored = Book()
    restored.apply(orjson.dumps(legacy))
    assert restored.claims[sheet["event_id"]].credited_by == ("id-of-a-credit-written-before",)
    for book, standing in ((desk.book, credit["entry_id"]), (restored, "id-of-a-credit-written-before")):
        (out,) = Desk(book, Rulebook()).decide(ev.raw(ev.retraction(sheet)), "intake/0@9#0", 100.0)
        (reversal,) = out.entries
        assert reversal["reverses_entry_id"] == standing and reversal["hours"] == "-" + credit["hours"]


def test_a_person_s_days_are_a_span_and_a_list_from_state_written_before_still_counts(ev):
    """book.people holds the (first, last) day of a person's claims; state written before held the
    list of days. A changed enrolment re-evaluates every claim in either form."""
    days = ["2024-06-03", "2024-06-05", "2024-06-07"]
    for legacy in (False, True):
        desk = Desk(Book(), Rulebook())
        reference = [ev.programme(), ev.contract(), ev.enrolment()]
        for n, event in enumerate(reference + [ev.timesheet(work_date=d) for d in days]):
            desk.decide(ev.raw(event), f"intake/0@{n}#0", 100.0)
        ordinals = [dt.date.fromisoformat(d).toordinal() for d in days]
        assert desk.book.people == {"b-3f9a1c2e7d": (ordinals[0], ordinals[-1])}
        if legacy:
            desk.book.people["b-3f9a1c2e7d"] = tuple(ordinals)
        # Eligible from the 6th now: the claims of the 3rd and the 5th stop counting.
        (out,) = desk.decide(ev.raw(ev.enrolment(eligible_from="2024-06-06")), "intake/0@8#0", 100.0)
        reversed_days = sorted(e["work_date"] for e in out.entries if e["kind"] == "reversal")
        assert reversed_days == days[:2], legacy
        desk.decide(ev.raw(ev.timesheet(work_date="2024-06-10")), "intake/0@9#0", 100.0)
        assert desk.book.people["b-3f9a1c2e7d"] == (ordinals[0], dt.date(2024, 6, 10).toordinal())


def test_a_day_s_only_claim_is_its_id_and_a_list_from_state_written_before_still_counts(ev):
    """book.days keeps a day's only claim as its id alone (a tuple of one cost 48 bytes per
    timesheet); state written before holds a list of one. Either way a second claim of the day
    meets the first (both hold its hours: flagged) and a retraction takes its claim off the day."""
    for legacy in (False, True):
        desk = Desk(Book(), Rulebook())
        first = ev.timesheet()
        for n, event in enumerate([ev.programme(), ev.contract(), ev.enrolment(), first]):
            desk.decide(ev.raw(event), f"intake/0@{n}#0", 100.0)
        (key,) = desk.book.days
        assert desk.book.days[key] == first["event_id"]
        if legacy:
            state = orjson.loads(desk.book.snapshot())
            state["days"][key] = [first["event_id"]]
            desk = Desk(Book(), Rulebook())
            desk.book.apply(orjson.dumps(state))
            assert desk.book.days[key] == (first["event_id"],)
        other = ev.timesheet(contract_id=first["contract_id"], hours=first["hours"])
        (out,) = desk.decide(ev.raw(other), "intake/0@8#0", 100.0)
        assert len(desk.book.days[key]) == 2 and other["event_id"] in desk.book.days[key], legacy
        assert out.entries and out.entries[-1]["status"] == "flagged", legacy
        desk.decide(ev.raw(ev.retraction(other)), "intake/0@9#0", 100.0)
        assert desk.book.days[key] == first["event_id"], legacy


def test_a_repeat_changes_nothing_in_the_book(ev):
    desk = Desk(Book(), Rulebook())
    for n, event in enumerate([ev.contract(), ev.enrolment(), ev.timesheet()]):
        desk.decide(ev.raw(event), f"intake/0@{n}#0", 100.0)
    desk.book.take_delta()
    assert desk.decide(ev.raw(event), "intake/0@2#0", 100.0)[0].state == "repeated"
    assert desk.book.take_delta() is None


# ------------------------------------------------------------------- the packed maps: claims and days

# Event ids as the contract has them (canonical UUIDs, packed as 16 bytes) and any other text,
# kept as it is: an upper-case UUID, one with its dashes elsewhere.
_ids = st.uuids().map(str) | st.uuids().map(lambda u: str(u).upper()) | st.text(max_size=40) | st.uuids().map(
    lambda u: str(u)[:8] + str(u)[9] + "-" + str(u)[10:])
_maybe_text = st.none() | st.text(st.characters(codec="utf-8"), max_size=20)
_parts = st.lists(st.tuples(st.integers(-2400, 2400), st.sampled_from(["counted", "not_counted", "flagged"]),
                            st.text(max_size=30), st.text(max_size=30)), max_size=3).map(tuple)
# Every field of a claim, drawn (test_every_claim_field_is_drawn: a field added to Claim and not
# to Records.packed_claim would be lost once packed, silently).
_CLAIM_FIELDS = dict(
    beneficiary_id=st.text(max_size=40), contract_id=st.text(max_size=64),
    work_date=st.integers(1, dt.date.max.toordinal()), mode=st.text(max_size=20),
    hours=st.integers(0, 2400), siae_siret=_maybe_text, hire_type=_maybe_text,
    hire_date=st.none() | st.integers(1, dt.date.max.toordinal()),
    submitted_at=st.text(st.characters(codec="utf-8"), max_size=40),
    withheld=st.none() | st.tuples(st.text(max_size=20), st.text(max_size=20)), parts=_parts,
    credited=st.none() | st.tuples(*[st.text(max_size=14)] * 4),
    credited_by=st.none() | _ids | st.lists(_ids, max_size=3).map(tuple),
    superseded_by=st.none() | _ids, resolution=st.none() | st.sampled_from(["count", "refuse"]),
)
_claims = st.builds(
    lambda event_id, own, credited_by, **fields: Claim(event_id, credited_by=event_id if own else credited_by,
                                                       **fields),
    _ids, st.booleans(), **_CLAIM_FIELDS)


def test_every_claim_field_is_drawn():
    assert set(_CLAIM_FIELDS) | {"event_id"} == set(Claim._fields)


# As Memo.of writes them, origins with a topic or without, and any other text.
_utf8 = st.characters(codec="utf-8")
_origins = st.text(_utf8, min_size=1, max_size=80) | st.from_regex(r"[a-z.-]{1,30}/\d@\d{1,9}#\d{1,3}", fullmatch=True)
_memos = st.builds(lambda origin, digest, flag: f"{origin} {digest} {flag}", _origins,
                   st.text("0123456789abcdef", min_size=20, max_size=20), st.sampled_from("r-"))
_memos |= st.text(_utf8, max_size=60)


@given(st.lists(_claims, max_size=20), st.data())
def test_memos_and_claims_read_back_as_they_were_put_whole_or_packed(claims, data):
    """Book.records packs an id's memo and claim together once their delta is taken: every field
    (a legacy credited_by, a claim crediting another event, a memo of any text) reads back equal
    and of the same types, before and after packing; memos without claims, claims without memos,
    values replaced and removed in either state included."""
    book = Book()
    expected = {"memos": {}, "claims": {}}
    for claim in claims:
        if data.draw(st.booleans(), label="memo"):
            memo = data.draw(_memos, label="memo text")
            book.memos[claim.event_id] = expected["memos"][claim.event_id] = memo
        if data.draw(st.booleans(), label="claim"):
            book.claims[claim.event_id] = expected["claims"][claim.event_id] = claim
        if data.draw(st.booleans(), label="pack"):
            book.records.pack()
    for name in ("memos", "claims"):
        held = sorted(expected[name])
        for key in data.draw(st.lists(st.sampled_from(held), max_size=3, unique=True), label=name) if held else []:
            del getattr(book, name)[key], expected[name][key]
    for packed in (False, True):
        if packed:
            book.records.pack()
        for name in ("memos", "claims"):
            held = getattr(book, name)
            assert dict(held) == expected[name] and len(held) == len(expected[name]), (name, packed)
            for key, value in expected[name].items():
                assert key in held and held.get(key) == value and held[key] == value
                assert type(held[key]) is type(value)
                assert name == "memos" or list(map(type, held[key])) == list(map(type, value))
            assert held.get("absent") is None and "absent" not in held
            with pytest.raises(KeyError):
                held["absent"]
            with pytest.raises(KeyError):
                del held["absent"]


@given(st.lists(st.tuples(_claims, _memos, st.booleans()), max_size=20, unique_by=lambda c: c[0].event_id))
def test_a_new_id_is_packed_as_its_memo_and_claim_packed_one_by_one(items):
    """Records.pack writes a new id's memo and claim in one struct call: the same bytes as its memo
    and its claim packed apart and joined (memos of any text, non-ASCII and without a prefix
    included)."""
    from ledger.book import _MEMO

    book = Book()
    for claim, memo, with_claim in items:
        book.memos[claim.event_id] = memo
        if with_claim:
            book.claims[claim.event_id] = claim
    book.records.pack()
    records = book.records
    for claim, memo, with_claim in items:
        packed = records.packed_memo(memo)
        expected = _MEMO.pack(len(packed)) + packed + (records.packed_claim(claim.event_id, claim) if with_claim else b"")
        assert records.cold[claim.event_id] == expected
    assert records.counts == {"memos": len(items), "claims": sum(with_claim for _, _, with_claim in items)}


def test_days_are_held_per_person_under_their_flat_keys():
    days = Days()
    days["b-1|739000"] = "e1"
    days.put("b-1", 739001, ("e2", "e3"))
    days.put("b-2", 739000, ())
    assert len(days) == 3 and dict(days) == {"b-1|739000": "e1", "b-1|739001": ("e2", "e3"), "b-2|739000": ()}
    assert days.of("b-1", 739000) == "e1" and days.of("b-9", 739000) is None and days.of("b-1", 1, ()) == ()
    assert "b-2|739000" in days and "b-2|739001" not in days and "no day" not in days
    assert days.get("not a day key") is None
    del days["b-1|739000"]
    days["b-1|739001"] = "e2"
    assert dict(days) == {"b-1|739001": "e2", "b-2|739000": ()} and len(days) == 2
    with pytest.raises(KeyError):
        del days["b-1|739000"]
    with pytest.raises(KeyError):
        days["not a day key"] = "e4"


# ---------------------------------------------------------------------------------- ids and hours text

@given(st.text())
def test_uuid5_is_the_standard_uuid5_in_the_ledgers_namespace(name):
    assert uuid5(name) == str(uuid.uuid5(LEDGER_NAMESPACE, name))


@pytest.mark.parametrize("hundredths, text", [
    (0, "0.00"), (1, "0.01"), (-1, "-0.01"), (-99, "-0.99"), (-100, "-1.00"), (-750, "-7.50"),
    (750, "7.50"), (2400, "24.00"), (-123456, "-1234.56"), (-5, "-0.05"),
])
def test_hours_text(hundredths, text):
    assert hours_text(hundredths) == text


@given(st.integers(-10**9, 10**9))
def test_hours_text_is_the_hundredths_in_decimal(hundredths):
    text = hours_text(hundredths)
    assert Decimal(text) == Decimal(hundredths) / 100
    assert text.split(".")[1].isdigit() and len(text.split(".")[1]) == 2
    assert text.startswith("-") == (hundredths < 0)  # never "-0.00"

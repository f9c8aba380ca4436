"""A gateway that dies between Kafka's acknowledgement and its answer (issue 11): the retry with the
same Idempotency-Key is answered promptly, and the contractor owns its timesheets."""

from __future__ import annotations

import sqlite3
import threading
import time

from tests.support.gateway import CONTRACTOR_A, Client, FakeBroker, contract, programme, retraction, timesheet

SETTINGS = dict(kafka_timeout_seconds=1, in_flight_seconds=1)  # a key in flight is stale after 1 + 5 s


class DyingBroker(FakeBroker):
    """Acknowledges, then never returns: the gateway process is as good as dead from there on."""

    def __init__(self, gate: threading.Event):
        super().__init__()
        self.gate, self.armed = gate, False

    def produce(self, lines, headers, *args, **kwargs):
        produced = super().produce(lines, headers)
        if self.armed:
            self.gate.wait()
        return produced


def _setup(tmp_path, broker=None) -> Client:
    client = Client(tmp_path, broker=broker, **SETTINGS)
    client.buyer = client.issue("buyer", "sgp")
    client.a = client.issue("contractor", CONTRACTOR_A)
    assert client.post(client.buyer, [programme(), contract("c-a")]).status_code == 202
    return client


def _restarted(tmp_path, first: Client) -> Client:
    """A new gateway process on the same stores (tokens kept)."""
    client = Client(tmp_path, **SETTINGS)
    client.a = first.a
    return client


def _in_background(call) -> threading.Thread:
    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    return thread


def _wait(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_crash_after_the_ack_leaves_the_key_in_flight_only_briefly_and_the_retry_records_ownership(tmp_path):
    gate = threading.Event()
    first = _setup(tmp_path, DyingBroker(gate))
    first.broker.armed = True
    sheet = timesheet("c-a")
    try:
        _in_background(lambda: first.post(first.a, sheet, key="payroll-1"))
        _wait(lambda: len(first.broker.sent) == 3)  # Kafka has it; the gateway never answers
        again = _restarted(tmp_path, first)
        start = time.monotonic()
        while True:
            answer = again.post(again.a, sheet, key="payroll-1")
            if answer.status_code != 409 or time.monotonic() - start > 20:
                break
            assert answer.json()["error"] == "idempotency_key_in_flight"
            time.sleep(0.5)
        assert answer.status_code == 202, answer.text
        assert time.monotonic() - start < 10  # not the 300 s it used to take
        assert [e["event_id"] for e in answer.json()["events"]] == [sheet["event_id"]]
        # Posted again (the worker counts the event id once), and now the contractor may retract it.
        assert again.post(again.a, retraction(sheet)).status_code == 202
    finally:
        gate.set()


def test_a_crash_before_the_answer_is_written_replays_the_stored_answer_at_once(tmp_path):
    gate = threading.Event()
    first = _setup(tmp_path)
    seen: dict[str, object] = {}

    def dies(point: str) -> None:
        if point == "stored":  # what is stored at that point, then the process hangs
            with sqlite3.connect(tmp_path / "gateway" / "idem.sqlite") as db:
                seen["state"] = db.execute("SELECT state, status FROM answers WHERE key = 'payroll-2'").fetchone()
            seen["owners"] = first.tokens.timesheet_owners({sheet["event_id"]})
            gate.wait()

    first.app.state.gateway.fault = dies
    sheet = timesheet("c-a")
    try:
        _in_background(lambda: first.post(first.a, sheet, key="payroll-2"))
        _wait(lambda: "owners" in seen)  # set after "state": waiting for "state" raced the next line
        assert seen["state"] == ("done", 202)
        assert seen["owners"] == {sheet["event_id"]: CONTRACTOR_A}  # recorded before the answer
        again = _restarted(tmp_path, first)
        start = time.monotonic()
        answer = again.post(again.a, sheet, key="payroll-2")
        assert answer.status_code == 202 and answer.headers["Idempotent-Replayed"] == "true"
        assert time.monotonic() - start < 2
        assert [e["event_id"] for e in answer.json()["events"]] == [sheet["event_id"]]
        assert again.broker.sent == []  # replayed, not produced again
        assert again.post(again.a, retraction(sheet)).status_code == 202
    finally:
        gate.set()

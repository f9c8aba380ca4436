"""The HTTP gateway on real parts: uvicorn on 127.0.0.1 -> Kafka -> worker -> loader -> ClickHouse.

"Nothing produced" is checked on the broker itself: the intake topic holds no new message from the
gateway (read back up to its end offsets).
"""

from __future__ import annotations

import csv
import http.client
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from kafka import KafkaConsumer, TopicPartition

from ledger.siret import with_check_digit
from streams.gateway.app import create_app, openapi_document
from streams.gateway.config import GatewaySettings
from streams.gateway.intake import Produced
from streams.gateway.server import serve_in_thread
from streams.kafka.localkafka import LocalKafka, free_port
from streams.settings import REPO_ROOT, Settings
from streams.kafka.topics import ensure_topics
from tests.integration.conftest import run_cli
from tests.integration.events import CONTRACTOR, ETTI, contract, enrolment, programme, timesheet

pytestmark = pytest.mark.integration

OTHER_CONTRACTOR = with_check_digit("5500001200001")
CSV_COLUMNS = ["type", "event_id", "schema_version", "contract_id", "beneficiary_id", "work_date", "hours", "mode",
               "siae_siret", "submitted_at"]


class Gateway:
    """A gateway served by uvicorn for one pipeline, with tokens for each party."""

    def __init__(self, url: str, app, pipeline):
        self.url, self.app, self.pipeline = url, app, pipeline
        self.tokens = app.state.gateway.tokens
        self.http = httpx.Client(base_url=url, timeout=60)
        self.buyer = self.issue("buyer", "buyer-sgp")
        self.facilitator = self.issue("facilitator", "fac-01")
        self.contractor = self.issue("contractor", CONTRACTOR)

    def issue(self, role: str, subject: str, **kwargs) -> str:
        return self.tokens.issue(role, subject, **kwargs)[1]

    def post(self, token: str | None, body, path: str = "/v1/events", content_type: str = "application/json",
             key: str | None = None) -> httpx.Response:
        headers = {"Content-Type": content_type}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if key is not None:
            headers["Idempotency-Key"] = key
        content = body if isinstance(body, (str, bytes)) else json.dumps(body)
        response = self.http.post(path, content=content, headers=headers)
        if response.status_code == 202 and response.headers.get("Idempotent-Replayed") != "true":
            self.pipeline.posted += response.json()["accepted"]
        return response

    def intake_messages(self, timeout: float = 30) -> list:
        """Every message of the intake topic up to its current end offsets."""
        cfg = self.pipeline.cfg
        consumer = KafkaConsumer(bootstrap_servers=cfg.bootstrap_servers, enable_auto_commit=False)
        try:
            parts = [TopicPartition(cfg.intake_topic, p) for p in range(cfg.partitions)]
            consumer.assign(parts)
            consumer.seek_to_beginning(*parts)
            ends = consumer.end_offsets(parts)
            found, deadline = [], time.monotonic() + timeout
            while any(consumer.position(p) < ends[p] for p in parts) and time.monotonic() < deadline:
                for records in consumer.poll(timeout_ms=500).values():
                    found.extend(r for r in records if r.offset < ends[TopicPartition(r.topic, r.partition)])
            return found
        finally:
            consumer.close()

    def intake_end(self) -> int:
        """Messages the gateway wrote to the intake topic (the broker's count, read back from it).

        Only messages with the gateway's `ledger-token` header count: a running worker also writes
        its clock ticks to the intake topic."""
        return sum(1 for m in self.intake_messages() if "ledger-token" in dict(m.headers or []))


def gateway_settings(tmp_path: Path, **overrides) -> GatewaySettings:
    values = dict(tokens=tmp_path / "gateway" / "tokens.sqlite", idempotency=tmp_path / "gateway" / "idem.sqlite",
                  kafka_timeout_seconds=10)
    values.update(overrides)
    return GatewaySettings(**values)


def _serve(pipeline, tmp_path, **overrides):
    app = create_app(pipeline.cfg, gateway_settings(tmp_path, **overrides))
    with serve_in_thread(app) as url:
        gw = Gateway(url, app, pipeline)
        yield gw
        gw.http.close()


def started(pipeline):
    pipeline.start_worker()
    pipeline.start_loader()
    return pipeline


@pytest.fixture
def gateway(pipeline_factory, tmp_path):
    """A gateway in front of a running worker and loader."""
    yield from _serve(started(pipeline_factory(start=False)), tmp_path)


@pytest.fixture
def bare_gateway(pipeline_factory, tmp_path):
    """A gateway on its own topics, with no worker: for what never reaches the worker."""
    yield from _serve(pipeline_factory(start=False), tmp_path)


def reference(gw: Gateway, *contracts: dict, beneficiaries=("b-0000000001",), wait: bool = True) -> None:
    """The buyer registers the programme and contracts, the facilitator enrols (then all accounted)."""
    assert gw.post(gw.buyer, [programme(), *contracts], "/v1/batches").status_code == 202
    for key in beneficiaries:
        assert gw.post(gw.facilitator, enrolment(key)).status_code == 202
    if wait:
        gw.pipeline.wait_accounted()


def hours(pipeline) -> dict[str, Decimal]:
    return {r["contract_id"]: r["hours"] for r in pipeline.store.rows("hours_by_contract")}


def csv_text(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k, "") for k in CSV_COLUMNS})
    return out.getvalue()


# --- the tests the issue lists ----------------------------------------------------------------------

def test_authorised_posts_in_every_format_are_counted_with_their_provenance(gateway):
    reference(gateway, contract("c-gw"))
    single = gateway.post(gateway.contractor, timesheet("c-gw", "b-0000000001", "2024-03-04", 7.5))
    assert single.status_code == 202, single.text
    ack = single.json()
    assert ack["accepted"] == 1 and ack["events"][0]["type"] == "timesheet.submitted"
    assert ack["events"][0]["offset"] >= 0 and 0 <= ack["events"][0]["partition"] < gateway.pipeline.cfg.partitions

    array = [timesheet("c-gw", "b-0000000001", "2024-03-05", 8), timesheet("c-gw", "b-0000000001", "2024-03-06", 6)]
    assert gateway.post(gateway.contractor, array, "/v1/batches").json()["accepted"] == 2
    lines = "\n".join(json.dumps(timesheet("c-gw", "b-0000000001", f"2024-03-{d:02d}", 7)) for d in (7, 8)) + "\n"
    assert gateway.post(gateway.contractor, lines, "/v1/batches", "application/x-ndjson").status_code == 202
    rows = [timesheet("c-gw", "b-0000000001", "2024-03-11", 5, mode="temp_agency_etti", siae_siret=ETTI),
            timesheet("c-gw", "b-0000000001", "2024-03-12", 4.5)]
    answer = gateway.post(gateway.contractor, csv_text(rows), "/v1/batches", "text/csv")
    assert answer.status_code == 202, answer.text
    assert [e["line"] for e in answer.json()["events"]] == [2, 3]  # the CSV header is line 1

    accounting = gateway.pipeline.wait_accounted()
    assert hours(gateway.pipeline) == {"c-gw": Decimal("45.00")}
    assert accounting["accepted"] == 3 + 7 and accounting["rejected"] == 0

    # Provenance: the token and the principal travel as Kafka headers (read up to today's end
    # offsets: the worker may write its own messages to the intake topic too).
    principals = {dict(m.headers).get("ledger-principal") for m in gateway.intake_messages()} - {None}
    assert principals == {b"buyer:buyer-sgp", b"facilitator:fac-01", f"contractor:{CONTRACTOR}".encode()}


def test_foreign_contract_is_403_and_nothing_reaches_kafka(bare_gateway):
    gateway = bare_gateway
    reference(gateway, contract("c-mine"), contract("c-theirs", contractor_siret=OTHER_CONTRACTOR), wait=False)
    before = gateway.intake_end()

    alone = gateway.post(gateway.contractor, timesheet("c-theirs", "b-0000000001", "2024-03-04"))
    assert alone.status_code == 403
    assert alone.json()["errors"] == [{"line": 1, "field": "contract_id", "reason": "contract_not_held",
                                       "message": f"contract c-theirs is not held by SIRET {CONTRACTOR}"}]
    mixed = [timesheet("c-mine", "b-0000000001", "2024-03-04"), timesheet("c-theirs", "b-0000000001", "2024-03-05"),
             timesheet("c-unknown", "b-0000000001", "2024-03-06")]
    refused = gateway.post(gateway.contractor, mixed, "/v1/batches")
    assert refused.status_code == 403
    assert [(e["line"], e["field"]) for e in refused.json()["errors"]] == [(2, "contract_id"), (3, "contract_id")]
    # Wrong role, or another facilitator's id: 403 too.
    assert gateway.post(gateway.contractor, contract("c-new")).json()["errors"][0]["reason"] == "forbidden_event_type"
    other = dict(enrolment("b-0000000002"), facilitator_id="fac-99")
    assert gateway.post(gateway.facilitator, other).json()["errors"][0]["field"] == "facilitator_id"
    assert gateway.post(gateway.buyer, timesheet("c-mine", "b-0000000001", "2024-03-04")).status_code == 403
    assert gateway.intake_end() == before

    # --contracts grants a contract the gateway did not see registered.
    granted = gateway.issue("contractor", CONTRACTOR, contracts=["c-theirs"])
    assert gateway.post(granted, timesheet("c-theirs", "b-0000000001", "2024-03-04")).status_code == 202
    assert gateway.intake_end() == before + 1


def test_missing_unknown_or_revoked_token_is_401(bare_gateway):
    gateway = bare_gateway
    before = gateway.intake_end()
    event = timesheet("c-gw", "b-0000000001", "2024-03-04")
    missing = gateway.post(None, event)
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert missing.json()["error"] == "unauthenticated"
    assert gateway.post("ldg_000000000000_" + "x" * 43, event).status_code == 401
    assert gateway.post(gateway.contractor[:-1] + ("A" if gateway.contractor[-1] != "A" else "B"), event).status_code == 401
    token_id = gateway.contractor.split("_")[1]
    assert gateway.tokens.revoke(token_id)
    assert gateway.post(gateway.contractor, event).status_code == 401
    assert gateway.post(None, [event], "/v1/batches").status_code == 401
    assert gateway.intake_end() == before


def test_idempotent_retry_is_answered_again_and_counted_once(gateway):
    reference(gateway, contract("c-idem"))
    before = gateway.intake_end()
    batch = [timesheet("c-idem", "b-0000000001", f"2024-04-{d:02d}", 7) for d in (1, 2, 3)]
    body = json.dumps(batch)
    first = gateway.post(gateway.contractor, body, "/v1/batches", key="payroll-2024-04-03")
    again = gateway.post(gateway.contractor, body, "/v1/batches", key="payroll-2024-04-03")
    assert first.status_code == again.status_code == 202
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert gateway.intake_end() == before + 3
    # Without the key, the same events again reach Kafka, and the worker's event_id dedup keeps the count.
    assert gateway.post(gateway.contractor, body, "/v1/batches").status_code == 202
    accounting = gateway.pipeline.wait_accounted()
    assert hours(gateway.pipeline) == {"c-idem": Decimal("21.00")}
    assert accounting["duplicates"] == 3


def test_same_key_with_another_body_is_409(bare_gateway):
    gateway = bare_gateway
    reference(gateway, contract("c-409"), wait=False)
    first = timesheet("c-409", "b-0000000001", "2024-04-01", 7)
    assert gateway.post(gateway.contractor, first, key="k-1").status_code == 202
    before = gateway.intake_end()
    conflict = gateway.post(gateway.contractor, dict(first, hours=8), key="k-1")
    assert conflict.status_code == 409 and conflict.json()["error"] == "idempotency_key_reused"
    # Keys belong to a token: another token may use the same key.
    other = gateway.issue("contractor", CONTRACTOR)
    assert gateway.post(other, timesheet("c-409", "b-0000000001", "2024-04-02", 8), key="k-1").status_code == 202
    assert gateway.intake_end() == before + 1


def test_malformed_csv_line_is_reported_by_number_and_the_whole_batch_refused(gateway):
    reference(gateway, contract("c-csv"))
    before = gateway.intake_end()
    rows = [timesheet("c-csv", "b-0000000001", f"2024-02-{d:02d}", 7.5) for d in (5, 6, 7, 8)]
    rows[1] = dict(rows[1], hours="25")
    rows[3] = dict(rows[3], work_date="08/02/2024")
    refused = gateway.post(gateway.contractor, csv_text(rows), "/v1/batches", "text/csv")
    assert refused.status_code == 422
    body = refused.json()
    assert body["error"] == "invalid_events" and "nothing was posted" in body["message"]
    assert [(e["line"], e["field"]) for e in body["errors"]] == [(3, "hours"), (5, "work_date")]
    assert body["errors"][0]["message"] == "Input should be less than or equal to 24"
    assert gateway.intake_end() == before  # the two valid lines were refused with the batch

    fixed = [dict(rows[1], hours=7.5), dict(rows[3], work_date="2024-02-08")]
    assert gateway.post(gateway.contractor, csv_text([rows[0], fixed[0], rows[2], fixed[1]]), "/v1/batches",
                        "text/csv").status_code == 202
    gateway.pipeline.wait_accounted()
    assert hours(gateway.pipeline) == {"c-csv": Decimal("30.00")}


# --- limits, errors, operations ---------------------------------------------------------------------

def test_limits_and_malformed_bodies_are_clear_4xx(pipeline_factory, tmp_path):
    pipeline = pipeline_factory(start=False)
    app = create_app(pipeline.cfg, gateway_settings(tmp_path, max_request_bytes=4000, max_batch_lines=3))
    with serve_in_thread(app) as url:
        gw = Gateway(url, app, pipeline)
        before = gw.intake_end()
        sheets = [timesheet("c-x", "b-0000000001", f"2024-01-{d:02d}") for d in range(1, 5)]
        assert gw.post(gw.contractor, sheets, "/v1/batches").json()["error"] == "too_many_lines"
        big = [dict(s, contract_id="c-" + "x" * 60) for s in sheets[:1]] * 20
        too_large = gw.post(gw.contractor, big, "/v1/batches")
        assert too_large.status_code == 413 and too_large.json()["error"] == "request_too_large"
        assert gw.post(gw.contractor, "x", content_type="text/plain").status_code == 415
        assert gw.post(gw.contractor, "a,b", "/v1/batches", content_type="text/xml").status_code == 415
        assert gw.post(gw.contractor, "{", content_type="application/json").json()["error"] == "invalid_json"
        assert gw.post(gw.contractor, b"\xff\xfe", "/v1/batches", "text/csv").json()["error"] == "not_utf8"
        assert gw.post(gw.contractor, sheets[0], "/v1/batches").json()["error"] == "not_a_batch"
        assert gw.post(gw.contractor, "[]", "/v1/batches").json()["error"] == "empty_batch"
        jsonl = gw.post(gw.contractor, json.dumps(sheets[0]) + "\n{oops\n", "/v1/batches", "application/x-ndjson")
        assert jsonl.status_code == 422 and jsonl.json()["errors"][0]["line"] == 2
        assert jsonl.json()["errors"][0]["reason"] == "invalid_json"
        bad_key = gw.post(gw.contractor, sheets[0], key="with space")
        assert bad_key.status_code == 400 and bad_key.json()["errors"][0]["field"] == "Idempotency-Key"
        assert gw.intake_end() == before
        gw.http.close()


def test_kafka_unreachable_is_503_with_retry_after_and_not_ready(tmp_path):
    cfg = Settings(kafka_dsn=f"kafka://127.0.0.1:{free_port()}", topic_prefix="nowhere")
    app = create_app(cfg, gateway_settings(tmp_path, kafka_timeout_seconds=2, retry_after_seconds=7))
    token = app.state.gateway.tokens.issue("buyer", "buyer-sgp")[1]
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        answer = http.post("/v1/events", json=contract("c-1"), headers={
            "Authorization": f"Bearer {token}", "Idempotency-Key": "retry-me"})
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "7"
        assert answer.json()["error"] == "kafka_unavailable" and "Nothing was posted" in answer.json()["message"]
        # A 503 is not kept for the key: the retry runs again (and fails again, here).
        assert http.post("/v1/events", json=contract("c-1"), headers={
            "Authorization": f"Bearer {token}", "Idempotency-Key": "retry-me"}).status_code == 503
        assert http.get("/healthz").status_code == 200
        assert http.get("/readyz").status_code == 503
        text = http.get("/metrics").text
        assert 'ledger_gateway_requests_total{method="POST",route="/v1/events",status="503"}' in text


def _open_after(sock: socket.socket, seconds: float) -> bool:
    """Whether the server still holds the connection `seconds` after its last answer."""
    time.sleep(seconds)
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) != b""  # b"": the server closed it
    except BlockingIOError:
        return True  # nothing to read and not closed
    except ConnectionResetError:
        return False
    finally:
        sock.setblocking(True)


def test_idle_connections_are_kept_as_configured_and_longer_than_a_clients(tmp_path):
    """A server that closes an idle connection when the client reuses it resets that request (CI saw
    httpx's `Connection reset by peer`: httpx and uvicorn both default to 5 s). The gateway keeps idle
    connections for `keep_alive_seconds`, longer than httpx's and load balancers' idle timeouts."""
    assert GatewaySettings().keep_alive_seconds > max(60, httpx.Limits().keepalive_expiry)
    cfg = Settings(kafka_dsn=f"kafka://127.0.0.1:{free_port()}", topic_prefix="nowhere")
    app = create_app(cfg, gateway_settings(tmp_path, keep_alive_seconds=2))
    with serve_in_thread(app) as url:
        connection = http.client.HTTPConnection(url.removeprefix("http://"), timeout=10)
        connection.request("GET", "/healthz")
        answer = connection.getresponse()
        assert answer.status == 200 and json.loads(answer.read()) == {"status": "ok", "detail": None}
        assert _open_after(connection.sock, 1)
        assert not _open_after(connection.sock, 2.5)
        connection.close()


def test_a_frozen_broker_bounds_every_wait_and_healthz_answers_at_once(tmp_path):
    """A broker that stops answering (SIGSTOP: connections stay open, nothing comes back) costs each
    of many concurrent posts at most the documented deadline, and /healthz answers at once even with
    every request thread waiting on Kafka. A broker of the test's own: the shared one is not frozen."""
    base = Settings()
    broker = LocalKafka(tmp_path / "kafka", base.kafka_version, base.kafka_cache)
    cfg = Settings(kafka_dsn=broker.start(), topic_prefix="frozen", partitions=1)
    timeout, margin, posts = 4.0, 1.5, 45  # 45 > the 40 request threads
    try:
        ensure_topics(cfg)
        app = create_app(cfg, gateway_settings(tmp_path, kafka_timeout_seconds=timeout))
        token = app.state.gateway.tokens.issue("buyer", "buyer-sgp")[1]
        headers = {"Authorization": f"Bearer {token}"}
        with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=120,
                                                        limits=httpx.Limits(max_connections=200)) as http:
            assert http.post("/v1/events", json=programme(), headers=headers).status_code == 202  # connected

            def post(n: int) -> tuple[int, float, str]:
                start = time.monotonic()
                answer = http.post("/v1/events", json=contract(f"c-{n}"), headers=headers)
                return answer.status_code, time.monotonic() - start, answer.text

            os.kill(broker.pid(), signal.SIGSTOP)
            try:
                with ThreadPoolExecutor(posts) as pool:
                    running = [pool.submit(post, n) for n in range(posts)]
                    time.sleep(1.0)  # every post is in, waiting on Kafka
                    start = time.monotonic()
                    health = http.get("/healthz")
                    health_seconds = time.monotonic() - start
                    start = time.monotonic()
                    ready = http.get("/readyz")
                    ready_seconds = time.monotonic() - start
                    answers = [f.result() for f in running]
            finally:
                os.kill(broker.pid(), signal.SIGCONT)
            assert health.status_code == 200 and health_seconds < 1.0, health_seconds
            assert ready.status_code == 503 and ready_seconds < timeout + margin, ready_seconds
            assert [status for status, _, _ in answers] == [503] * posts, \
                [(status, round(seconds, 2), text) for status, seconds, text in answers if status != 503]
            slowest = max(seconds for _, seconds, _ in answers)
            assert slowest < timeout + margin, sorted(round(s, 1) for _, s, _ in answers)

            # The broker back: the gateway posts again without a restart.
            deadline = time.monotonic() + 60
            while (status := post(999)[0]) != 202 and time.monotonic() < deadline:
                time.sleep(1)
            assert status == 202
    finally:
        broker.stop()


class _HalfBroker:
    """A producer whose broker fails in the middle of a batch: the first event is written, not the rest."""

    def check(self, timeout=None) -> None:
        pass

    def produce(self, lines, headers, deadline=None) -> Produced:
        return Produced(acknowledged=[(lines[0], 0, 41)], failed=[(line, "broker went away") for line in lines[1:]])

    def close(self) -> None:
        pass


def test_a_batch_cut_by_a_broker_failure_says_exactly_which_events_were_written(tmp_path):
    app = create_app(Settings(), gateway_settings(tmp_path), producer=_HalfBroker())
    token = app.state.gateway.tokens.issue("buyer", "buyer-sgp")[1]
    events = [contract("c-1"), contract("c-2"), contract("c-3")]
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        answer = http.post("/v1/batches", json=events, headers={"Authorization": f"Bearer {token}",
                                                                "Idempotency-Key": "half"})
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "10"
    body = answer.json()
    assert [(e["line"], e["event_id"], e["offset"]) for e in body["acknowledged"]] == [(1, events[0]["event_id"], 41)]
    assert [(e["line"], e["event_id"]) for e in body["failed"]] == [(2, events[1]["event_id"]),
                                                                   (3, events[2]["event_id"])]
    assert "acknowledged 1 of 3" in body["message"] and "counts each event once" in body["message"]
    # The acknowledged registration is known to the gateway; the failed ones are not.
    assert set(app.state.gateway.tokens.holders({"c-1", "c-2"})) == {"c-1"}


def test_health_readiness_and_metrics(bare_gateway):
    gateway = bare_gateway
    assert gateway.http.get("/healthz").json() == {"status": "ok", "detail": None}
    assert gateway.http.get("/readyz").json()["status"] == "ready"
    reference(gateway, contract("c-m"), wait=False)
    gateway.post(None, timesheet("c-m", "b-0000000001", "2024-03-04"))
    text = gateway.http.get("/metrics").text
    assert re.search(r'ledger_gateway_events_produced_total\{type="contract.registered"\} [1-9]', text)
    assert 'ledger_gateway_requests_total{method="POST",route="/v1/events",status="401"}' in text
    assert 'ledger_gateway_request_seconds_bucket{le="0.5",route="/v1/batches"}' in text


def test_committed_openapi_document_is_the_one_the_app_serves(bare_gateway):
    gateway = bare_gateway
    committed = json.loads((REPO_ROOT / "openapi.json").read_text())
    assert committed == openapi_document(), "openapi.json is stale: run `ledger openapi`"
    assert gateway.http.get("/openapi.json").json() == committed
    batch_body = committed["paths"]["/v1/batches"]["post"]["requestBody"]["content"]
    assert set(batch_body) == {"application/json", "application/x-ndjson", "text/csv"}


def test_token_commands_issue_list_and_revoke(tmp_path):
    env = dict(os.environ, LEDGER_GATEWAY_TOKENS=str(tmp_path / "tokens.sqlite"))
    issued = run_cli("token", "issue", "--contractor", CONTRACTOR, "--contracts", "c-1,c-2", "--json", env=env)
    assert issued.returncode == 0, issued.stderr
    token = json.loads(issued.stdout)
    assert token["token"].startswith(f"ldg_{token['id']}_") and token["contracts"] == ["c-1", "c-2"]
    assert run_cli("token", "issue", "--contractor", "12345678901234", env=env).returncode == 2  # not a SIRET
    listed = run_cli("token", "list", "--json", env=env)
    assert [(t["id"], t["role"], t["revoked_at"]) for t in json.loads(listed.stdout)] == [(token["id"], "contractor", None)]
    assert token["token"].split("_", 2)[2] not in (tmp_path / "tokens.sqlite").read_bytes().decode("latin-1")
    assert run_cli("token", "revoke", token["id"], env=env).returncode == 0
    assert run_cli("token", "revoke", token["id"], env=env).returncode == 1


# --- the documented curl examples, run as written ---------------------------------------------------

def curl_examples() -> list[str]:
    text = (REPO_ROOT / "docs" / "gateway.md").read_text()
    blocks = re.findall(r"<!-- curl-example:start -->\s*```sh\n(.*?)```\s*<!-- curl-example:end -->", text, re.S)
    assert blocks, "docs/gateway.md has no curl example"
    return blocks


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_documented_curl_examples_post_hours_that_are_counted(gateway, tmp_path):
    examples = curl_examples()
    # What the examples assume: contract gpe-c001 held by the contractor, b-3f9a1c2e7d enrolled.
    reference(gateway, contract("gpe-c001", start_date="2024-06-01", end_date="2027-12-31"),
              beneficiaries=("b-3f9a1c2e7d",))
    env = dict(os.environ, LEDGER_GATEWAY_URL=gateway.url, LEDGER_TOKEN=gateway.contractor)
    posted = 0
    for example in examples:
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", example], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        answer = json.loads(done.stdout)
        assert answer["accepted"] >= 1
        posted += answer["accepted"]
    gateway.pipeline.posted += posted
    gateway.pipeline.wait_accounted()
    assert hours(gateway.pipeline) == {"gpe-c001": Decimal("22.50")}
    # Run again, the same commands are idempotent: the first answers come back, nothing new is posted.
    again = subprocess.run(["bash", "-euo", "pipefail", "-c", examples[0].rstrip() + " -D -"], env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=60)
    assert "Idempotent-Replayed: true" in again.stdout.replace("idempotent-replayed", "Idempotent-Replayed")


@pytest.mark.slow
def test_the_simulator_posts_a_synthetic_programme_through_the_gateway_and_the_hours_match(gateway):
    from streams.demo import programme
    from streams.gateway.simulator import simulate

    def phase_accounted(accepted: int) -> None:
        gateway.pipeline.posted = accepted
        gateway.pipeline.wait_accounted(timeout=180)

    summary = simulate(gateway.url, gateway.tokens, seed=11, beneficiaries=12, batch=200,
                       between_phases=phase_accounted)
    prog = programme(11, 12)
    accounting = gateway.pipeline.wait_settled(timeout=180)
    assert hours(gateway.pipeline) == {c: h for c, h in prog.expected.hours_by_contract.items() if h}
    assert accounting["hours"] == prog.expected.total_hours == Decimal(summary.expected_hours)
    # Malformed lines are refused at the door (422), timesheets on an unregistered contract too (403).
    malformed = sum(1 for _, events in prog.phases for e in events if not isinstance(e, dict))
    assert summary.refused[422] == malformed
    assert summary.refused.get(403, 0) == prog.expected.rejections_by_reason["unknown_contract"]
    assert not any(t["revoked_at"] is None for t in gateway.tokens.list() if t["label"] == "simulator")

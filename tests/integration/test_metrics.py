"""Prometheus metrics, read the way Prometheus reads them: a running worker's /metrics endpoint, scraped
over HTTP, and the loader's (which runs in this process) from its registry, served and scraped too."""

from __future__ import annotations

import socket
import time
import urllib.request

import pytest
from prometheus_client import REGISTRY, start_http_server
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.events import ETTI, contract, enrolment, timesheet
from tests.integration.test_audit import started

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    """Every sample of http://127.0.0.1:PORT/metrics: (name, sorted labels) -> value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        if family.name.startswith("ledger_"):
            # Prometheus conventions: a counter's samples end in _total, a duration is in seconds.
            if family.type == "counter":
                assert all(s.name.endswith(("_total", "_created")) for s in family.samples), family.name
            assert "latency" not in family.name and "_ms" not in family.name, family.name
            assert family.documentation, family.name
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def registry_samples() -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for family in REGISTRY.collect() for s in family.samples}


def delta(after: dict, before: dict, name: str, **labels) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_worker_endpoint_and_loader_metrics_count_exactly_what_was_posted(pipeline_factory):
    port = free_port()
    loader_before = registry_samples()  # the loader's metrics live in this process, shared by earlier tests
    pipeline = started(pipeline_factory, metrics_port=port)  # the worker serves /metrics on PORT

    pipeline.post(contract("c-m1"), contract("c-m2", operation_id="L16"), enrolment("b-0000000071"),
                  enrolment("b-0000000072"))
    pipeline.wait_accounted()  # the contracts decided (and learned by every partition) before the work
    sheets = [timesheet("c-m1", "b-0000000071", "2024-03-04", 7.5), timesheet("c-m1", "b-0000000071", "2024-03-05", 8),
              timesheet("c-m2", "b-0000000072", "2024-03-04", 6.25, mode="temp_agency_etti", siae_siret=ETTI)]
    pipeline.post(*sheets, dict(sheets[0]), dict(sheets[1]), '{"not json', dict(sheets[2], hours="seven"))
    accounting = pipeline.wait_accounted()
    assert (accounting["accepted"], accounting["rejected"]) == (7, 4)

    # The worker: its own process, scraped over HTTP like Prometheus does (its counters are updated
    # right after its sends, so wait for the last one rather than sleep).
    deadline = time.monotonic() + 30
    while True:
        worker = scrape(port)
        if worker.get(("ledger_events_received_total", ()), 0) >= 11 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert worker[("ledger_events_received_total", ())] == 11
    assert worker[("ledger_events_rejected_total", (("reason", "duplicate_event"),))] == 2
    assert worker[("ledger_events_rejected_total", (("reason", "invalid_json"),))] == 1
    assert worker[("ledger_events_rejected_total", (("reason", "invalid_event"),))] == 1
    assert sum(v for (name, _), v in worker.items() if name == "ledger_events_rejected_total") == 4
    assert worker[("ledger_events_accepted_total", (("type", "contract.registered"),))] == 2
    assert worker[("ledger_events_accepted_total", (("type", "beneficiary.enrolled"),))] == 2
    assert worker[("ledger_events_accepted_total", (("type", "timesheet.submitted"),))] == 3
    assert worker[("ledger_hours_attributed_total", ())] == 7.5 + 8 + 6.25
    assert worker[("ledger_intake_delay_seconds_count", ())] >= 1  # intake messages (and the worker's ticks)
    assert sum(v for (name, _), v in worker.items() if name == "ledger_events_pending_total") == 0

    # The loader: in this process. Its records are written before the accounting above could see them.
    pipeline.stop_loader()
    loader = registry_samples()
    assert delta(loader, loader_before, "ledger_loader_records_total", table="ledger_entries") == 3
    assert delta(loader, loader_before, "ledger_loader_records_total", table="contract_registrations") == 2
    assert delta(loader, loader_before, "ledger_loader_records_total", table="beneficiary_enrolments") == 2
    assert delta(loader, loader_before, "ledger_loader_records_total", table="rejections") == 4
    writes = delta(loader, loader_before, "ledger_loader_batch_records_count")
    assert writes >= 1
    assert delta(loader, loader_before, "ledger_loader_batch_records_sum") == 11
    assert delta(loader, loader_before, "ledger_loader_write_seconds_count") == writes
    assert delta(loader, loader_before, "ledger_freshness_seconds_count") == writes
    assert delta(loader, loader_before, "ledger_loader_write_failures_total") == 0

    # And over HTTP, as `ledger loader` serves them with LEDGER_METRICS_PORT.
    loader_port = free_port()
    server, thread = start_http_server(loader_port, addr="127.0.0.1")
    try:
        served = scrape(loader_port)
    finally:
        server.shutdown()
        thread.join(timeout=5)
    assert served[("ledger_loader_records_total", (("table", "rejections"),))] == \
        loader[("ledger_loader_records_total", (("table", "rejections"),))]

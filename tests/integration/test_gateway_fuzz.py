"""Property-based fuzz of the gateway from its own OpenAPI document (schemathesis): no 5xx, no crash.

The gateway runs on uvicorn on 127.0.0.1 in front of the real broker (its own topics). Calls carry
a valid token of each role in turn, so that generated events get past authentication and reach
validation, authorization and Kafka; schemathesis also sends what the schema does not allow.
Examples are bounded so that the whole module runs in well under a minute.
"""

from __future__ import annotations

import itertools
import os
import time

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from streams.gateway.app import create_app, openapi_document
from streams.gateway.config import GatewaySettings
from streams.gateway.server import serve_in_thread
from streams.settings import Settings
from streams.kafka.topics import ensure_topics
from tests.integration.events import CONTRACTOR

pytestmark = pytest.mark.integration

# JSON Lines is text on the wire; CSV already goes as text.
schemathesis.serializer.alias("application/x-ndjson", "text/plain")

MAX_EXAMPLES = int(os.environ.get("LEDGER_FUZZ_EXAMPLES", "60"))
CHECKS = (not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance)


@pytest.fixture(scope="module")
def fuzzed_gateway(kafka_dsn, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    name = f"fuzz-{os.getpid()}-{int(time.time())}"
    cfg = Settings(kafka_dsn=kafka_dsn, topic_prefix=name)
    ensure_topics(cfg)
    app = create_app(cfg, GatewaySettings(tokens=tmp / "tokens.sqlite", idempotency=tmp / "idem.sqlite",
                                          kafka_timeout_seconds=10, max_batch_lines=50, max_request_bytes=64_000))
    tokens = app.state.gateway.tokens
    # The contractor holds contracts the generator is likely to name, and any registered by the buyer.
    issued = [tokens.issue("buyer", "fuzz-buyer")[1], tokens.issue("facilitator", "fac-01")[1],
              tokens.issue("contractor", CONTRACTOR, contracts=["0", "A", "a", "c-1"])[1]]
    with serve_in_thread(app) as url:
        yield url, itertools.cycle(issued), answered(), _Subjects(tokens)


class _Subjects:
    """A token of the buyer or facilitator a generated event names (`buyer_id`, `facilitator_id`), so
    that such events get past the check that a party posts under its own id."""

    def __init__(self, tokens):
        self.tokens, self.issued = tokens, {}

    def token_for(self, body) -> str | None:
        event = body[0] if isinstance(body, list) and body else body
        if not isinstance(event, dict):
            return None
        for field, role in (("buyer_id", "buyer"), ("facilitator_id", "facilitator")):
            subject = event.get(field)
            if isinstance(subject, str) and (role, subject) not in self.issued:
                try:
                    self.issued[(role, subject)] = self.tokens.issue(role, subject)[1]
                except ValueError:  # not a valid identifier: any token will do
                    continue
            if (role, subject) in self.issued:
                return self.issued[(role, subject)]
        return None


def answered() -> dict[tuple[str, str], float]:
    """Requests answered so far in this process, by (route, status), from the gateway's metrics."""
    from streams.gateway import metrics

    return {(s.labels["route"], s.labels["status"]): s.value for m in metrics.REGISTRY.collect()
            if m.name == "ledger_gateway_requests" for s in m.samples if s.name.endswith("_total")}


# Loaded from the application itself (the same document as openapi.json and GET /openapi.json).
schema = schemathesis.openapi.from_dict(openapi_document())
# Hypothesis' generation (valid and invalid bodies and headers), bounded; no exhaustive coverage phase.
schema.config.phases.update(phases=["examples", "fuzzing"])


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_no_server_error_and_answers_as_documented(case, fuzzed_gateway):
    url, tokens, _, subjects = fuzzed_gateway
    # A real token of each role in turn, or the one of the buyer or facilitator the event names:
    # requests without one stop at 401 (tested in test_gateway.py).
    token = subjects.token_for(case.body) or next(tokens)
    headers = dict(case.headers or {}, Authorization=f"Bearer {token}")
    case.call_and_validate(base_url=url, headers=headers, checks=list(CHECKS), timeout=30)


def test_the_fuzz_got_past_authentication_to_validation_and_kafka(fuzzed_gateway):
    """The generated requests are not all refused at the door: some reached Kafka, some validation."""
    before = fuzzed_gateway[2]
    during = {key: n - before.get(key, 0) for key, n in answered().items() if n > before.get(key, 0)}
    statuses = {status for _, status in during}
    assert not any(status.startswith("5") for status in statuses), during
    assert {"202", "403", "422"} <= statuses, during

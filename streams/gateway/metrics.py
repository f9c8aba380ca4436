"""Prometheus metrics of the gateway, in a registry of their own, served on GET /metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import CONTENT_TYPE_LATEST  # noqa: F401  (re-exported for the app)

REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter("ledger_gateway_requests_total", "HTTP requests, by route, method and status",
                   ["route", "method", "status"], registry=REGISTRY)
LATENCY = Histogram("ledger_gateway_request_seconds", "From request to answer, by route", ["route"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=REGISTRY)
EVENTS_PRODUCED = Counter("ledger_gateway_events_produced_total",
                          "Events Kafka acknowledged, by event type", ["type"], registry=REGISTRY)
EVENTS_REFUSED = Counter("ledger_gateway_events_refused_total",
                         "Errors (line and field) in refused requests, by reason; nothing of such a request is "
                         "produced",
                         ["reason"], registry=REGISTRY)
IDEMPOTENT_REPLAYS = Counter("ledger_gateway_idempotent_replays_total",
                             "Answers replayed for a repeated Idempotency-Key", registry=REGISTRY)
KAFKA_FAILURES = Counter("ledger_gateway_kafka_failures_total",
                         "Requests answered 503 because Kafka did not answer or acknowledge", registry=REGISTRY)


def exposition() -> bytes:
    return generate_latest(REGISTRY)

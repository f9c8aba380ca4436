"""The ingestion gateway: FastAPI, in front of the intake topic.

    POST /v1/events    one event (application/json)
    POST /v1/batches   a JSON array (application/json), JSONL (application/x-ndjson) or CSV (text/csv)
    GET  /healthz      liveness          GET /readyz   Kafka answers and the intake topic exists
    GET  /metrics      Prometheus        GET /openapi.json, /docs

A request is answered 202 only once Kafka acknowledged every event of it (acks=all). A batch is
all or nothing: if one line is invalid (422) or not the caller's to post (403), the whole batch is
refused, each refused line is named with its field, and nothing is produced. See docs/gateway.md.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Annotated, Any, Callable

from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, TypeAdapter
from starlette.concurrency import run_in_threadpool

from ledger.events import Event
from streams.gateway import metrics
from streams.gateway.auth import Principal, TokenStore
from streams.gateway.config import GatewaySettings
from streams.gateway.idempotency import KEY_PATTERN, IdempotencyStore, Outcome, fingerprint
from streams.gateway.intake import IntakeProducer, KafkaUnavailable
from streams.gateway.parsing import BATCH_TYPES, CSV, JSON, NDJSON, BodyError, Line, LineError, media_type, parse
from streams.gateway.scope import authorize, remember, taken_errors
from streams.settings import Settings, settings

log = logging.getLogger(__name__)

API_VERSION = "1.0.0"
REPLAYED_HEADER = "Idempotent-Replayed"

DESCRIPTION = """\
Contractor, facilitator and buyer systems post the ledger's events here; the gateway validates
them with the ledger's own models, checks that the caller may post them, and answers **202 once
Kafka acknowledged every event** (acks=all).

* **Authentication**: `Authorization: Bearer ldg_...`, a token issued by `ledger token issue`.
  A contractor token posts timesheets on the contracts its SIRET holds; a facilitator token posts
  enrolments and outcomes for its own facilitator id; a buyer token posts programmes and contracts.
* **Batches are all or nothing**: if any line is invalid (422) or not the caller's (403), nothing
  is produced and every refused line is listed with its number, field and message.
* **Idempotency-Key**: the same key and body return the first answer again (with
  `Idempotent-Replayed: true`); the same key with another body is refused (409).
* **Kafka unavailable**: 503 with `Retry-After`; re-posting the same events is safe (the worker
  counts an `event_id` once).
"""


# --- answers, documented in the OpenAPI document -------------------------------------------------

class EventAck(BaseModel):
    line: int = Field(description="line (JSONL, CSV) or 1-based position (JSON array) in the request")
    event_id: str
    type: str
    partition: int = Field(description="intake topic partition")
    offset: int = Field(description="offset in that partition: where the event is, for audit")


class Accepted(BaseModel):
    accepted: int = Field(description="events acknowledged by Kafka: all the request's events")
    events: list[EventAck]


class LineProblem(BaseModel):
    line: int | None = Field(description="line (JSONL, CSV: the header is line 1) or position in a JSON array")
    field: str | None = Field(description="the field's path, e.g. `hours` or `criteria.0`; null for the whole line")
    message: str
    reason: str = Field(description="invalid_json, invalid_event, invalid_csv, forbidden_event_type, "
                                    "contract_not_held, not_your_facilitator_id, not_your_buyer_id, "
                                    "timesheet_not_yours, event_id_taken, beneficiary_not_yours, "
                                    "programme_not_yours, contract_not_yours, ...")


class Problem(BaseModel):
    error: str = Field(description="a code: unauthenticated, invalid_events, forbidden, idempotency_key_reused, ...")
    message: str
    errors: list[LineProblem] = Field(default_factory=list, description="one item per refused line and field, "
                                      "at most LEDGER_GATEWAY_MAX_ERRORS_PER_LINE a line and "
                                      "LEDGER_GATEWAY_MAX_ERRORS_LISTED in all")
    errors_omitted: int = Field(0, description="errors found but not listed (beyond those limits)")


class FailedEvent(BaseModel):
    line: int
    event_id: str
    message: str


class KafkaProblem(Problem):
    acknowledged: list[EventAck] = Field(default_factory=list, description="events Kafka acknowledged anyway")
    failed: list[FailedEvent] = Field(default_factory=list, description="events Kafka did not write")
    unconfirmed: list[FailedEvent] = Field(default_factory=list,
                                           description="events whose acknowledgement did not come in time")


class Health(BaseModel):
    status: str
    detail: str | None = None


def _doc(model: type[BaseModel], text: str) -> dict:
    return {"model": model, "description": text}


POST_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"description": "Kafka acknowledged every event of the request", "headers": {
        REPLAYED_HEADER: {"description": "`true` when this is the stored answer to an earlier request with "
                                         "the same Idempotency-Key", "schema": {"type": "string"}}}},
    400: _doc(Problem, "The body is not UTF-8 or not JSON, or a header is malformed"),
    401: _doc(Problem, "No token, or an unknown or revoked token"),
    403: _doc(Problem, "The token may not post one of the events (its type, contract or facilitator id): "
                       "nothing was produced"),
    409: _doc(Problem, "The Idempotency-Key was used for another request, or its first request is still running"),
    413: _doc(Problem, "The body is larger than the limit, or the batch has more events than the limit"),
    415: _doc(Problem, "Unsupported Content-Type"),
    422: _doc(Problem, "At least one line is not a valid event: nothing was produced"),
    503: {**_doc(KafkaProblem, "Kafka did not answer or did not acknowledge every event (see `acknowledged`, "
                               "`failed`, `unconfirmed`); retry after Retry-After seconds"),
          "headers": {"Retry-After": {"description": "seconds", "schema": {"type": "integer"}}}},
}

EVENT_REF = {"$ref": "#/components/schemas/Event"}
SINGLE_BODY = {"requestBody": {"required": True, "description": "one event", "content": {
    JSON: {"schema": EVENT_REF}}}}
BATCH_BODY = {"requestBody": {"required": True, "description": "several events, all accepted or all refused",
                              "content": {
    JSON: {"schema": {"type": "array", "items": EVENT_REF, "minItems": 1}},
    NDJSON: {"schema": {"type": "string", "description": "one event (a JSON object) per line"}},
    CSV: {"schema": {"type": "string", "description": "a header row of field names, then one event per row; "
                                                      "empty cell = absent field; `criteria` separated by `|`"}},
}}}


MAX_TEXT = 200  # characters of a field name or message quoted back in an error


def _short(text: str | None) -> str | None:
    return text if text is None or len(text) <= MAX_TEXT else text[:MAX_TEXT] + "..."


def listed(errors: list[LineError], per_line: int, in_all: int) -> tuple[list[LineError], int]:
    """The errors to list (at most `per_line` for a line, `in_all` in all) and how many are left out."""
    kept, by_line = [], {}
    for e in errors:
        by_line[e.line] = by_line.get(e.line, 0) + 1
        if by_line[e.line] <= per_line and len(kept) < in_all:
            kept.append(LineError(e.line, _short(e.field), _short(e.message), e.reason))
    return kept, len(errors) - len(kept)


def problem(status: int, error: str, message: str, errors: list[LineError] | None = None,
            headers: dict[str, str] | None = None, limits: tuple[int, int] | None = None,
            **extra) -> tuple[int, dict, dict[str, str]]:
    errors, omitted = listed(errors or [], *limits) if limits else (errors or [], 0)
    if omitted:
        message += f" ({omitted} more errors not listed)"
    body = {"error": error, "message": message, "errors": [e.as_json() for e in errors], **extra}
    if omitted:
        body["errors_omitted"] = omitted
    return status, body, headers or {}


def _json_response(status: int, body: dict, headers: dict[str, str] | None = None) -> Response:
    return Response(_encode(body), status_code=status, headers=headers, media_type="application/json")


METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class _Metrics:
    """ASGI middleware: requests by route template, method and status; latency by route."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500

        async def send_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            # Bounded label values: a client cannot create series by sending odd methods or paths.
            route = getattr(scope.get("route"), "path", None) or "other"
            method = scope.get("method", "")
            method = method if method in METHODS else "other"
            metrics.REQUESTS.labels(route, method, str(status)).inc()
            metrics.LATENCY.labels(route).observe(time.perf_counter() - start)


class Gateway:
    """The request handling, apart from the HTTP framework: authenticate, read, validate, authorize, produce."""

    def __init__(self, cfg: Settings, gw: GatewaySettings, producer: IntakeProducer | None = None):
        self.cfg, self.gw = cfg, gw
        self.tokens = TokenStore(gw.tokens)
        self.idempotency = IdempotencyStore(gw.idempotency, gw.idempotency_ttl_hours,
                                            stale_seconds=max(gw.in_flight_seconds, gw.kafka_timeout_seconds + 5))
        self.producer = producer or IntakeProducer(cfg, gw)
        # Tests only: called at named points of a request ("acknowledged": Kafka acknowledged, nothing
        # recorded yet; "stored": ownership and the answer are stored, the answer not yet written).
        self.fault: Callable[[str], None] | None = None
        self.limits = (gw.max_errors_per_line, gw.max_errors_listed)

    def authenticate(self, credentials: HTTPAuthorizationCredentials | None) -> Principal | None:
        if credentials is None or credentials.scheme.lower() != "bearer":
            return None
        return self.tokens.authenticate(credentials.credentials)

    def _at(self, point: str) -> None:
        if self.fault is not None:
            self.fault(point)

    def _finish(self, principal: Principal, key: str | None, answer: tuple[int, dict, dict]) -> tuple[int, dict, dict]:
        if key is not None:
            status, body, _ = answer
            self.idempotency.finish(principal.token_id, key, status, _encode(body), "application/json")
        return answer

    def process(self, principal: Principal, body: bytes, kind: str, single: bool, key: str | None = None,
                deadline: float | None = None) -> tuple[int, dict, dict]:
        """The answer to one request, by `deadline` (monotonic seconds) for its waits on Kafka. With an
        Idempotency-Key (reserved by the caller), the answer is stored with the key as soon as it is
        known, before it is returned: a gateway that dies before writing it replays it to the retry."""
        deadline = time.monotonic() + self.gw.kafka_timeout_seconds if deadline is None else deadline
        try:
            lines, errors = parse(body, kind, single, self.gw.max_batch_lines)
        except BodyError as error:
            return self._finish(principal, key, problem(error.status, error.code, error.message))
        if errors:
            for e in errors:
                metrics.EVENTS_REFUSED.labels(e.reason).inc()
            refused = len({e.line for e in errors})
            return self._finish(principal, key, problem(
                422, "invalid_events", f"{refused} of {refused + len(lines)} lines are not valid events: nothing "
                "was posted (a batch is all or nothing)", errors, limits=self.limits))
        forbidden, claims = authorize(principal, lines, self.tokens)
        request = uuid.uuid4().hex
        if not forbidden:  # one transaction: of two parties racing for one id, one wins
            forbidden = taken_errors(claims, self.tokens.reserve([c.row for c in claims], request))
        if forbidden:
            for e in forbidden:
                metrics.EVENTS_REFUSED.labels(e.reason).inc()
            return self._finish(principal, key, problem(
                403, "forbidden", f"{principal.label} may not post {len({e.line for e in forbidden})} of the "
                f"{len(lines)} events: nothing was posted", forbidden, limits=self.limits))
        headers = [("ledger-token", principal.token_id.encode()), ("ledger-principal", principal.label.encode())]
        retry = {"Retry-After": str(self.gw.retry_after_seconds)}
        try:
            produced = self.producer.produce(lines, headers, deadline=deadline)
        except KafkaUnavailable as error:
            metrics.KAFKA_FAILURES.inc()
            self.tokens.release([c.row for c in claims], request)
            return self._finish(principal, key, problem(503, "kafka_unavailable", f"{error}. Nothing was posted; "
                                                        "retry later.", headers=retry))
        except BaseException:  # unknown fate: the claims stay reserved (the party's own, for its retry)
            raise
        self._at("acknowledged")
        acknowledged = [line for line, _, _ in produced.acknowledged]
        for line in acknowledged:
            metrics.EVENTS_PRODUCED.labels(line.event.type).inc()
        # Ownership is recorded once Kafka acknowledged, before the answer is stored or written.
        remember(principal, acknowledged, claims, self.tokens, request, produced.unconfirmed)
        acks = [_ack(line, partition, offset) for line, partition, offset in produced.acknowledged]
        if not produced.complete:
            metrics.KAFKA_FAILURES.inc()
            failed = [{"line": line.line, "event_id": str(line.event.event_id), "message": message}
                      for line, message in produced.failed]
            unconfirmed = [{"line": line.line, "event_id": str(line.event.event_id),
                            "message": "no acknowledgement in time: it may or may not be in Kafka"}
                           for line in produced.unconfirmed]
            return self._finish(principal, key, problem(
                503, "kafka_unavailable", f"Kafka acknowledged {len(acks)} of {len(lines)} events, failed "
                f"{len(failed)}, unconfirmed {len(unconfirmed)}. Post the same events again after Retry-After: "
                "those already written keep their event_id and the worker counts each event once.",
                headers=retry, acknowledged=acks, failed=failed, unconfirmed=unconfirmed))
        answer = self._finish(principal, key, (202, {"accepted": len(acks), "events": acks}, {}))
        self._at("stored")
        return answer


def _encode(body: dict) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()


_bearer = HTTPBearer(auto_error=False, scheme_name="token",
                     description="`ldg_...` token from `ledger token issue` (stored hashed by the gateway)")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", pattern=KEY_PATTERN,
    description="1-255 visible ASCII characters, unique per request content (e.g. a UUID); the same key and "
                "body return the first answer again, another body with it is refused (409)")]


def _ack(line: Line, partition: int, offset: int) -> dict:
    return {"line": line.line, "event_id": str(line.event.event_id), "type": line.event.type,
            "partition": partition, "offset": offset}


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The body, or None once it grows past `limit` bytes (the rest is not read)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(cfg: Settings | None = None, gw: GatewaySettings | None = None,
               producer: IntakeProducer | None = None) -> FastAPI:
    cfg = cfg or settings()
    gw = gw or GatewaySettings()
    gateway = Gateway(cfg, gw, producer)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        ready_threads.shutdown(wait=False)
        await run_in_threadpool(gateway.producer.close)

    app = FastAPI(title="Insertion-hours ledger: ingestion gateway", version=API_VERSION, description=DESCRIPTION,
                  lifespan=lifespan)
    app.state.gateway = gateway
    app.add_middleware(_Metrics)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        errors = [LineError(0, ".".join(str(p) for p in e.get("loc", ())[1:]) or None, e.get("msg", ""),
                            "invalid_request") for e in exc.errors()]
        status, body, headers = problem(400, "invalid_request", "the request's headers are not valid", errors)
        for item in body["errors"]:
            item["line"] = None
        return _json_response(status, body, headers)

    async def handle(request: Request, credentials: HTTPAuthorizationCredentials | None, key: str | None,
                     single: bool) -> Response:
        deadline = time.monotonic() + gw.kafka_timeout_seconds  # from the request's arrival
        principal = await run_in_threadpool(gateway.authenticate, credentials)
        if principal is None:
            return _json_response(*problem(401, "unauthenticated", "a valid token is required: "
                                           "`Authorization: Bearer ldg_...` (ledger token issue)",
                                           headers={"WWW-Authenticate": 'Bearer realm="ledger"'}))
        kind = media_type(request.headers.get("content-type"))
        if kind not in ((JSON,) if single else BATCH_TYPES):
            expected = JSON if single else ", ".join(BATCH_TYPES)
            return _json_response(*problem(415, "unsupported_media_type",
                                           f"unsupported Content-Type {kind or '(none)'}: {expected} expected"))
        too_large = problem(413, "request_too_large", f"the body is larger than {gw.max_request_bytes} bytes: "
                            "split the batch")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > gw.max_request_bytes:
            return _json_response(*too_large)
        body = await _read_body(request, gw.max_request_bytes)
        if body is None:
            return _json_response(*too_large)
        if key is None:
            return _json_response(*await run_in_threadpool(gateway.process, principal, body, kind, single,
                                                           None, deadline))

        store = gateway.idempotency
        outcome, stored = await run_in_threadpool(
            store.begin, principal.token_id, key, fingerprint(request.method, request.url.path, kind, body))
        if outcome is Outcome.REPLAY:
            metrics.IDEMPOTENT_REPLAYS.inc()
            return Response(stored.body, status_code=stored.status, media_type=stored.media_type,
                            headers={REPLAYED_HEADER: "true"})
        if outcome is Outcome.REUSED:
            return _json_response(*problem(409, "idempotency_key_reused", "this Idempotency-Key was used with "
                                           "another request: use a new key for new content"))
        if outcome is Outcome.IN_FLIGHT:
            return _json_response(*problem(409, "idempotency_key_in_flight", "the first request with this "
                                           "Idempotency-Key is still running", headers={"Retry-After": "1"}))
        try:  # process stores the answer with the key itself, as soon as it has it
            status, answer, headers = await run_in_threadpool(gateway.process, principal, body, kind, single, key,
                                                              deadline)
        except BaseException:
            await run_in_threadpool(store.release, principal.token_id, key)
            raise
        return _json_response(status, answer, headers)

    @app.post("/v1/events", status_code=202, response_model=Accepted, responses=POST_RESPONSES,
              openapi_extra=SINGLE_BODY, summary="Post one event", tags=["events"])
    async def post_event(request: Request, credentials: Credentials, idempotency_key: IdempotencyKey = None):
        """One event as a JSON object. Answered 202 once Kafka acknowledged it."""
        return await handle(request, credentials, idempotency_key, single=True)

    @app.post("/v1/batches", status_code=202, response_model=Accepted, responses=POST_RESPONSES,
              openapi_extra=BATCH_BODY, summary="Post a batch of events (all or nothing)", tags=["events"])
    async def post_batch(request: Request, credentials: Credentials, idempotency_key: IdempotencyKey = None):
        """A JSON array, JSONL or CSV. If any line is invalid (422) or not the caller's (403), nothing is
        produced and every refused line is listed. Answered 202 once Kafka acknowledged every event."""
        return await handle(request, credentials, idempotency_key, single=False)

    @app.get("/healthz", response_model=Health, tags=["operations"], summary="Liveness")
    async def healthz() -> Health:
        # On the event loop, at once: neither Kafka nor the worker threads (busy during an outage) delay it.
        return Health(status="ok")

    ready_threads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ledger-gateway-ready")

    @app.get("/readyz", response_model=Health, tags=["operations"], summary="Readiness: Kafka answers",
             responses={503: _doc(Health, "Kafka does not answer, or the intake topic does not exist")})
    async def readyz():
        # Threads of its own (the request threads may all be waiting on Kafka), answered within the timeout.
        timeout = gw.kafka_timeout_seconds
        try:
            await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(
                ready_threads, gateway.producer.check, timeout), timeout + 1)
        except (KafkaUnavailable, asyncio.TimeoutError) as error:
            return JSONResponse({"status": "unavailable", "detail": str(error) or "no answer in time"},
                                status_code=503,
                                headers={"Retry-After": str(gw.retry_after_seconds)})
        return Health(status="ready")

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE_LATEST)

    app.openapi = lambda: _openapi(app)
    return app


def _openapi(app: FastAPI) -> dict:
    """FastAPI's document, with the ledger's event models as components (the same JSON Schema as
    `ledger schemas`)."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        events = TypeAdapter(Event).json_schema(ref_template="#/components/schemas/{model}", mode="validation")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(events.pop("$defs", {}))
        components["Event"] = events
        schema["components"]["schemas"] = dict(sorted(components.items()))
        app.openapi_schema = schema
    return app.openapi_schema


def openapi_document() -> dict:
    """The gateway's OpenAPI document, as committed in openapi.json (no store or broker is touched)."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        gw = GatewaySettings(tokens=Path(tmp) / "t.sqlite", idempotency=Path(tmp) / "i.sqlite")
        return create_app(Settings(), gw).openapi()

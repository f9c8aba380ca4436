"""The live view's HTTP app (FastAPI), served by the process that owns the store.

    GET  /                      the live page (HTML; refreshes itself through /api/v1/live)
    GET  /api/v1/live           every figure of the page (?html=true: with the page's fragment)
    GET  /api/v1/progress       the figures of `ledger progress --json`
    GET  /api/v1/report         the HTML report's data (`ledger report --html/--csv` renders it)
    GET  /api/v1/workbook.xlsx  the buyer's workbook (`ledger report --xlsx`)
    POST /api/v1/sql            one read-only query, the guard of `ledger sql` (auditors)
    GET  /healthz               liveness          GET /openapi.json (docs/live-openapi.json)

Who may read (docs/live.md): on loopback with no token required, anyone who can reach the port
(the machine's own users, as with the store's directory). Otherwise a token of the gateway's token
store (`ledger token issue`), as `Authorization: Bearer ldg_...` or, for the page, the cookie set
by the sign-in form: `facilitator`, `buyer` and `auditor` read the page, the figures, the report
and the workbook; only `auditor` runs SQL; a `contractor` token reads nothing here (the view shows
every contractor's figures).
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.middleware.trustedhost import TrustedHostMiddleware

from streams.gateway.auth import Principal, Role, TokenStore
from streams.live import page
from streams.live.snapshot import Snapshots
from streams.live.wire import encode_result, encode_rows, to_json
from streams.audit.report import progress_tables
from streams.audit.report_html import report_data
from streams.settings import Settings
from streams.store import Store

API_VERSION = "1.0.0"
COOKIE = "ledger_live_token"
READERS = frozenset({Role.FACILITATOR, Role.BUYER, Role.AUDITOR})
AUDITORS = frozenset({Role.AUDITOR})
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]"]
# The page's own script only; inline styles (the report's bars); fetches to this origin only.
CSP = ("default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")

DESCRIPTION = """\
The live view of the insertion-hours ledger, served by the process that owns the store (the
loader, or the demo): on the embedded store (chDB) one process only may open it, so the figures,
the report and the auditors' SQL are asked from that process while it loads (docs/live.md).

* **Figures**: `GET /api/v1/live` (everything the page shows), `GET /api/v1/progress` (the same
  document as `ledger progress --json`), `GET /api/v1/report` (the HTML report's data).
* **Typed JSON**: decimals are text (`"147467.63"`, exact), dates and date-times ISO 8601;
  `column_types` gives each column's kind (`decimal`, `int`, `float`, `bool`, `date`, `datetime`,
  `string`, `json`) so that a client gets the store's values back.
* **Auditors' SQL**: `POST /api/v1/sql` runs one read-only statement under the guard of
  `ledger sql` (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN; no INTO OUTFILE, no file, network or
  settings access) with `readonly = 1`, a time limit and a row limit.
* **Authentication**: open on loopback when no token is required; otherwise
  `Authorization: Bearer ldg_...` (`ledger token issue`): facilitator, buyer or auditor tokens
  read; only auditor tokens run SQL.
"""


# --- documented answers --------------------------------------------------------------------------

class Problem(BaseModel):
    error: str = Field(description="unauthenticated, forbidden, refused, query_failed, store_unavailable, ...")
    message: str


class ProgrammeProgress(BaseModel):
    """A row of deploy/clickhouse/queries/programme_progress.sql."""
    model_config = ConfigDict(extra="allow")
    programme_id: str
    name: str
    target_hours: str | None = Field(description="decimal, as text")
    hours_done: str | None = Field(description="decimal, as text")
    pct_done: float | None
    contracts: int
    contract_targets: str | None = Field(description="decimal, as text")
    beneficiaries: int


class ContractProgress(BaseModel):
    """A row of deploy/clickhouse/queries/contract_progress.sql."""
    model_config = ConfigDict(extra="allow")
    programme_id: str
    operation_id: str
    contract_id: str
    lot: str | None
    target_hours: str | None = Field(description="decimal, as text")
    hours_done: str | None = Field(description="decimal, as text")
    pct_done: float | None
    entries: int
    beneficiaries: int


class Progress(BaseModel):
    programmes: list[ProgrammeProgress]
    contracts: list[ContractProgress]
    column_types: dict[str, dict[str, str]] = Field(description="per table, each column's kind")


Row = dict[str, Any]


class Accounting(BaseModel):
    model_config = ConfigDict(extra="allow")
    accepted: int
    rejected: int
    pending: int
    duplicates: int
    accounted: int = Field(description="accepted + rejected + pending: the events the workers decided")
    hours: str = Field(description="counted hours, decimal as text")


class Freshness(BaseModel):
    newest_entry_loaded_at: str | None
    newest_entry_age_seconds: float | None = Field(description="how long ago the newest entry was loaded")
    newest_rejection_loaded_at: str | None
    latest_work_date: str | None
    latest_submitted_at: str | None
    ingest_lag_seconds: float | None = Field(description="largest submitted_at → loaded_at of the last hour "
                                                         "of loading (view data_freshness)")


class KafkaLag(BaseModel):
    worker_lag_messages: int | None = Field(description="intake and routed messages the workers have not "
                                                        "committed (posted, not decided yet)")
    loader_lag_messages: int | None = Field(description="ledger and rejection messages not loaded yet")
    checked_at: float | None = Field(description="Unix time of the last answer from Kafka")
    error: str | None


class Live(BaseModel):
    database: str
    as_of: str = Field(description="the store's reference date (ledger_as_of)")
    generated_at: str
    source: str
    accounting: Accounting
    freshness: Freshness
    kafka: KafkaLag
    statuses: dict[str, int] = Field(description="contracts per status, at_risk first")
    programmes: list[Row] = Field(description="programme_trajectory (or programme_progress) rows")
    operations: list[Row] = Field(description="operation_progress rows")
    contracts: list[Row] = Field(description="contract_trajectory rows, at risk first, then behind, "
                                             "not started, on track; the largest shortfall first")
    column_types: dict[str, dict[str, str]]
    html: str | None = Field(None, description="with ?html=true: the page's <main>, rendered by the server")


class Report(BaseModel):
    database: str
    as_of: str
    generated_at: str
    source: str
    programmes: list[Row]
    operations: list[Row]
    contracts: list[Row]
    daily: list[Row] = Field(description="counted hours per programme, operation and work date")
    column_types: dict[str, dict[str, str]]


class SqlQuery(BaseModel):
    query: str = Field(description="one read-only statement", max_length=100_000)


class SqlResult(BaseModel):
    columns: list[str]
    column_types: list[str]
    rows: list[list[Any]]


class Health(BaseModel):
    status: str
    database: str


def _doc(model: type[BaseModel], text: str) -> dict:
    return {"model": model, "description": text}


READ_ERRORS: dict[int | str, dict[str, Any]] = {
    401: _doc(Problem, "A token is required and none (or an unknown or revoked one) was given"),
    403: _doc(Problem, "The token's role may not read this"),
    503: _doc(Problem, "The store did not answer"),
}


# --- access ---------------------------------------------------------------------------------------

class Access:
    """Who may call: everyone (`tokens` None: loopback, no token required), or holders of a token."""

    def __init__(self, tokens: TokenStore | None):
        self.tokens = tokens

    @property
    def open(self) -> bool:
        return self.tokens is None

    def principal(self, request: Request) -> Principal | None:
        header = request.headers.get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        token = credentials.strip() if scheme.lower() == "bearer" else request.cookies.get(COOKIE, "")
        return self.tokens.authenticate(token) if token and self.tokens is not None else None


class Refused(Exception):
    def __init__(self, status: int, error: str, message: str):
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


def _problem(status: int, error: str, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="ledger-live"'} if status == 401 else None
    return JSONResponse({"error": error, "message": message}, status_code=status, headers=headers)


def _tables(**tables: list[dict]) -> tuple[dict[str, list], dict[str, dict[str, str]]]:
    encoded, kinds = {}, {}
    for name, rows in tables.items():
        encoded[name], kinds[name] = encode_rows(rows)
    return encoded, kinds


def encode_report(data: dict[str, Any]) -> dict[str, Any]:
    tables, kinds = _tables(programmes=data["programmes"], operations=data["operations"],
                            contracts=data["contracts"], daily=data["daily"])
    return {"database": data["database"], "as_of": to_json(data["as_of"]),
            "generated_at": to_json(data["generated_at"]), "source": data["source"], **tables, "column_types": kinds}


def encode_live(snapshot: dict[str, Any], html: bool) -> dict[str, Any]:
    document = encode_report(snapshot)
    document.pop("daily")
    document["column_types"].pop("daily")
    document.update(accounting=to_json(snapshot["accounting"]), freshness=to_json(snapshot["freshness"]),
                    kafka=to_json(snapshot["kafka"] or {"worker_lag_messages": None, "loader_lag_messages": None,
                                                        "checked_at": None, "error": "not measured"}),
                    statuses=snapshot["statuses"])
    if html:
        document["html"] = page.live_fragment(snapshot)
    return document


def create_app(cfg: Settings, store: Store, tokens: TokenStore | None = None,
               lag: Any = None) -> FastAPI:
    """`tokens`: None serves everyone (only on loopback: streams.live.server decides); `lag`: a
    callable returning the Kafka lag (streams.live.lag.LagProbe), or None."""
    access = Access(tokens)
    refresh = max(1.0, cfg.live_refresh_seconds)
    snapshots = Snapshots(store, lag, min_age=min(refresh / 2, 2.0))
    app = FastAPI(title="Insertion-hours ledger: live view", version=API_VERSION, description=DESCRIPTION,
                  docs_url=None, redoc_url=None)
    app.state.snapshots = snapshots
    if access.open:  # a page of another site cannot reach it by a DNS name pointing at 127.0.0.1
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=LOOPBACK_HOSTS)

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> Response:
        return _problem(exc.status, exc.error, exc.message)

    @app.middleware("http")
    async def headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if response.headers.get("content-type", "").startswith("text/html"):
            response.headers.setdefault("Content-Security-Policy", CSP)
        return response

    def allowed(roles: frozenset[Role]):
        def check(request: Request) -> Principal | None:
            if access.open:
                return None
            principal = access.principal(request)
            if principal is None:
                raise Refused(401, "unauthenticated", "a valid token is required: `Authorization: Bearer "
                                                      "ldg_...` (ledger token issue)")
            if principal.role not in roles:
                raise Refused(403, "forbidden", f"a {principal.role.value} token may not read this: "
                              f"{', '.join(sorted(r.value for r in roles))} only")
            return principal
        return check

    reader, auditor = Depends(allowed(READERS)), Depends(allowed(AUDITORS))

    async def snapshot() -> dict[str, Any]:
        try:
            return await run_in_threadpool(snapshots.get)
        except Exception as error:  # noqa: BLE001 - the store's own message, to the caller
            raise Refused(503, "store_unavailable", f"the store did not answer: {error}") from None

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def live_page(request: Request):
        if not access.open:
            principal = access.principal(request)
            if principal is None or principal.role not in READERS:
                message = "" if principal is None and COOKIE not in request.cookies else \
                    "this token may not read the live view" if principal else "unknown or revoked token"
                return HTMLResponse(page.login_page(message), status_code=401 if principal is None else 403)
        return HTMLResponse(page.render_page(await snapshot(), refresh))

    @app.get("/live.js", include_in_schema=False)
    async def live_js():
        return Response(page.script(), media_type="text/javascript")

    @app.post("/login", include_in_schema=False)
    async def login(request: Request):
        token = parse_qs((await request.body()).decode("utf-8", "replace")).get("token", [""])[0].strip()
        principal = await run_in_threadpool(access.tokens.authenticate, token) if access.tokens else None
        if access.open:
            return RedirectResponse("./", status_code=303)
        if principal is None or principal.role not in READERS:
            return HTMLResponse(page.login_page("unknown or revoked token" if principal is None else
                                                "this token may not read the live view"),
                                status_code=401 if principal is None else 403)
        response = RedirectResponse("./", status_code=303)
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https",
                            max_age=12 * 3600)
        return response

    @app.get("/api/v1/live", response_model=Live, responses=READ_ERRORS, tags=["figures"],
             summary="Every figure of the live page")
    async def live(html: bool = Query(False, description="also the page's <main>, rendered"), _=reader):
        """Programmes, operations and contracts against their trajectories (contracts at risk first),
        contracts by status, intake accounting, freshness and Kafka lag. Read at most once a second or
        two whatever the number of callers."""
        return JSONResponse(encode_live(await snapshot(), html))

    @app.get("/api/v1/progress", response_model=Progress, responses=READ_ERRORS, tags=["figures"],
             summary="Progress against targets: `ledger progress --json`")
    async def progress(_=reader):
        """Programme and contract progress (deploy/clickhouse/queries/programme_progress.sql,
        contract_progress.sql), as `ledger progress --json` prints them, with `column_types`."""
        try:
            tables = await run_in_threadpool(progress_tables, store)
        except Exception as error:  # noqa: BLE001
            raise Refused(503, "store_unavailable", f"the store did not answer: {error}") from None
        encoded, kinds = _tables(**tables)
        return JSONResponse({**encoded, "column_types": kinds})

    @app.get("/api/v1/report", response_model=Report, responses=READ_ERRORS, tags=["figures"],
             summary="The HTML report's data (`ledger report --html`)")
    async def report(_=reader):
        try:
            data = await run_in_threadpool(report_data, store)
        except Exception as error:  # noqa: BLE001
            raise Refused(503, "store_unavailable", f"the store did not answer: {error}") from None
        return JSONResponse(encode_report(data))

    @app.get("/api/v1/workbook.xlsx", responses={
        200: {"description": "the buyer's workbook (`ledger report --xlsx`)", "content": {
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}}}, **READ_ERRORS},
        response_class=Response, tags=["figures"], summary="The buyer's workbook")
    async def workbook(programme: str | None = Query(None, description="this programme only"),
                       date_from: dt.date | None = Query(None, alias="from", description="first work date"),
                       date_to: dt.date | None = Query(None, alias="to", description="last work date"), _=reader):
        from streams.audit.workbook import write_workbook

        def build() -> bytes:
            with tempfile.TemporaryDirectory(prefix="ledger-live-") as tmp:
                path = write_workbook(store, Path(tmp) / "workbook.xlsx", programme=programme,
                                      date_from=date_from, date_to=date_to)
                return path.read_bytes()
        if date_from and date_to and date_from > date_to:
            raise Refused(400, "invalid_period", f"from {date_from} is after to {date_to}")
        try:
            content = await run_in_threadpool(build)
        except Exception as error:  # noqa: BLE001
            raise Refused(503, "store_unavailable", f"the workbook could not be read: {error}") from None
        return Response(content, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": 'attachment; filename="workbook.xlsx"'})

    @app.post("/api/v1/sql", response_model=SqlResult, tags=["audit"], summary="One read-only query (auditors)",
              responses={400: _doc(Problem, "Refused by the statement guard (not read-only, several statements, "
                                            "a function reaching files or the network...): nothing ran"),
                         422: _doc(Problem, "The engine refused or failed the query (its message), or the "
                                            "result is larger than the row limit"),
                         **READ_ERRORS})
    async def sql(body: SqlQuery, _=auditor):
        """The statement guard of `ledger sql` (streams/audit/sql_guard.py), then the engine with
        `readonly = 1`, `max_execution_time` and `max_result_rows` (LEDGER_LIVE_SQL_TIMEOUT_SECONDS,
        LEDGER_LIVE_SQL_MAX_ROWS)."""
        from clickhouse_connect.driver.exceptions import ClickHouseError

        from streams.audit.tools import SqlRefused, read_only_query

        limits = {"max_execution_time": cfg.live_sql_timeout_seconds, "max_result_rows": cfg.live_sql_max_rows,
                  "result_overflow_mode": "throw"}
        try:
            result = await run_in_threadpool(read_only_query, store, body.query, None, limits)
        except SqlRefused as error:
            raise Refused(400, "refused", str(error)) from None
        except ClickHouseError as error:
            raise Refused(422, "query_failed", str(error)) from None
        return JSONResponse(encode_result(result.columns, result.rows))

    @app.get("/healthz", response_model=Health, tags=["operations"], summary="Liveness")
    async def healthz():
        return Health(status="ok", database=store.database)

    return app


def openapi_document() -> dict:
    """The live view's OpenAPI document, as committed in docs/live-openapi.json (no store is opened)."""
    return create_app(Settings(), _NoStore()).openapi()  # type: ignore[arg-type]


class _NoStore:
    database = "insertion"

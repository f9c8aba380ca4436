"""For `ledger progress`, `ledger sql` and `ledger report`: the store itself, or the running process
that owns it, over HTTP (its live view), with the same output either way.

- LEDGER_LIVE_URL set: the live view at that URL;
- an embedded store (`chdb://PATH`) locked by another process (its `PATH/status` file is locked,
  what chDB reports as "Cannot lock file .../status"): the live view that process advertised in
  `PATH.live.json` (streams/live/server.py), else LEDGER_LIVE_ADDRESS;
- otherwise (a free embedded store, a ClickHouse server): the store, as before.
LEDGER_LIVE_TOKEN is sent as the bearer token when set.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from streams.live.server import discovery_file, parse_address
from streams.live.wire import decode_result, decode_rows, from_json
from streams.settings import Settings


class LiveUnavailable(SystemExit):
    """The live view cannot be asked (not running, refused the token...): the message says why."""


class RemoteRefused(Exception):
    """The live view answered with an error: `status`, `error` code, `message`."""

    def __init__(self, status: int, error: str, message: str):
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


def chdb_path(dsn: str) -> Path | None:
    if not dsn.startswith("chdb://"):
        return None
    from streams.store import _resolve

    return Path("/" + _resolve(dsn)[len("chdb:///"):])


def store_locked(path: Path) -> bool:
    """Another process holds the embedded store at `path` (ClickHouse's status-file lock, flock).

    Not this process: chDB lets a process open again the path it holds (its status file names it)."""
    status = path / "status"
    try:
        fd = os.open(status, os.O_RDONLY)
    except OSError:
        return False  # no store there yet, or nothing readable: opening it will say what is wrong
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 200).decode("ascii", "replace").split("\n", 1)[0]
        return holder.strip() != f"PID: {os.getpid()}"
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def advertised(cfg: Settings) -> dict | None:
    """What the owner of the embedded store wrote in `<path>.live.json`, if that process is alive."""
    path = discovery_file(cfg.clickhouse_dsn)
    try:
        found = json.loads(path.read_text()) if path is not None else None
        if not isinstance(found, dict) or not isinstance(found.get("url"), str):
            return None
        os.kill(int(found["pid"]), 0)
        return found
    except (OSError, ValueError, TypeError, KeyError):
        return None


class LiveClient:
    """The live view's API, answering with the values the store would give (streams.live.wire)."""

    def __init__(self, url: str, token: str | None = None, why: str = "", timeout: float = 120):
        self.url = url.rstrip("/")
        self.token, self.why, self.timeout = token, why, timeout

    def _call(self, path: str, body: dict | None = None) -> bytes:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.url + path, data=data, headers=headers,
                                         method="POST" if body is not None else "GET")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.read()
        except urllib.error.HTTPError as error:
            try:
                problem = json.loads(error.read())
                code, message = problem.get("error", ""), problem.get("message", "")
            except ValueError:
                code, message = "", error.reason
            if error.code in (401, 403):
                hint = "" if self.token else " (set LEDGER_LIVE_TOKEN to a token from `ledger token issue`)"
                raise LiveUnavailable(f"ledger: the live view at {self.url} refused: {message}{hint}") from None
            raise RemoteRefused(error.code, code, message) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise LiveUnavailable(f"ledger: {self.why}the live view at {self.url} does not answer ({reason}): is "
                                  "the loader running? (LEDGER_LIVE_URL, LEDGER_LIVE_ADDRESS; docs/live.md)") from None

    def _json(self, path: str, body: dict | None = None) -> Any:
        return json.loads(self._call(path, body))

    def progress_tables(self) -> dict[str, list[dict]]:
        document = self._json("/api/v1/progress")
        kinds = document.pop("column_types")
        return {name: decode_rows(rows, kinds[name]) for name, rows in document.items()}

    def report_data(self) -> dict[str, Any]:
        document = self._json("/api/v1/report")
        kinds = document["column_types"]
        data = {name: decode_rows(document[name], kinds[name]) for name in ("programmes", "operations",
                                                                            "contracts", "daily")}
        return dict(data, database=document["database"], source=document["source"],
                    as_of=from_json(document["as_of"], "date"),
                    generated_at=from_json(document["generated_at"], "datetime"))

    def sql(self, query: str):
        from streams.audit.tools import QueryResult

        columns, rows = decode_result(self._json("/api/v1/sql", {"query": query}))
        return QueryResult(columns, rows)

    def workbook(self, programme: str | None = None, date_from: dt.date | None = None,
                 date_to: dt.date | None = None) -> bytes:
        query = {k: str(v) for k, v in (("programme", programme), ("from", date_from), ("to", date_to)) if v}
        return self._call("/api/v1/workbook.xlsx" + (f"?{urllib.parse.urlencode(query)}" if query else ""))


def live_client(cfg: Settings) -> LiveClient | None:
    """The live view to ask instead of opening the store, or None (open the store)."""
    token = cfg.live_token.get_secret_value() if cfg.live_token is not None else None
    if cfg.live_url:
        return LiveClient(cfg.live_url, token)
    path = chdb_path(cfg.clickhouse_dsn)
    if path is None or not store_locked(path):
        return None
    why = f"the store {path} is open in another process (pid of the loader?), and "
    found = advertised(cfg)
    if found is not None:
        return LiveClient(found["url"], token, why=why)
    address = parse_address(cfg.live_address)
    if address is None:
        raise LiveUnavailable(f"ledger: the embedded store {path} is open in another process (one process owns "
                              "it), and no live view is configured (LEDGER_LIVE_ADDRESS=off): ask that process "
                              "through LEDGER_LIVE_URL, or stop it first")
    host, port = address
    host = "127.0.0.1" if host in ("0.0.0.0", "") else (f"[{host}]" if ":" in host else host)
    return LiveClient(f"http://{host}:{port}", token, why=why)

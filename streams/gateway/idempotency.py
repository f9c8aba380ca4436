"""Idempotency-Key: a retried request gets the first answer again, and never posts twice.

Keys are scoped to the token that sent them. The first request with a key reserves it (state
`pending`), runs, and keeps its final answer (status, body) when that answer is not a 5xx. Later
requests with the same key and:
- the same fingerprint (method, path, media type and the body's exact bytes) get that answer again;
- another fingerprint are refused with 409 (`idempotency_key_reused`);
- while the first is still running, are refused with 409 (`idempotency_key_in_flight`).
A 5xx answer (Kafka unavailable) is not kept: the key is released so that a retry posts again (the
worker's event_id dedup makes that safe). Answers are kept `ttl_hours`; a `pending` key left by a
crashed process is taken over after `stale_seconds` (LEDGER_GATEWAY_IN_FLIGHT_SECONDS, at least the
request deadline + 5 s: no live request is that old). The gateway stores a request's answer as soon as
Kafka acknowledged (before writing it to the client), so a retry after a crash at that point replays it.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from contextlib import closing, contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Iterator

from streams.gateway.auth import private_file

KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"  # visible ASCII, 1 to 255 characters


class Outcome(Enum):
    NEW = "new"
    REPLAY = "replay"
    REUSED = "reused"  # same key, another request
    IN_FLIGHT = "in_flight"


@dataclass(frozen=True)
class Stored:
    status: int
    body: bytes
    media_type: str


def fingerprint(method: str, path: str, media_type: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), media_type.encode()):
        digest.update(part + b"\0")
    digest.update(body)
    return digest.hexdigest()


class IdempotencyStore:
    def __init__(self, path: Path, ttl_hours: float = 72, stale_seconds: float = 300):
        self.path = Path(path)
        self.ttl = ttl_hours * 3600
        self.stale = stale_seconds
        self._next_purge = 0.0
        private_file(self.path)  # answers hold other parties' event ids: 0600, like the token store
        with self._db() as db:
            db.execute("""CREATE TABLE IF NOT EXISTS answers (
                token_id TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL,
                state TEXT NOT NULL, status INTEGER, body BLOB, media_type TEXT,
                created_at REAL NOT NULL, PRIMARY KEY (token_id, key))""")

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=30, isolation_level=None)) as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA busy_timeout=30000")
            yield db

    def begin(self, token_id: str, key: str, body_print: str) -> tuple[Outcome, Stored | None]:
        now = time.time()
        with self._db() as db:
            if now >= self._next_purge:
                db.execute("DELETE FROM answers WHERE created_at < ?", (now - self.ttl,))
                self._next_purge = now + 60
            db.execute("BEGIN IMMEDIATE")  # one writer decides who owns a key
            try:
                row = db.execute("SELECT fingerprint, state, status, body, media_type, created_at FROM answers "
                                 "WHERE token_id = ? AND key = ?", (token_id, key)).fetchone()
                if row is None or (row[1] == "pending" and now - row[5] > self.stale and row[0] == body_print):
                    db.execute("INSERT OR REPLACE INTO answers (token_id, key, fingerprint, state, created_at) "
                               "VALUES (?, ?, ?, 'pending', ?)", (token_id, key, body_print, now))
                    return Outcome.NEW, None
                if row[0] != body_print:
                    return Outcome.REUSED, None
                if row[1] == "pending":
                    return Outcome.IN_FLIGHT, None
                return Outcome.REPLAY, Stored(row[2], row[3], row[4])
            finally:
                db.execute("COMMIT")

    def finish(self, token_id: str, key: str, status: int, body: bytes, media_type: str) -> None:
        with self._db() as db:
            if status >= 500:  # transient: let the retry run again
                db.execute("DELETE FROM answers WHERE token_id = ? AND key = ? AND state = 'pending'",
                           (token_id, key))
            else:
                db.execute("UPDATE answers SET state = 'done', status = ?, body = ?, media_type = ? "
                           "WHERE token_id = ? AND key = ?", (status, body, media_type, token_id, key))

    def release(self, token_id: str, key: str) -> None:
        """The request failed before it had an answer: forget the reservation."""
        with self._db() as db:
            db.execute("DELETE FROM answers WHERE token_id = ? AND key = ? AND state = 'pending'", (token_id, key))

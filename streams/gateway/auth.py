"""Per-party API tokens, stored hashed, and the contracts each contractor holds.

A token is `ldg_<id>_<secret>`: `id` (12 hex digits) names it in lists and revocations, `secret`
is 256 random bits shown once at issue. The store keeps a random salt and SHA-256(salt + secret)
only: a slow password hash buys nothing against a 256-bit random secret, and every request is
checked against it.

Roles and what they may post (`ALLOWED`):
- `buyer`: `programme.defined`, `contract.registered`, `pooling.agreed` (the public buyer, or the
  ledger's administrator);
- `facilitator`: `beneficiary.enrolled`, `beneficiary.outcome`, `claim.resolved`, with its own
  `facilitator_id` only;
- `contractor`: `timesheet.submitted`, `timesheet.corrected`, `siae.invoice` on the contracts its
  SIRET holds, and `timesheet.retracted` / `timesheet.corrected` of timesheets it posted through
  the gateway itself.

A contractor holds a contract when a `contract.registered` event naming its SIRET as
`contractor_siret` went through the gateway (the latest registration of a contract by its own buyer
wins), or when the contract was listed with `--contracts` at issue (for contracts registered before
the gateway, or a co-contractor of a joint bid). An event type missing from `ALLOWED` is refused to
everyone.

Ownership (table `owners`, first owner wins, never overwritten): each event id belongs to the party
(`role:subject`) that first posted it through the gateway, each beneficiary to the facilitator that
first enrolled it, each programme and contract to the buyer that first defined or registered it. A
request reserves what it claims in one transaction before it is sent (so two parties racing cannot
both win), keeps it once Kafka acknowledged, and gives it back if Kafka refused it. The timesheets a
contractor may correct or retract (table `timesheets`) are only those Kafka acknowledged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import re
import secrets
import sqlite3
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from ledger import registry
from ledger.siret import is_valid_siret


# The roles and who may post what are the event registry's (ledger.registry.KINDS): one table for
# the worker's handlers, the router's keys and the gateway's permissions.
Role = registry.Role

# Event type -> roles that may post it.
ALLOWED: dict[str, frozenset[Role]] = {kind.type: kind.posted_by for kind in registry.KINDS.values()}

PREFIX = "ldg"
_TOKEN = re.compile(r"^ldg_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
_IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$")  # ledger.events.Identifier


@dataclass(frozen=True)
class Principal:
    """Who is calling: a token's role and subject (SIRET, facilitator id or buyer name)."""

    token_id: str
    role: Role
    subject: str
    contracts: frozenset[str] = frozenset()  # granted with --contracts

    @property
    def label(self) -> str:
        return f"{self.role.value}:{self.subject}"


def _hash(salt: bytes, secret: str) -> str:
    return hashlib.sha256(salt + secret.encode()).hexdigest()


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def check_subject(role: Role, subject: str) -> str:
    if role is Role.CONTRACTOR and not is_valid_siret(subject):
        raise ValueError(f"not a valid SIRET: {subject!r} (14 digits with a Luhn check digit)")
    if role is not Role.CONTRACTOR and not _IDENTIFIER.match(subject):
        raise ValueError(f"not a valid identifier: {subject!r} (letters, digits and ._:/- , at most 64)")
    return subject


def private_file(path: Path) -> None:
    """Create `path` readable by its owner only (0600), or tighten it; its directory too (0700) when
    the gateway creates it. SQLite creates the -wal and -shm files with the database file's mode."""
    path = Path(path)
    if not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    for name in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if name.stat().st_mode & 0o077:
                os.chmod(name, 0o600)
        except FileNotFoundError:
            pass


# What a party may own, and the refusal when another party owns it.
OWNED_KINDS = ("event", "beneficiary", "programme", "contract")


class TokenStore:
    """Tokens, the contract registry and who owns what, in one sqlite file (one connection per call)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        private_file(self.path)
        with self._db() as db:
            db.executescript("""
                CREATE TABLE IF NOT EXISTS tokens (
                    id TEXT PRIMARY KEY, salt BLOB NOT NULL, hash TEXT NOT NULL,
                    role TEXT NOT NULL, subject TEXT NOT NULL, contracts TEXT NOT NULL DEFAULT '[]',
                    label TEXT, created_at TEXT NOT NULL, revoked_at TEXT);
                CREATE TABLE IF NOT EXISTS contracts (
                    contract_id TEXT PRIMARY KEY, contractor_siret TEXT NOT NULL,
                    event_id TEXT NOT NULL, registered_by TEXT NOT NULL, registered_at TEXT NOT NULL);
                CREATE INDEX IF NOT EXISTS contracts_by_siret ON contracts (contractor_siret);
                CREATE TABLE IF NOT EXISTS timesheets (
                    event_id TEXT PRIMARY KEY, contractor_siret TEXT NOT NULL, contract_id TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS owners (
                    kind TEXT NOT NULL, key TEXT NOT NULL, owner TEXT NOT NULL, request TEXT NOT NULL,
                    acked INTEGER NOT NULL DEFAULT 0, recorded_at TEXT NOT NULL, PRIMARY KEY (kind, key));
            """)
            if db.execute("PRAGMA user_version").fetchone()[0] < 1:
                # A store from before ownership: contracts belong to the buyer whose token registered
                # them, timesheets' event ids to their contractor.
                db.execute("BEGIN IMMEDIATE")
                db.execute("INSERT OR IGNORE INTO owners (kind, key, owner, request, acked, recorded_at) "
                           "SELECT 'contract', c.contract_id, t.subject, '', 1, c.registered_at FROM contracts c "
                           "JOIN tokens t ON t.id = c.registered_by")
                db.execute("INSERT OR IGNORE INTO owners (kind, key, owner, request, acked, recorded_at) "
                           "SELECT 'event', event_id, 'contractor:' || contractor_siret, '', 1, '' FROM timesheets")
                db.execute("PRAGMA user_version = 1")
                db.execute("COMMIT")

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=30, isolation_level=None)) as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA busy_timeout=30000")
            db.row_factory = sqlite3.Row
            yield db

    # --- tokens ---------------------------------------------------------------------------------

    def issue(self, role: Role | str, subject: str, contracts: list[str] | tuple[str, ...] = (),
              label: str | None = None) -> tuple[str, str]:
        """A new token: (id, the token itself). The token is not stored and cannot be shown again."""
        role = Role(role)
        check_subject(role, subject)
        contracts = sorted(set(contracts))
        if contracts and role is not Role.CONTRACTOR:
            raise ValueError("--contracts is for contractor tokens")
        for contract_id in contracts:
            if not _IDENTIFIER.match(contract_id):
                raise ValueError(f"not a valid contract id: {contract_id!r}")
        token_id, secret, salt = secrets.token_hex(6), secrets.token_urlsafe(32), secrets.token_bytes(16)
        with self._db() as db:
            db.execute("INSERT INTO tokens (id, salt, hash, role, subject, contracts, label, created_at) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (token_id, salt, _hash(salt, secret), role.value, subject, json.dumps(contracts), label,
                        _now()))
        return token_id, f"{PREFIX}_{token_id}_{secret}"

    def revoke(self, token_id: str) -> bool:
        with self._db() as db:
            done = db.execute("UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                              (_now(), token_id))
            return done.rowcount == 1

    def list(self) -> list[dict]:
        with self._db() as db:
            rows = db.execute("SELECT id, role, subject, contracts, label, created_at, revoked_at FROM tokens "
                              "ORDER BY created_at, id").fetchall()
        return [dict(row, contracts=json.loads(row["contracts"])) for row in rows]

    def authenticate(self, token: str) -> Principal | None:
        match = _TOKEN.match(token)
        if match is None:
            return None
        token_id, secret = match.groups()
        with self._db() as db:
            row = db.execute("SELECT salt, hash, role, subject, contracts, revoked_at FROM tokens WHERE id = ?",
                             (token_id,)).fetchone()
        if row is None or row["revoked_at"] is not None:
            return None
        if not hmac.compare_digest(_hash(row["salt"], secret), row["hash"]):
            return None
        return Principal(token_id, Role(row["role"]), row["subject"], frozenset(json.loads(row["contracts"])))

    # --- contracts --------------------------------------------------------------------------------

    def register_contracts(self, registrations: list[tuple[str, str, str]], registered_by: str,
                           buyer: str | None = None) -> None:
        """(contract_id, contractor_siret, event_id) of contract.registered events Kafka acknowledged.

        A registration moves the contract to its new holder only when `buyer` owns the contract (or
        nobody does): another buyer's registration never changes who holds it."""
        if not registrations:
            return
        now = _now()
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                for contract_id, siret, event_id in registrations:
                    owner = db.execute("SELECT owner FROM owners WHERE kind = 'contract' AND key = ?",
                                       (contract_id,)).fetchone()
                    if buyer is not None and owner is not None and owner["owner"] != buyer:
                        continue
                    db.execute(
                        "INSERT INTO contracts (contract_id, contractor_siret, event_id, registered_by, "
                        "registered_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (contract_id) DO UPDATE SET "
                        "contractor_siret = excluded.contractor_siret, event_id = excluded.event_id, "
                        "registered_by = excluded.registered_by, registered_at = excluded.registered_at",
                        (contract_id, siret, event_id, registered_by, now))
            finally:
                db.execute("COMMIT")

    def record_timesheets(self, timesheets: list[tuple[str, str, str]]) -> None:
        """(event_id, contractor SIRET, contract_id) of timesheets Kafka acknowledged: who may retract
        them. The first owner recorded is kept (never overwritten)."""
        if timesheets:
            with self._db() as db:
                db.executemany("INSERT OR IGNORE INTO timesheets (event_id, contractor_siret, contract_id) "
                               "VALUES (?, ?, ?)", timesheets)

    # --- ownership ---------------------------------------------------------------------------------

    def owners(self, kind: str, keys: set[str]) -> dict[str, str]:
        """key -> owner of the given keys of one kind (event: `role:subject`; beneficiary: facilitator
        id; programme, contract: buyer), reserved or acknowledged."""
        return self._lookup("owners", "key", "owner", keys, where=("kind", kind))

    def reserve(self, claims: Iterable[tuple[str, str, str]], request: str) -> dict[tuple[str, str], str]:
        """Claim each (kind, key, owner) in one transaction, the first owner winning. Returns the
        claims another owner holds, {(kind, key): that owner}; when there is any, nothing is reserved."""
        claims = sorted(set(claims))
        if not claims:
            return {}
        now = _now()
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                taken = {}
                for kind, key, owner in claims:
                    row = db.execute("SELECT owner FROM owners WHERE kind = ? AND key = ?", (kind, key)).fetchone()
                    if row is not None and row["owner"] != owner:
                        taken[(kind, key)] = row["owner"]
                if not taken:
                    db.executemany("INSERT OR IGNORE INTO owners (kind, key, owner, request, acked, recorded_at) "
                                   "VALUES (?, ?, ?, ?, 0, ?)", [(k, key, o, request, now) for k, key, o in claims])
                db.execute("COMMIT")
                return taken
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def confirm(self, claims: Iterable[tuple[str, str, str]]) -> None:
        """Kafka acknowledged the events behind these claims: they are kept for good."""
        claims = sorted(set(claims))
        if claims:
            with self._db() as db:
                db.executemany("UPDATE owners SET acked = 1 WHERE kind = ? AND key = ? AND owner = ?", claims)

    def release(self, claims: Iterable[tuple[str, str, str]], request: str) -> None:
        """Kafka did not write the events behind these claims: give back what `request` reserved."""
        claims = sorted(set(claims))
        if claims:
            with self._db() as db:
                db.executemany("DELETE FROM owners WHERE kind = ? AND key = ? AND owner = ? AND request = ? "
                               "AND acked = 0", [(k, key, o, request) for k, key, o in claims])

    def timesheet_owners(self, event_ids: set[str]) -> dict[str, str]:
        """event_id -> SIRET of the contractor that posted it, for timesheets seen by the gateway."""
        return self._lookup("timesheets", "event_id", "contractor_siret", event_ids)

    def holders(self, contract_ids: set[str]) -> dict[str, str]:
        """contract_id -> contractor SIRET, for the given contracts the gateway saw registered."""
        return self._lookup("contracts", "contract_id", "contractor_siret", contract_ids)

    def _lookup(self, table: str, key: str, value: str, keys: set[str],
                where: tuple[str, str] | None = None) -> dict[str, str]:
        if not keys:
            return {}
        ordered = sorted(keys)
        found: dict[str, str] = {}
        extra, params = (f" AND {where[0]} = ?", [where[1]]) if where else ("", [])
        with self._db() as db:
            for start in range(0, len(ordered), 500):
                chunk = ordered[start:start + 500]
                rows = db.execute(f"SELECT {key}, {value} FROM {table} WHERE {key} IN "
                                  f"({','.join('?' * len(chunk))}){extra}", chunk + params).fetchall()
                found.update({row[key]: row[value] for row in rows})
        return found

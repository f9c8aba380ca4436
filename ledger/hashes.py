"""The two hashes every event costs: the ids of its entries (uuid5) and the digest of its content;
and the check of its own id's text (a canonical UUID), which every event costs too.

This file is what runs where nothing is compiled. setup.py compiles `hashes.pyx` in its place: the
same functions, the same values, computed by calling libcrypto (OpenSSL, which Python's hashlib is
built on) in C, without hashlib's objects: ~300 against ~880 ns an id, ~370 against ~840 ns a
digest (docs/scaling.md, "Hashes in C, caches in dicts"). tests/unit/ledger/test_hashes.py holds the two to the
same values, and both to `uuid.uuid5`. The UUID check is a regular expression here, a loop over
the text's 36 characters there (~178 against ~28 ns an id).

The content digest is SHA-256, its first 80 bits in hex. Until 2026-12-06 it was BLAKE2b of 80
bits: Python's BLAKE2b is its portable reference code, ~5,000 instructions for an event's two
blocks, where libcrypto's SHA-256 runs the CPU's SHA instructions. Memos written before keep their
BLAKE2b digest (ledger.desk reads either).
"""

from __future__ import annotations

import hashlib
import re

from ledger.entries import LEDGER_NAMESPACE

DIGEST_HEX = 20  # 80 bits: a memo keeps it for every event id, millions of them


def uuid5(name: str) -> str:
    """`str(uuid.uuid5(LEDGER_NAMESPACE, name))` without building UUID objects (a third of the cost)."""
    sha1 = _NAMESPACE_SHA1.copy()  # the namespace's bytes hashed once: a copy costs less than hashing them again
    sha1.update(name.encode())
    h = sha1.hexdigest()
    # The version nibble is 5; the variant's two high bits are 10.
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16:17]]}{h[17:20]}-{h[20:32]}"


_NAMESPACE_SHA1 = hashlib.sha1(LEDGER_NAMESPACE.bytes)
_VARIANT = {f"{n:x}": f"{(n & 0x3) | 0x8:x}" for n in range(16)}


def content_digest(sorted_json: bytes) -> str:
    """The digest of an event's content: its JSON with its keys sorted (ledger.desk.digest_of)."""
    return hashlib.sha256(sorted_json).hexdigest()[:DIGEST_HEX]


def is_canonical_uuid(text: str) -> bool:
    """Whether `text` is a UUID as the ledger writes one: 36 characters, lower-case hexadecimal
    digits in groups of 8-4-4-4-12 joined by hyphens."""
    return _CANONICAL_UUID.fullmatch(text) is not None


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

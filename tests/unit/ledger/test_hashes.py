"""ledger.hashes as it runs (compiled from hashes.pyx where built) against its Python source and
the standard library: the same ids and digests, whichever runs."""

from __future__ import annotations

import hashlib
import importlib.util
import re
import uuid
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

import ledger.hashes as running
from ledger.entries import LEDGER_NAMESPACE

SOURCE = Path(running.__file__).with_name("hashes.py")
_spec = importlib.util.spec_from_file_location("hashes_source", SOURCE)
source = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(source)

# An entry's id is named after its source event's (a UUID), its kind and its subject.
names = st.one_of(st.text(), st.builds(lambda u, kind, subject: f"entry:{u}:{kind}:{subject}", st.uuids(),
                                       st.sampled_from(["credit", "reversal"]), st.text(max_size=80)))


@given(names)
def test_uuid5_is_the_standard_uuid5_in_the_ledgers_namespace_compiled_or_not(name):
    expected = str(uuid.uuid5(LEDGER_NAMESPACE, name))
    assert running.uuid5(name) == source.uuid5(name) == expected


@given(st.binary(max_size=3000))
def test_the_content_digest_is_sha256s_first_80_bits_compiled_or_not(content):
    expected = hashlib.sha256(content).hexdigest()[:20]
    assert running.content_digest(content) == source.content_digest(content) == expected
    assert running.DIGEST_HEX == source.DIGEST_HEX == 20


def test_the_source_is_beside_what_runs():
    assert SOURCE.is_file() and (SOURCE.with_suffix(".pyx")).is_file()
    assert source.__file__ == str(SOURCE)


# Texts around a canonical UUID: upper case, braces, a digit or hyphen moved, cut, lengthened, not
# ASCII (a full-width digit is a digit to Python's str methods, not to the check).
_near_uuids = st.builds(
    lambda u, at, char: u[:at] + char + u[at + 1:], st.uuids().map(str), st.integers(0, 36),
    st.sampled_from(["", "A", "F", "g", "-", "0", "9", "a", "f", "\uff10", "\u0660", " ", "{", "x0"]))


@given(st.one_of(st.uuids().map(str), _near_uuids, st.text(max_size=40)))
def test_an_event_id_is_canonical_alike_compiled_or_not(text):
    expected = bool(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", text))
    assert running.is_canonical_uuid(text) is source.is_canonical_uuid(text) is expected
    if expected:
        assert str(uuid.UUID(text)) == text

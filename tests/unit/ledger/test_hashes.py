"""ledger.hashes as it runs (compiled from hashes.pyx where built) against its Python source and
the standard library: the same ids and digests, whichever runs."""

from __future__ import annotations

import hashlib
import importlib.util
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

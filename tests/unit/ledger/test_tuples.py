"""ledger.tuples as it runs (compiled from tuples.pyx where built) against its Python source: the
same NamedTuple from the same values, whichever runs; compiled, untracked by the garbage
collector, and holding its values' references as a tuple does."""

from __future__ import annotations

import gc
import importlib.util
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import ledger.tuples as running
from ledger.book import Claim
from ledger.sheets import Sheet

SOURCE = Path(running.__file__).with_name("tuples.py")
_spec = importlib.util.spec_from_file_location("tuples_source", SOURCE)
source = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(source)
COMPILED = not running.__file__.endswith(".py")

_values = st.one_of(st.none(), st.text(max_size=20), st.integers(), st.tuples(st.integers(), st.text(max_size=5)))


@given(st.sampled_from([Claim, Sheet]), st.data())
def test_a_namedtuple_from_its_values_compiled_or_not(kind, data):
    values = tuple(data.draw(st.lists(_values, min_size=len(kind._fields), max_size=len(kind._fields))))
    made, expected = running.new(kind, values), source.new(kind, values)
    assert type(made) is type(expected) is kind
    assert made == expected == kind(*values) and hash(made) == hash(expected)
    assert [getattr(made, name) for name in kind._fields] == list(values)
    assert made._replace() == made and made[1:3] == values[1:3]


@pytest.mark.skipif(not COMPILED, reason="tuples.pyx is not built here: tuple.__new__ runs")
def test_compiled_it_is_untracked_and_holds_its_values_as_a_tuple_does():
    marker = object()
    values = (f"event-{id(marker)}", marker, *range(14))
    before = sys.getrefcount(marker)
    made = [running.new(Claim, values) for _ in range(1000)]
    assert not any(map(gc.is_tracked, made))
    assert sys.getrefcount(marker) == before + 1000
    assert made[0].beneficiary_id is marker
    del made
    gc.collect()
    assert sys.getrefcount(marker) == before


@pytest.mark.skipif(not COMPILED, reason="tuples.pyx is not built here: tuple.__new__ runs")
def test_compiled_it_refuses_what_is_no_tuple_without_a_dict():
    class WithDict(tuple):
        pass

    for kind in (dict, WithDict):
        with pytest.raises(TypeError):
            running.new(kind, (1, 2))


def test_the_source_is_beside_what_runs():
    assert SOURCE.is_file() and SOURCE.with_suffix(".pyx").is_file()

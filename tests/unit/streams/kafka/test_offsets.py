"""The worker's intake bookkeeping (streams.kafka.offsets.IntakeProgress): it decides each partition's
offsets one after the other and never offers to commit past one it has not decided."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.kafka.offsets import Admission, IntakeProgress


def test_offsets_are_decided_in_order_from_the_committed_one():
    progress = IntakeProgress()
    progress.start(0, committed=40)
    assert progress.admit(0, 40) is Admission.DECIDE
    progress.decided(0, 40)
    assert progress.admit(0, 40) is Admission.SEEN  # delivered again: decided already
    assert progress.admit(0, 43) is Admission.GAP  # 41 and 42 were lost on the way
    assert progress.to_commit() == {0: 41}
    progress.decided(0, 43)  # not the next one: changes nothing
    assert progress.expected(0) == 41
    progress.skip_to(0, 42)  # 41 was deleted from Kafka (retention) before it could be read again
    assert progress.admit(0, 42) is Admission.DECIDE


def test_only_what_was_decided_since_the_last_commit_is_committed():
    progress = IntakeProgress()
    progress.start(0, committed=0)
    progress.start(1, committed=7)
    assert progress.to_commit() == {}
    progress.decided(1, 7)
    assert progress.to_commit() == {1: 8}
    progress.committed({1: 8})
    assert progress.to_commit() == {}


def test_a_revoked_partition_is_forgotten_and_starts_again_from_its_commit():
    progress = IntakeProgress()
    progress.start(2, committed=10)
    progress.decided(2, 10)
    progress.forget({2})
    assert not progress.knows(2) and progress.to_commit() == {}
    progress.committed({2: 11})  # a commit that finishes after the revocation is not kept
    progress.start(2, committed=5)  # another worker's commit, read when the partition comes back
    assert progress.admit(2, 5) is Admission.DECIDE


@given(st.lists(st.integers(min_value=0, max_value=30), max_size=80))
def test_whatever_order_messages_come_in_the_commit_never_passes_an_undecided_offset(deliveries):
    progress = IntakeProgress()
    progress.start(0, committed=0)
    decided = set()
    for offset in deliveries:
        if progress.admit(0, offset) is Admission.DECIDE:
            progress.decided(0, offset)
            decided.add(offset)
        commit = progress.to_commit().get(0, 0)
        assert set(range(commit)) <= decided

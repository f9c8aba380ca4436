"""The partition processor's stream time (streams.worker.processor): a watermark over the intake
partitions whose events a routed partition decides."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ledger.desk import Desk
from ledger.rulebook import Rulebook
from streams.worker.processor import PartitionProcessor, source_of
from streams.worker.routing import EVENTS, origin, pack

# (topic, source partition, offset, index, stamp in ms or None)
_records = st.lists(st.tuples(st.sampled_from(["intake", "intake-b"]), st.integers(0, 12), st.integers(0, 3),
                              st.integers(0, 3), st.none() | st.integers(1_000, 1_006)), max_size=40)


def _watermarks(records, sources: int) -> list[float | None]:
    """The stream time each event is decided at, as the watermark defines it event by event: the
    earliest of the latest times of every source, once every source was seen; None when it did
    not advance."""
    latest: dict[int, float] = {}
    out = []
    for where, stamp in records:
        source = source_of(where)
        if stamp is None or stamp <= latest.get(source, 0.0):
            out.append(None)
            continue
        latest[source] = stamp
        out.append(min(latest.values()) if len(latest) >= sources else None)
    return out


@given(st.lists(_records, max_size=5), st.integers(1, 3))
def test_each_event_is_decided_at_the_watermark_of_the_events_before_it(messages, sources):
    """Routed messages of records from any sources and times, in any order (a message's events most
    often share one source and time, which the processor checks once): each event's stream time is
    the watermark's, event by event, and the book's clock holds every source's latest time."""
    processor = PartitionProcessor(Rulebook(), sources=sources)
    seen = []

    class Spied(Desk):  # a subclass, not a patch: compiled (setup.py), Desk's methods cannot be replaced
        def decide(self, raw, where, stream_time=None, posted_at=None, keys_unique=False):
            seen.append(stream_time)
            return Desk.decide(self, raw, where, stream_time, posted_at, keys_unique)

    processor.desk = Spied(processor.book, processor.desk.rulebook)
    expected = []
    for records in messages:
        value = b"".join(pack(origin(topic, partition, offset, index), stamp, b"{}")
                         for topic, partition, offset, index, stamp in records)
        expected += [(origin(topic, partition, offset, index), stamp / 1000 if stamp else None)
                     for topic, partition, offset, index, stamp in records]
        processor.process(EVENTS, value, None)
    assert seen == _watermarks(expected, sources)
    latest = {}
    for where, stamp in expected:
        if stamp is not None:
            latest[source_of(where)] = max(latest.get(source_of(where), 0.0), stamp)
    assert {k: v for k, v in processor.book.clock.items() if k.startswith("src:")} == \
        {f"src:{source}": at for source, at in latest.items()}

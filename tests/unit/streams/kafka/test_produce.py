"""The worker's produce requests are the bytes aiokafka would write, with one copy of the batches."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from aiokafka.protocol.produce import ProduceRequest
from streams.kafka.produce import OneCopyProduceRequest, encode_produce, install

INT32 = st.integers(-(2**31), 2**31 - 1)
BATCH = st.one_of(st.none(), st.binary(max_size=300), st.binary(max_size=300).map(bytearray))
TOPICS = st.lists(st.tuples(st.text(max_size=12), st.lists(st.tuples(INT32, BATCH), max_size=4)), max_size=4)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.none(), st.text(max_size=20)), st.sampled_from([-1, 0, 1]), INT32, TOPICS, st.integers(3, 7))
def test_every_version_from_3_is_written_as_aiokafka_writes_it(transactional_id, acks, timeout, topics, version):
    versions = {ProduceRequest.API_KEY: (0, version)}
    theirs = ProduceRequest(transactional_id, acks, timeout, topics).prepare(versions)
    ours = OneCopyProduceRequest(transactional_id, acks, timeout, topics).prepare(versions)
    assert ours.API_VERSION == theirs.API_VERSION == version
    assert type(ours).encode is encode_produce  # not aiokafka's, which would pass whatever this writes
    assert ours.encode() == theirs.encode()
    assert ours.build_request_header(7, "w").encode() == theirs.build_request_header(7, "w").encode()
    assert ours.RESPONSE_TYPE is theirs.RESPONSE_TYPE


def test_older_versions_keep_aiokafka_s_own_encoder():
    topics = [("ledger", [(0, b"batch"), (1, None)])]
    for version in (0, 1, 2):
        ours = OneCopyProduceRequest(None, -1, 1000, topics).prepare({ProduceRequest.API_KEY: (0, version)})
        assert ours.API_VERSION == version and type(ours).encode is not encode_produce
        assert ours.encode() == ProduceRequest(None, -1, 1000, topics).prepare(
            {ProduceRequest.API_KEY: (0, version)}).encode()


def test_install_makes_aiokafka_s_sender_build_them(monkeypatch):
    from aiokafka.producer import sender

    monkeypatch.setattr(sender, "ProduceRequest", ProduceRequest)
    install()
    assert sender.ProduceRequest is OneCopyProduceRequest


def test_a_worker_built_sends_its_requests_so(monkeypatch):
    import gc

    from aiokafka.producer import sender

    from streams.settings import Settings
    from streams.worker.app import build_worker

    monkeypatch.setattr(sender, "ProduceRequest", ProduceRequest)
    thresholds = gc.get_threshold()
    try:
        build_worker(Settings(topic_prefix="t-produce"))
    finally:
        gc.set_threshold(*thresholds)
    assert sender.ProduceRequest is OneCopyProduceRequest

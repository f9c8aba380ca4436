"""The worker's produce requests are the bytes aiokafka would write, with one copy of the batches."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from aiokafka.conn import AIOKafkaConnection
from aiokafka.protocol.produce import ProduceRequest
from streams.kafka.produce import Body, OneCopyProduceRequest, encode_produce, install

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
    body = ours.encode()
    assert isinstance(body, Body) and bytes(body) == theirs.encode() and len(body) == len(theirs.encode())
    assert ours.build_request_header(7, "w").encode() == theirs.build_request_header(7, "w").encode()
    assert ours.RESPONSE_TYPE is theirs.RESPONSE_TYPE


def written_by_aiokafka_s_connection(request, version: int) -> bytes:
    """What aiokafka's own `AIOKafkaConnection.send` writes to its socket for `request`."""

    class Writer:
        def __init__(self) -> None:
            self.data: list = []

        def write(self, data) -> None:
            assert isinstance(data, bytes), type(data)  # what a transport accepts
            self.data.append(data)

        async def drain(self) -> None:
            return None

    async def send() -> bytes:
        connection = AIOKafkaConnection("127.0.0.1", 9092, client_id="worker")
        connection._writer, connection._versions = Writer(), {ProduceRequest.API_KEY: (0, version)}
        await connection.send(request, expect_response=False)
        return b"".join(connection._writer.data)

    return asyncio.run(send())


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.none(), st.text(max_size=20)), INT32, TOPICS, st.integers(0, 7))
def test_aiokafka_s_connection_writes_the_same_request_with_either(transactional_id, timeout, topics, version):
    """Through the connection's own code (header, size, write), not a copy of it: if aiokafka wrote
    a request otherwise, this would see it."""
    if version < 3:
        transactional_id = None
    ours = written_by_aiokafka_s_connection(OneCopyProduceRequest(transactional_id, -1, timeout, topics), version)
    theirs = written_by_aiokafka_s_connection(ProduceRequest(transactional_id, -1, timeout, topics), version)
    assert ours == theirs


def test_a_body_used_as_bytes_is_its_bytes():
    body = encode_produce(ProduceRequest(None, -1, 1000, [("ledger", [(0, b"batch")])]).prepare(
        {ProduceRequest.API_KEY: (3, 7)}))
    assert bytes(body) == ProduceRequest(None, -1, 1000, [("ledger", [(0, b"batch")])]).prepare(
        {ProduceRequest.API_KEY: (3, 7)}).encode()
    assert len(body) == len(bytes(body))
    headed = b"head" + body
    assert isinstance(headed, Body) and bytes(headed) == b"head" + bytes(body)
    assert b"size" + headed == b"size" + b"head" + bytes(body)


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

"""Produce requests written with one copy of their record batches, for the worker's producer.

aiokafka (0.14) encodes a request by nested joins: each partition's batch is copied into its
length-prefixed `Bytes`, that into its partition's struct, that into the partitions' array, then
the topic's struct, the topics' array and the request's struct, before the connection adds the
header and the size (`conn.send`): about eight copies of every byte the worker produces, each
into a new buffer the kernel must fault in. At the Grand Paris size the worker's profile put
`Array.encode` and `Schema.encode` at 7 % of its samples (docs/scaling.md, "Produce requests
with one copy"). Here the request is one join of its small headers and the batches as they are,
the connection's header and size included: `encode` returns the parts (`Body`), and the two
concatenations `conn.send` makes with it (`header.encode() + body`, then `size + message`) put
their bytes in front of the parts instead of copying the request twice more.

Only the shape of versions 3 to 8 (transactional id, acks, timeout, topics of partitions of
batches) is written so; any other version goes through aiokafka's own encoder. The bytes are the
same as aiokafka's: tests/unit/streams/kafka/test_produce.py compares both on generated requests.
"""

from __future__ import annotations

import struct
from functools import lru_cache

from aiokafka.producer import sender as _sender
from aiokafka.protocol.produce import ProduceRequest, ProduceRequest_v3

_SHAPE = ProduceRequest_v3.SCHEMA  # shared by v3-v8
_INT16 = struct.Struct(">h")
_INT32 = struct.Struct(">i")
_HEAD = struct.Struct(">hii")  # acks, timeout, number of topics
_PARTITION = struct.Struct(">ii")  # partition, batch length (-1: none)


class Body:
    """A request's body as its parts, joined once the connection has put its header and size before
    them. aiokafka's `conn.send` (0.14) does `message = header.encode() + body`, then
    `len(message)`, then `write(size + message)`: `bytes` has no numeric `+`, so Python asks the
    right operand (`__radd__`), which puts the header, then the size, in front of the parts, and
    returns the whole request as bytes the second time. Used any other way, it is its bytes
    (`bytes(body)`, `len(body)`); `tests/unit/streams/kafka/test_produce.py` sends through
    aiokafka's own `conn.send` and compares the bytes written with aiokafka's encoder's."""

    __slots__ = ("parts", "size", "headed")

    def __init__(self, parts: list, size: int, headed: bool = False) -> None:
        self.parts, self.size, self.headed = parts, size, headed

    def __len__(self) -> int:
        return self.size

    def __bytes__(self) -> bytes:
        return b"".join(self.parts)

    def __radd__(self, head):
        if not isinstance(head, (bytes, bytearray)):
            return NotImplemented
        if self.headed:  # the size before the header and body: the request as it is written
            return b"".join([head, *self.parts])
        return Body([head, *self.parts], len(head) + self.size, headed=True)


def encode_produce(request) -> Body:
    """A v3-v8 produce request struct's body, byte for byte as aiokafka writes it."""
    fields = request.__dict__
    transactional_id = fields["transactional_id"]
    if transactional_id is None:
        parts = [_INT16.pack(-1)]
    else:
        name = str(transactional_id).encode()
        parts = [_INT16.pack(len(name)), name]
    topics = fields["topics"]
    parts.append(_HEAD.pack(fields["required_acks"], fields["timeout"], len(topics)))
    for topic, partitions in topics:
        name = str(topic).encode()
        parts += (_INT16.pack(len(name)), name, _INT32.pack(len(partitions)))
        for partition, batch in partitions:
            if batch is None:
                parts.append(_PARTITION.pack(partition, -1))
            else:
                parts += (_PARTITION.pack(partition, len(batch)), batch)
    return Body(parts, sum(map(len, parts)))


@lru_cache(maxsize=None)
def _one_copy(struct_class: type) -> type:
    """The version's struct class, encoded by `encode_produce`."""
    return type(struct_class.__name__, (struct_class,), {"encode": encode_produce, "__module__": __name__})


class OneCopyProduceRequest(ProduceRequest):
    """aiokafka's ProduceRequest, whose v3-v8 structs encode with one copy of the batches."""

    def build(self, request_struct_class):
        if request_struct_class.SCHEMA is _SHAPE:
            request_struct_class = _one_copy(request_struct_class)
        return super().build(request_struct_class)


def install() -> None:
    """Every aiokafka producer of this process (Faust's included) builds its produce requests so.
    aiokafka's sender names the class it builds them with at its module's level: that name is
    what changes."""
    _sender.ProduceRequest = OneCopyProduceRequest

"""streams.worker.app.delivery: what a commit awaits of a send, without holding the send's message."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest

from streams.worker.app import delivery


class Sent(asyncio.Future):
    """Like Faust's FutureMessage: a future that holds its message until it is dropped."""

    def __init__(self, value: bytes) -> None:
        super().__init__()
        self.value = value


def test_a_delivery_has_the_send_s_outcome():
    async def run():
        ok, failed, cancelled = Sent(b"a"), Sent(b"b"), Sent(b"c")
        waits = [delivery(ok), delivery(failed), delivery(cancelled)]
        ok.set_result("metadata")
        failed.set_exception(OSError("broker gone"))
        cancelled.cancel()
        await asyncio.sleep(0)  # the callbacks run on the loop
        assert await waits[0] == "metadata"
        with pytest.raises(OSError, match="broker gone"):
            await waits[1]
        assert waits[2].cancelled()

    asyncio.run(run())


def test_a_delivery_does_not_keep_the_message_once_sent():
    """The worker keeps what was sent since its last commit (~a second of outputs, a snapshot's
    220 MB): once delivered, the message must be free to go."""
    async def run():
        sent = Sent(b"x" * 1_000_000)
        gone = weakref.ref(sent)
        wait = delivery(sent)
        sent.set_result("metadata")
        await asyncio.sleep(0)
        del sent
        gc.collect()
        assert gone() is None
        assert await wait == "metadata"

    asyncio.run(run())

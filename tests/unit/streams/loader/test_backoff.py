"""streams.loader.backoff: the waits between attempts at a broker or a store that failed."""

from streams.loader.backoff import Backoff


def test_waits_double_up_to_the_most_and_start_again_after_a_success():
    backoff = Backoff(first=0.5, most=4.0)
    assert [backoff.next() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert backoff.failures == 6
    backoff.reset()
    assert (backoff.failures, backoff.next()) == (0, 0.5)


def test_a_long_outage_does_not_overflow():
    backoff = Backoff(first=1.0, most=30.0)
    for _ in range(5000):
        wait = backoff.next()
    assert wait == 30.0

"""Waits between attempts at something that failed outside the ledger (a broker, a store)."""

from __future__ import annotations


class Backoff:
    """Doubling waits, from `first` up to `most` seconds, until a success resets them."""

    def __init__(self, first: float = 0.5, most: float = 30.0) -> None:
        self.first, self.most = first, most
        self.failures = 0

    def next(self) -> float:
        """The wait before the next attempt, after one more failure."""
        wait = min(self.first * 2 ** min(self.failures, 32), self.most)  # 2**n of a long outage overflows a float
        self.failures += 1
        return wait

    def reset(self) -> None:
        self.failures = 0

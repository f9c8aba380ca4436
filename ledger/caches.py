"""Bounded caches that the hot path reads with a plain `cache.get(key)`.

A programme's millions of timesheets name a few thousand days, a few hundred hours, contracts and
SIAE, some thousands of people: each is checked or written once, then found again by one dict
lookup in the caller (`_DAYS.get(text) or _day(text)`), where an `lru_cache`'s call cost ~450
instructions a hit (docs/scaling.md, "Hashes in C, caches in dicts"). The function that computes
a value on a miss keeps it with `remember`.
"""

from __future__ import annotations

LIMIT = 65_536


def remember(cache: dict, key, value, limit: int = LIMIT):
    """`value`, kept in `cache` under `key`. A full cache is emptied first: a hostile variety of
    keys is forgotten, never refused, and never grows the process."""
    if len(cache) >= limit:
        cache.clear()
    cache[key] = value
    return value

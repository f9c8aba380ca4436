"""ledger.caches.remember: what the hot path finds again with `cache.get(key)`, bounded."""

from ledger.caches import remember


def test_a_value_is_kept_and_returned():
    cache: dict = {}
    assert remember(cache, "2026-03-02", 739677) == 739677
    assert cache.get("2026-03-02") == 739677


def test_a_full_cache_is_emptied_before_the_next_value_never_grown():
    cache = {n: n for n in range(3)}
    assert remember(cache, "new", 1, limit=3) == 1
    assert cache == {"new": 1}
    for n in range(10):
        remember(cache, n, n, limit=3)
        assert len(cache) <= 3

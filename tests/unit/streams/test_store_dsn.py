"""The store's DSNs, without opening a store."""

from __future__ import annotations

from pathlib import Path

from streams.store import _resolve


def test_a_relative_embedded_path_is_made_absolute_and_keeps_its_parameters(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert _resolve("chdb://.ledger/store") == f"chdb://{tmp_path / '.ledger' / 'store'}"
    assert _resolve("chdb://a/../store?config-file=cluster.xml") == f"chdb://{tmp_path / 'store'}?config-file=cluster.xml"
    assert _resolve("chdb:///abs/store?config-file=/c.xml") == "chdb:///abs/store?config-file=/c.xml"
    assert _resolve("http://u:p@clickhouse-1:8123") == "http://u:p@clickhouse-1:8123"
    assert Path(_resolve("chdb://x")[len("chdb://"):]).is_absolute()

"""The local broker's ports are outside the ephemeral range: a client reconnecting to a stopped
broker cannot take the port the broker needs to bind again."""

from __future__ import annotations

from pathlib import Path

from streams.kafka.localkafka import LocalKafka, free_port


def kernel_range() -> tuple[int, int]:
    low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    return int(low), int(high)


def test_ephemeral_range_is_the_kernels():
    from streams.kafka.localkafka import ephemeral_range

    assert ephemeral_range() == kernel_range()


def test_free_ports_are_below_the_ephemeral_range():
    low, high = kernel_range()
    for _ in range(50):
        port = free_port()
        assert not low <= port <= high, port
        assert port >= 1024


def test_a_local_broker_and_its_controller_listen_outside_the_ephemeral_range(tmp_path):
    low, high = kernel_range()
    broker = LocalKafka(tmp_path / "kafka", "4.1.1", tmp_path / "cache")
    assert not low <= broker.port <= high
    assert not low <= broker.controller_port <= high
    assert broker.controller_port != broker.port
    # The same ports again for the same data directory (a restart binds what it bound before).
    again = LocalKafka(tmp_path / "kafka", "4.1.1", tmp_path / "cache")
    assert (again.port, again.controller_port) == (broker.port, broker.controller_port)

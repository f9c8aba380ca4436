"""How many messages wait in Kafka for the workers and for the loader: committed offsets of their
consumer groups against the topics' ends. Asked by the live view in a thread of its own (a broker
that does not answer delays nothing but this figure), and by `ledger reconcile`."""

from __future__ import annotations

import logging
import threading
import time

from streams.settings import Settings

log = logging.getLogger(__name__)


class KafkaLag:
    """One admin client and one group-less consumer, opened on first use and kept (reopened after an error)."""

    def __init__(self, cfg: Settings):
        self.cfg = cfg
        self._admin = self._consumer = None

    def group_lag(self, group: str, topics: list[str]) -> int:
        """Messages of `topics` past `group`'s committed offsets (a partition never committed counts whole)."""
        from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

        try:
            if self._admin is None:
                self._admin = KafkaAdminClient(bootstrap_servers=self.cfg.bootstrap_servers,
                                               client_id="ledger-live-lag", request_timeout_ms=10_000)
                self._consumer = KafkaConsumer(bootstrap_servers=self.cfg.bootstrap_servers, group_id=None,
                                               client_id="ledger-live-lag", isolation_level="read_committed",
                                               request_timeout_ms=10_000)
            committed = self._admin.list_group_offsets({group: None}).get(group, {})
            tps = [TopicPartition(t, p) for t in topics for p in (self._consumer.partitions_for_topic(t) or ())]
            start = self._consumer.beginning_offsets(tps)
            end = self._consumer.end_offsets(tps)
        except Exception:
            self.close()
            raise
        return sum(max(0, end[tp] - max(start[tp], committed[tp].offset if tp in committed else 0)) for tp in tps)

    def close(self) -> None:
        for client in (self._admin, self._consumer):
            try:
                if client is not None:
                    client.close()
            except Exception:  # noqa: BLE001 - closing a client that already failed
                pass
        self._admin = self._consumer = None


class LagProbe:
    """The workers' and the loader's lag, refreshed every `every` seconds in a daemon thread."""

    def __init__(self, cfg: Settings, every: float):
        self.cfg, self.every = cfg, max(0.5, every)
        self.latest: dict = {"worker_lag_messages": None, "loader_lag_messages": None, "checked_at": None,
                             "error": "not checked yet"}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ledger-live-lag", daemon=True)

    def start(self) -> LagProbe:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=15)

    def _run(self) -> None:
        lag = KafkaLag(self.cfg)
        cfg = self.cfg
        try:
            while not self._stop.is_set():
                try:
                    workers = lag.group_lag(cfg.worker_id, [cfg.intake_topic, cfg.routed_topic])
                    loader = lag.group_lag(cfg.loader_group, [cfg.ledger_topic, cfg.rejections_topic])
                    self.latest = {"worker_lag_messages": workers, "loader_lag_messages": loader,
                                   "checked_at": time.time(), "error": None}
                except Exception as error:  # noqa: BLE001 - shown on the page, asked again next time
                    log.info("Kafka lag not read: %r", error)
                    self.latest = dict(self.latest, error=f"Kafka did not answer: {error}")
                self._stop.wait(self.every)
        finally:
            lag.close()

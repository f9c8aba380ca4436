"""The gateway's producer: validated events to the intake topic, answered once Kafka acknowledged.

kafka-python with acks=all and idempotence, like `streams.producer.ContractorProducer`, keyed by
`ledger.events.partition_key`, with two headers for provenance (`ledger-token`: the token id,
`ledger-principal`: role:subject). Every wait is bounded by `kafka_timeout_seconds`, so a request
never hangs on a broker that is gone: it gets 503.

Before a batch is sent, the broker is asked for the intake topic's metadata (a live request, not
the client's cache): a broker known to be down refuses the batch before any event leaves. If the
broker fails after that, in the middle of a batch, each event's fate is reported: acknowledged
(with its partition and offset), failed (not written), or unconfirmed (the wait ran out: it may or
may not be written). Posting the same batch again is safe: the events keep their event_id and the
worker counts an event id once (a second copy is a `duplicate_event` rejection).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from kafka import KafkaAdminClient, KafkaProducer

from ledger.events import partition_key
from streams.gateway.config import GatewaySettings
from streams.gateway.parsing import Line
from streams.settings import Settings

log = logging.getLogger(__name__)


class KafkaUnavailable(Exception):
    """Nothing was sent: the broker did not answer."""


@dataclass
class Produced:
    acknowledged: list[tuple[Line, int, int]] = field(default_factory=list)  # (line, partition, offset)
    failed: list[tuple[Line, str]] = field(default_factory=list)
    unconfirmed: list[Line] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.failed and not self.unconfirmed


class IntakeProducer:
    def __init__(self, cfg: Settings, gw: GatewaySettings):
        self.cfg = cfg
        self.topic = cfg.intake_topic
        self.timeout = gw.kafka_timeout_seconds
        self._security = {"security_protocol": gw.kafka_security_protocol}
        if gw.kafka_sasl_mechanism:
            self._security.update(
                sasl_mechanism=gw.kafka_sasl_mechanism, sasl_plain_username=gw.kafka_sasl_username,
                sasl_plain_password=gw.kafka_sasl_password.get_secret_value() if gw.kafka_sasl_password else None)
        self._lock = threading.Lock()
        self._producer: KafkaProducer | None = None
        self._admin: KafkaAdminClient | None = None

    def _timeout_ms(self, share: float = 1.0) -> int:
        return max(1000, int(self.timeout * 1000 * share))

    def _get_producer(self) -> KafkaProducer:
        with self._lock:
            if self._producer is None:
                try:
                    self._producer = KafkaProducer(
                        bootstrap_servers=self.cfg.bootstrap_servers, client_id="ledger-gateway", acks="all",
                        enable_idempotence=True, linger_ms=5, batch_size=256 * 1024,
                        allow_auto_create_topics=False, bootstrap_timeout_ms=self._timeout_ms(),
                        max_block_ms=self._timeout_ms(), request_timeout_ms=self._timeout_ms(0.5),
                        delivery_timeout_ms=self._timeout_ms(), **self._security)
                except Exception as error:
                    raise KafkaUnavailable(f"cannot connect to Kafka at {self.cfg.kafka_dsn}: {error}") from None
            return self._producer

    def check(self) -> None:
        """A live metadata request for the intake topic; raises KafkaUnavailable if it fails."""
        with self._lock:
            try:
                if self._admin is None:
                    self._admin = KafkaAdminClient(
                        bootstrap_servers=self.cfg.bootstrap_servers, client_id="ledger-gateway-ready",
                        request_timeout_ms=self._timeout_ms(0.5), bootstrap_timeout_ms=self._timeout_ms(0.5),
                        **self._security)
                topics = self._admin.describe_topics([self.topic])
            except Exception as error:
                admin, self._admin = self._admin, None
                if admin is not None:
                    try:
                        admin.close()
                    except Exception:  # pragma: no cover - closing a broken client
                        pass
                raise KafkaUnavailable(f"Kafka at {self.cfg.kafka_dsn} does not answer: {error}") from None
        found = [t for t in topics if t.get("name") == self.topic]
        if not found or found[0].get("error_code", 0) != 0 or not found[0].get("partitions"):
            raise KafkaUnavailable(f"the intake topic {self.topic} does not exist on {self.cfg.kafka_dsn}")

    def produce(self, lines: list[Line], headers: list[tuple[str, bytes]]) -> Produced:
        """Send every line; wait for each acknowledgement. Raises KafkaUnavailable if none was sent."""
        self.check()
        producer = self._get_producer()
        deadline = time.monotonic() + self.timeout + 5
        futures = []
        result = Produced()
        for n, line in enumerate(lines):
            try:
                futures.append((line, producer.send(self.topic, value=line.value,
                                                    key=partition_key(line.event).encode(), headers=headers)))
            except Exception as error:  # metadata wait ran out, buffer full: this one and the rest unsent
                if not futures:
                    raise KafkaUnavailable(f"Kafka refused the first event: {error}") from None
                result.failed.extend((rest, f"not sent: {error}") for rest in lines[n:])
                break
        try:
            producer.flush(timeout=max(0.1, deadline - time.monotonic()))
        except Exception as error:
            log.warning("flush did not complete: %s", error)
        for line, future in futures:
            if not future.is_done:
                try:
                    future.get(timeout=max(0.0, deadline - time.monotonic()))
                except Exception:
                    pass
            if not future.is_done:
                result.unconfirmed.append(line)
            elif future.failed():
                result.failed.append((line, str(future.exception)))
            else:
                metadata = future.value
                result.acknowledged.append((line, metadata.partition, metadata.offset))
        if result.failed or result.unconfirmed:
            result.failed.sort(key=lambda f: f[0].line)
        return result

    def close(self) -> None:
        with self._lock:
            for client in (self._producer, self._admin):
                if client is not None:
                    try:
                        client.close(timeout=5) if isinstance(client, KafkaProducer) else client.close()
                    except Exception:  # pragma: no cover
                        pass
            self._producer = self._admin = None

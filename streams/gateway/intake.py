"""The gateway's producer: validated events to the intake topic, answered once Kafka acknowledged.

kafka-python with acks=all and idempotence, like `streams.contractor.producer.ContractorProducer`, keyed by
`ledger.registry.subject_of`, with two headers for provenance (`ledger-token`: the token id,
`ledger-principal`: role:subject). A request has one deadline, `kafka_timeout_seconds` from its
arrival, for all its waits on Kafka (metadata, connection, acknowledgements), so a request never
hangs on a broker that is gone: it gets 503 by then. No lock is held across a network call, so one
slow request never queues the others behind it.

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

from ledger.registry import subject_of
from streams.gateway.config import GatewaySettings
from streams.gateway.parsing import Line
from streams.contractor.producer import PRODUCER_BATCH_BYTES
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


class _Probe:
    """One live metadata request, shared by every caller that arrives while it runs."""

    def __init__(self):
        self.done = threading.Event()
        self.error: str | None = None
        self.topics: list = []


class IntakeProducer:
    """No lock is held across a network call: the lock only guards the clients' fields. Every
    caller passes a deadline (monotonic seconds) and is answered by it: a broker that does not
    answer costs a request at most `kafka_timeout_seconds`, whatever the other requests do."""

    def __init__(self, cfg: Settings, gw: GatewaySettings):
        self.cfg = cfg
        self.topic = cfg.intake_topic
        self.timeout = gw.kafka_timeout_seconds
        self._security = {"security_protocol": gw.kafka_security_protocol}
        if gw.kafka_sasl_mechanism:
            self._security.update(
                sasl_mechanism=gw.kafka_sasl_mechanism, sasl_plain_username=gw.kafka_sasl_username,
                sasl_plain_password=gw.kafka_sasl_password.get_secret_value() if gw.kafka_sasl_password else None)
        self._lock = threading.Lock()  # guards the fields below; never held while waiting on Kafka
        self._producer: KafkaProducer | None = None
        self._admin: KafkaAdminClient | None = None  # used by one probe thread at a time
        self._probe: _Probe | None = None

    def _timeout_ms(self, share: float = 1.0) -> int:
        return max(1000, int(self.timeout * 1000 * share))

    def _deadline(self, deadline: float | None) -> float:
        return time.monotonic() + self.timeout if deadline is None else deadline

    def _get_producer(self, deadline: float) -> KafkaProducer:
        with self._lock:
            if self._producer is not None:
                return self._producer
        remaining = deadline - time.monotonic()
        if remaining < 0.05:
            raise KafkaUnavailable("no time left to connect to Kafka")
        try:  # outside the lock: another request may connect at the same time; one client is kept
            producer = KafkaProducer(
                bootstrap_servers=self.cfg.bootstrap_servers, client_id="ledger-gateway", acks="all",
                enable_idempotence=True, linger_ms=5, batch_size=PRODUCER_BATCH_BYTES,
                allow_auto_create_topics=False, bootstrap_timeout_ms=max(50, int(remaining * 1000)),
                # Metadata is awaited explicitly with the request's deadline (produce); what is left
                # to block a send is a full buffer, bounded here.
                max_block_ms=1000, request_timeout_ms=self._timeout_ms(0.5),
                delivery_timeout_ms=self._timeout_ms(), **self._security)
        except Exception as error:
            raise KafkaUnavailable(f"cannot connect to Kafka at {self.cfg.kafka_dsn}: {error}") from None
        with self._lock:
            if self._producer is None:
                self._producer, producer = producer, None
            kept = self._producer
        if producer is not None:
            producer.close(timeout=0)
        return kept

    def _run_probe(self, probe: _Probe) -> None:
        try:
            if self._admin is None:
                self._admin = KafkaAdminClient(
                    bootstrap_servers=self.cfg.bootstrap_servers, client_id="ledger-gateway-ready",
                    request_timeout_ms=self._timeout_ms(0.5), bootstrap_timeout_ms=self._timeout_ms(0.5),
                    **self._security)
            probe.topics = self._admin.describe_topics([self.topic])
        except Exception as error:
            admin, self._admin = self._admin, None
            if admin is not None:
                try:
                    admin.close()
                except Exception:  # pragma: no cover - closing a broken client
                    pass
            probe.error = f"Kafka at {self.cfg.kafka_dsn} does not answer: {error}"
        finally:
            probe.done.set()

    def check(self, timeout: float | None = None) -> None:
        """A live metadata request for the intake topic, answered within `timeout` seconds (default
        kafka_timeout_seconds); raises KafkaUnavailable if it fails or does not come in time.

        The request runs in a thread of its own; callers that arrive while one runs wait for it
        (each for its own time at most) instead of queueing requests of their own."""
        timeout = self.timeout if timeout is None else timeout
        with self._lock:
            probe = self._probe
            if probe is None or probe.done.is_set():
                probe = self._probe = _Probe()
                threading.Thread(target=self._run_probe, args=(probe,), name="ledger-gateway-kafka-check",
                                 daemon=True).start()
        if not probe.done.wait(max(0.0, timeout)):
            raise KafkaUnavailable(f"Kafka at {self.cfg.kafka_dsn} did not answer within {max(0.0, timeout):.1f} s")
        if probe.error is not None:
            raise KafkaUnavailable(probe.error)
        found = [t for t in probe.topics if t.get("name") == self.topic]
        if not found or found[0].get("error_code", 0) != 0 or not found[0].get("partitions"):
            raise KafkaUnavailable(f"the intake topic {self.topic} does not exist on {self.cfg.kafka_dsn}")

    def produce(self, lines: list[Line], headers: list[tuple[str, bytes]], deadline: float | None = None) -> Produced:
        """Send every line; wait for each acknowledgement until `deadline` (monotonic seconds; default
        now + kafka_timeout_seconds). Raises KafkaUnavailable if none was sent."""
        deadline = self._deadline(deadline)
        self.check(deadline - time.monotonic())
        producer = self._get_producer(deadline)
        try:  # the topic's partitions, known once; waited for here with the request's deadline
            producer._wait_on_metadata(self.topic, max(1, int((deadline - time.monotonic()) * 1000)))
        except Exception as error:
            raise KafkaUnavailable(f"no metadata for {self.topic} in time: {error}") from None
        futures = []
        result = Produced()
        for n, line in enumerate(lines):
            try:
                if time.monotonic() >= deadline:
                    raise TimeoutError("the request's deadline passed")
                futures.append((line, producer.send(self.topic, value=line.value,
                                                    key=subject_of(line.event).encode(), headers=headers)))
            except Exception as error:  # buffer full, deadline: this one and the rest unsent
                if not futures:
                    raise KafkaUnavailable(f"Kafka refused the first event: {error}") from None
                result.failed.extend((rest, f"not sent: {error}") for rest in lines[n:])
                break
        try:
            producer.flush(timeout=max(0.0, deadline - time.monotonic()))
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
            clients, self._producer, self._admin = (self._producer, self._admin), None, None
        for client in clients:
            if client is not None:
                try:
                    client.close(timeout=5) if isinstance(client, KafkaProducer) else client.close()
                except Exception:  # pragma: no cover
                    pass

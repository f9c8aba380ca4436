"""The gateway's settings, read from the environment (prefix LEDGER_GATEWAY_).

Kafka's address, topics and partitions come from the ledger's own settings (LEDGER_KAFKA_DSN,
LEDGER_TOPIC_PREFIX...): the gateway writes the same intake topic as `ledger post`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

MiB = 1024 * 1024


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGER_GATEWAY_", extra="ignore")

    host: str = Field("127.0.0.1", description="address uvicorn listens on (0.0.0.0 in a container)")
    port: int = 8000
    tokens: Path = Field(Path(".ledger/gateway/tokens.sqlite"),
                         description="sqlite file of hashed tokens and of the contracts each contractor holds")
    idempotency: Path = Field(Path(".ledger/gateway/idempotency.sqlite"),
                              description="sqlite file of the answers kept per Idempotency-Key")
    idempotency_ttl_hours: float = Field(72, description="how long an Idempotency-Key's answer is kept")
    max_request_bytes: int = Field(5 * MiB, description="larger request bodies are refused with 413")
    max_batch_lines: int = Field(10_000, description="batches with more events are refused with 413")
    kafka_timeout_seconds: float = Field(15, description="a request's deadline for all its waits on Kafka "
                                         "(connect, metadata, acks): it is answered (503 at worst) by then")
    in_flight_seconds: float = Field(60, description="an Idempotency-Key left in flight longer (a gateway that "
                                     "crashed mid-request) is taken over by a retry; at least "
                                     "kafka_timeout_seconds + 5")
    max_errors_per_line: int = Field(10, description="errors listed for one line of a refused request")
    max_errors_listed: int = Field(100, description="errors listed for a refused request (the others are counted)")
    retry_after_seconds: int = Field(10, description="Retry-After of a 503 answer")
    keep_alive_seconds: int = Field(75, description="an idle keep-alive connection is closed after this long; "
                                    "longer than any client's or proxy's idle timeout (httpx 5 s, load "
                                    "balancers 60 s), or a request sent as the gateway closes is reset")
    # Optional SASL/SCRAM towards the broker (docs/gateway.md): only the gateway may write the intake topic.
    kafka_security_protocol: str = Field("PLAINTEXT", description="PLAINTEXT, SASL_PLAINTEXT or SASL_SSL")
    kafka_sasl_mechanism: str | None = Field(None, description="e.g. SCRAM-SHA-512")
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None

"""One settings object, read from the environment (prefix LEDGER_) with local defaults."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGER_", extra="ignore")

    kafka_dsn: str = Field("kafka://127.0.0.1:9092",
                           description="kafka://host:port[,host:port]: the brokers")
    clickhouse_dsn: str = Field("chdb://.ledger/store",
                                description="chdb://PATH (embedded engine, one process) or http(s)://user:pass@host:8123")
    clickhouse_database: str = "insertion"
    clickhouse_cluster: str = Field(
        "", description="a ClickHouse cluster's name (remote_servers): the schema is created ON CLUSTER, replicated "
        "and sharded (streams/cluster.py, docs/scaling.md); empty = one server or the embedded engine")

    topic_prefix: str = Field("insertion", description="topics are PREFIX.intake, PREFIX.ledger, PREFIX.rejections")
    partitions: int = 4
    replication_factor: int = 1
    min_insync_replicas: int = Field(
        1, ge=1, description="replicas that must hold a record before the broker acknowledges it (acks=all): the "
        "topics of record are created with it and checked against it at start when above 1 (2 on a 3-broker cluster)")

    worker_id: str = Field("insertion-ledger", description="Faust app id: the workers' consumer group")
    worker_datadir: Path = Path(".ledger/worker")
    worker_session_timeout_seconds: float = Field(
        45.0, description="how long the group waits for a silent worker (and for rejoins) before moving its partitions")
    worker_commit_seconds: float = Field(
        1.0, description="how often a worker commits the intake offsets it has decided (a restart decides again since then)")
    worker_linger_seconds: float = Field(0.02, description="how long the worker's producer waits to fill a batch")
    worker_batch_bytes: int = Field(
        4 * 1024 * 1024, ge=1024 * 1024, description="the largest batch of records the worker's producer sends to one "
        "partition at a time; at the start it is cut to what the topics it writes accept (max.message.bytes)")
    worker_stream_buffer: int = Field(
        16, ge=8, description="messages a worker's agents buffer per topic before it pauses fetching (routed "
        "messages are up to 900 kB: 256 held ~230 MB on a backlog; Faust's default is 4,096)")
    worker_snapshot_min_bytes: int = Field(
        64 * 1024 * 1024, ge=1, description="state deltas a routed partition writes before its next checkpoint may "
        "be a snapshot (then the deltas must also weigh as much as the last snapshot: streams/worker/state.py)")
    metrics_port: int = Field(0, description="Prometheus /metrics port; 0 = no endpoint")
    metrics_addr: str = Field("127.0.0.1", description="address /metrics listens on (0.0.0.0 in a container)")
    log_level: str = Field("warning", description="worker log level (debug, info, warning, error); -v sets info")

    loader_group: str = "insertion-ledger-loader"
    loader_batch_size: int = Field(100_000, description="most records per ClickHouse insert (at most 100,000)")
    loader_batch_seconds: float = Field(1.0, description="longest wait before a partial batch is written (at most 1 s)")
    loader_session_timeout_seconds: float = Field(
        45.0, ge=6.0, description="how long the group waits for a silent loader (a restarted loader waits that long "
        "for its dead predecessor's partitions)")

    rulebook: Path = Field(REPO_ROOT / "rules" / "2026.1.toml", description="the counting rulebook file")
    pending_timeout_hours: float | None = Field(
        None, description="overrides the rulebook's wait for late reference data (the demo shortens it)")
    tick_seconds: float = Field(2.0, description="how often a worker advances stream time on its partitions")

    live_address: str = Field(
        "127.0.0.1:8765", description="host:port where the process that owns the store (ledger loader, ledger demo) "
        "serves the live view; 'off' = none. Beyond loopback a token is required (docs/live.md)")
    live_url: str | None = Field(
        None, description="a running live view (http://host:port) that ledger progress, sql and report ask instead "
        "of opening the store; unset: asked only when the embedded store is locked by its owner")
    live_token: SecretStr | None = Field(
        None, description="token (ledger token issue) that ledger progress, sql and report send to the live view")
    live_require_token: bool = Field(
        False, description="require a token on loopback too (always required on any other address)")
    live_refresh_seconds: float = Field(3.0, description="how often the live page refreshes its figures")
    live_sql_max_rows: int = Field(100_000, description="most rows the live view's SQL endpoint returns")
    live_sql_timeout_seconds: float = Field(30.0, description="max_execution_time of a query sent to the live view")

    kafka_version: str = "4.1.1"
    kafka_cache: Path = Path.home() / ".cache" / "insertion-ledger"

    @property
    def bootstrap_servers(self) -> list[str]:
        parsed = urlparse(self.kafka_dsn)
        if parsed.scheme != "kafka":
            raise ValueError(f"LEDGER_KAFKA_DSN must look like kafka://host:port, not {self.kafka_dsn!r}")
        return parsed.netloc.split(",")

    @property
    def intake_topic(self) -> str:
        return f"{self.topic_prefix}.intake"

    @property
    def ledger_topic(self) -> str:
        return f"{self.topic_prefix}.ledger"

    @property
    def rejections_topic(self) -> str:
        return f"{self.topic_prefix}.rejections"

    @property
    def routed_topic(self) -> str:
        """The intake's events, each on the partition of its key: what the workers decide."""
        return f"{self.topic_prefix}.routed"

    @property
    def state_topic(self) -> str:
        """The workers' state, one delta per partition per commit."""
        return f"{self.topic_prefix}.worker-state"


@lru_cache
def settings() -> Settings:
    return Settings()


def load_rulebook(cfg: Settings):
    from ledger.rulebook import Rulebook

    rulebook = Rulebook.from_toml(Path(cfg.rulebook).read_text())
    if cfg.pending_timeout_hours is not None:
        rulebook = rulebook.with_overrides(pending_timeout_hours=cfg.pending_timeout_hours)
    return rulebook

"""A real Apache Kafka broker on this machine, for development, the demo and the integration tests.

The broker's jars come from Maven Central (deploy/kafka/pom.xml) and are cached outside the clone,
so only the first start downloads. One node is both broker and controller (KRaft), listens on
127.0.0.1 only, with a bounded heap. It is stopped by its PID.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from streams.settings import REPO_ROOT

log = logging.getLogger(__name__)

KAFKA_DEPLOY = REPO_ROOT / "deploy" / "kafka"
READY_TIMEOUT_S = 90

SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs={data_dir}/log
num.partitions=4
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
"""


EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
# Ports a local broker takes when none is given: below the kernel's ephemeral range. A port the
# kernel hands out to outgoing connections (bind to 0) can be taken, after `ledger kafka stop`, by a
# worker or loader reconnecting to it (a TCP self-connect to the same port), and then the broker
# cannot bind it again on restart.
FIRST_PORT = 20000


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range of ephemeral ports (Linux default 32768-60999)."""
    try:
        low, high = EPHEMERAL_RANGE_FILE.read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def in_ephemeral_range(port: int) -> bool:
    low, high = ephemeral_range()
    return low <= port <= high


def free_port(exclude: frozenset[int] = frozenset()) -> int:
    """A free port on 127.0.0.1 outside the ephemeral range (below it, or above it if it starts low)."""
    low, high = ephemeral_range()
    candidates = list(range(max(FIRST_PORT, 1024) if low > FIRST_PORT + 1000 else 1024, low)) + \
        list(range(high + 1, 65536))
    if not candidates:
        raise RuntimeError(f"no port outside the ephemeral range {low}-{high} "
                           f"({EPHEMERAL_RANGE_FILE}): give the broker a port")
    for port in random.sample(candidates, min(len(candidates), 200)):
        if port in exclude:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port found outside the ephemeral range {low}-{high}")


def fetch_jars(version: str, cache: Path) -> Path:
    """The broker's classpath directory, downloaded once with Maven and then reused."""
    libs = cache / f"kafka-{version}" / "libs"
    if libs.is_dir() and any(libs.glob("kafka_2.13-*.jar")):
        return libs
    if shutil.which("mvn") is None:
        raise RuntimeError("Maven (mvn) is needed once to fetch the Kafka broker's jars from Maven Central")
    libs.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="libs-", dir=libs.parent))
    log.info("fetching Apache Kafka %s from Maven Central into %s", version, libs)
    subprocess.run(
        ["mvn", "-q", "-B", "-f", str(KAFKA_DEPLOY / "pom.xml"), f"-Dkafka.version={version}",
         "dependency:copy-dependencies", f"-DoutputDirectory={staging}", "-DincludeScope=runtime"],
        check=True)
    try:
        staging.rename(libs)  # atomic: a concurrent or interrupted fetch never leaves half a classpath
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not libs.is_dir():
            raise
    return libs


class LocalKafka:
    """One KRaft node in `data_dir`. `start()` returns once the broker answers metadata requests."""

    def __init__(self, data_dir: Path, version: str, cache: Path, port: int | None = None,
                 heap: str = "512m"):
        self.data_dir = Path(data_dir).resolve()
        self.version = version
        self.cache = cache
        self.heap = heap
        self.pid_file = self.data_dir / "kafka.pid"
        self.port_file = self.data_dir / "kafka.port"
        self.controller_port_file = self.data_dir / "kafka.controller-port"
        if port is None and self.port_file.exists():
            port = int(self.port_file.read_text())
        self.port = port or free_port()
        # The controller's port is kept with the data too: a restart binds what it bound before.
        controller = int(self.controller_port_file.read_text()) if self.controller_port_file.exists() else None
        self.controller_port = controller if controller and controller != self.port \
            else free_port(exclude=frozenset({self.port}))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port_file.write_text(str(self.port))
        self.controller_port_file.write_text(str(self.controller_port))

    @property
    def dsn(self) -> str:
        return f"kafka://127.0.0.1:{self.port}"

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text())
            os.kill(pid, 0)
            return pid
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return None

    def start(self) -> str:
        if self.pid() is not None:
            self.wait_ready()
            return self.dsn
        libs = fetch_jars(self.version, self.cache)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for port in (self.port, self.controller_port):
            self._check_bindable(port)
        props = self.data_dir / "server.properties"
        props.write_text(SERVER_PROPERTIES.format(port=self.port, controller_port=self.controller_port,
                                                  data_dir=self.data_dir))
        self.port_file.write_text(str(self.port))
        java = ["java", f"-Xmx{self.heap}", f"-Xms{self.heap}", "-XX:+UseG1GC", "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={KAFKA_DEPLOY / 'log4j2.properties'}",
                f"-Dkafka.logs.dir={self.data_dir}", "-cp", f"{libs}/*"]
        if not (self.data_dir / "log" / "meta.properties").exists():
            subprocess.run(java + ["kafka.tools.StorageTool", "format", "-t", str(uuid.uuid4()),
                                   "-c", str(props), "--standalone", "--ignore-formatted"],
                           check=True, stdout=subprocess.DEVNULL)
        with open(self.data_dir / "kafka.out", "ab") as out:
            # Its own session, so that a Ctrl-C meant for the caller does not kill the broker half-way.
            proc = subprocess.Popen(java + ["kafka.Kafka", str(props)], stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        self.pid_file.write_text(str(proc.pid))
        try:
            self.wait_ready(proc)
            time.sleep(0.5)
            if proc.poll() is not None:  # something else answered on the port; ours died
                raise RuntimeError(f"Kafka exited with {proc.returncode}; see {self.data_dir / 'kafka.log'}")
        except BaseException:
            self.stop()
            raise
        log.info("Kafka %s ready at %s (pid %s)", self.version, self.dsn, proc.pid)
        return self.dsn

    @staticmethod
    def _check_bindable(port: int) -> None:
        """Say clearly why the broker could not listen, before starting it."""
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
                return
            except OSError as error:
                low, high = ephemeral_range()
                hint = (f"; it is in the kernel's ephemeral range {low}-{high}, so a client reconnecting to a "
                        f"stopped broker may hold it: stop the clients (worker, loader) or choose a port below "
                        f"{low} (ledger kafka start --port)") if in_ephemeral_range(port) else \
                    "; another process listens there"
                raise RuntimeError(f"cannot listen on 127.0.0.1:{port}: {error.strerror}{hint}") from None

    def wait_ready(self, proc: subprocess.Popen | None = None) -> None:
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaError

        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"Kafka exited with {proc.returncode}; see {self.data_dir / 'kafka.log'}")
            # The listener first: kafka-python's own reconnect backoff grows to seconds.
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            except OSError:
                time.sleep(0.2)
                continue
            try:
                admin = KafkaAdminClient(bootstrap_servers=f"127.0.0.1:{self.port}", request_timeout_ms=3000,
                                         client_id="ledger-ready-check")
                try:
                    admin.describe_cluster()
                    return
                finally:
                    admin.close()
            except (KafkaError, OSError):
                time.sleep(0.3)
        raise TimeoutError(f"Kafka not ready after {READY_TIMEOUT_S}s; see {self.data_dir / 'kafka.log'}")

    def stop(self, timeout: float = 30) -> None:
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            _reap(pid)
            time.sleep(0.2)
        else:
            os.kill(pid, signal.SIGKILL)
            _reap(pid)
        self.pid_file.unlink(missing_ok=True)

    def kill(self) -> None:
        """SIGKILL, for fault-injection tests: the broker gets no chance to shut down cleanly."""
        pid = self.pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            _reap(pid, wait=True)
            self.pid_file.unlink(missing_ok=True)


def _reap(pid: int, wait: bool = False) -> None:
    try:
        os.waitpid(pid, 0 if wait else os.WNOHANG)
    except ChildProcessError:
        pass  # not our child (started by another command): nothing to reap


if __name__ == "__main__":  # `python -m streams.kafka.localkafka`: fetch the jars now (used by `make setup`)
    from streams.settings import Settings

    logging.basicConfig(level=logging.INFO)
    cfg = Settings()
    print(fetch_jars(cfg.kafka_version, cfg.kafka_cache))

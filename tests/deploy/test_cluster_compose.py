"""Static checks of the `cluster` profile of docker-compose.yml (no Docker engine needed).

Three Kafka brokers (KRaft, each broker and controller), three ClickHouse Keeper servers, two
ClickHouse replicas of one shard of the cluster `ledger`, and the ledger's services on them
(cluster-worker, cluster-loader, cluster-gateway, cluster-prometheus, cluster-grafana), which are
their single-stack twins with the cluster's addresses.

What would only show once the cluster runs, or once a broker is down: a quorum that names a broker
twice or misses one, brokers of different clusters, topics replicated less than the brokers allow
or acknowledged on one copy, a replica missing from remote_servers or named differently from its
service, Keeper servers that do not agree on the quorum, macros that make two replicas one,
secrets written in the file, a loader creating the schema ON another cluster, Prometheus scraping
the single stack's hosts.
"""

from __future__ import annotations

import base64
import os
import re
import xml.etree.ElementTree as ET
from pathlib import PurePosixPath
from urllib.parse import urlparse

import pytest
import yaml

from tests.deploy.test_compose import (
    COMPOSE_FILE,
    CONTAINER_USERS_DIR,
    READ_ONLY_USERS,
    ROOT,
    USERS_DIR,
    VARIABLE,
    command_of,
    datasources,
    depends_on,
    enabled,
    env_example,
    env_of,
    grafana_value,
    image_tag,
    interpolate,
    profiles_of,
    published_ports,
    resolved_env,
    scrape_targets,
    user,
    volume_mounts,
)

CLUSTER_DIR = ROOT / "deploy" / "clickhouse" / "cluster"
CLUSTER_XML = CLUSTER_DIR / "cluster.xml"
KEEPER_XML = CLUSTER_DIR / "keeper.xml"
CLUSTER_XML_TARGET = "/etc/clickhouse-server/config.d/cluster.xml"
# The file the keeper image's entrypoint starts Keeper with (its KEEPER_CONFIG default).
KEEPER_XML_TARGET = "/etc/clickhouse-keeper/keeper_config.xml"
PROMETHEUS_CLUSTER_FILE = ROOT / "deploy" / "prometheus" / "prometheus-cluster.yml"
PROMETHEUS_FILE = ROOT / "deploy" / "prometheus" / "prometheus.yml"

CLUSTER = "ledger"
DATABASE = "insertion"
# Each ledger service of the cluster and its single-stack twin.
TWINS = {"cluster-worker": "worker", "cluster-loader": "loader", "cluster-gateway": "gateway",
         "cluster-prometheus": "prometheus", "cluster-grafana": "grafana"}
# What differs between a twin and its single-stack service: the stack's addresses and replication.
STACK_SETTINGS = {"LEDGER_KAFKA_DSN", "LEDGER_REPLICATION_FACTOR", "LEDGER_MIN_INSYNC_REPLICAS",
                  "LEDGER_CLICKHOUSE_DSN", "LEDGER_CLICKHOUSE_CLUSTER", "CLICKHOUSE_HOST", "PROMETHEUS_HOST"}
LEDGER_SERVICES = ("cluster-worker", "cluster-loader", "cluster-gateway")


# --- helpers -----------------------------------------------------------------------------------

def image_name(service: dict) -> str:
    return str(service.get("image", "")).split(":")[0]


def cluster_services(services: dict, image: str) -> dict[str, dict]:
    return {name: service for name, service in services.items()
            if profiles_of(service) == ["cluster"] and image_name(service) == image}


def hostname(name: str, service: dict) -> str:
    """The name other containers reach a service by: its service name, which its hostname repeats."""
    assert service.get("hostname", name) == name, f"{name}: hostname {service['hostname']} is not the service name"
    return name


def listeners(value: str) -> dict[str, str]:
    """KAFKA_LISTENERS / KAFKA_ADVERTISED_LISTENERS: listener name -> host:port."""
    return dict(item.split("://", 1) for item in value.split(","))


def port_of(address: str) -> str:
    return address.rsplit(":", 1)[1]


def from_env(element: ET.Element | None, where: str) -> str:
    """The variable a ClickHouse configuration element is read from (<x from_env="VAR"/>)."""
    assert element is not None, f"no {where}"
    variable = element.get("from_env")
    assert variable, f"{where} must come from the environment (from_env)"
    assert not (element.text or "").strip(), f"{where} is written in the file"
    return variable


def bind_mounts(service: dict) -> dict[str, str]:
    """Container path -> repository path of each bind mount."""
    return {target: source for kind, source, target in volume_mounts(service) if kind == "bind"}


def read_only_bind(service: dict, target: str) -> str | None:
    for entry in service.get("volumes") or []:
        if isinstance(entry, str):
            parts = entry.split(":")
            if len(parts) >= 2 and parts[1] == target:
                assert parts[2:] == ["ro"], f"{entry} must be mounted read-only"
                return parts[0]
        elif entry.get("target") == target:
            assert entry.get("read_only") is True, f"{target} must be mounted read-only"
            return entry.get("source")
    return None


def required_variable(value: str) -> str:
    """The variable of a value written ${VAR:?message}, the only form a secret may take."""
    match = VARIABLE.fullmatch(value)
    assert match and match.group(2) == ":?", f"{value!r} is not a required variable ${{VAR:?...}}"
    return match.group(1)


# --- fixtures ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def services() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())["services"]


@pytest.fixture(scope="module")
def users_xml() -> dict[str, ET.Element]:
    return {path.name: ET.parse(path).getroot() for path in sorted(USERS_DIR.glob("*.xml"))}


def found_in_cluster(services: dict, image: str, what: str) -> dict[str, dict]:
    found = cluster_services(services, image)
    assert found, f"no {what} in the profile `cluster`"
    return found


@pytest.fixture(scope="module")
def brokers(services) -> dict[str, dict]:
    return found_in_cluster(services, "apache/kafka", "Kafka broker")


@pytest.fixture(scope="module")
def keepers(services) -> dict[str, dict]:
    return found_in_cluster(services, "clickhouse/clickhouse-keeper", "ClickHouse Keeper")


@pytest.fixture(scope="module")
def replicas(services) -> dict[str, dict]:
    return found_in_cluster(services, "clickhouse/clickhouse-server", "ClickHouse server")


@pytest.fixture(scope="module")
def cluster_xml() -> ET.Element:
    return ET.parse(CLUSTER_XML).getroot()


@pytest.fixture(scope="module")
def keeper_xml() -> ET.Element:
    return ET.parse(KEEPER_XML).getroot()


@pytest.fixture(scope="module")
def ledger_cluster(cluster_xml) -> ET.Element:
    clusters = list(cluster_xml.find("remote_servers") or [])
    assert [c.tag for c in clusters] == [CLUSTER], f"remote_servers defines {[c.tag for c in clusters]}, not {CLUSTER}"
    return clusters[0]


@pytest.fixture(scope="module")
def prometheus_cluster() -> dict:
    return yaml.safe_load(PROMETHEUS_CLUSTER_FILE.read_text())


# --- the services of the profile -----------------------------------------------------------------

def test_the_cluster_profile_has_its_services(services, brokers, keepers, replicas):
    assert set(brokers) == {"kafka-1", "kafka-2", "kafka-3"}
    assert set(keepers) == {"keeper-1", "keeper-2", "keeper-3"}
    assert set(replicas) == {"clickhouse-1", "clickhouse-2"}
    cluster = enabled(services, {"cluster"})
    assert set(TWINS) <= cluster
    assert cluster == set(brokers) | set(keepers) | set(replicas) | set(TWINS), \
        f"unexpected services in the cluster profile: {sorted(cluster - set(brokers) - set(keepers) - set(replicas) - set(TWINS))}"


def test_the_cluster_runs_the_versions_of_the_single_stack(services, brokers, keepers, replicas):
    for name in brokers:
        assert services[name]["image"] == services["kafka"]["image"], f"{name} is not the single broker's version"
    for name in replicas:
        assert services[name]["image"] == services["clickhouse"]["image"], f"{name} is not the single server's version"
    # Keeper is released with the server: the same version speaks the same protocol.
    for name in keepers:
        assert image_tag(services[name]["image"]) == image_tag(services["clickhouse"]["image"]), \
            f"{name}: Keeper {services[name]['image']} next to {services['clickhouse']['image']}"


def test_each_server_keeps_its_data_on_its_own_volume(services, brokers, keepers, replicas):
    single = enabled(services, {"single", "simulator"})
    used_by_single = {source for name in single for kind, source, _ in volume_mounts(services[name]) if kind == "volume"}
    owners: dict[str, str] = {}
    for name in enabled(services, {"cluster"}):
        for kind, source, target in volume_mounts(services[name]):
            if kind != "volume":
                continue
            assert source, f"{name}: anonymous volume on {target}"
            assert source not in used_by_single, f"{name} shares the volume {source} with the single stack"
            assert source not in owners, f"{name} and {owners.get(source)} share the volume {source}"
            owners[source] = name
    for name in (*brokers, *keepers, *replicas):
        assert any(owner == name for owner in owners.values()), f"{name} keeps its data on no named volume"


# --- Kafka -----------------------------------------------------------------------------------------

def test_three_kraft_nodes_form_one_quorum(brokers):
    envs = {name: env_of(service) for name, service in brokers.items()}
    ids = {name: env["KAFKA_NODE_ID"] for name, env in envs.items()}
    assert len(set(ids.values())) == len(brokers), f"node ids repeat: {ids}"
    cluster_ids = {env.get("CLUSTER_ID") for env in envs.values()}
    assert len(cluster_ids) == 1 and None not in cluster_ids, f"the brokers are in different KRaft clusters: {cluster_ids}"
    cluster_id = cluster_ids.pop()
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16, f"CLUSTER_ID {cluster_id} is not a base64 UUID"
    voters = {env["KAFKA_CONTROLLER_QUORUM_VOTERS"] for env in envs.values()}
    assert len(voters) == 1, "the brokers disagree on the controller quorum"
    quorum = dict(voter.split("@", 1) for voter in voters.pop().split(","))
    expected = {}
    for name, env in envs.items():
        assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
        controller = listeners(env["KAFKA_LISTENERS"])[env["KAFKA_CONTROLLER_LISTENER_NAMES"]]
        expected[ids[name]] = f"{hostname(name, brokers[name])}:{port_of(controller)}"
    assert quorum == expected, f"KAFKA_CONTROLLER_QUORUM_VOTERS {quorum} is not the brokers' controllers {expected}"
    assert len(quorum) % 2 == 1, "an even quorum tolerates no more failures than one voter fewer"


def test_brokers_replicate_three_times_and_acknowledge_on_two(brokers):
    for name, service in brokers.items():
        env = {key: str(value) for key, value in env_of(service).items()}
        replication, min_isr = int(env["KAFKA_DEFAULT_REPLICATION_FACTOR"]), int(env["KAFKA_MIN_INSYNC_REPLICAS"])
        assert replication == len(brokers) == 3, f"{name}: default replication {replication}"
        assert min_isr == 2 and min_isr < replication, f"{name}: min.insync.replicas {min_isr} (one broker may be down)"
        assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "3", f"{name}: consumer offsets on fewer brokers"
        assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == "2"
        assert env["KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR"] == "2"
        assert env.get("KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE", "false") == "false", \
            f"{name}: an out-of-sync replica could become leader and drop acknowledged records"


def test_brokers_keep_the_topics_of_record_forever(brokers):
    for name, service in brokers.items():
        env = service["environment"]
        assert str(env["KAFKA_LOG_RETENTION_MS"]) == "-1", name
        assert str(env["KAFKA_LOG_RETENTION_BYTES"]) == "-1", name
        for shorter in ("KAFKA_LOG_RETENTION_HOURS", "KAFKA_LOG_RETENTION_MINUTES"):
            assert shorter not in env, f"{name}: {shorter}"


def test_each_broker_advertises_where_it_is_reached(brokers):
    host_ports = []
    for name, service in brokers.items():
        env = env_of(service)
        listening, advertised = listeners(env["KAFKA_LISTENERS"]), listeners(env["KAFKA_ADVERTISED_LISTENERS"])
        protocols = dict(item.split(":", 1) for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
        assert set(advertised) <= set(listening), f"{name}: an advertised listener does not listen"
        assert set(listening) <= set(protocols), f"{name}: a listener has no security protocol"
        assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] in advertised
        # To the other containers: its own host name, on the listener the others use.
        internal = advertised[env["KAFKA_INTER_BROKER_LISTENER_NAME"]]
        assert internal == f"{hostname(name, service)}:{port_of(listening[env['KAFKA_INTER_BROKER_LISTENER_NAME']])}"
        # To the host: the published port, on the same number inside and out.
        published = {target: (host_ip, host_port) for host_ip, host_port, target in published_ports(service)}
        host_side = [address for listener, address in advertised.items()
                     if address.split(":")[0] in ("localhost", "127.0.0.1")]
        assert len(host_side) == 1, f"{name}: one listener must be advertised to the host"
        port = port_of(host_side[0])
        assert published.get(port) == ("127.0.0.1", port), f"{name}: advertises {host_side[0]}, publishes {published}"
        host_ports.append(port)
        probe = " ".join(service["healthcheck"]["test"])
        assert "/opt/kafka/bin/kafka-broker-api-versions.sh" in probe
        probed = re.search(r"--bootstrap-server\s+(\S+)", probe).group(1)
        assert port_of(probed) in {port_of(address) for address in listening.values()}, f"{name}: probes {probed}"
    assert len(set(host_ports)) == len(brokers), f"brokers publish the same host port: {host_ports}"


def test_ledger_services_reach_every_broker_on_its_internal_listener(services, brokers):
    internal = set()
    for service in brokers.values():
        env = env_of(service)
        internal.add(listeners(env["KAFKA_ADVERTISED_LISTENERS"])[env["KAFKA_INTER_BROKER_LISTENER_NAME"]])
    for name in LEDGER_SERVICES:
        dsn = urlparse(env_of(services[name])["LEDGER_KAFKA_DSN"])
        assert dsn.scheme == "kafka"
        assert set(dsn.netloc.split(",")) == internal, f"{name}: {dsn.netloc} is not every broker's internal listener"
        for broker in brokers:
            assert depends_on(services[name])[broker]["condition"] == "service_healthy", f"{name} must wait for {broker}"


# --- the topics the ledger's services create and check ------------------------------------------------

def settings_of(service: dict, monkeypatch):
    """The Settings the service's process builds from its environment (.env from .env.example)."""
    from streams.settings import Settings

    for key in [key for key in os.environ if key.startswith("LEDGER_")]:
        monkeypatch.delenv(key)
    for key, value in resolved_env(service).items():
        monkeypatch.setenv(key, value)
    return Settings()


@pytest.mark.parametrize("name", LEDGER_SERVICES)
def test_cluster_topics_are_replicated_on_every_broker_and_kept_forever(name, services, brokers, monkeypatch):
    from streams.kafka.topics import KEEP_FOREVER, TOPIC_CONFIGS, topic_configs

    cfg = settings_of(services[name], monkeypatch)
    broker_env = {key: interpolate(str(value), env_example()) for key, value in env_of(brokers["kafka-1"]).items()}
    assert cfg.replication_factor == len(brokers) == 3, f"{name}: topics on {cfg.replication_factor} of {len(brokers)} brokers"
    assert cfg.min_insync_replicas == int(broker_env["KAFKA_MIN_INSYNC_REPLICAS"]) == 2
    assert cfg.min_insync_replicas < cfg.replication_factor, "with every replica required, one broker down stops writes"
    assert cfg.partitions == int(broker_env["KAFKA_NUM_PARTITIONS"]), "the ledger's topics and the broker default differ"
    assert cfg.bootstrap_servers == [f"{broker}:19092" for broker in sorted(brokers)]
    configs = topic_configs(cfg)
    assert len(configs) == len(TOPIC_CONFIGS)
    for topic in (cfg.intake_topic, cfg.ledger_topic, cfg.rejections_topic):
        assert topic in configs, f"{topic} is not created with its configuration"
    for topic, config in configs.items():
        assert config == {**KEEP_FOREVER, "min.insync.replicas": "2"}, f"{topic}: {config}"
        assert config["retention.ms"] == config["retention.bytes"] == "-1" and config["cleanup.policy"] == "delete"


@pytest.mark.parametrize("name", ["worker", "loader", "gateway"])
def test_single_stack_topics_have_one_replica_and_no_min_insync(name, services, monkeypatch):
    from streams.kafka.topics import KEEP_FOREVER, topic_configs

    cfg = settings_of(services[name], monkeypatch)
    assert cfg.replication_factor == 1 and cfg.min_insync_replicas == 1
    for topic, config in topic_configs(cfg).items():
        assert config == KEEP_FOREVER, f"{topic}: {config} (one broker cannot hold two replicas)"


# --- ClickHouse Keeper ------------------------------------------------------------------------------

def test_keeper_servers_agree_on_one_quorum(keepers, keeper_xml):
    assert keeper_xml.tag == "clickhouse"
    server = keeper_xml.find("keeper_server")
    assert server is not None, "keeper.xml has no <keeper_server>"
    variable = from_env(server.find("server_id"), "keeper_server/server_id")
    raft = [(s.findtext("id"), s.findtext("hostname"), s.findtext("port"))
            for s in server.findall("raft_configuration/server")]
    ids = [id_ for id_, _, _ in raft]
    assert len(set(ids)) == len(ids), f"raft server ids repeat: {ids}"
    by_host = {host: id_ for id_, host, _ in raft}
    assert set(by_host) == {hostname(name, service) for name, service in keepers.items()}, \
        f"raft_configuration names {sorted(by_host)}, the compose file {sorted(keepers)}"
    for name, service in keepers.items():
        assert env_of(service).get(variable) == by_host[name], f"{name}: {variable} is not its raft id {by_host[name]}"
    assert len(raft) % 2 == 1, "an even quorum tolerates no more failures than one server fewer"
    assert keeper_xml.findtext("listen_host") not in (None, "127.0.0.1", "::1", "localhost"), \
        "Keeper must listen beyond loopback: the ClickHouse servers connect from other containers"


def test_keepers_run_keeper_xml_and_keep_their_logs_on_their_volume(keepers, keeper_xml):
    server = keeper_xml.find("keeper_server")
    stored = [PurePosixPath(server.findtext(path)) for path in ("log_storage_path", "snapshot_storage_path")]
    tcp_port = server.findtext("tcp_port")
    for name, service in keepers.items():
        source = read_only_bind(service, KEEPER_XML_TARGET)
        assert source and (ROOT / source).resolve() == KEEPER_XML.resolve(), f"{name} does not run keeper.xml"
        volumes = [PurePosixPath(target) for kind, _, target in volume_mounts(service) if kind == "volume"]
        for path in stored:
            assert any(volume in path.parents for volume in volumes), f"{name}: {path} is not on a volume"
        assert not service.get("ports"), f"{name}: Keeper needs no port on the host"
        probe = " ".join(service["healthcheck"]["test"])
        assert f"/{tcp_port}" in probe or f":{tcp_port}" in probe, f"{name}: the healthcheck does not probe port {tcp_port}"


# --- ClickHouse servers --------------------------------------------------------------------------

def test_remote_servers_has_one_shard_of_the_compose_replicas(ledger_cluster, replicas):
    shards = ledger_cluster.findall("shard")
    assert len(shards) == 1, f"{len(shards)} shards: the compose file runs the replicas of one"
    shard = shards[0]
    assert (shard.findtext("internal_replication") or "").strip() == "true", \
        "without internal_replication a Distributed insert writes every replica itself (twice with the replication)"
    listed = {(r.findtext("host"), r.findtext("port")) for r in shard.findall("replica")}
    assert listed == {(hostname(name, service), "9000") for name, service in replicas.items()}, \
        f"remote_servers lists {sorted(listed)}, the compose file runs {sorted(replicas)}"


def test_the_second_shard_example_is_a_comment(cluster_xml):
    # Starting with a shard whose servers do not run would make every distributed query fail.
    text = CLUSTER_XML.read_text()
    assert "clickhouse-3" in text and "02" in text, "the example of a second shard is gone"
    assert "clickhouse-3" not in ET.tostring(cluster_xml, encoding="unicode")


def test_zookeeper_is_the_keeper_quorum(cluster_xml, keeper_xml, keepers):
    tcp_port = keeper_xml.findtext("keeper_server/tcp_port")
    nodes = {(node.findtext("host"), node.findtext("port")) for node in cluster_xml.findall("zookeeper/node")}
    assert nodes == {(hostname(name, service), tcp_port) for name, service in keepers.items()}, \
        f"<zookeeper> names {sorted(nodes)}, not the Keeper servers on {tcp_port}"


def test_each_replica_is_one_replica_of_the_shard(cluster_xml, replicas):
    shard_variable = from_env(cluster_xml.find("macros/shard"), "macros/shard")
    replica_variable = from_env(cluster_xml.find("macros/replica"), "macros/replica")
    host_variable = from_env(cluster_xml.find("interserver_http_host"), "interserver_http_host")
    assert cluster_xml.findtext("distributed_ddl/path"), "ON CLUSTER queries need <distributed_ddl><path>"
    shards, names = set(), []
    for name, service in replicas.items():
        env = env_of(service)
        shards.add(env.get(shard_variable))
        names.append(env.get(replica_variable))
        assert env.get(replica_variable) == hostname(name, service), f"{name}: replica named {env.get(replica_variable)}"
        assert env.get(host_variable) == hostname(name, service), \
            f"{name}: the other replica fetches parts from {env.get(host_variable)}"
    assert len(shards) == 1 and None not in shards, f"the replicas of the one shard say shards {shards}"
    assert len(set(names)) == len(names) == len(replicas), f"two replicas share a name: {names}"


def test_cluster_secrets_come_from_required_variables(cluster_xml, ledger_cluster, replicas):
    secret = from_env(ledger_cluster.find("secret"), f"remote_servers/{CLUSTER}/secret")
    credentials = cluster_xml.find("interserver_http_credentials")
    assert credentials is not None and (credentials.findtext("user") or "").strip(), "no interserver credentials"
    password = from_env(credentials.find("password"), "interserver_http_credentials/password")
    listed = env_example()
    for name, service in replicas.items():
        env = env_of(service)
        for variable in (secret, password):
            assert variable in env, f"{name} does not receive {variable}"
            compose_variable = required_variable(env[variable])
            assert listed.get(compose_variable) in ("", "CHANGE_ME"), f"{compose_variable}: only a placeholder in .env.example"


def test_replicas_load_the_cluster_and_the_ledgers_users(services, replicas, users_xml):
    single = bind_mounts(services["clickhouse"])
    users = {target: source for target, source in single.items() if target.startswith(CONTAINER_USERS_DIR)}
    assert users, "the single server mounts no users file"
    for name, service in replicas.items():
        for target, source in users.items():
            assert read_only_bind(service, target) == source, f"{name} does not mount {source} as the single server does"
        source = read_only_bind(service, CLUSTER_XML_TARGET)
        assert source and (ROOT / source).resolve() == CLUSTER_XML.resolve(), f"{name} does not load cluster.xml"
        env = env_of(service)
        for element in (user(users_xml, login).find("password") for login in ("loader", *READ_ONLY_USERS)):
            variable = element.get("from_env")
            assert env.get(variable) == env_of(services["clickhouse"])[variable], f"{name}: {variable}"
        assert service.get("ulimits") == services["clickhouse"].get("ulimits")
        assert service.get("healthcheck") == services["clickhouse"].get("healthcheck")


def test_replicas_wait_for_every_keeper(replicas, keepers):
    for name, service in replicas.items():
        for keeper in keepers:
            assert depends_on(service).get(keeper, {}).get("condition") == "service_healthy", f"{name} must wait for {keeper}"


def test_the_loader_creates_the_schema_on_the_cluster_through_a_replica(services, replicas, ledger_cluster, users_xml):
    loader = services["cluster-loader"]
    env = env_of(loader)
    assert env["LEDGER_CLICKHOUSE_CLUSTER"] == ledger_cluster.tag == CLUSTER
    assert env["LEDGER_CLICKHOUSE_DATABASE"] == DATABASE
    dsn = env["LEDGER_CLICKHOUSE_DSN"]
    match = re.fullmatch(r"http://loader:\$\{(\w+):\?[^}]*\}@([\w-]+):8123/?", dsn)
    assert match, f"cluster-loader DSN {dsn!r} is not http://loader:${{CLICKHOUSE_LOADER_PASSWORD:?...}}@REPLICA:8123"
    assert match.group(1) == user(users_xml, "loader").find("password").get("from_env")
    assert match.group(2) in replicas, f"the loader writes to {match.group(2)}, not a replica"
    for name in replicas:
        assert depends_on(loader)[name]["condition"] == "service_healthy", f"cluster-loader must wait for {name}"
    assert not any("LEDGER_CLICKHOUSE_CLUSTER" in env_of(services[name]) for name in ("loader", "worker", "gateway"))


# --- the ledger's services: the single stack's, on the cluster ---------------------------------------

@pytest.mark.parametrize("twin", TWINS)
def test_cluster_services_are_their_single_twins(twin, services):
    cluster, single = services[twin], services[TWINS[twin]]
    for key in ("build", "image", "command", "entrypoint", "healthcheck", "stop_grace_period", "deploy", "ports", "restart"):
        assert cluster.get(key) == single.get(key), f"{twin}.{key} differs from {TWINS[twin]}.{key}"
    if "build" in single:
        assert command_of(cluster) == command_of(single)
    cluster_env, single_env = env_of(cluster), env_of(single)
    for key in set(cluster_env) | set(single_env):
        if key not in STACK_SETTINGS:
            assert cluster_env.get(key) == single_env.get(key), f"{twin}: {key} differs from {TWINS[twin]}'s"


def test_workers_can_be_scaled_on_the_cluster(services):
    worker = services["cluster-worker"]
    assert (worker.get("deploy") or {}).get("replicas", 1) >= 1
    assert "container_name" not in worker and not worker.get("ports")


# --- Prometheus and Grafana on the cluster --------------------------------------------------------------

def test_cluster_prometheus_mounts_its_config(services):
    source = read_only_bind(services["cluster-prometheus"], "/etc/prometheus/prometheus.yml")
    assert source and (ROOT / source).resolve() == PROMETHEUS_CLUSTER_FILE.resolve()


def test_cluster_prometheus_scrapes_the_cluster_services_on_their_metrics_ports(prometheus_cluster, services):
    single_jobs = {job["job_name"] for job in yaml.safe_load(PROMETHEUS_FILE.read_text())["scrape_configs"]}
    jobs = {job["job_name"] for job in prometheus_cluster["scrape_configs"]}
    assert jobs == single_jobs, "the dashboards expect the single stack's job names"
    cluster, scraped = enabled(services, {"cluster"}), set()
    for job, host, port in scrape_targets(prometheus_cluster):
        assert host in cluster, f"job {job}: {host} is not a service of the cluster"
        env = env_of(services[host])
        metrics_port = env.get("LEDGER_METRICS_PORT") or env.get("LEDGER_GATEWAY_PORT")
        if metrics_port:
            assert port == metrics_port, f"{host} serves metrics on {metrics_port}, scraped on {port}"
        scraped.add(host)
    assert set(LEDGER_SERVICES) <= scraped


def test_cluster_grafana_reads_a_replica_as_the_read_only_user(services, replicas):
    grafana = services["cluster-grafana"]
    env = env_of(grafana)
    sources = datasources("grafana-clickhouse-datasource")
    assert sources, "no ClickHouse datasource provisioned"
    for ds in sources:
        host = grafana_value(str(ds["jsonData"]["host"]), env)
        assert host in replicas, f"cluster-grafana reads ClickHouse on {host}, not a replica"
        assert depends_on(grafana)[host]["condition"] == "service_healthy"
        assert ds["jsonData"]["username"] in READ_ONLY_USERS
        assert ds["jsonData"].get("defaultDatabase") == DATABASE
        for variable in {m.group(1) or m.group(4) for m in VARIABLE.finditer(str(ds.get("secureJsonData", {})))}:
            assert variable in env, f"cluster-grafana does not receive {variable}"
    for ds in datasources("prometheus"):
        url = urlparse(grafana_value(ds["url"], env))
        assert url.hostname == "cluster-prometheus" and str(url.port) == "9090"

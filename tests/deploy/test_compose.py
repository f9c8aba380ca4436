"""Static checks of docker-compose.yml and the files it mounts (no Docker engine needed).

What can go wrong without anyone noticing until a user runs `docker compose up`: an image that
floats, a Kafka version that drifts from the one the tests ran against, a mounted file that does
not exist, a variable missing from .env.example, a dependency on a service that is not there, a
read-only user that can write, a Prometheus target that names nothing, a file compose refuses
(checked against the compose specification's JSON schema), a stack that starts services of the
other one.

The file holds two stacks, one profile each: `single` (the services named here, one broker, one
ClickHouse server; `simulator` goes with it) and `cluster` (tests/deploy/test_cluster_compose.py).
The checks below that name a service look at the single stack; those that loop over every service
cover both.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlparse

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
POM = ROOT / "deploy" / "kafka" / "pom.xml"
USERS_DIR = ROOT / "deploy" / "clickhouse" / "users.d"
CONTAINER_USERS_DIR = "/etc/clickhouse-server/users.d"
PROMETHEUS_FILE = ROOT / "deploy" / "prometheus" / "prometheus.yml"
GRAFANA_DATASOURCES = ROOT / "deploy" / "grafana" / "provisioning" / "datasources"

# The compose specification's JSON schema, vendored unchanged (Apache-2.0) from
# https://github.com/compose-spec/compose-spec, schema/compose-spec.json, as of commit
# a08f8d51631b7127ddac3d2c65537db429d0f1d0 (2025-10-28, the file's last change in the snapshot of
# 170098ba07d9f53c383a41bfd4c5166b0a4529a6). COMPOSE_SCHEMA_BLOB is its git blob id there (`git
# hash-object`): a test checks the copy is that file. Its schema/README.md now calls it a copy kept
# for backward compatibility, the original being compose-spec/compose-go's schema/compose-spec.json
# (the same rules in JSON Schema 2020-12), which accepts this file too. To update: copy the new file,
# put its commit here and its blob id below.
COMPOSE_SCHEMA = Path(__file__).resolve().parent / "compose-spec.json"
COMPOSE_SCHEMA_BLOB = "5db97d0fbbb8e7fbedea0bb5fdb3fe0e93b0e4b1"

SERVICES = {"kafka", "clickhouse", "worker", "loader", "prometheus", "grafana", "gateway", "simulator"}
SINGLE_SERVICES = SERVICES - {"simulator"}
# Every service is in exactly one of these. `simulator` is started with `single`
# (`--profile single --profile simulator`), never with `cluster`.
PROFILES = ("single", "cluster", "simulator")
STACKS = {"single": {"single"}, "single with the simulator": {"single", "simulator"}, "cluster": {"cluster"}}
READ_ONLY_USERS = ("auditor", "grafana")
# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message}, ${VAR?message}, $VAR; $$ is a literal $.
VARIABLE = re.compile(r"(?<!\$)\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


# --- fixtures and helpers --------------------------------------------------------------------

@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def users_xml() -> dict[str, ET.Element]:
    files = sorted(USERS_DIR.glob("*.xml"))
    assert files, f"no XML file in {USERS_DIR}"
    return {path.name: ET.parse(path).getroot() for path in files}


@pytest.fixture(scope="module")
def prometheus() -> dict:
    return yaml.safe_load(PROMETHEUS_FILE.read_text())


def env_of(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f".env.example: not KEY=VALUE: {line!r}"
            values[key.strip()] = value.strip()
    return values


def strings(node) -> list[str]:
    """Every string in a parsed YAML document, keys included (comments are not interpolated)."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in strings(key) + strings(value)]
    if isinstance(node, list):
        return [s for item in node for s in strings(item)]
    return []


def references(node) -> list[tuple[str, str | None]]:
    """(variable, operator) of every interpolation in a parsed YAML document."""
    return [(m.group(1) or m.group(4), m.group(2)) for text in strings(node) for m in VARIABLE.finditer(text)]


def variables(node) -> set[str]:
    return {name for name, _ in references(node)}


def image_tag(image: str) -> str | None:
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def volume_mounts(service: dict) -> list[tuple[str, str, str]]:
    """(type, source, target) of each volume entry, short or long syntax."""
    mounts = []
    for entry in service.get("volumes") or []:
        if isinstance(entry, str):
            parts = entry.split(":")
            source, target = (parts[0], parts[1]) if len(parts) > 1 else ("", parts[0])
            kind = "bind" if source.startswith((".", "/", "~")) else "volume"
        else:
            kind, source, target = entry.get("type", "volume"), entry.get("source", ""), entry["target"]
        mounts.append((kind, source, target))
    return mounts


def depends_on(service: dict) -> dict[str, dict]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: {"condition": "service_started"} for name in deps}
    return {name: (spec or {"condition": "service_started"}) for name, spec in deps.items()}


def dockerfile_instruction(name: str) -> str:
    lines = [line for line in DOCKERFILE.read_text().splitlines() if line.strip().upper().startswith(name + " ")]
    assert lines, f"Dockerfile has no {name}"
    return lines[-1].strip()[len(name):].strip()


def interpolate(text: str, variables: dict[str, str]) -> str:
    """What compose makes of `text` with these variables (as from .env): defaults applied, a missing
    required variable an error."""
    def value(match: re.Match) -> str:
        name, operator, argument = match.group(1) or match.group(4), match.group(2), match.group(3) or ""
        given = variables.get(name)
        if operator in (":-", ":?") and not given or operator in ("-", "?") and given is None:
            if operator.endswith("?"):
                raise LookupError(f"required variable {name} is missing a value: {argument}")
            return argument
        if operator in (":+", "+"):
            return argument if (given if operator == ":+" else given is not None) else ""
        return given or ""

    return VARIABLE.sub(value, text).replace("$$", "$")


def resolved_env(service: dict, variables: dict[str, str] | None = None) -> dict[str, str]:
    """A service's environment as its container gets it, with .env copied from .env.example."""
    variables = env_example() if variables is None else variables
    return {key: interpolate(value, variables) for key, value in env_of(service).items()}


def profiles_of(service: dict) -> list[str]:
    return list(service.get("profiles") or [])


def enabled(services: dict, profiles: set[str]) -> set[str]:
    """The services `docker compose --profile P ... up` starts for these profiles."""
    return {name for name, service in services.items()
            if not profiles_of(service) or set(profiles_of(service)) & profiles}


def stack_of(services: dict, name: str) -> set[str]:
    """The services started together with `name` (single: with the simulator)."""
    profiles = set(profiles_of(services[name]))
    if profiles & {"single", "simulator"}:
        profiles |= {"single", "simulator"}
    return enabled(services, profiles)


def published_ports(service: dict) -> list[tuple[str, str, str]]:
    """(host address, host port, container port) of each published port."""
    published = []
    for port in service.get("ports") or []:
        if isinstance(port, str):
            parts = port.split(":")
            host_ip, host_port, target = (parts if len(parts) == 3 else ["", *parts] if len(parts) == 2
                                          else ["", "", parts[0]])
        else:
            host_ip, host_port, target = port.get("host_ip", ""), str(port.get("published", "")), str(port["target"])
        published.append((host_ip, host_port, target.split("/")[0]))
    return published


def mounts_provisioning(service: dict) -> bool:
    return any(kind == "bind" and (ROOT / source).resolve() == GRAFANA_DATASOURCES.parent.resolve()
               for kind, source, _ in volume_mounts(service))


def datasources(kind: str) -> list[dict]:
    return [ds for path in sorted(GRAFANA_DATASOURCES.glob("*.y*ml"))
            for ds in (yaml.safe_load(path.read_text()) or {}).get("datasources", [])
            if ds.get("type") == kind]


def grafana_value(text: str, env: dict[str, str]) -> str:
    """A provisioning file's value as Grafana reads it ($VAR and ${VAR} from its environment)."""
    def value(match: re.Match) -> str:
        name = match.group(1) or match.group(4)
        assert name in env, f"Grafana does not receive {name}, which its provisioning reads"
        return env[name]

    return VARIABLE.sub(value, text)


def schema_validator_class(schema: dict) -> type:
    """The jsonschema validator of the draft a schema names in `$schema`, however it spells the
    draft's URI (compose-spec writes https://json-schema.org/draft-07/schema, without the final #)."""
    uri = schema.get("$schema", "")
    address = uri.split("://", 1)[-1].rstrip("#")
    for spelling in (uri, *(f"{scheme}://{address}{end}" for scheme in ("http", "https") for end in ("#", ""))):
        found = jsonschema.validators.validator_for({"$schema": spelling}, default=None)
        if found is not None:
            return found
    raise AssertionError(f"the installed jsonschema has no validator for {uri!r}")


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def exec_form(value: str) -> list[str]:
    return json.loads(value) if value.startswith("[") else shlex.split(value)


def command_of(service: dict) -> list[str]:
    """The process a built service runs: the image's ENTRYPOINT followed by the command."""
    entrypoint = service.get("entrypoint") or exec_form(dockerfile_instruction("ENTRYPOINT"))
    command = service.get("command")
    if command is None:
        command = exec_form(dockerfile_instruction("CMD"))
    elif isinstance(command, str):
        command = shlex.split(command)
    return list(entrypoint if isinstance(entrypoint, list) else shlex.split(entrypoint)) + list(command)


def pom_kafka_version() -> str:
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    version = ET.parse(POM).getroot().find("m:properties/m:kafka.version", ns)
    assert version is not None and version.text, "deploy/kafka/pom.xml has no <kafka.version>"
    return version.text.strip()


def settings_kafka_version() -> str:
    from streams.settings import Settings

    return Settings.model_fields["kafka_version"].default


def user(users_xml: dict[str, ET.Element], name: str) -> ET.Element:
    found = [root.find(f"users/{name}") for root in users_xml.values()]
    found = [element for element in found if element is not None]
    assert len(found) == 1, f"ClickHouse user {name!r} is defined {len(found)} times in {USERS_DIR}"
    return found[0]


def profile_settings(users_xml: dict[str, ET.Element], name: str) -> dict[str, str]:
    settings = {}
    for root in users_xml.values():
        profile = root.find(f"profiles/{name}")
        if profile is not None:
            settings.update({child.tag: (child.text or "").strip() for child in profile if child.tag != "constraints"})
    return settings


def grants(element: ET.Element) -> list[str]:
    return [" ".join((q.text or "").split()) for q in element.findall("grants/query")]


# --- the compose file itself ---------------------------------------------------------------

def test_compose_is_the_compose_spec_without_version(compose):
    assert "version" not in compose, "the compose spec has no `version:` key (it is obsolete)"
    assert SERVICES <= set(compose["services"]), f"missing services: {SERVICES - set(compose['services'])}"


def test_compose_file_is_valid_for_the_compose_specification_schema(compose):
    # What `docker compose config` checks first (compose-go validates against this schema) once the
    # YAML is read: merge keys resolved (PyYAML does it as compose does), variables not interpolated.
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    validator_class = schema_validator_class(schema)
    validator_class.check_schema(schema)
    errors = sorted(validator_class(schema).iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'.'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in errors[:20])


def test_vendored_schema_is_the_upstream_file():
    assert git_blob_id(COMPOSE_SCHEMA.read_bytes()) == COMPOSE_SCHEMA_BLOB, \
        f"{COMPOSE_SCHEMA.name} differs from the upstream file named at COMPOSE_SCHEMA_BLOB: update both"


def test_no_mapping_repeats_a_key():
    # PyYAML keeps the last of two equal keys; compose refuses the file (two `<<:` in one mapping
    # included: merge several anchors with `<<: [*a, *b]`).
    root = yaml.compose(COMPOSE_FILE.read_text())
    seen, pending = set(), [root]
    while pending:
        node = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            keys = [key.value for key, _ in node.value if isinstance(key, yaml.ScalarNode)]
            repeated = sorted({key for key in keys if keys.count(key) > 1})
            assert not repeated, f"line {node.start_mark.line + 1}: keys {repeated} repeated in one mapping"
            pending += [value for _, value in node.value]
        elif isinstance(node, yaml.SequenceNode):
            pending += node.value


def test_every_service_has_exactly_one_profile(services):
    for name, service in services.items():
        profiles = profiles_of(service)
        assert len(profiles) == 1 and profiles[0] in PROFILES, \
            f"{name}: profiles {profiles}; each service is in one of {PROFILES} (none would start with both stacks)"
    for name in SINGLE_SERVICES:
        assert profiles_of(services[name]) == ["single"], f"{name} belongs to the single stack"


def test_the_single_and_cluster_stacks_share_no_service(services):
    single, cluster = enabled(services, {"single", "simulator"}), enabled(services, {"cluster"})
    assert SINGLE_SERVICES <= enabled(services, {"single"})
    assert cluster, "no service in the profile `cluster`"
    assert not single & cluster, f"started by both profiles: {sorted(single & cluster)}"
    assert single | cluster == set(services), f"in no stack: {sorted(set(services) - single - cluster)}"


def test_dependencies_stay_within_the_stack(services):
    # `--profile cluster up` must not pull a single-node service in (nor the reverse): compose would
    # start it, or refuse a dependency on a service its profiles disable.
    for stack, profiles in STACKS.items():
        started = enabled(services, profiles)
        for name in started:
            outside = set(depends_on(services[name])) - started
            assert not outside, f"{name} ({stack}) depends on {sorted(outside)}, not started with it"


def test_a_service_names_hosts_of_its_own_stack_only(services):
    # A host name in an environment value or a command (`kafka:19092`, `@clickhouse:8123`,
    # `http://gateway:8000`) that `depends_on` does not show.
    for name, service in services.items():
        others = set(services) - stack_of(services, name)
        texts = [*env_of(service).values(), *strings(service.get("command") or [])]
        for other in others:
            host = re.compile(rf"(?<![\w.-]){re.escape(other)}(?=:\d)")
            found = [text for text in texts if host.search(text)]
            assert not found, f"{name} names {other}, a service of the other stack: {found}"


def test_published_host_ports_are_distinct_within_a_stack(services):
    for stack, profiles in STACKS.items():
        taken: dict[str, str] = {}
        for name in sorted(enabled(services, profiles)):
            for host_ip, host_port, _ in published_ports(services[name]):
                assert host_port, f"{name}: publishes a random host port"
                assert host_port not in taken, f"{stack}: {name} and {taken[host_port]} both publish {host_port}"
                taken[host_port] = name


def test_every_service_has_a_pinned_image_or_a_build(services):
    for name, service in services.items():
        if "build" in service and "image" not in service:
            continue
        image = service.get("image")
        assert image, f"{name}: neither image nor build"
        assert "$" not in image, f"{name}: image {image!r} depends on a variable"
        tag = image_tag(image)
        assert tag, f"{name}: image {image!r} has no tag"
        assert tag != "latest" and not tag.startswith("latest-"), f"{name}: image {image!r} floats"
        assert re.match(r"v?\d+(\.\d+)+", tag), f"{name}: image {image!r} is not pinned to a version"


def test_build_context_and_dockerfile_exist(services):
    for name, service in services.items():
        build = service.get("build")
        if build is None:
            continue
        context = build if isinstance(build, str) else build.get("context", ".")
        dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        assert (ROOT / context).is_dir(), f"{name}: build context {context} does not exist"
        assert (ROOT / context / dockerfile).is_file(), f"{name}: no {dockerfile} in {context}"


def test_kafka_image_is_the_version_of_the_pom_and_of_the_settings(services):
    tag = image_tag(services["kafka"]["image"])
    assert services["kafka"]["image"].split(":")[0] == "apache/kafka"
    assert tag == pom_kafka_version(), f"apache/kafka:{tag} but the pom pins Kafka {pom_kafka_version()}"
    assert tag == settings_kafka_version(), f"apache/kafka:{tag} but Settings.kafka_version is {settings_kafka_version()}"


def test_bind_mounted_host_paths_exist_in_the_repository(services):
    mounted = 0
    for name, service in services.items():
        for kind, source, target in volume_mounts(service):
            if kind != "bind":
                continue
            assert not source.startswith(("/", "~")), f"{name}: {source} is outside the repository"
            assert (ROOT / source).exists(), f"{name}: bind-mounted {source} (-> {target}) does not exist"
            mounted += 1
    assert mounted, "no bind mount at all: the configuration files are not mounted"


def test_named_volumes_are_declared(compose, services):
    declared = set(compose.get("volumes") or {})
    for name, service in services.items():
        for kind, source, _ in volume_mounts(service):
            if kind == "volume" and source:
                assert source in declared, f"{name}: volume {source} is not declared under volumes:"


def test_every_variable_is_listed_in_env_example(compose):
    listed = set(env_example())
    assert variables(compose), "docker-compose.yml uses no variable at all: where do the secrets come from?"
    missing = variables(compose) - listed
    assert not missing, f"{COMPOSE_FILE.name} uses {sorted(missing)}, not listed in .env.example"
    # The datasource files are interpolated by Grafana from its own environment: each variable is
    # either a compose one (then listed) or set by every Grafana service (the stack's host names).
    grafanas = [service for service in compose["services"].values() if mounts_provisioning(service)]
    assert grafanas, "no service mounts deploy/grafana/provisioning"
    set_by_every_grafana = set.intersection(*(set(env_of(service)) for service in grafanas))
    for path in GRAFANA_DATASOURCES.glob("*.y*ml"):
        missing = variables(yaml.safe_load(path.read_text())) - listed - set_by_every_grafana
        assert not missing, f"{path.relative_to(ROOT)} uses {sorted(missing)}: not in .env.example nor set by every Grafana"


def test_env_example_lists_only_variables_the_compose_file_uses(compose):
    unused = set(env_example()) - variables(compose)
    assert not unused, f".env.example lists {sorted(unused)}, which docker-compose.yml does not read"


def test_secrets_are_required_variables_and_not_committed(compose):
    for name, operator in references(compose):
        if any(word in name for word in ("PASSWORD", "SECRET")):
            assert operator == ":?", f"${{{name}}} must be written ${{{name}:?...}}: no default, never empty"
    for key, value in env_example().items():
        if any(word in key for word in ("PASSWORD", "SECRET", "TOKEN")):
            assert value in ("", "CHANGE_ME"), f".env.example gives {key} a value: only placeholders there"
    for name, service in compose["services"].items():
        for key, value in env_of(service).items():
            if any(word in key for word in ("PASSWORD", "SECRET")):
                assert value.startswith("${"), f"{name}: {key} is written in docker-compose.yml"


def test_published_ports_are_bound_to_loopback(services):
    for name, service in services.items():
        for port in service.get("ports") or []:
            spec = port if isinstance(port, str) else f"{port.get('host_ip', '')}:{port.get('published')}"
            assert spec.startswith("127.0.0.1:"), f"{name}: port {spec} is published on every interface"


# --- dependencies and health -----------------------------------------------------------------

def test_kafka_and_clickhouse_have_healthchecks(services):
    kafka = services["kafka"].get("healthcheck")
    assert kafka and "/opt/kafka/bin/kafka-broker-api-versions.sh" in " ".join(kafka["test"])
    clickhouse = services["clickhouse"].get("healthcheck")
    assert clickhouse and clickhouse.get("test"), "clickhouse has no healthcheck"


def is_infrastructure(service: dict) -> bool:
    """A broker, a ClickHouse server or a Keeper server: usable only once its healthcheck passes."""
    return str(service.get("image", "")).split(":")[0] in (
        "apache/kafka", "clickhouse/clickhouse-server", "clickhouse/clickhouse-keeper")


def test_depends_on_names_existing_services_and_waits_for_health(services):
    allowed = {"service_started", "service_healthy", "service_completed_successfully"}
    for name, service in services.items():
        for dependency, spec in depends_on(service).items():
            assert dependency in services, f"{name} depends on {dependency}, which is not a service"
            assert dependency != name, f"{name} depends on itself"
            condition = spec.get("condition", "service_started")
            assert condition in allowed, f"{name}: unknown condition {condition}"
            if condition == "service_healthy":
                assert services[dependency].get("healthcheck"), f"{name} waits for {dependency} to be healthy, which has no healthcheck"
            if is_infrastructure(services[dependency]):
                assert condition == "service_healthy", f"{name} must wait for {dependency} to be healthy"
    assert "kafka" in depends_on(services["worker"])
    assert {"kafka", "clickhouse"} <= set(depends_on(services["loader"]))
    assert "clickhouse" in depends_on(services["grafana"])


def test_infrastructure_has_healthchecks(services):
    for name, service in services.items():
        if is_infrastructure(service):
            assert (service.get("healthcheck") or {}).get("test"), f"{name} has no healthcheck"


# --- Kafka -----------------------------------------------------------------------------------

def test_kafka_is_a_single_kraft_node_with_an_internal_listener(services):
    env = env_of(services["kafka"])
    assert env["KAFKA_NODE_ID"] == "1"
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    for key in ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
                "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"):
        assert env[key] == "1", f"{key} must be 1 on a single node"
    listeners = dict(item.split("://", 1) for item in env["KAFKA_LISTENERS"].split(","))
    advertised = dict(item.split("://", 1) for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] in listeners
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] in advertised
    assert set(advertised) <= set(listeners), "an advertised listener does not listen"
    protocol_map = dict(item.split(":", 1) for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(listeners) <= set(protocol_map), "a listener has no security protocol"
    internal = [address for address in advertised.values() if address.split(":")[0] == "kafka"]
    assert internal, "no listener advertised to the other containers (host `kafka`)"


def test_ledger_services_reach_kafka_on_its_internal_listener(services):
    advertised = env_of(services["kafka"])["KAFKA_ADVERTISED_LISTENERS"]
    internal = {item.split("://", 1)[1] for item in advertised.split(",") if "://kafka:" in item}
    for name in ("worker", "loader"):
        dsn = urlparse(env_of(services[name])["LEDGER_KAFKA_DSN"])
        assert dsn.scheme == "kafka"
        assert set(dsn.netloc.split(",")) <= internal, f"{name}: {dsn.netloc} is not kafka's internal listener"


# --- the ledger's own services ---------------------------------------------------------------

def test_dockerfile_builds_a_non_root_ledger_image():
    assert dockerfile_instruction("FROM").startswith("python:3.11-slim")
    assert exec_form(dockerfile_instruction("ENTRYPOINT")) == ["ledger"]
    user_line = dockerfile_instruction("USER")
    assert user_line not in ("root", "0") and not user_line.startswith(("root:", "0:"))
    text = DOCKERFILE.read_text()
    for source in ("pyproject.toml", "README.md", "setup.py", "ledger/", "streams/", "deploy/"):
        assert re.search(rf"^COPY\b.*\s{re.escape(source)}", text, re.MULTILINE), f"Dockerfile does not copy {source}"
    allowed = (ROOT / ".dockerignore").read_text()
    for source in ("pyproject.toml", "README.md", "setup.py", "ledger/", "streams/", "deploy/"):
        assert f"!{source}" in allowed, f".dockerignore keeps {source} out of the build context"


def test_worker_and_loader_run_the_ledger_commands(services):
    assert command_of(services["worker"]) == ["ledger", "worker"]
    assert command_of(services["loader"]) == ["ledger", "loader"]


def test_workers_can_be_scaled(services):
    worker = services["worker"]
    replicas = (worker.get("deploy") or {}).get("replicas", 1)
    assert isinstance(replicas, int) and replicas >= 1
    assert "container_name" not in worker, "a fixed container_name forbids replicas"
    assert not worker.get("ports"), "published ports collide between replicas"


def test_metrics_ports_are_set(services):
    for name in ("worker", "loader"):
        port = env_of(services[name]).get("LEDGER_METRICS_PORT", "0")
        assert port.isdigit() and int(port) > 0, f"{name}: LEDGER_METRICS_PORT is not set"


def test_loader_writes_to_clickhouse_as_loader(services, users_xml):
    dsn = env_of(services["loader"])["LEDGER_CLICKHOUSE_DSN"]
    match = re.fullmatch(r"http://loader:\$\{(CLICKHOUSE_LOADER_PASSWORD)(?::\?[^}]*)?\}@clickhouse:8123/?", dsn)
    assert match, f"loader DSN {dsn!r} is not http://loader:${{CLICKHOUSE_LOADER_PASSWORD}}@clickhouse:8123"
    password = user(users_xml, "loader").find("password")
    assert password is not None and password.get("from_env") == match.group(1)


# --- ClickHouse users --------------------------------------------------------------------------

def test_every_users_file_is_mounted_into_clickhouse(services):
    targets = {target: source for kind, source, target in volume_mounts(services["clickhouse"]) if kind == "bind"}
    directory = targets.get(CONTAINER_USERS_DIR)
    if directory is not None:  # the whole directory
        assert (ROOT / directory).resolve() == USERS_DIR.resolve()
        return
    for path in USERS_DIR.glob("*.xml"):
        target = f"{CONTAINER_USERS_DIR}/{path.name}"
        assert target in targets, f"{path.relative_to(ROOT)} is not mounted at {target}"
        assert (ROOT / targets[target]).resolve() == path.resolve()


def test_users_files_are_clickhouse_configuration(users_xml):
    for name, root in users_xml.items():
        assert root.tag == "clickhouse", f"{name}: the root element must be <clickhouse>"


def test_ledger_users_exist_with_passwords_from_the_environment(services, users_xml):
    server_env = env_of(services["clickhouse"])
    for name in ("loader", *READ_ONLY_USERS):
        element = user(users_xml, name)
        password = element.find("password")
        assert password is not None, f"{name} has no <password>"
        variable = password.get("from_env")
        assert variable, f"{name}: the password must come from the environment (from_env)"
        assert not (password.text or "").strip(), f"{name}: a password is written in the file"
        for other in ("password_sha256_hex", "password_double_sha1_hex", "no_password"):
            assert element.find(other) is None, f"{name}: <{other}> next to <password>"
        assert variable in server_env, f"{name}: the clickhouse service does not receive {variable}"
        assert variable in env_example(), f"{variable} is not listed in .env.example"


def test_auditor_and_grafana_are_read_only(users_xml):
    for name in READ_ONLY_USERS:
        profile = (user(users_xml, name).findtext("profile") or "").strip()
        assert profile, f"{name} has no profile"
        assert profile_settings(users_xml, profile).get("readonly") == "1", f"{name}: profile {profile} is not readonly=1"
    assert profile_settings(users_xml, "readonly").get("readonly") == "1"
    loader_profile = (user(users_xml, "loader").findtext("profile") or "default").strip()
    assert profile_settings(users_xml, loader_profile).get("readonly", "0") == "0", "the loader must be able to write"


def test_users_are_restricted_to_the_insertion_database(users_xml):
    allowed_targets = {"insertion.*", "system.settings"}
    for name in ("loader", *READ_ONLY_USERS):
        element = user(users_xml, name)
        queries = grants(element)
        allow_databases = [d.text.strip() for d in element.findall("allow_databases/database")]
        assert queries or allow_databases, f"{name}: no <grants> nor <allow_databases>: it could read every database"
        assert not (queries and allow_databases), f"{name}: <grants> and <allow_databases> cannot be combined"
        assert set(allow_databases) <= {"insertion"}, f"{name}: allowed databases {allow_databases}"
        for query in queries:
            match = re.fullmatch(r"GRANT (.+) ON (\S+)", query)
            assert match, f"{name}: unexpected grant {query!r}"
            privileges, target = match.groups()
            if name == "loader" and query == "GRANT CLUSTER ON *.*":
                continue  # ON CLUSTER statements (the cluster's schema): no right on any table
            assert target in allowed_targets, f"{name}: grant on {target}"
            if target == "system.settings":
                assert privileges == "SELECT"
        if name in READ_ONLY_USERS:
            for query in queries:
                privileges = {p.strip() for p in re.fullmatch(r"GRANT (.+) ON \S+", query).group(1).split(",")}
                assert privileges <= {"SELECT", "SHOW"}, f"{name} is read-only but is granted {privileges}"
    loader = " ".join(grants(user(users_xml, "loader")))
    assert "INSERT" in loader and "CREATE TABLE" in loader
    for forbidden in ("DROP TABLE", "TRUNCATE", "ALTER", "ALL"):
        assert forbidden not in loader, f"the ledger is append-only: the loader must not have {forbidden}"


# --- Prometheus and Grafana ----------------------------------------------------------------------

def test_prometheus_mounts_its_config(services):
    mounts = {target: source for kind, source, target in volume_mounts(services["prometheus"]) if kind == "bind"}
    assert "/etc/prometheus/prometheus.yml" in mounts
    assert (ROOT / mounts["/etc/prometheus/prometheus.yml"]).resolve() == PROMETHEUS_FILE.resolve()


def scrape_targets(prometheus: dict) -> list[tuple[str, str, str]]:
    """(job, host, port) of every target a Prometheus configuration scrapes but Prometheus itself;
    each job has a unique name and at least one target."""
    jobs = prometheus["scrape_configs"]
    assert len({job["job_name"] for job in jobs}) == len(jobs), "duplicate job names"
    found = []
    for job in jobs:
        targets = [t for config in job.get("static_configs", []) for t in config.get("targets", [])]
        for config in job.get("dns_sd_configs", []):
            targets += [f"{host}:{config['port']}" for host in config["names"]]
        assert targets, f"job {job['job_name']} has no target"
        for target in targets:
            host, port = target.rsplit(":", 1)
            if not (host == "localhost" and job["job_name"] == "prometheus"):
                found.append((job["job_name"], host, port))
    return found


def test_prometheus_targets_are_compose_services_on_their_metrics_ports(prometheus, services):
    scraped = set()
    for job, host, port in scrape_targets(prometheus):
        assert host in services, f"job {job}: {host} is not a compose service"
        metrics_port = env_of(services[host]).get("LEDGER_METRICS_PORT")
        if metrics_port:
            assert port == metrics_port, f"{host} serves metrics on {metrics_port}, scraped on {port}"
        scraped.add(host)
    assert {"worker", "loader"} <= scraped


def test_grafana_uses_the_clickhouse_plugin_and_the_read_only_user(services, users_xml):
    grafana = services["grafana"]
    assert "grafana-clickhouse-datasource" in env_of(grafana).get("GF_INSTALL_PLUGINS", "")
    mounts = {target: source for kind, source, target in volume_mounts(grafana) if kind == "bind"}
    assert (ROOT / mounts["/etc/grafana/provisioning"]).is_dir()
    sources = datasources("grafana-clickhouse-datasource")
    assert sources, "no ClickHouse datasource provisioned"
    for ds in sources:
        host = grafana_value(str(ds["jsonData"]["host"]), env_of(grafana))
        assert host == "clickhouse", f"the single stack's Grafana reads ClickHouse on {host}"
        assert "clickhouse" in depends_on(grafana)
        assert ds["jsonData"]["username"] in READ_ONLY_USERS
        for variable in variables(ds.get("secureJsonData", {})):
            assert variable in env_of(grafana), f"grafana does not receive {variable}"


def test_grafana_reads_the_prometheus_of_its_stack(services):
    sources = datasources("prometheus")
    assert sources, "no Prometheus datasource provisioned"
    for ds in sources:
        url = urlparse(grafana_value(ds["url"], env_of(services["grafana"])))
        assert url.hostname == "prometheus" and str(url.port) == "9090"


# --- the HTTP gateway and the simulator ----------------------------------------------------------

def test_gateway_serves_on_loopback_after_kafka_with_its_stores_on_a_volume(services):
    gateway = services["gateway"]
    assert command_of(gateway) == ["ledger", "gateway"]
    assert "build" in gateway
    assert gateway.get("ports") == ["127.0.0.1:8000:8000"]
    env = env_of(gateway)
    assert env["LEDGER_GATEWAY_HOST"] == "0.0.0.0" and env["LEDGER_GATEWAY_PORT"] == "8000"
    assert depends_on(gateway)["kafka"]["condition"] == "service_healthy"
    dsn = urlparse(env["LEDGER_KAFKA_DSN"])
    advertised = env_of(services["kafka"])["KAFKA_ADVERTISED_LISTENERS"]
    assert f"INTERNAL://{dsn.netloc}" in advertised.split(","), "the gateway must use kafka's internal listener"
    volumes = {target: source for kind, source, target in volume_mounts(gateway) if kind == "volume"}
    assert volumes, "the token and idempotency stores must outlive the container"
    for variable in ("LEDGER_GATEWAY_TOKENS", "LEDGER_GATEWAY_IDEMPOTENCY"):
        assert any(env[variable].startswith(target.rstrip("/") + "/") for target in volumes), \
            f"{variable}={env[variable]} is not on a volume"
    # The image's only writable directory is /app/.ledger (owned by the `ledger` user): a named volume
    # mounted there starts with that owner; one mounted on a path the image lacks would be root's.
    assert set(volumes) <= {"/app/.ledger"}
    probe = " ".join(gateway["healthcheck"]["test"])
    assert "/readyz" in probe and ":8000" in probe


def test_simulator_is_optional_and_shares_the_gateways_token_store(services):
    simulator = services["simulator"]
    assert simulator.get("profiles") == ["simulator"], "the simulator must not start with `docker compose up`"
    assert command_of(simulator)[:3] == ["python", "-m", "streams.gateway.simulator"]
    assert "http://gateway:8000" in command_of(simulator)
    assert (ROOT / "streams" / "gateway" / "simulator.py").is_file()
    assert depends_on(simulator)["gateway"]["condition"] == "service_healthy"
    shared = {(s, t) for kind, s, t in volume_mounts(simulator) if kind == "volume"}
    assert shared & {(s, t) for kind, s, t in volume_mounts(services["gateway"]) if kind == "volume"}
    assert env_of(simulator)["LEDGER_GATEWAY_TOKENS"] == env_of(services["gateway"])["LEDGER_GATEWAY_TOKENS"]


def test_ledger_settings_in_compose_are_real_settings(services):
    # Settings ignore unknown LEDGER_ variables: a misspelt one would silently change nothing.
    from streams.gateway.config import GatewaySettings
    from streams.settings import Settings

    known = {f"LEDGER_{name.upper()}" for name in Settings.model_fields}
    known |= {f"LEDGER_GATEWAY_{name.upper()}" for name in GatewaySettings.model_fields}
    for name, service in services.items():
        unknown = {key for key in env_of(service) if key.startswith("LEDGER_")} - known
        assert not unknown, f"{name}: {sorted(unknown)} are not settings of the ledger"


def test_gateway_settings_in_compose_are_real_settings():
    from streams.gateway.config import GatewaySettings

    fields = {f"LEDGER_GATEWAY_{name.upper()}" for name in GatewaySettings.model_fields}
    compose_text = COMPOSE_FILE.read_text()
    used = set(re.findall(r"\bLEDGER_GATEWAY_[A-Z_]+", compose_text))
    assert used and used <= fields, f"unknown gateway settings in docker-compose.yml: {used - fields}"


def test_kafka_keeps_the_topics_of_record_forever(services):
    # The broker's default (7 days) would delete the history replay and reconcile read from offset 0.
    env = services["kafka"]["environment"]
    assert str(env["KAFKA_LOG_RETENTION_MS"]) == "-1"
    assert str(env["KAFKA_LOG_RETENTION_BYTES"]) == "-1"
    for shorter in ("KAFKA_LOG_RETENTION_HOURS", "KAFKA_LOG_RETENTION_MINUTES"):
        assert shorter not in env


def test_topics_of_record_are_created_and_checked_to_keep_their_history():
    from streams.kafka.topics import KEEP_FOREVER, TOPIC_CONFIGS

    assert {"intake_topic", "ledger_topic", "rejections_topic"} <= set(TOPIC_CONFIGS)
    for configs in TOPIC_CONFIGS.values():
        assert configs == KEEP_FOREVER == {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}

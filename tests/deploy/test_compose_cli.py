"""docker-compose.yml as a compose implementation reads it: Debian's docker-compose (1.29, no
Docker engine needed for `config`), on a copy without the top-level `name` (which 1.29 does not
know), with .env made from .env.example. It interpolates every variable, resolves the YAML merge
keys and the extension fields, and validates the result against its own schema, for each profile.
.ci/run installs it; without it (a developer's machine) these tests are skipped, saying so.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.test_compose import COMPOSE_FILE, ENV_EXAMPLE, ROOT

COMPOSE_V1 = shutil.which("docker-compose")
pytestmark = pytest.mark.skipif(COMPOSE_V1 is None, reason="Debian's docker-compose is not installed (.ci/run installs it)")


def project(tmp_path: Path, secrets: dict[str, str] | None = None) -> Path:
    text = COMPOSE_FILE.read_text()
    assert yaml.safe_load(text)["name"] == "insertion-ledger"
    (tmp_path / "docker-compose.yml").write_text(
        "".join(line for line in text.splitlines(keepends=True) if not line.startswith("name:")))
    env = ENV_EXAMPLE.read_text().replace("CHANGE_ME", "0123456789abcdef")
    for key, value in (secrets or {}).items():
        env = "\n".join(f"{key}={value}" if line.startswith(f"{key}=") else line for line in env.splitlines()) + "\n"
    (tmp_path / ".env").write_text(env)
    for name in ("deploy", "Dockerfile"):
        (tmp_path / name).symlink_to(ROOT / name)
    return tmp_path


def config(directory: Path, profile: str) -> subprocess.CompletedProcess:
    return subprocess.run([COMPOSE_V1, "--profile", profile, "config"], cwd=directory, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("profile", ["single", "cluster"])
def test_each_profile_is_a_valid_compose_file(tmp_path, profile):
    done = config(project(tmp_path), profile)
    assert done.returncode == 0, done.stderr
    services = yaml.safe_load(done.stdout)["services"]
    ours = {name for name, service in yaml.safe_load(COMPOSE_FILE.read_text())["services"].items()
            if profile in service.get("profiles", [])}
    assert ours and ours <= set(services)
    for name in ours:  # every variable interpolated: nothing left for the engine to guess
        assert "${" not in yaml.safe_dump(services[name]), name


@pytest.mark.parametrize("secret", ["CLICKHOUSE_CLUSTER_SECRET", "CLICKHOUSE_INTERSERVER_PASSWORD",
                                    "CLICKHOUSE_LOADER_PASSWORD"])
def test_the_cluster_refuses_to_start_without_its_secrets(tmp_path, secret):
    done = config(project(tmp_path, {secret: ""}), "cluster")
    assert done.returncode != 0
    assert f"set {secret} in .env" in done.stderr

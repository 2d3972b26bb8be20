"""docker-compose.yml: valid, secrets required, real Kafka in KRaft mode, comes up in order."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from deploy_support import COMPOSE_REQUIRED, REPO, SERVICES, compose, tool

from feedback_contracts.events import ALL_TOPICS

ONE_SHOT = {"kafka-init"}


def _empty_env_file(tmp_path: Path) -> str:
    path = tmp_path / "empty.env"
    path.write_text("")
    return str(path)


def test_compose_file_is_valid(tmp_path: Path) -> None:
    result = compose("--env-file", _empty_env_file(tmp_path), "config", "-q", env=COMPOSE_REQUIRED)
    assert result.returncode == 0, result.stderr


def test_compose_file_has_no_version_key() -> None:
    # The Compose specification: accepted by docker-compose 1.29 and by `docker compose`.
    raw = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert "version" not in raw


@pytest.mark.parametrize("variable", sorted(COMPOSE_REQUIRED))
def test_required_secret_refuses_to_start_without_it(variable: str, tmp_path: Path) -> None:
    text = (REPO / "docker-compose.yml").read_text()
    assert re.search(r"\$\{" + variable + r":\?[^}]+\}", text), f"{variable} is not `${{{variable}:?...}}`"
    env = {k: v for k, v in COMPOSE_REQUIRED.items() if k != variable}
    result = compose("--env-file", _empty_env_file(tmp_path), "config", "-q", env=env)
    assert result.returncode != 0
    assert "Variable not set" in result.stderr


def test_services_are_built_from_the_repository_root(compose_config: dict[str, Any]) -> None:
    """One Dockerfile for every service (tests/deploy/test_dockerfiles.py): the build argument SERVICE picks it."""
    for service in SERVICES:
        spec = compose_config["services"][service]
        build = spec["build"]
        assert Path(build["context"]).resolve() == REPO
        assert build["dockerfile"] == "Dockerfile"
        assert (REPO / build["dockerfile"]).is_file()
        assert build["args"] == {"SERVICE": service}
        assert spec["image"] == f"feedback-{service}:local"


def test_kafka_is_apache_kafka_in_kraft_mode(compose_config: dict[str, Any]) -> None:
    kafka = compose_config["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert str(env["KAFKA_NODE_ID"]) == "1"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093"
    assert "CONTROLLER" in env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert str(env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"]) == "1"
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert str(env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"]).lower() == "false"
    # CLUSTER_ID must be a base64url-encoded UUID (22 characters), or kafka-storage refuses it.
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", env["CLUSTER_ID"])


def test_topics_are_created_once_with_their_dead_letter_topics(compose_config: dict[str, Any]) -> None:
    init = compose_config["services"]["kafka-init"]
    assert init["image"] == compose_config["services"]["kafka"]["image"]
    script = " ".join(init.get("entrypoint") or []) + " " + " ".join(init.get("command") or [])
    for topic in ALL_TOPICS:
        assert topic in script
    assert "kafka-topics.sh" in script and "--create" in script and "--if-not-exists" in script
    assert "--partitions 6" in script
    assert init["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert init.get("restart", "no") == "no"


def test_every_long_running_service_has_a_healthcheck(compose_config: dict[str, Any]) -> None:
    for name, service in compose_config["services"].items():
        if name in ONE_SHOT:
            continue
        check = service.get("healthcheck")
        assert check and check.get("test") and not check.get("disable"), f"{name} has no healthcheck"


def test_dependencies_wait_for_health_or_completion(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    for name, service in services.items():
        for target, spec in (service.get("depends_on") or {}).items():
            condition = spec["condition"]
            if target in ONE_SHOT:
                assert condition == "service_completed_successfully", f"{name} -> {target}"
            else:
                assert condition == "service_healthy", f"{name} -> {target}"
                assert services[target].get("healthcheck"), f"{name} waits for {target}, which has no healthcheck"
    for service in SERVICES:
        assert services[service]["depends_on"]["kafka-init"]["condition"] == "service_completed_successfully"
    assert services["ingest"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["notify"]["depends_on"]["mailpit"]["condition"] == "service_healthy"
    assert services["notify"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["workspace"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["classify"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_services_talk_to_the_real_kafka_idempotently(compose_config: dict[str, Any]) -> None:
    for service in SERVICES:
        env = compose_config["services"][service]["environment"]
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert str(env["KAFKA_ENABLE_IDEMPOTENCE"]).lower() == "true"


def test_ingest_stores_in_postgres_and_notify_mails_mailpit(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    url = services["ingest"]["environment"]["DATABASE_URL"]
    assert url == f"postgresql://feedback:{COMPOSE_REQUIRED['POSTGRES_PASSWORD']}@postgres:5432/ingest"
    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:16")
    assert postgres["environment"]["POSTGRES_DB"] == "ingest"
    assert "CREATE DATABASE notify" in " ".join(postgres["entrypoint"])
    notify = services["notify"]["environment"]
    assert notify["SMTP_HOST"] == "mailpit" and str(notify["SMTP_PORT"]) == "1025"
    assert services["mailpit"]["image"].startswith("axllent/mailpit")
    published = {str(p) for p in services["mailpit"]["ports"]}
    assert any("1025:1025" in p for p in published) and any("8025:8025" in p for p in published)


def test_notify_keeps_its_state_in_the_notify_database(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    notify = services["notify"]["environment"]
    password = COMPOSE_REQUIRED["POSTGRES_PASSWORD"]
    assert notify["DATABASE_URL"] == f"postgresql://feedback:{password}@postgres:5432/notify"
    assert "NOTIFY_DELIVERY_DB" not in notify
    # The admin endpoint takes the same (required) tokens as ingest's.
    assert notify["ADMIN_API_TOKENS"] == services["ingest"]["environment"]["ADMIN_API_TOKENS"]
    assert notify["ADMIN_API_TOKENS"] == COMPOSE_REQUIRED["ADMIN_API_TOKENS"]
    # Nothing on disk: no named volume any more, only the read-only owners directory.
    volumes = services["notify"].get("volumes", [])
    assert all((v["type"] if isinstance(v, dict) else "bind") == "bind" for v in volumes), volumes
    assert "notify-data" not in (compose_config.get("volumes") or {})


def test_webhook_secret_is_optional_and_passed_through(tmp_path: Path) -> None:
    text = (REPO / "docker-compose.yml").read_text()
    assert "WEBHOOK_SECRET: ${WEBHOOK_SECRET:-}" in text
    empty = _empty_env_file(tmp_path)
    without = compose("--env-file", empty, "config", env={**COMPOSE_REQUIRED, "WEBHOOK_SECRET": ""})
    assert without.returncode == 0, without.stderr
    assert not yaml.safe_load(without.stdout)["services"]["notify"]["environment"].get("WEBHOOK_SECRET")
    given = compose("--env-file", empty, "config", env={**COMPOSE_REQUIRED, "WEBHOOK_SECRET": "hmac-test"})
    assert given.returncode == 0, given.stderr
    assert yaml.safe_load(given.stdout)["services"]["notify"]["environment"]["WEBHOOK_SECRET"] == "hmac-test"


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    mounts = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume["source"], volume["target"]
        mounts[target] = source
    return mounts


def test_owners_directory_is_mounted_where_the_services_read_it(compose_config: dict[str, Any]) -> None:
    for service in ("classify", "notify", "workspace"):
        spec = compose_config["services"][service]
        target = spec["environment"]["OWNERS_FILE"]
        source = _mounts(spec)[target]
        assert Path(source).is_file(), f"{service}: {source} does not exist"


def test_prometheus_and_grafana_use_the_projects_configuration(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    prometheus = _mounts(services["prometheus"])
    assert Path(prometheus["/etc/prometheus/prometheus.yml"]) == REPO / "deploy/prometheus/prometheus.compose.yml"
    assert Path(prometheus["/etc/prometheus/rules"]) == REPO / "deploy/prometheus/rules"
    grafana = _mounts(services["grafana"])
    assert Path(grafana["/etc/grafana/provisioning"]) == REPO / "deploy/grafana/provisioning"
    assert Path(grafana["/var/lib/grafana/dashboards"]) == REPO / "deploy/grafana/dashboards"
    assert services["prometheus"]["image"].startswith("prom/prometheus")
    assert services["grafana"]["image"].startswith("grafana/grafana")
    ports = {name: " ".join(str(p) for p in services[name]["ports"]) for name in ("prometheus", "grafana")}
    assert "9090:9090" in ports["prometheus"] and "3000:3000" in ports["grafana"]


def test_prometheus_compose_config_scrapes_the_four_services() -> None:
    config = yaml.safe_load((REPO / "deploy/prometheus/prometheus.compose.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    expected = {f"feedback-{service}": f"{service}:8000" for service in SERVICES}
    assert set(jobs) == set(expected)
    for name, target in expected.items():
        targets = [t for sc in jobs[name]["static_configs"] for t in sc["targets"]]
        assert targets == [target]
        assert jobs[name].get("metrics_path", "/metrics") == "/metrics"
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]


def test_prometheus_compose_config_passes_promtool() -> None:
    result = subprocess.run(
        [tool("promtool"), "check", "config", str(REPO / "deploy/prometheus/prometheus.compose.yml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_workspace_keeps_its_items_in_the_workspace_database(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    workspace = services["workspace"]["environment"]
    password = COMPOSE_REQUIRED["POSTGRES_PASSWORD"]
    assert workspace["DATABASE_URL"] == f"postgresql://feedback:{password}@postgres:5432/workspace"
    # PostgreSQL creates the database on a new volume, next to notify's.
    assert "CREATE DATABASE workspace" in " ".join(services["postgres"]["entrypoint"])
    # Nothing on disk but the read-only owners directory.
    volumes = services["workspace"].get("volumes", [])
    assert all((v["type"] if isinstance(v, dict) else "bind") == "bind" for v in volumes), volumes


def test_classify_keeps_routings_and_corrections_in_the_classify_database(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    classify = services["classify"]["environment"]
    password = COMPOSE_REQUIRED["POSTGRES_PASSWORD"]
    assert classify["DATABASE_URL"] == f"postgresql://feedback:{password}@postgres:5432/classify"
    assert "CREATE DATABASE classify" in " ".join(services["postgres"]["entrypoint"])
    volumes = services["classify"].get("volumes", [])
    assert all((v["type"] if isinstance(v, dict) else "bind") == "bind" for v in volumes), volumes


def test_notify_signs_its_alert_links_with_the_workspace_secret_and_address(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    workspace, notify = services["workspace"]["environment"], services["notify"]["environment"]
    assert workspace["WORKSPACE_SECRET"] == notify["WORKSPACE_SECRET"] == COMPOSE_REQUIRED["WORKSPACE_SECRET"]
    assert workspace["WORKSPACE_BASE_URL"] == notify["WORKSPACE_BASE_URL"]
    # The address the links carry is where the workspace is published.
    url = urlsplit(workspace["WORKSPACE_BASE_URL"])
    assert url.hostname in {"localhost", "127.0.0.1"}
    ports = services["workspace"]["ports"]
    assert any(_published_port(port) == (url.port, 8000) for port in ports), ports


def test_workspace_address_and_sign_in_provider_are_set_from_the_environment(tmp_path: Path) -> None:
    env = {
        **COMPOSE_REQUIRED,
        "WORKSPACE_BASE_URL": "https://tyotila.example.org",
        "OIDC_ISSUER": "https://login.example.org/realms/omahame",
        "OIDC_CLIENT_ID": "feedback-workspace",
        "OIDC_CLIENT_SECRET": "oidc-test",
    }
    result = compose("--env-file", _empty_env_file(tmp_path), "config", env=env)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    workspace = services["workspace"]["environment"]
    assert workspace["WORKSPACE_BASE_URL"] == services["notify"]["environment"]["WORKSPACE_BASE_URL"]
    assert workspace["WORKSPACE_BASE_URL"] == "https://tyotila.example.org"
    assert (workspace["OIDC_ISSUER"], workspace["OIDC_CLIENT_ID"], workspace["OIDC_CLIENT_SECRET"]) == (
        "https://login.example.org/realms/omahame",
        "feedback-workspace",
        "oidc-test",
    )


def _published_port(port: Any) -> tuple[int | None, int]:
    """(published, target) of a `ports` entry, long or short syntax."""
    if isinstance(port, dict):
        published = port.get("published")
        return (int(published) if published is not None else None, int(port["target"]))
    parts = str(port).split("/")[0].split(":")
    return (int(parts[-2]) if len(parts) > 1 else None, int(parts[-1]))


def _host_ip(port: Any) -> str:
    if isinstance(port, dict):
        return port.get("host_ip", "")
    parts = str(port).split("/")[0].split(":")
    return parts[0] if len(parts) == 3 else ""


def test_only_the_ingest_api_is_published_on_all_interfaces(compose_config: dict[str, Any]) -> None:
    """The workspace, the other services and the tools are on 127.0.0.1: the workspace is opened to others only
    through a TLS proxy, because its session cookie is Secure."""
    for name, service in compose_config["services"].items():
        for port in service.get("ports", []):
            if name == "ingest":
                continue
            assert _host_ip(port) == "127.0.0.1", f"{name} publishes {port} on all interfaces"
    assert any(_host_ip(port) in ("", "0.0.0.0") for port in compose_config["services"]["ingest"]["ports"])

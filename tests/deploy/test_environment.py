"""Every variable docker-compose.yml and the Kubernetes manifests give a service is one it reads, every
setting it needs is given, and its settings load from exactly that environment.

What a service reads is discovered at test time from its settings class (field names upper-cased,
or their validation aliases) and from its code's direct os.environ reads (LOG_LEVEL), so a new
setting is checked without touching this test.
"""

from __future__ import annotations

from typing import Any

import pytest
from deploy_support import OVERLAYS, SERVICES, ServiceEnvironment, container_environment, service_container

SOURCES = [("compose", None)] + [("k8s", overlay) for overlay in OVERLAYS]
# Settings with a default that no deployment may rely on: each entry names the variables of which one
# must be set. The default databases are SQLite files inside the (read-only) container, and without
# admin tokens the admin endpoints are off. The workspace's default address is a developer's machine; without
# it and the workspace's secret, notify's alerts carry no sign-in link.
DEPLOYMENT_REQUIRED = {
    "ingest": [frozenset({"DATABASE_URL", "INGEST_DATABASE_URL"}), frozenset({"ADMIN_API_TOKENS"})],
    "classify": [frozenset({"DATABASE_URL", "CLASSIFY_DATABASE_URL"}), frozenset({"ADMIN_API_TOKENS"})],
    "notify": [
        frozenset({"DATABASE_URL", "NOTIFY_DATABASE_URL"}),
        frozenset({"ADMIN_API_TOKENS"}),
        frozenset({"WORKSPACE_BASE_URL"}),
        frozenset({"WORKSPACE_SECRET"}),
    ],
    "workspace": [frozenset({"DATABASE_URL", "WORKSPACE_DATABASE_URL"}), frozenset({"WORKSPACE_BASE_URL"})],
}


def _environment(
    source: str,
    overlay: str | None,
    service: str,
    environments: dict[str, ServiceEnvironment],
    compose_config: dict[str, Any],
    rendered: dict[str, list[dict[str, Any]]],
) -> dict[str, str]:
    if source == "compose":
        spec = compose_config["services"][service]
        assert "env_file" not in spec, "env_file hides the variables from this test: use environment"
        return {name: "" if value is None else str(value) for name, value in (spec.get("environment") or {}).items()}
    objects = rendered[overlay]
    return container_environment(objects, service_container(objects, service), environments[service].placeholder)


def test_discovery_finds_the_settings(service_environments: dict[str, ServiceEnvironment]) -> None:
    ingest = service_environments["ingest"].variables
    assert {"KAFKA_BOOTSTRAP_SERVERS", "KAFKA_SASL_PASSWORD", "INGEST_API_TOKENS", "LOG_LEVEL"} <= ingest.keys()
    assert {"DATABASE_URL", "INGEST_DATABASE_URL"} <= ingest.keys() and "DATABASE_URL".lower() not in ingest
    assert {"OWNERS_FILE", "CLASSIFY_GROUP_ID"} <= service_environments["classify"].variables.keys()
    notify = service_environments["notify"].variables
    assert {"SMTP_HOST", "SMTP_SECURITY", "SMTP_USERNAME", "SMTP_PASSWORD", "WEBHOOK_SECRET"} <= notify.keys()
    assert {"DATABASE_URL", "NOTIFY_DATABASE_URL", "ADMIN_API_TOKENS", "STATEMENT_BASE_URL"} <= notify.keys()
    assert "NOTIFY_DELIVERY_DB" not in notify, "notify's delivery log is in DATABASE_URL now"
    assert frozenset({"INGEST_API_TOKENS"}) in service_environments["ingest"].required
    workspace = service_environments["workspace"].variables
    assert {"WORKSPACE_SECRET", "WORKSPACE_BASE_URL", "WORKSPACE_GROUP_ID", "OWNERS_FILE"} <= workspace.keys()
    assert {"DATABASE_URL", "WORKSPACE_DATABASE_URL", "OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET"} <= (
        workspace.keys()
    )
    assert frozenset({"WORKSPACE_SECRET"}) in service_environments["workspace"].required
    assert {"WORKSPACE_BASE_URL", "WORKSPACE_SECRET"} <= notify.keys()


@pytest.mark.parametrize("service", SERVICES)
def test_deployment_required_settings_are_settings(
    service: str, service_environments: dict[str, ServiceEnvironment]
) -> None:
    # So that DEPLOYMENT_REQUIRED cannot name a variable the service no longer reads.
    for names in DEPLOYMENT_REQUIRED[service]:
        assert names <= service_environments[service].variables.keys(), f"{service} does not read {sorted(names)}"


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize(("source", "overlay"), SOURCES, ids=["compose", *(f"k8s-{o}" for o in OVERLAYS)])
def test_every_variable_set_is_one_the_service_reads(
    source: str,
    overlay: str | None,
    service: str,
    service_environments: dict[str, ServiceEnvironment],
    compose_config: dict[str, Any],
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    env = _environment(source, overlay, service, service_environments, compose_config, rendered)
    unknown = sorted(set(env) - service_environments[service].variables.keys())
    assert not unknown, f"{service} does not read {unknown} ({source} {overlay or ''})"


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize(("source", "overlay"), SOURCES, ids=["compose", *(f"k8s-{o}" for o in OVERLAYS)])
def test_every_required_setting_is_set(
    source: str,
    overlay: str | None,
    service: str,
    service_environments: dict[str, ServiceEnvironment],
    compose_config: dict[str, Any],
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    env = _environment(source, overlay, service, service_environments, compose_config, rendered)
    for names in service_environments[service].required + DEPLOYMENT_REQUIRED[service]:
        assert any(env.get(name) for name in names), f"{service} needs {' or '.join(sorted(names))} ({source})"


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize(("source", "overlay"), SOURCES, ids=["compose", *(f"k8s-{o}" for o in OVERLAYS)])
def test_settings_load_from_the_deployed_environment(
    source: str,
    overlay: str | None,
    service: str,
    service_environments: dict[str, ServiceEnvironment],
    compose_config: dict[str, Any],
    rendered: dict[str, list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    environment = service_environments[service]
    env = _environment(source, overlay, service, service_environments, compose_config, rendered)
    for name in environment.variables:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = environment.settings_class()  # validates types, literals and the SASL credentials rule
    if overlay == "prod":
        assert settings.kafka_security_protocol == "SASL_SSL"
    if service == "ingest":
        assert settings.tokens, "INGEST_API_TOKENS is empty"
        # PostgreSQL, not the default SQLite file inside a container (prod's URL is in a Secret).
        assert "DATABASE_URL" in env
        if overlay != "prod":
            assert settings.database_url.startswith("postgresql://")
            assert settings.database_url.endswith("/ingest")
    if service == "classify":
        # The latest routings and the corrections of routes: PostgreSQL, shared by the replicas.
        assert "DATABASE_URL" in env
        if overlay != "prod":  # prod's URL is in a Secret that is not in the repository
            assert settings.database_url.startswith("postgresql://")
            assert settings.database_url.endswith("/classify")
    if service == "notify":
        # Its delivery log, edit snapshots and digest items: PostgreSQL, not a SQLite file in the pod.
        assert "DATABASE_URL" in env and "NOTIFY_DELIVERY_DB" not in env
        assert settings.admin_tokens, "ADMIN_API_TOKENS is empty: notify's admin endpoint would be off"
        if overlay != "prod":  # prod's URL is in a Secret that is not in the repository
            assert settings.database_url.startswith("postgresql://")
            assert settings.database_url.endswith("/notify")
        # Every alert carries a sign-in link to the workspace.
        assert settings.workspace_configured()
        if overlay == "prod":
            assert settings.smtp_security == "starttls"
            assert settings.smtp_username and settings.smtp_password
            assert settings.webhook_secret
            assert settings.workspace_base_url.startswith("https://")
        else:  # Mailpit: plain SMTP without authentication
            assert settings.smtp_security == "none" and not settings.smtp_username
    if service == "workspace":
        assert settings.workspace_secret.get_secret_value(), "the workspace refuses to start without it"
        assert "DATABASE_URL" in env
        if overlay != "prod":  # prod's URL is in a Secret that is not in the repository
            assert settings.database_url.startswith("postgresql://")
            assert settings.database_url.endswith("/workspace")
        if overlay == "prod":
            assert settings.workspace_base_url.startswith("https://") and settings.workspace_secure_cookies
            assert settings.oidc_issuer and settings.oidc_client_id and settings.oidc_client_secret
        # Alerts link where the workspace is: notify is given the same address.
        notify = _environment(source, overlay, "notify", service_environments, compose_config, rendered)
        assert notify["WORKSPACE_BASE_URL"] == env["WORKSPACE_BASE_URL"]

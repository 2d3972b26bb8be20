"""Helpers and fixtures of the deployment tests: rendered kustomize overlays, the resolved compose file, and the
environment variables each service actually reads (discovered from its settings class and its code).

Everything here is static: no cluster and no container engine are needed, only `kubectl` (for
`kubectl kustomize`) and Debian's `docker-compose` (for `config`), which .ci/run installs.
"""

from __future__ import annotations

import base64
import importlib
import os
import re
import shutil
import subprocess
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices, AliasPath
from pydantic.fields import FieldInfo

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
SERVICES = ("ingest", "classify", "notify", "workspace")

# Values for the variables the compose file requires (`${VAR:?...}`).
COMPOSE_REQUIRED = {
    "INGEST_API_TOKENS": "test-form-token",
    "ADMIN_API_TOKENS": "test-admin-token",
    "POSTGRES_PASSWORD": "test-password",
    "WORKSPACE_SECRET": "test-workspace-secret",
}

_SETTINGS = {
    "ingest": "feedback_ingest.settings:IngestSettings",
    "classify": "feedback_classify.settings:ClassifySettings",
    "notify": "feedback_notify.settings:NotifySettings",
    "workspace": "feedback_workspace.settings:WorkspaceSettings",
}
# Settings a service refuses to start without although their field has a default (create_app checks).
_REQUIRED_AT_START = {"ingest": {"INGEST_API_TOKENS"}, "workspace": {"WORKSPACE_SECRET"}}
# Variables of the interpreter and the image, not of the service.
RUNTIME_VARIABLES = {"PATH", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PYTHONPATH", "TZ"}
_OS_READ = re.compile(
    r"""os\.(?:environ\.get|getenv|environ\.setdefault)\(\s*["']([A-Z][A-Z0-9_]*)["']|os\.environ\[\s*["']([A-Z][A-Z0-9_]*)["']\s*\]"""
)


@dataclass(frozen=True)
class ServiceEnvironment:
    """What one service reads from its environment."""

    service: str
    settings_class: type
    # variable name -> the settings field it sets (None: read directly with os.environ)
    variables: dict[str, FieldInfo | None] = field(default_factory=dict)
    # each entry: the names of which one must be set
    required: list[frozenset[str]] = field(default_factory=list)

    def placeholder(self, name: str) -> str:
        """A value of the right type for a variable whose real value is a Secret we do not have."""
        info = self.variables.get(name)
        annotation = info.annotation if info is not None else str
        types = set(typing.get_args(annotation)) or {annotation}
        if int in types or float in types:
            return "1025"
        if bool in types:
            return "true"
        return "placeholder"


def _env_names(name: str, info: FieldInfo, prefix: str) -> set[str]:
    alias = info.validation_alias
    if alias is None:
        return {(prefix + name).upper()}
    if isinstance(alias, str):
        return {alias.upper()}
    if isinstance(alias, AliasChoices):
        names = set()
        for choice in alias.choices:
            if isinstance(choice, str):
                names.add(choice.upper())
            elif isinstance(choice, AliasPath) and isinstance(choice.path[0], str):
                names.add(choice.path[0].upper())
        return names
    if isinstance(alias, AliasPath) and isinstance(alias.path[0], str):
        return {alias.path[0].upper()}
    raise AssertionError(f"unexpected alias {alias!r} of {name}")


def _read_directly(*packages: str) -> set[str]:
    """Variables the packages' code reads with os.environ / os.getenv (e.g. LOG_LEVEL)."""
    names: set[str] = set()
    for package in packages:
        root = Path(importlib.import_module(package).__file__).parent
        for source in root.rglob("*.py"):
            for match in _OS_READ.finditer(source.read_text(encoding="utf-8")):
                names.add(match.group(1) or match.group(2))
    return names


def discover(service: str) -> ServiceEnvironment:
    module_name, class_name = _SETTINGS[service].split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    prefix = cls.model_config.get("env_prefix", "") or ""
    env = ServiceEnvironment(service, cls)
    for name, info in cls.model_fields.items():
        names = _env_names(name, info, prefix)
        for variable in names:
            env.variables[variable] = info
        if info.is_required():
            env.required.append(frozenset(names))
    for variable in _read_directly("feedback_contracts", "feedback_runtime", f"feedback_{service}"):
        env.variables.setdefault(variable, None)
    for variable in _REQUIRED_AT_START.get(service, ()):
        assert variable in env.variables, f"{variable} is no longer a setting of {service}: update this test"
        env.required.append(frozenset({variable}))
    return env


@pytest.fixture(scope="session")
def service_environments() -> dict[str, ServiceEnvironment]:
    return {service: discover(service) for service in SERVICES}


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"`{name}` is not installed (.ci/run installs the Debian package)"
    return path


def kustomize(path: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [tool("kubectl"), "kustomize", str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"kubectl kustomize {path} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict[str, Any]]]:
    """overlay name -> the objects `kubectl kustomize deploy/k8s/overlays/<name>` renders."""
    return {overlay: kustomize(K8S / "overlays" / overlay) for overlay in OVERLAYS}


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = find(objects, kind, name)
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def service_container(objects: list[dict[str, Any]], service: str) -> dict[str, Any]:
    deployment = one(objects, "Deployment", f"feedback-{service}")
    containers = {c["name"]: c for c in deployment["spec"]["template"]["spec"]["containers"]}
    assert service in containers, f"feedback-{service} has no container named {service}"
    return containers[service]


def container_environment(
    objects: list[dict[str, Any]], container: dict[str, Any], placeholder: Callable[[str], str]
) -> dict[str, str]:
    """The variables a container gets, with values where the manifests have them.

    Secrets that are not rendered (production creates them outside the repository) give a
    placeholder. envFrom must reference a ConfigMap or Secret rendered here, so that its keys can be
    checked like any other variable.
    """
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        prefix = source.get("prefix", "")
        if "configMapRef" in source:
            data = one(objects, "ConfigMap", source["configMapRef"]["name"]).get("data", {})
        elif "secretRef" in source:
            secret = find(objects, "Secret", source["secretRef"]["name"])
            assert secret, (
                f"envFrom secret {source['secretRef']['name']} is not rendered: its keys cannot be checked; "
                "use env with secretKeyRef instead"
            )
            data = _secret_data(secret[0])
        else:
            raise AssertionError(f"unexpected envFrom {source}")
        env.update({prefix + key: value for key, value in data.items()})
    for variable in container.get("env", []):
        name = variable["name"]
        if "value" in variable:
            env[name] = str(variable["value"])
        elif "secretKeyRef" in variable.get("valueFrom", {}):
            ref = variable["valueFrom"]["secretKeyRef"]
            secret = find(objects, "Secret", ref["name"])
            env[name] = _secret_data(secret[0])[ref["key"]] if secret else placeholder(name)
        elif "configMapKeyRef" in variable.get("valueFrom", {}):
            ref = variable["valueFrom"]["configMapKeyRef"]
            env[name] = one(objects, "ConfigMap", ref["name"])["data"][ref["key"]]
        else:
            env[name] = placeholder(name)
    return env


def _secret_data(secret: dict[str, Any]) -> dict[str, str]:
    data = {key: base64.b64decode(value).decode() for key, value in (secret.get("data") or {}).items()}
    data.update(secret.get("stringData") or {})
    return data


def compose(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run Debian's docker-compose (1.29: `config` needs no engine) on docker-compose.yml."""
    clean = {k: v for k, v in os.environ.items() if k not in COMPOSE_REQUIRED and not k.startswith("COMPOSE_")}
    clean.update(env or {})
    return subprocess.run(
        [tool("docker-compose"), "--project-directory", str(REPO), "-f", str(REPO / "docker-compose.yml"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean,
        cwd=REPO,
        check=False,
    )


@pytest.fixture(scope="session")
def compose_config(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """docker-compose.yml as compose resolves it (anchors merged, variables interpolated)."""
    empty = tmp_path_factory.mktemp("compose") / "empty.env"
    empty.write_text("")
    result = compose("--env-file", str(empty), "config", env=COMPOSE_REQUIRED)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)

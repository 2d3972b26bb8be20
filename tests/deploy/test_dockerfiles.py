"""The service images: built from the repository root, only contracts and the service itself installed
(from their pyproject files, as `make` does), a slim final stage running as a non-root user, with a
HEALTHCHECK and the uvicorn factory entrypoint."""

from __future__ import annotations

import importlib
import json
import re
import shlex
import tomllib
from dataclasses import dataclass, field

import pytest
from deploy_support import REPO, RUNTIME_VARIABLES, SERVICES, ServiceEnvironment

FINAL_IMAGE = "python:3.11-slim"


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [argument for instruction, argument in self.instructions if instruction == keyword]


def parse(service: str) -> list[Stage]:
    """Instructions per stage, continuation lines joined, comments dropped, ARG defaults substituted."""
    text = (REPO / "services" / service / "Dockerfile").read_text()
    logical: list[str] = []
    current = ""
    for line in text.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.lstrip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    assert not current, "Dockerfile ends in a continuation line"
    arguments: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        instruction, _, argument = line.strip().partition(" ")
        instruction, argument = instruction.upper(), argument.strip()
        if instruction == "ARG" and not stages and "=" in argument:
            key, value = argument.split("=", 1)
            arguments[key] = value
            continue
        if instruction == "FROM":
            for key, value in arguments.items():
                argument = argument.replace("${" + key + "}", value).replace("$" + key, value)
            parts = argument.split()
            parts = [p for p in parts if not p.startswith("--platform")]
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(parts[0], name))
            continue
        assert stages, f"{instruction} before FROM"
        stages[-1].instructions.append((instruction, argument))
    return stages


def _copy_sources(argument: str) -> tuple[dict[str, str], list[str]]:
    words = shlex.split(argument)
    flags = dict(w[2:].split("=", 1) for w in words if w.startswith("--") and "=" in w)
    paths = [w for w in words if not w.startswith("--")]
    return flags, paths[:-1]


def _normal(path: str) -> str:
    return path.removeprefix("./").rstrip("/")


@pytest.mark.parametrize("service", SERVICES)
def test_multi_stage_with_a_slim_final_stage(service: str) -> None:
    stages = parse(service)
    assert len(stages) >= 2
    assert stages[-1].image == FINAL_IMAGE
    # The venv is copied between stages: both must have the same Python at the same path.
    assert stages[0].image == FINAL_IMAGE


@pytest.mark.parametrize("service", SERVICES)
def test_installs_only_contracts_and_its_own_service(service: str) -> None:
    stages = parse(service)
    for stage in stages:
        assert not stage.all("ADD"), "use COPY"
    copied = set()
    for stage in stages:
        for argument in stage.all("COPY"):
            flags, sources = _copy_sources(argument)
            if "from" in flags:
                assert flags["from"] in {s.name for s in stages[:-1]}, f"COPY --from={flags['from']}: not a stage here"
                continue
            copied.update(_normal(source) for source in sources)
    assert copied == {"contracts", f"services/{service}"}
    for other in set(SERVICES) - {service}:
        assert f"services/{other}" not in (REPO / "services" / service / "Dockerfile").read_text()
    # One pip install, from the same pyproject files `make` installs: contracts and this service.
    installs = [
        shlex.split(argument)
        for stage in stages
        for argument in stage.all("RUN")
        if re.search(r"\bpip\b.*\binstall\b", argument)
    ]
    assert len(installs) == 1, installs
    (words,) = installs
    arguments = words[words.index("install") + 1 :]
    assert arguments == ["./contracts", f"./services/{service}"], arguments
    for path in copied:
        assert (REPO / path / "pyproject.toml").is_file()


@pytest.mark.parametrize("service", SERVICES)
def test_service_depends_on_no_other_service(service: str) -> None:
    project = tomllib.loads((REPO / "services" / service / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[\s\[<>=!~;]", d, maxsplit=1)[0].lower() for d in project["dependencies"]}
    assert not names & {f"feedback-{other}" for other in SERVICES}


@pytest.mark.parametrize("service", SERVICES)
def test_final_stage_copies_only_the_built_venv(service: str) -> None:
    final = parse(service)[-1]
    for argument in final.all("COPY"):
        flags, _ = _copy_sources(argument)
        assert "from" in flags, f"the final stage copies from the build context: {argument}"


@pytest.mark.parametrize("service", SERVICES)
def test_runs_as_a_non_root_user(service: str) -> None:
    users = parse(service)[-1].all("USER")
    assert users, "no USER: the container would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    # Numeric, so that Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
    assert user.isdigit() and int(user) > 0


@pytest.mark.parametrize("service", SERVICES)
def test_has_a_healthcheck_on_healthz(service: str) -> None:
    checks = parse(service)[-1].all("HEALTHCHECK")
    assert len(checks) == 1
    check = checks[0]
    assert "CMD" in check and "/healthz" in check and ":8000" in check
    assert "curl" not in check and "wget" not in check, "slim has neither"


@pytest.mark.parametrize("service", SERVICES)
def test_entrypoint_is_the_uvicorn_factory_on_port_8000(service: str) -> None:
    final = parse(service)[-1]
    (entrypoint,) = final.all("ENTRYPOINT")
    command = json.loads(entrypoint)
    target = f"feedback_{service}.app:create_app"
    assert command == ["uvicorn", "--factory", target, "--host", "0.0.0.0", "--port", "8000"]
    module, attribute = target.split(":")
    assert callable(getattr(importlib.import_module(module), attribute))
    assert not final.all("CMD")
    assert final.all("EXPOSE") == ["8000"]


def test_classify_image_has_voikko() -> None:
    runs = " ".join(parse("classify")[-1].all("RUN"))
    install = re.search(r"apt-get install ([^&;]+)", runs)
    assert install, "no apt-get install in classify's final stage"
    words = install.group(1).split()
    assert "--no-install-recommends" in words
    assert {"libvoikko1", "voikko-fi"} <= set(words)
    assert "rm -rf /var/lib/apt/lists" in runs


@pytest.mark.parametrize("service", SERVICES)
def test_image_environment_is_read_by_the_service(
    service: str, service_environments: dict[str, ServiceEnvironment]
) -> None:
    names = set()
    for argument in parse(service)[-1].all("ENV"):
        names.update(match.group(1) for match in re.finditer(r"([A-Za-z_][A-Za-z0-9_]*)=", argument))
    unknown = names - RUNTIME_VARIABLES - service_environments[service].variables.keys()
    assert not unknown, f"{service} does not read {sorted(unknown)}"


def test_dockerignore_keeps_the_context_small() -> None:
    patterns = {
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for required in (".venv", "var", ".git", "tests"):
        assert required in patterns, f".dockerignore does not exclude {required}"
    assert any("__pycache__" in p for p in patterns) and any("pytest_cache" in p for p in patterns)
    for kept in ("contracts", "services", "services/ingest", "services/classify", "services/notify"):
        assert kept not in patterns and f"/{kept}" not in patterns

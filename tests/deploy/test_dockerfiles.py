"""The service images: one Dockerfile for all four, the build argument SERVICE picking the service. Resolved for
each service (as `docker build --build-arg SERVICE=<service>` resolves it), the image is built from the
repository root with only contracts, runtime and that service installed (from their pyproject files, as `make`
does), a slim final stage running as a non-root user, with a HEALTHCHECK and that service's uvicorn factory
entrypoint; classify's also has voikko; the workspace's templates and static files reach its image. Static: no
container engine is needed."""

from __future__ import annotations

import fnmatch
import importlib
import json
import re
import shlex
import tomllib
from dataclasses import dataclass, field

import pytest
from deploy_support import REPO, RUNTIME_VARIABLES, SERVICES, ServiceEnvironment

DOCKERFILE = REPO / "Dockerfile"
FINAL_IMAGE = "python:3.11-slim"
# What every image installs besides its service: the data contract and the shared plumbing.
LIBRARIES = ("contracts", "runtime")
_REFERENCE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [argument for instruction, argument in self.instructions if instruction == keyword]


@dataclass
class Dockerfile:
    arguments: dict[str, str | None]  # the ARGs before the first FROM, with their defaults
    stages: list[Stage]

    def stage(self, name: str) -> Stage:
        (found,) = [s for s in self.stages if s.name == name]
        return found


def _logical_lines(text: str) -> list[str]:
    """Continuation lines joined, comments dropped."""
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
    assert not current, "the Dockerfile ends in a continuation line"
    return logical


def parse() -> Dockerfile:
    """The Dockerfile as written: global ARGs, then the instructions of each stage."""
    arguments: dict[str, str | None] = {}
    stages: list[Stage] = []
    for line in _logical_lines(DOCKERFILE.read_text()):
        instruction, _, argument = line.strip().partition(" ")
        instruction, argument = instruction.upper(), argument.strip()
        if instruction == "ARG" and not stages:
            key, has_default, value = argument.partition("=")
            arguments[key] = value if has_default else None
            continue
        if instruction == "FROM":
            parts = [p for p in argument.split() if not p.startswith("--platform")]
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(parts[0], name))
            continue
        assert stages, f"{instruction} before FROM"
        stages[-1].instructions.append((instruction, argument))
    return Dockerfile(arguments, stages)


def _substitute(text: str, values: dict[str, str]) -> str:
    return _REFERENCE.sub(lambda m: values.get(m.group(1) or m.group(2), m.group(0)), text)


@dataclass
class Image:
    """The Dockerfile resolved for one service: its build stage, and the stages its final image is made of."""

    service: str
    stages: list[Stage]  # every stage, arguments substituted
    layers: list[Stage]  # the final stage and the stages it is based on, the base first

    @property
    def build(self) -> Stage:
        (found,) = [s for s in self.stages if s.name == "build"]
        return found

    @property
    def final(self) -> Stage:
        return self.layers[-1]

    def all(self, keyword: str) -> list[str]:
        return [argument for stage in self.layers for argument in stage.all(keyword)]


def resolve(service: str) -> Image:
    """As `docker build --build-arg SERVICE=<service>` resolves it: defaults and SERVICE substituted."""
    dockerfile = parse()
    values = {key: value for key, value in dockerfile.arguments.items() if value is not None}
    values["SERVICE"] = service
    stages = [
        Stage(
            _substitute(stage.image, values),
            stage.name,
            [(instruction, _substitute(argument, values)) for instruction, argument in stage.instructions],
        )
        for stage in dockerfile.stages
    ]
    layers = [stages[-1]]
    while True:
        earlier = [s for s in stages[: stages.index(layers[0])] if s.name == layers[0].image]
        if not earlier:
            break
        layers.insert(0, earlier[-1])
    return Image(service, stages, layers)


def _copy_sources(argument: str) -> tuple[dict[str, str], list[str]]:
    words = shlex.split(argument)
    flags = dict(w[2:].split("=", 1) for w in words if w.startswith("--") and "=" in w)
    paths = [w for w in words if not w.startswith("--")]
    return flags, paths[:-1]


def _normal(path: str) -> str:
    return path.removeprefix("./").rstrip("/")


def _apt_packages(image: Image) -> set[str]:
    packages: set[str] = set()
    for run in image.all("RUN"):
        for install in re.finditer(r"apt-get install ([^&;|]+)", run):
            packages.update(w for w in install.group(1).split() if not w.startswith("-"))
    return packages


# --- one definition ---------------------------------------------------------------------------------------


def test_one_dockerfile_builds_every_service() -> None:
    """No copy per service: the services' images share this one definition."""
    others = [
        p.relative_to(REPO)
        for p in REPO.rglob("*Dockerfile*")
        if p != DOCKERFILE and not {".venv", ".git", "node_modules"} & set(p.relative_to(REPO).parts)
    ]
    assert not others, f"a second Dockerfile: {others}"
    # Every service the repository has is one the Dockerfile knows, and no more.
    on_disk = {p.parent.name for p in (REPO / "services").glob("*/pyproject.toml")}
    assert on_disk == set(SERVICES)
    stages = {s.name for s in parse().stages if s.name and s.name.startswith("service-")}
    assert stages == {f"service-{service}" for service in SERVICES}


def test_service_argument_has_no_default_and_is_checked() -> None:
    dockerfile = parse()
    assert "SERVICE" in dockerfile.arguments
    assert dockerfile.arguments["SERVICE"] is None, "a default would build that service when SERVICE is forgotten"
    assert dockerfile.stages[-1].image == "service-${SERVICE}"
    check = " ".join(dockerfile.stage("build").all("RUN"))
    assert all(service in check for service in SERVICES) and "exit 1" in check


def test_stages_declare_the_arguments_they_use() -> None:
    """A global ARG is visible to FROM lines only; a stage using it must declare it again, or it is empty."""
    dockerfile = parse()
    for stage in dockerfile.stages:
        declared: set[str] = set()
        for instruction, argument in stage.instructions:
            if instruction == "ARG":
                declared.add(argument.partition("=")[0])
                continue
            used = {m.group(1) or m.group(2) for m in _REFERENCE.finditer(argument)} & set(dockerfile.arguments)
            assert used <= declared, f"stage {stage.name}: {instruction} uses {sorted(used - declared)} undeclared"


# --- each service's image -----------------------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_multi_stage_with_a_slim_final_stage(service: str) -> None:
    image = resolve(service)
    assert image.final.name is None, "the final stage is the image"
    assert [s.name for s in image.layers[:-1]] == [f"service-{service}"]
    assert image.layers[0].image == FINAL_IMAGE
    # The venv is copied between stages: both must have the same Python at the same path.
    assert image.build.image == FINAL_IMAGE


@pytest.mark.parametrize("service", SERVICES)
def test_installs_only_contracts_runtime_and_its_own_service(service: str) -> None:
    image = resolve(service)
    for stage in image.stages:
        assert not stage.all("ADD"), "use COPY"
    copied = set()
    for stage in image.stages:
        for argument in stage.all("COPY"):
            flags, sources = _copy_sources(argument)
            if "from" in flags:
                names = {s.name for s in image.stages[: image.stages.index(stage)]}
                assert flags["from"] in names, f"COPY --from={flags['from']}: not an earlier stage"
                continue
            copied.update(_normal(source) for source in sources)
    assert copied == {*LIBRARIES, f"services/{service}"}
    # One pip install, from the same pyproject files `make` installs: the libraries and this service.
    installs = [
        shlex.split(argument)
        for stage in image.stages
        for argument in stage.all("RUN")
        if re.search(r"\bpip\b.*\binstall\b", argument)
    ]
    assert len(installs) == 1, installs
    (words,) = installs
    assert words[words.index("install") + 1 :] == [f"./{library}" for library in LIBRARIES] + [f"./services/{service}"]
    for path in copied:
        assert (REPO / path / "pyproject.toml").is_file()


@pytest.mark.parametrize("service", SERVICES)
def test_image_holds_no_other_service(service: str) -> None:
    image = resolve(service)
    text = " ".join(argument for stage in [image.build, *image.layers] for _, argument in stage.instructions)
    for other in set(SERVICES) - {service}:
        assert f"services/{other}" not in text and f"feedback_{other}" not in text


@pytest.mark.parametrize("service", SERVICES)
def test_service_depends_on_no_other_service(service: str) -> None:
    project = tomllib.loads((REPO / "services" / service / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[\s\[<>=!~;]", d, maxsplit=1)[0].lower() for d in project["dependencies"]}
    assert not names & {f"feedback-{other}" for other in SERVICES}


@pytest.mark.parametrize("service", SERVICES)
def test_final_stage_copies_only_the_built_venv(service: str) -> None:
    for stage in resolve(service).layers:
        for argument in stage.all("COPY"):
            flags, _ = _copy_sources(argument)
            assert flags.get("from") == "build", f"the image copies from elsewhere than the build stage: {argument}"


@pytest.mark.parametrize("service", SERVICES)
def test_runs_as_a_non_root_user(service: str) -> None:
    users = resolve(service).all("USER")
    assert users, "no USER: the container would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    # Numeric, so that Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
    assert user.isdigit() and int(user) > 0


@pytest.mark.parametrize("service", SERVICES)
def test_has_a_healthcheck_on_healthz(service: str) -> None:
    checks = resolve(service).all("HEALTHCHECK")
    assert len(checks) == 1
    check = checks[0]
    assert "CMD" in check and "/healthz" in check and ":8000" in check
    assert "curl" not in check and "wget" not in check, "slim has neither"


@pytest.mark.parametrize("service", SERVICES)
def test_entrypoint_is_the_uvicorn_factory_on_port_8000(service: str) -> None:
    image = resolve(service)
    (entrypoint,) = image.all("ENTRYPOINT")
    command = json.loads(entrypoint)
    target = f"feedback_{service}.app:create_app"
    assert command == ["uvicorn", "--factory", target, "--host", "0.0.0.0", "--port", "8000"]
    module, attribute = target.split(":")
    assert callable(getattr(importlib.import_module(module), attribute))
    assert not image.all("CMD")
    assert image.all("EXPOSE") == ["8000"]


@pytest.mark.parametrize("service", SERVICES)
def test_only_classify_gets_voikko(service: str) -> None:
    image = resolve(service)
    packages = _apt_packages(image)
    if service != "classify":
        assert not packages, f"{service} needs no Debian packages: {sorted(packages)}"
        return
    assert packages == {"libvoikko1", "voikko-fi"}
    runs = " ".join(image.all("RUN"))
    assert "--no-install-recommends" in runs
    assert "rm -rf /var/lib/apt/lists" in runs


@pytest.mark.parametrize("service", SERVICES)
def test_image_environment_is_read_by_the_service(
    service: str, service_environments: dict[str, ServiceEnvironment]
) -> None:
    names = set()
    for argument in resolve(service).all("ENV"):
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
    for kept in (*LIBRARIES, "services", *(f"services/{service}" for service in SERVICES)):
        assert kept not in patterns and f"/{kept}" not in patterns


def _dockerignore() -> list[str]:
    return [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def _ignored(path: str, patterns: list[str]) -> bool:
    """Whether the build context leaves `path` out: the last matching pattern wins, `!` keeps; a pattern matching
    a folder leaves out what is in it. (fnmatch's `*` also crosses `/`, so this errs on the side of leaving out.)"""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        keep = pattern.startswith("!")
        pattern = pattern.removeprefix("!").strip("/")
        anywhere = pattern.startswith("**/")
        tail = pattern.removeprefix("**/")
        for prefix in prefixes:
            candidates = (
                ["/".join(prefix.split("/")[i:]) for i in range(prefix.count("/") + 1)] if anywhere else [prefix]
            )
            if any(fnmatch.fnmatchcase(candidate, tail if anywhere else pattern) for candidate in candidates):
                ignored = not keep
                break
    return ignored


def test_dockerignore_check_is_not_vacuous() -> None:
    patterns = _dockerignore()
    assert _ignored("services/workspace/tests/test_x.py", patterns)
    assert _ignored("services/workspace/src/feedback_workspace/__pycache__/app.cpython-311.pyc", patterns)
    assert _ignored(".venv/bin/python", patterns)
    assert not _ignored("services/workspace/pyproject.toml", patterns)


def test_the_workspace_image_gets_its_templates_static_files_and_migrations() -> None:
    """They are package data of feedback_workspace: the build context must carry them for pip to install them."""
    package = REPO / "services" / "workspace" / "src" / "feedback_workspace"
    patterns = _dockerignore()
    data = [
        path
        for folder in ("templates", "static", "migrations")
        for path in (package / folder).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    ]
    assert any(p.suffix == ".j2" for p in data) and any(p.suffix == ".css" for p in data)
    left_out = [str(p.relative_to(REPO)) for p in data if _ignored(str(p.relative_to(REPO)), patterns)]
    assert not left_out, f".dockerignore leaves the workspace's files out of the image: {left_out}"
    # The image's only source of them is the service's folder, which the build copies whole.
    assert "services/workspace" in {
        _normal(s) for a in resolve("workspace").build.all("COPY") for s in _copy_sources(a)[1]
    }

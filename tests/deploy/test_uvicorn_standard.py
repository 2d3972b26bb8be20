"""Every service's image serves with uvloop and httptools: each service depends on uvicorn[standard] in the
pyproject its image installs from (the Dockerfile), so uvicorn's default picks them in the images as in
`feedback dev up` and the benchmark. Static: no container engine is needed."""

from __future__ import annotations

import tomllib

import pytest
from deploy_support import REPO, SERVICES
from packaging.requirements import Requirement


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_depends_on_uvicorn_with_its_standard_extras(service: str) -> None:
    project = tomllib.loads((REPO / "services" / service / "pyproject.toml").read_text(encoding="utf-8"))
    (uvicorn,) = [r for r in map(Requirement, project["project"]["dependencies"]) if r.name == "uvicorn"]
    assert "standard" in uvicorn.extras

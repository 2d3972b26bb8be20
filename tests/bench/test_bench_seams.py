"""bench/ times public API only: what it measures has tests of its own, and a service's restructuring that keeps
its public API keeps the benchmark running. So no module of bench/ imports a private name (or from a private
module) of the project's packages, nor reaches into another object's private attributes."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = sorted((REPO / "bench").glob("*.py"))
PACKAGES = ("feedback_contracts", "feedback_runtime", "feedback_ingest", "feedback_classify", "feedback_notify",
            "feedback_workspace", "feedback_cli")  # fmt: skip


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _ours(module: str | None) -> bool:
    return bool(module) and module.split(".")[0] in PACKAGES


def private_imports(tree: ast.AST) -> list[str]:
    """Private names (or names from private modules) of the project's packages that `tree` imports."""
    private = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and _ours(node.module):
            private += [f"{node.module} (module)" for part in node.module.split(".") if _private(part)]
            private += [f"{node.module}.{alias.name}" for alias in node.names if _private(alias.name)]
        elif isinstance(node, ast.Import):
            private += [a.name for a in node.names if _ours(a.name) and any(map(_private, a.name.split(".")))]
    return private


def private_attributes(tree: ast.AST) -> list[str]:
    """Private attributes `tree` reads or calls on anything but self (or cls)."""
    return [
        f"line {node.lineno}: {ast.unparse(node)}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and _private(node.attr)
        and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
    ]


@pytest.mark.parametrize("path", BENCH, ids=lambda p: p.name)
def test_bench_imports_only_public_names(path: Path) -> None:
    private = private_imports(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    assert not private, f"{path.name} imports private names: {private}"


@pytest.mark.parametrize("path", BENCH, ids=lambda p: p.name)
def test_bench_uses_no_private_attributes(path: Path) -> None:
    """bench's own classes keep their state behind self; anything else's private attributes are not its to time."""
    reached = private_attributes(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    assert not reached, f"{path.name} reaches into private attributes: {reached}"


def test_the_checks_see_what_bench_used_to_do() -> None:
    """What bench/ingest_steps.py did before it moved to public API, each caught."""
    before = ast.parse(
        "from feedback_ingest.app import _BrokerPublisher, build_broker\n"
        "from feedback_ingest import store as st\n"
        "st._plan(groups, {}, {})\n"
        "store._relay_reads().execute('UPDATE outbox SET sent_at = NULL')\n"
        "self._state = 1\n"
    )
    assert private_imports(before) == ["feedback_ingest.app._BrokerPublisher"]
    assert [line.split(": ", 1)[1] for line in private_attributes(before)] == ["st._plan", "store._relay_reads"]

"""Phase 6, the strategy office's reports at the scale of a large consultation: the spreadsheet (xlsx) and the
summary document (docx) of 2,000 statements and 60,000 routed paragraphs, on SQLite and on PostgreSQL.

The store is the workspace phase's consultation (bench/workspace.py: the seed statements routed by classify and
cloned, some revised, owners part-way through their items), filled through the workspace's own store. Each
export runs in a fresh process of its own (`python -m bench.reports export ...`), as the workspace's endpoint
would make it: wall time from the first query to the file closed, and the process's peak resident memory
(VmHWM) beside what it held before the export began (the interpreter and the libraries). The file is then
opened as the office would (openpyxl, python-docx) to show it is whole. Targets: under 10 s and 300 MB each.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

from .common import PYTHON, REPO_ROOT, Children, Plan, fresh_database

DATABASES = ("sqlite", "postgresql")
FORMATS = ("xlsx", "docx")
TARGET_SECONDS = 10.0
TARGET_MB = 300.0
OWNERS_FILE = REPO_ROOT / "config" / "owners.example.yaml"
EXPORT_TIMEOUT_S = 600


def run(children: Children, workdir: Path, plan: Plan) -> dict:
    from .workspace import consultation, fill

    data = consultation(plan.workspace_statements, plan.workspace_paragraphs_per_statement)
    result: dict = {
        "statements": len(data.statements),
        "revised": len(data.revisions),
        "routed_paragraphs": data.routed_paragraphs,
        "items": data.items,
        "targets": {"seconds": TARGET_SECONDS, "mb": TARGET_MB},
        "databases": {},
    }
    print(f"  reports: {len(data.statements):,} statements, {data.routed_paragraphs:,} routed paragraphs", flush=True)
    for kind in DATABASES:
        try:
            with fresh_database(workdir, kind, "reports") as (url, shown):
                started = time.monotonic()
                states = asyncio.run(fill(url, data, plan))
                outcome: dict = {"database": shown, "fill_s": round(time.monotonic() - started, 1), "states": states}
                for report_format in FORMATS:
                    output = workdir / f"{kind}.{report_format}"
                    outcome[report_format] = export_in_child(children, url, report_format, output)
                    outcome[report_format]["opened"] = opened(output, report_format)
                    output.unlink(missing_ok=True)
                result["databases"][kind] = outcome
        except Exception as exc:  # one database failing (no PostgreSQL here) must not lose the other
            result["databases"][kind] = {"error": f"{type(exc).__name__}: {exc}"}
        print(f"  reports {kind}: {_summary(result['databases'][kind])}", flush=True)
    return result


def _summary(outcome: dict) -> str:
    if "error" in outcome:
        return outcome["error"]
    return ", ".join(
        f"{f} {outcome[f]['seconds']} s, peak {outcome[f]['peak_mb']} MB" for f in FORMATS if "seconds" in outcome[f]
    )


def export_in_child(children: Children, url: str, report_format: str, output: Path) -> dict:
    """One export in a process of its own; what it measured of itself."""
    command = [PYTHON, "-m", "bench.reports", "export", "--url", url, "--format", report_format,
               "--output", str(output)]  # fmt: skip
    log = output.with_suffix(".log")
    child = children.spawn(f"report-{report_format}", command, stdout=subprocess.PIPE, log=log,
                           env={"LOG_LEVEL": "WARNING"})  # fmt: skip
    try:
        out, _ = child.process.communicate(timeout=EXPORT_TIMEOUT_S)
    finally:
        children.stop(child)
    if child.process.returncode != 0:
        said = log.read_text(encoding="utf-8", errors="replace")[-500:] if log.exists() else ""
        return {"error": f"exit {child.process.returncode}: {said}"}
    return json.loads(out.decode().strip().splitlines()[-1])


def opened(path: Path, report_format: str) -> dict:
    """The file opened as the office opens it: rows of the spreadsheet, paragraphs and headings of the document."""
    started = time.monotonic()
    if report_format == "xlsx":
        import openpyxl

        workbook = openpyxl.load_workbook(path, read_only=True)
        try:
            found = {"rows": workbook["Kohdat"].max_row - 1, "sheets": workbook.sheetnames}
        finally:
            workbook.close()
    else:
        import docx

        document = docx.Document(str(path))
        found = {
            "paragraphs": len(document.paragraphs),
            "headings": sum(1 for p in document.paragraphs if p.style.name.startswith("Heading")),
            "images": len(document.inline_shapes),
        }
    return {**found, "open_s": round(time.monotonic() - started, 1)}


# --- the child: one export, measured from within ---------------------------------------------------------


def _memory_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


async def _export(url: str, report_format: str, output: Path) -> dict:
    from datetime import UTC, datetime

    from feedback_contracts.owners import load_owners
    from feedback_workspace.reports.export import export, labels_for
    from feedback_workspace.reports.filters import Format, ReportFilter
    from feedback_workspace.store import WorkspaceStore

    store = WorkspaceStore(url)
    labels = labels_for(load_owners(OWNERS_FILE))
    before = _memory_mb("VmRSS")
    cpu0, started = time.process_time(), time.perf_counter()
    try:
        with output.open("wb") as target:
            made = await export(store.engine, Format(report_format), ReportFilter(), target, labels=labels,
                                created=datetime.now(UTC))  # fmt: skip
    finally:
        await store.close()
    seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 2),
        "cpu_s": round(time.process_time() - cpu0, 2),
        "peak_mb": _memory_mb("VmHWM"),
        "before_mb": before,
        "bytes": output.stat().st_size,
        "statements": made.statements,
        "shares": made.shares,
    }


def render(results: dict) -> str:
    """The phase as a section of docs/benchmarks.md."""
    phase = results.get("reports")
    if not phase:
        return ""
    lines = [
        "## 7. Reports: the strategy office's xlsx and docx",
        "",
        f"{phase.get('statements', 0):,} statements, {phase.get('routed_paragraphs', 0):,} routed paragraphs "
        f"({phase.get('revised', 0)} revised), every one in the report (no filter). Each export runs in a process of "
        "its own; peak memory is that process's VmHWM, beside what it held before the export began. "
        f"Targets: under {TARGET_SECONDS:g} s and under {TARGET_MB:g} MB for each file.",
        "",
    ]
    if "error" in phase:
        return "\n".join([*lines, f"The phase failed: {phase['error']}", ""])
    lines += ["| database | file | time | CPU | peak memory | before export | size | opened | target met |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for kind, outcome in phase.get("databases", {}).items():
        if "error" in outcome:
            lines.append(f"| {kind} | – | {outcome['error']} | | | | | | |")
            continue
        for report_format in FORMATS:
            run_ = outcome.get(report_format, {})
            if "error" in run_:
                lines.append(f"| {kind} | {report_format} | {run_['error']} | | | | | | |")
                continue
            met = run_["seconds"] < TARGET_SECONDS and run_["peak_mb"] < TARGET_MB
            seen = run_.get("opened", {})
            shown = f"{seen['rows']:,} rows" if "rows" in seen else f"{seen.get('paragraphs', 0):,} paragraphs"
            lines.append(
                f"| {kind} | {report_format} | {run_['seconds']} s | {run_['cpu_s']} s | {run_['peak_mb']} MB | "
                f"{run_['before_mb']} MB | {run_['bytes'] / 1e6:.1f} MB | {shown} | {'yes' if met else 'no'} |"
            )
    return "\n".join([*lines, ""])


def target_rows(results: dict) -> list[tuple]:
    """The Targets table's rows: each file on each database, its time and peak memory against the targets."""
    phase = results.get("reports")
    if not phase or "error" in phase:
        return []
    rows = []
    for kind, outcome in phase.get("databases", {}).items():
        for report_format in FORMATS:
            run_ = outcome.get(report_format, {})
            measure = f"office's {report_format} of {phase.get('routed_paragraphs', 0):,} routed paragraphs, {kind}"
            if "error" in outcome or "error" in run_:
                rows.append((measure, f"< {TARGET_SECONDS:g} s, < {TARGET_MB:g} MB", "–", "failed", ""))
                continue
            met = run_["seconds"] < TARGET_SECONDS and run_["peak_mb"] < TARGET_MB
            shown = f"{run_['seconds']} s, {run_['peak_mb']} MB"
            note = (
                f"{run_['seconds'] / TARGET_SECONDS:.0%} of the time, {run_['peak_mb'] / TARGET_MB:.0%} of the memory"
            )
            rows.append(
                (measure, f"< {TARGET_SECONDS:g} s, < {TARGET_MB:g} MB", shown, "met" if met else "**missed**", note)
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reports", description="one report export, measured")
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("export")
    one.add_argument("--url", required=True)
    one.add_argument("--format", choices=FORMATS, required=True)
    one.add_argument("--output", type=Path, required=True)
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(_export(args.url, args.format, args.output))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`python -m bench` (`make bench`): run the phases, stop everything each started, write docs/benchmarks.md.

`python -m bench --quick` (`make bench-quick`, and tests/bench in the test suite): every phase with tiny loads in
about a minute, to show the benchmark still runs; its report goes to a scratch file, never to docs/benchmarks.md.
Either exits 1 when a phase or a step of one failed (the report says which), after writing the report.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from . import classifier, corrections, ingest, pipeline, report, reports, transport, workspace
from .common import REPO_ROOT, Children, MachineShare, Plan, describe_code, describe_machine, reference_speed

# Cheap phases first: a broken set-up shows in seconds, not after ten minutes of pipeline.
PHASES = {
    "classifier": classifier,
    "transport": transport,
    "ingest": ingest,
    "workspace": workspace,
    "reports": reports,
    "corrections": corrections,
    "pipeline": pipeline,
}
# The committed report: only full runs write it.
COMMITTED_REPORT = REPO_ROOT / "docs" / "benchmarks.md"
QUICK_REPORT = Path(tempfile.gettempdir()) / "feedback-bench-quick.md"
PARTIAL_REPORT = Path(tempfile.gettempdir()) / "feedback-bench-partial.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="every phase with tiny loads: checks the machinery, gives no figures"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(PHASES),
        help=f"run this phase only (repeatable); the report goes to --output or {PARTIAL_REPORT}",
    )
    parser.add_argument(
        "--output", type=Path, help=f"the report (default {COMMITTED_REPORT}; with --quick {QUICK_REPORT})"
    )
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, mail, profiles)")
    parser.add_argument("--from-json", type=Path, help="measure nothing: render the report from --json results")
    args = parser.parse_args(argv)
    if args.from_json:
        results = json.loads(args.from_json.read_text(encoding="utf-8"))
        output = args.output or (QUICK_REPORT if results.get("quick") else COMMITTED_REPORT)
        if results.get("quick") and _is_committed(output):
            parser.error(f"{args.from_json} holds a quick run: it does not go into {COMMITTED_REPORT}")
        output.write_text(report.render(results), encoding="utf-8")
        print(f"bench: wrote {output} from {args.from_json}", flush=True)
        return 0
    partial = args.quick or bool(args.only)
    output = args.output or (QUICK_REPORT if args.quick else PARTIAL_REPORT if args.only else COMMITTED_REPORT)
    if args.quick and _is_committed(output):
        parser.error(f"a quick run gives no figures: it does not write {COMMITTED_REPORT}")
    if partial and _is_committed(output):
        parser.error(f"a run of some phases (--only) does not write {COMMITTED_REPORT}: it holds full runs only")

    plan = Plan.quick() if args.quick else Plan()
    workdir = Path(tempfile.mkdtemp(prefix="feedback-bench-"))
    started = time.monotonic()
    results: dict = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": describe_machine(),
        "reference_start": round(reference_speed(plan.reference_windows)),
        "code": describe_code(),
        "plan": asdict(plan),
        "quick": args.quick,
    }
    print(f"bench: work directory {workdir}", flush=True)
    try:
        for name in args.only or list(PHASES):
            results[name] = run_phase(name, workdir / name, plan)
    finally:
        results["elapsed_s"] = round(time.monotonic() - started)
        results["load_average_end"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        results["reference_end"] = round(reference_speed(plan.reference_windows))
        if args.json:
            args.json.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
        if args.keep:
            print(f"bench: kept {workdir}", flush=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(report.render(results), encoding="utf-8")
    print(f"bench: wrote {output} after {results['elapsed_s']}s", flush=True)
    problems = failures(results)
    for problem in problems:
        print(f"bench: FAILED {problem}", file=sys.stderr, flush=True)
    return 1 if problems else 0


def _is_committed(path: Path) -> bool:
    return path.resolve() == COMMITTED_REPORT.resolve()


def run_phase(name: str, workdir: Path, plan: Plan) -> dict:
    """One phase, whatever happens: its own processes stopped and checked gone, the machine's load noted."""
    print(f"bench: {name}", flush=True)
    workdir.mkdir(parents=True, exist_ok=True)
    children = Children()
    share = MachineShare()
    started = time.monotonic()
    try:
        result = PHASES[name].run(children, workdir, plan)
    except Exception as exc:
        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        children.stop_all()
    result["elapsed_s"] = round(time.monotonic() - started)
    result["machine_share"] = share.read()
    result["leftovers"] = children.leftovers()
    if result["leftovers"]:
        print(f"bench: {name} left processes behind: {result['leftovers']}", file=sys.stderr, flush=True)
    return result


def failures(results: dict) -> list[str]:
    """What did not work: a phase or a step of one that raised, measured nothing, or left processes behind.
    Never how fast anything was: a slow figure is a finding, not a failure."""
    problems = []
    for name in PHASES:
        phase = results.get(name)
        if phase is None:
            continue
        if "error" in phase:
            problems.append(f"{name}: {phase['error']}")
        if phase.get("leftovers"):
            problems.append(f"{name}: left processes behind: {phase['leftovers']}")
    for target, outcome in results.get("ingest", {}).get("targets", {}).items():
        if "error" in outcome:
            problems.append(f"ingest {target}: {outcome['error']}")
        for run in outcome.get("runs", []):
            if not run.get("accepted"):
                problems.append(
                    f"ingest {target}: nothing accepted at {run['connections']} connections: {run['statuses']}"
                )
    steps = results.get("ingest", {}).get("steps")
    if steps is not None and "error" in steps:
        problems.append(f"ingest steps: {steps['error']}")
    for step in results.get("pipeline", {}).get("steps", []):
        if not step.get("alerts") and not step.get("aborted"):
            problems.append(f"pipeline {step['rate']:g}/s: no alert arrived")
    for database, outcome in results.get("workspace", {}).get("databases", {}).items():
        if "error" in outcome:
            problems.append(f"workspace {database}: {outcome['error']}")
        for name, page in outcome.get("pages", {}).items():
            if set(page["statuses"]) != {"200"}:
                problems.append(f"workspace {database} {name}: answers {page['statuses']}")
    for database, outcome in results.get("reports", {}).get("databases", {}).items():
        if "error" in outcome:
            problems.append(f"reports {database}: {outcome['error']}")
        for report_format in reports.FORMATS:
            if "error" in outcome.get(report_format, {}):
                problems.append(f"reports {database} {report_format}: {outcome[report_format]['error']}")
    if results.get("corrections", {}).get("corrections") == 0:
        problems.append("corrections: no correction was timed")
    transport_phase = results.get("transport", {})
    if "messages" in transport_phase and transport_phase["received"] < transport_phase["messages"]:
        problems.append(f"transport: {transport_phase['received']} of {transport_phase['messages']} messages read back")
    return problems


if __name__ == "__main__":
    sys.exit(main())

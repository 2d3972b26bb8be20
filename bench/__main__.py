"""`python -m bench` (`make bench`): run the phases, stop everything each started, write docs/benchmarks.md."""

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

from . import classifier, ingest, pipeline, report, transport
from .common import REPO_ROOT, Children, MachineShare, Plan, describe_code, describe_machine, reference_speed

# Cheap phases first: a broken set-up shows in seconds, not after ten minutes of pipeline.
PHASES = {"classifier": classifier, "transport": transport, "ingest": ingest, "pipeline": pipeline}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="seconds-long smoke run of the machinery, not figures")
    parser.add_argument("--only", action="append", choices=sorted(PHASES), help="run this phase only (repeatable)")
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "docs" / "benchmarks.md", help="the report")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, mail, profiles)")
    parser.add_argument("--from-json", type=Path, help="measure nothing: render the report from --json results")
    args = parser.parse_args(argv)
    if args.from_json:
        args.output.write_text(report.render(json.loads(args.from_json.read_text(encoding="utf-8"))), encoding="utf-8")
        print(f"bench: wrote {args.output} from {args.from_json}", flush=True)
        return 0

    plan = Plan.quick() if args.quick else Plan()
    workdir = Path(tempfile.mkdtemp(prefix="feedback-bench-"))
    started = time.monotonic()
    results: dict = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": describe_machine(),
        "reference_start": round(reference_speed()),
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
        results["reference_end"] = round(reference_speed())
        if args.json:
            args.json.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
        if args.keep:
            print(f"bench: kept {workdir}", flush=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report.render(results), encoding="utf-8")
    print(f"bench: wrote {args.output} after {results['elapsed_s']}s", flush=True)
    return 0


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


if __name__ == "__main__":
    sys.exit(main())

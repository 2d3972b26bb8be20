"""Phase 4, the classifier: paragraphs per second on one core, cold and warm, with no precedents and with
10,000 loaded, and its start-up time.

Each measurement runs in a fresh process (`python -m bench.classifier`), so "cold" really starts with the
analyser's word cache holding only the draft's own words, as in a freshly started classify service.
The classifier is plain Python in one thread: one process is one core.

The 10,000 precedents are made of real sentences: each is two to four sentences drawn (seeded) from the
draft strategy and the labelled paragraphs, so their words are distributed as in the texts routing sees.
Drawn from about a thousand sentences, each sentence stands in some thirty precedents: many more shared
words than 10,000 distinct statements' paragraphs would have, which makes the index's work heavier, not
lighter, than in use.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from .common import FIXTURES, PYTHON, Children, Plan

# The precedents loaded for the second measurement: the issue's figure ("≥ 2,000 paragraphs/s on one core
# with 10,000 precedents loaded").
PRECEDENTS = 10_000
# Sentences per synthetic precedent, and the shortest sentence (in words) that makes one.
_SENTENCES_PER_PRECEDENT = (2, 4)
_MIN_SENTENCE_WORDS = 5
_SEED = 16


def run(children: Children, workdir: Path, plan: Plan) -> dict:
    throughput = _child(children, workdir, ["--warm-seconds", str(plan.classifier_warm_s)])
    startups = [_child(children, workdir, ["--startup-only"]) for _ in range(plan.classifier_startups)]
    builds = [s["build_s"] for s in startups]
    imports = [s["import_s"] for s in startups]
    result = {
        **throughput,
        "startup_build_s": {"median": statistics.median(builds), "max": max(builds), "runs": len(builds)},
        "startup_import_s": {"median": statistics.median(imports), "max": max(imports)},
    }
    loaded = result["with_precedents"]
    print(
        f"  classifier: cold {result['cold_rate']:.0f}/s, warm {result['warm_rate']:.0f}/s, "
        f"with {loaded['precedents']:,} precedents {loaded['warm_rate']:.0f}/s, "
        f"build {result['startup_build_s']['median']:.2f}s ({result['analyzer']})",
        flush=True,
    )
    return result


def _child(children: Children, workdir: Path, args: list[str]) -> dict:
    log = workdir / "classifier.log"
    child = children.spawn("classifier", [PYTHON, "-m", "bench.classifier", *args], stdout=subprocess.PIPE, log=log)
    out, _ = child.process.communicate(timeout=600)
    lines = [line for line in out.decode().splitlines() if line.startswith("{")]
    if child.process.returncode != 0 or not lines:
        raise RuntimeError(f"bench.classifier {' '.join(args)} failed (exit {child.process.returncode}); see {log}")
    return json.loads(lines[-1])


# --- inside the measuring process ------------------------------------------------------------------------


def paragraphs() -> list[tuple[str, int | None, object]]:
    """The labelled paragraphs of both statements plus the Hämeenlinna statement split as classify splits it."""
    from feedback_classify.paragraphs import split_paragraphs
    from feedback_contracts.respondents import RespondentType
    from feedback_ingest.importer import ImportOptions, import_file

    items: list[tuple[str, int | None, object]] = []
    for line in (FIXTURES / "routing-dev.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        rtype = RespondentType.parse(row["respondent_type"]) if row.get("respondent_type") else None
        items.append((row["text"], row.get("question"), rtype))
    imported = import_file(
        FIXTURES / "seed000_hameenlinna.txt", ImportOptions(respondent_type=RespondentType.MUNICIPALITY)
    ).response
    blocks = split_paragraphs((a.question, a.text) for a in imported.answers)
    items.extend((b.text, b.question, imported.respondent_type) for b in blocks)
    return items


def synthetic_precedents(count: int) -> list:
    """`count` precedents of two to four real sentences each (see the module's docstring), seeded."""
    from feedback_classify.precedents import Precedent
    from feedback_contracts.taxonomy import load_taxonomy

    rows = [json.loads(line) for line in (FIXTURES / "routing-dev.jsonl").read_text(encoding="utf-8").splitlines()]
    texts = [row["text"] for row in rows] + [s.body for s in load_taxonomy().sections]
    sentences = [
        s.strip() for text in texts for s in re.split(r"(?<=[.!?])\s+", text) if len(s.split()) >= _MIN_SENTENCE_WORDS
    ]
    sections = [tuple(row["must"]) for row in rows if row["must"]]
    rng = random.Random(_SEED)
    return [
        Precedent(
            text=" ".join(rng.sample(sentences, rng.randint(*_SENTENCES_PER_PRECEDENT))),
            question=None,
            respondent_type=None,
            sections=rng.choice(sections),
            source="labels",
            response_id=f"bench-{number // 25}",
            paragraph_id=f"p{number}",
        )
        for number in range(count)
    ]


def _passes(classifier, items: list, seconds: float, precedents=None) -> tuple[int, float, float, list[float]]:  # noqa: ANN001
    """Classify `items` over and over for at least `seconds`; counts, wall and CPU time, and each pass's rate."""
    done, rates = 0, []
    wall0, cpu0 = time.perf_counter(), time.process_time()
    while True:
        t0 = time.perf_counter()
        for text, question, rtype in items:
            classifier.classify(text, question, rtype, precedents=precedents)
        rates.append(len(items) / (time.perf_counter() - t0))
        done += len(items)
        if time.perf_counter() - wall0 >= seconds:
            return done, time.perf_counter() - wall0, time.process_time() - cpu0, rates


def measure(warm_seconds: float, startup_only: bool) -> dict:
    t0 = time.perf_counter()
    from feedback_classify.classifier import shared_classifier

    imported = time.perf_counter()
    classifier = shared_classifier()
    built = time.perf_counter()
    result = {
        "import_s": round(imported - t0, 3),
        "build_s": round(built - imported, 3),
        "analyzer": type(classifier.model.analyzer).__name__,
    }
    if startup_only:
        return result
    items = paragraphs()
    words = sum(len(text.split()) for text, _, _ in items)
    t1 = time.perf_counter()
    for text, question, rtype in items:
        classifier.classify(text, question, rtype)
    cold_s = time.perf_counter() - t1
    done, wall, cpu, rates = _passes(classifier, items, warm_seconds)
    loaded = _with_precedents(classifier, items, warm_seconds)
    return result | {
        "with_precedents": loaded,
        "paragraphs": len(items),
        "mean_words": round(words / len(items), 1),
        "cold_rate": round(len(items) / cold_s, 1),
        "warm_rate": round(done / wall, 1),
        "warm_pass_rates": {
            "min": round(min(rates), 1),
            "median": round(statistics.median(rates), 1),
            "max": round(max(rates), 1),
            "passes": len(rates),
        },  # fmt: skip
        "warm_cpu_share": round(cpu / wall, 2),
        "warm_seconds": round(wall, 1),
    }


def _with_precedents(classifier, items: list, warm_seconds: float) -> dict:  # noqa: ANN001
    """The warm rate again with PRECEDENTS loaded into an index, and what loading them took."""
    from feedback_classify.precedents import PrecedentIndex

    precedents = synthetic_precedents(PRECEDENTS)
    t0 = time.perf_counter()
    index = PrecedentIndex(classifier.model.analyzer)
    index.extend(precedents)
    load_s = time.perf_counter() - t0
    followed = sum(
        1
        for text, question, rtype in items
        for s in classifier.classify(text, question, rtype, precedents=index)[:1]
        if s.reasons[0].kind == "precedent"
    )
    done, wall, cpu, rates = _passes(classifier, items, warm_seconds, index)
    return {
        "precedents": len(index),
        "load_s": round(load_s, 2),
        "followed_a_precedent": followed,
        "warm_rate": round(done / wall, 1),
        "warm_pass_rates": {
            "min": round(min(rates), 1),
            "median": round(statistics.median(rates), 1),
            "max": round(max(rates), 1),
            "passes": len(rates),
        },  # fmt: skip
        "warm_cpu_share": round(cpu / wall, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.classifier")
    parser.add_argument("--warm-seconds", type=float, default=15.0)
    parser.add_argument("--startup-only", action="store_true")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.warm_seconds, args.startup_only)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`feedback classify`, `feedback eval` and `feedback calibrate`: the classifier from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from feedback_contracts.events import Reason
from feedback_contracts.respondents import RespondentType
from feedback_contracts.taxonomy import load_taxonomy

from .api import sections_json
from .calibration import GRID, calibrate, evaluate
from .classifier import CALIBRATION_FILE, Classifier, load_params
from .evaluation import Scorecard
from .labels import Label, precedent_index, read_label_files
from .learning_curve import learning_curve, report_curve
from .morphology import ANALYZERS, default_analyzer
from .precedents import PrecedentIndex


def _classifier(args: argparse.Namespace) -> Classifier:
    analyzer = ANALYZERS[args.analyzer]() if args.analyzer else default_analyzer()
    return Classifier(load_taxonomy(), analyzer, load_params(args.params))


def _common(parser: argparse.ArgumentParser, precedents: bool = True) -> None:
    parser.add_argument(
        "--analyzer", choices=sorted(ANALYZERS), help="Finnish analyser (default: voikko, else simplemma)"
    )
    parser.add_argument("--params", type=Path, help=f"calibration file (default: {CALIBRATION_FILE.name} shipped)")
    if precedents:
        parser.add_argument(
            "--precedents",
            type=Path,
            action="append",
            default=[],
            metavar="FILE.jsonl",
            help="labels file whose paragraphs route the ones closely resembling them (repeatable); a statement "
            "is never its own precedent",
        )


def _labels(paths: list[Path]) -> list[Label]:
    """The labels of the files, or SystemExit(2) with a one-line error naming the file that cannot be read."""
    for path in paths:
        try:
            read_label_files([path])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            print(f"error: cannot read labels from {path}: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
    return read_label_files(paths)


def _precedents(args: argparse.Namespace, classifier: Classifier) -> PrecedentIndex | None:
    if not args.precedents:
        return None
    return precedent_index(_labels(args.precedents), PrecedentIndex(classifier.model.analyzer))


def register_classify(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("classify", help="route paragraphs to strategy sections, with reasons")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--jsonl",
        action="store_true",
        help='read {"id","text","question"?,"question_text"?,"respondent_type"?,"response_id"?} lines on stdin',
    )
    source.add_argument("--text", help="explain the routing of one paragraph")
    parser.add_argument("--question", type=int, help="with --text: the question it answers")
    parser.add_argument("--respondent-type", help="with --text: the respondent type")
    parser.add_argument("--question-text", help="with --text: the question's text, where the questionnaire has none")
    _common(parser)
    parser.set_defaults(run=run_classify)


def run_classify(args: argparse.Namespace) -> int:
    classifier = _classifier(args)
    precedents = _precedents(args, classifier)
    if args.text is not None:
        rtype = RespondentType.parse(args.respondent_type) if args.respondent_type else None
        sections = classifier.classify(
            args.text, args.question, rtype, question_text=args.question_text, precedents=precedents
        )
        if not sections:
            print("no section: the paragraph goes to the default owner")
        for s in sections:
            title = classifier.taxonomy.get(s.section_id).title  # type: ignore[union-attr]
            print(f"{s.section_id} {title} (score {s.score:.2f})")
            for r in s.reasons:
                detail = r.match or ", ".join(r.terms) or _precedent_detail(r)
                extra = f" {r.score:.2f}" if r.score is not None else ""
                print(f"  - {r.kind}{extra}: {detail}".rstrip(": "))
        return 0
    status = 0
    for number, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            rtype = RespondentType.parse(row["respondent_type"]) if row.get("respondent_type") else None
            sections = classifier.classify(
                str(row["text"]),
                row.get("question"),
                rtype,
                question_text=row.get("question_text"),
                precedents=precedents,
                # A statement is not its own precedent (a labels file's statement is its `doc`).
                exclude_response=row.get("response_id") or row.get("doc"),
            )
        except (ValueError, KeyError, TypeError) as exc:
            print(f"error: line {number}: {exc}", file=sys.stderr)
            status = 1
            continue
        print(json.dumps({"id": row.get("id"), "sections": sections_json(sections)}, ensure_ascii=False))
    return status


def register_eval(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("eval", help="score the classifier on labels files (precision, recall, F1)")
    parser.add_argument(
        "files",
        type=Path,
        nargs="+",
        metavar="FILE",
        help="labels, one JSON object a line (doc, text, question, respondent_type, must, may)",
    )
    parser.add_argument(
        "--learning-curve",
        action="store_true",
        help="hold out each statement (doc) in turn, learn the others as precedents and calibration data, and "
        "print the curve and per-statement figures",
    )
    _common(parser)
    parser.set_defaults(run=run_eval)


def report(result: Scorecard) -> str:
    lines = [
        f"paragraph routes: precision {result.precision:.3f}  recall {result.recall:.3f}  F1 {result.f1:.3f}",
        f"({result.agreed}/{result.predicted} predicted routes agree; {result.hit}/{result.must} required routes found)",
        "",
        f"{'section':<10} {'routed':>6} {'agree':>6} {'prec':>6} {'must':>6} {'hit':>6} {'recall':>6}",
    ]
    for sid in sorted(result.sections, key=lambda x: [int(p) for p in x.split(".")]):
        c = result.sections[sid]
        fmt = lambda v: f"{v:6.2f}" if v is not None else "     -"  # noqa: E731
        lines.append(
            f"{sid:<10} {c.predicted:>6} {c.agreed:>6} {fmt(c.precision)} {c.must:>6} {c.hit:>6} {fmt(c.recall)}"
        )
    if result.misses:
        lines += ["", "missed (required route not found):"] + [f"  {item}: {sid}" for item, sid in result.misses]
    if result.wrong:
        lines += ["", "wrong routes (agree with no label):"] + [f"  {item}: {sid}" for item, sid in result.wrong]
    return "\n".join(lines)


def run_eval(args: argparse.Namespace) -> int:
    labels = _labels(args.files)
    classifier = _classifier(args)
    if args.learning_curve:
        if len({label.doc for label in labels}) < 2:
            print("error: a learning curve needs labels of at least two statements (docs)", file=sys.stderr)
            return 2
        print(report_curve(learning_curve(classifier, labels)))
        return 0
    print(report(evaluate(classifier, labels, precedents=_precedents(args, classifier))))
    return 0


def register_calibrate(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("calibrate", help="choose thresholds and weights on labels files")
    parser.add_argument("files", type=Path, nargs="+", metavar="FILE", help="labels files")
    parser.add_argument("--write", type=Path, help=f"write the result as a calibration file (e.g. {CALIBRATION_FILE})")
    _common(parser, precedents=False)
    parser.set_defaults(run=run_calibrate)


def run_calibrate(args: argparse.Namespace) -> int:
    labels = _labels(args.files)
    classifier = _classifier(args)
    params, result = calibrate(classifier, labels)
    cross = {}
    docs = sorted({label.doc for label in labels})
    if len(docs) == 2:
        for tune, test in (docs, docs[::-1]):
            tuned, _ = calibrate(classifier, [label for label in labels if label.doc == tune])
            held_out = evaluate(classifier, [label for label in labels if label.doc == test], tuned)
            cross[f"tuned on {tune}, tested on {test}"] = _figures(held_out)
    record = {
        "method": "coordinate ascent over feedback_classify.calibration.GRID, maximising micro F1 (labels README "
        "rules) blended with its grid neighbours' (a flat optimum; see feedback_classify.calibration.calibrate)",
        "labels": ", ".join(path.name for path in args.files),
        "analyzer": classifier.model.analyzer.name,
        "calibrated_at": datetime.now(UTC).date().isoformat(),
        "params": asdict(params),
        "figures": _figures(result),
        "cross_document": cross,
        "grid": {k: list(v) for k, v in GRID.items()},
    }
    text = json.dumps(record, indent=2, ensure_ascii=False)
    if args.write:
        args.write.write_text(text + "\n", encoding="utf-8")
        print(f"wrote {args.write}")
    print(text)
    return 0


def _figures(result: Scorecard) -> dict[str, float]:
    return {"precision": round(result.precision, 4), "recall": round(result.recall, 4), "f1": round(result.f1, 4)}


def _precedent_detail(reason: Reason) -> str:
    source = reason.precedent
    if source is None:
        return ""
    return f"like {source.response_id or '?'} {source.paragraph_id or ''} ({source.source})".replace("  ", " ")

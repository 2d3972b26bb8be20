"""Learning from labelled statements from the command line: precedents in `feedback classify` and `feedback eval`,
several labels files, and the learning curve."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from feedback_classify.classifier import shared_classifier
from feedback_classify.labels import read_labels
from feedback_classify.learning_curve import learning_curve

LABELS = Path(__file__).parents[2] / "fixtures" / "routing-dev.jsonl"


def feedback(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "feedback_cli.main", *args]
    return subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=300)


def split_by_document(tmp_path: Path, per_document: int | None = None) -> tuple[Path, Path]:
    rows = [json.loads(line) for line in LABELS.read_text(encoding="utf-8").splitlines()]
    paths = []
    for prefix in ("000", "002"):
        path = tmp_path / f"{prefix}.jsonl"
        chosen = [row for row in rows if row["doc"].startswith(prefix)][:per_document]
        path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in chosen), encoding="utf-8")
        paths.append(path)
    return paths[0], paths[1]


def test_classify_jsonl_routes_a_paragraph_like_a_labelled_one_and_names_it(tmp_path: Path) -> None:
    label = next(label for label in read_labels(LABELS) if label.id == "002_a00e7c02600b051c.txt:[39]")
    lines = [
        {"id": "same", "text": label.text, "question": 38, "response_id": "uusi-lausunto"},
        {"id": "own", "text": label.text, "question": 38, "doc": label.doc},
    ]
    stdin = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n"
    result = feedback("classify", "--jsonl", "--precedents", str(LABELS), stdin=stdin)
    assert result.returncode == 0, result.stderr
    same, own = (json.loads(line) for line in result.stdout.splitlines())
    assert [s["id"] for s in same["sections"]] == list(label.must)
    assert same["sections"][0]["reasons"] == [
        {
            "kind": "precedent",
            "score": 1.0,
            "precedent": {
                "source": "labels",
                "response_id": label.doc,
                "paragraph_id": label.id,
                "similarity": 1.0,
            },
        }
    ]
    # The same paragraph in its own statement is not its own precedent.
    assert all(r["kind"] != "precedent" for s in own["sections"] for r in s["reasons"])


def test_eval_with_the_labels_as_precedents_does_not_learn_a_statement_from_itself() -> None:
    plain = feedback("eval", str(LABELS))
    learnt = feedback("eval", str(LABELS), "--precedents", str(LABELS))
    assert plain.returncode == learnt.returncode == 0, learnt.stderr
    assert plain.stdout == learnt.stdout


def test_eval_scores_several_labels_files_as_one(tmp_path: Path) -> None:
    first, second = split_by_document(tmp_path)
    together = feedback("eval", str(LABELS))
    apart = feedback("eval", str(first), str(second))
    assert apart.returncode == 0, apart.stderr
    assert apart.stdout.splitlines()[:2] == together.stdout.splitlines()[:2]


def test_calibrate_reads_several_labels_files_as_one(tmp_path: Path) -> None:
    first, second = split_by_document(tmp_path, per_document=8)
    joined = tmp_path / "joined.jsonl"
    joined.write_text(first.read_text(encoding="utf-8") + second.read_text(encoding="utf-8"), encoding="utf-8")
    apart, together = feedback("calibrate", str(first), str(second)), feedback("calibrate", str(joined))
    assert apart.returncode == together.returncode == 0, apart.stderr
    assert json.loads(apart.stdout)["params"] == json.loads(together.stdout)["params"]
    assert json.loads(apart.stdout)["labels"] == "000.jsonl, 002.jsonl"


def test_an_unreadable_labels_file_is_one_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "ok", "must": []}\n{not json\n', encoding="utf-8")
    result = feedback("eval", str(LABELS), str(broken))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith(f"error: cannot read labels from {broken}")


def test_the_learning_curve_holds_out_each_statement_and_learning_never_makes_it_worse() -> None:
    labels = read_labels(LABELS)
    curve = learning_curve(shared_classifier(), labels)
    assert [point.statements for point in curve.points] == [0, 1]
    assert {h.doc for h in curve.held_out} == {label.doc for label in labels}
    for held in curve.held_out:
        assert held.paragraphs == sum(label.doc == held.doc for label in labels)
        assert held.with_precedents.f1 >= held.calibrated.f1 > held.untrained.f1
    # Learning one statement lifts the pooled figure over routing with no labels at all.
    assert curve.points[1].result.f1 > curve.points[0].result.f1


def test_eval_learning_curve_prints_the_curve_and_each_statement(tmp_path: Path) -> None:
    first, second = split_by_document(tmp_path, per_document=10)
    result = feedback("eval", "--learning-curve", str(first), str(second))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("learning curve: each statement held out in turn")
    assert any(line.startswith("0 ") for line in lines) and any(line.startswith("1 ") for line in lines)
    assert any(line.startswith("000_003bb35fee7eccaa.txt") for line in lines)
    assert any(line.startswith("002_a00e7c02600b051c.txt") for line in lines)


def test_a_learning_curve_of_one_statement_is_refused(tmp_path: Path) -> None:
    first, _ = split_by_document(tmp_path, per_document=5)
    result = feedback("eval", "--learning-curve", str(first))
    assert result.returncode == 2 and "at least two statements" in result.stderr

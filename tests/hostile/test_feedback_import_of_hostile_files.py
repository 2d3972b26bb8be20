"""`feedback import` given files that are not clean UTF-8: it decodes them with a warning or stops with one clear
error line; it never shows a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from feedback_cli.main import main
from feedback_contracts.responses import SurveyResponse

STATEMENT = (
    "Esimerkkilän kunta\n\n1. Miltä painopisteet näyttävät?\n\nHyvältä: {answer}\n\n2. Entä muuta?\n\nEi muuta.\n"
)
ARGS = ("--respondent-type", "municipality")
CASES = {
    "windows-1252 (Word's 'save as text')": STATEMENT.format(answer="äö ÄÖ å € – “lainaus”").encode("cp1252"),
    "latin-1 with bytes Windows-1252 leaves undefined": STATEMENT.format(answer="äö").encode("latin-1") + b"\x81\x8d\x8f\x90\x9d\n",
    "a lone continuation byte": STATEMENT.format(answer="ok \x80 ok").encode("utf-8", "surrogateescape").replace(b"\xc2\x80", b"\x80"),
    "a truncated sequence at the end": STATEMENT.format(answer="ä").encode() + "ä".encode()[:1],
    "an overlong encoding of '/'": STATEMENT.format(answer="x").encode() + b"\xc0\xaf\n",
    "an encoded surrogate": STATEMENT.format(answer="x").encode() + b"\xed\xa0\x80\n",
    "bytes above U+10FFFF": STATEMENT.format(answer="x").encode() + b"\xf4\x90\x80\x80\xf8\x88\x80\x80\x80\n",
    "a UTF-8 BOM, then invalid bytes": b"\xef\xbb\xbf" + STATEMENT.format(answer="\xff").encode("latin-1"),
    "UTF-16 with a BOM": STATEMENT.format(answer="äö").encode("utf-16"),
    "UTF-32": STATEMENT.format(answer="äö").encode("utf-32"),
    "invalid bytes inside a question heading": STATEMENT.replace("1. Miltä", "1. Milt\udce4").encode("utf-8", "surrogateescape"),
    "only invalid bytes": bytes(range(0x80, 0x100)),
    "a .docx that is text with invalid bytes": b"PK\x03\x04" + bytes(range(0x80, 0x100)),
}  # fmt: skip


def feedback_import(capsys: pytest.CaptureFixture[str], path: Path) -> tuple[int, str, str]:
    code = main(["import", str(path), *ARGS])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("name", list(CASES))
def test_a_file_that_is_not_clean_utf8_decodes_with_a_warning_or_stops_with_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    path = tmp_path / ("statement.docx" if name.startswith("a .docx") else "statement.txt")
    path.write_bytes(CASES[name])
    code, out, err = feedback_import(capsys, path)
    assert "Traceback" not in err and "Traceback" not in out
    if code == 0:
        response = SurveyResponse.model_validate_json(out)
        assert response.answers, "decoded, but nothing imported"
        assert f"warning: {path} is not UTF-8; read it as Windows-1252" in err.splitlines()
    else:
        assert code == 2 and out == ""
        assert err.startswith("error: ") and err.count("\n") == 1, err
        # One of the importer's own messages, not the catch-all that reports an unexpected exception.
        assert not err.startswith(f"error: could not import {path}"), err


def test_a_windows_1252_statement_keeps_its_finnish_letters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "statement.txt"
    path.write_bytes(CASES["windows-1252 (Word's 'save as text')"])
    code, out, _ = feedback_import(capsys, path)
    assert code == 0
    answers = {a["question"]: a["text"] for a in json.loads(out)["answers"]}
    assert answers[27] == "Hyvältä: äö ÄÖ å € – “lainaus”"
    assert json.loads(out)["respondent"]["organization"] == "Esimerkkilän kunta"


@pytest.mark.parametrize("name", ["an encoded surrogate", "UTF-16 with a BOM"])
def test_a_real_feedback_import_process_shows_no_traceback_for_invalid_utf8(tmp_path: Path, name: str) -> None:
    # A file name that is itself not UTF-8, as a Windows share mounted on Linux may give.
    path = Path(os.fsdecode(bytes(tmp_path) + b"/lausunto-\xe4\xf6.txt"))
    path.write_bytes(CASES[name])
    result = subprocess.run(
        [sys.executable, "-m", "feedback_cli.main", "import", path, *ARGS],
        capture_output=True,
        timeout=120,
    )
    stderr = result.stderr.decode("utf-8", "replace")
    assert "Traceback" not in stderr
    assert result.returncode in (0, 2), stderr
    if result.returncode == 0:
        SurveyResponse.model_validate_json(result.stdout)
        assert "is not UTF-8; read it as Windows-1252" in stderr
    else:
        assert stderr.startswith("error: ") and stderr.count("\n") == 1, stderr

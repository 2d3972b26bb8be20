"""`feedback import` as a user runs it: JSON on stdout, warnings and errors on stderr, exit codes, --submit."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from feedback_cli.main import main
from feedback_contracts.responses import SurveyResponse

FIXTURES = Path(__file__).parents[2] / "fixtures"
SEED000 = FIXTURES / "seed000_hameenlinna.txt"
SEED002 = FIXTURES / "seed002_jarjestoneuvottelukunta.txt"


def feedback_import(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["import", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def write(tmp_path: Path, text: str, name: str = "statement.txt") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_import_prints_the_response_as_json_with_finnish_letters_intact(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = feedback_import(capsys, str(SEED000), "--respondent-type", "Kunta tai kaupunki")
    assert (code, err) == (0, "")
    response = SurveyResponse.model_validate_json(out)
    assert [a.question for a in response.answers] == list(range(27, 36))
    assert '"organization": "Hämeenlinnan kaupunki"' in out
    assert out.startswith('{\n  "survey_id": "palvelustrategia-2026"')


def test_import_writes_each_warning_on_its_own_stderr_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "Esimerkkilän kunta\n\nEnsimmäinen sivu.\n\nToinen sivu.\n\n1. A?\n\nx\n")
    code, out, err = feedback_import(capsys, str(path), "--respondent-type", "municipality")
    assert code == 0 and json.loads(out)["answers"] == [{"question": 27, "text": "x", "question_text": "A?"}]
    assert err.splitlines() == [
        "warning: dropped text before the first question: 'Ensimmäinen sivu.'",
        "warning: dropped text before the first question: 'Toinen sivu.'",
    ]


def test_flags_override_the_documents_values(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = feedback_import(
        capsys,
        str(SEED002),
        "--organization",
        "Toinen järjestö",
        "--title",
        "sihteeri",
        "--response-id",
        "doc-1",
        "--survey-id",
        "kysely-2",
    )
    body = json.loads(out)
    assert code == 0
    assert body["respondent"]["organization"] == "Toinen järjestö" and body["respondent"]["title"] == "sihteeri"
    assert (body["response_id"], body["survey_id"], body["source"]) == ("doc-1", "kysely-2", "import")


@pytest.mark.parametrize(
    ("text", "args", "message"),
    [
        ("1. A?\n\nx\n", [], "numbers its questions 1, which may be local numbering"),
        ("Ei kysymyksiä.\n", ["--respondent-type", "municipality"], "found no numbered questions"),
        ("1. A?\n\nx\n\n1. B?\n\ny\n", ["--respondent-type", "municipality"], "question 1 appears twice"),
        ("2. A?\n\nx\n\n1. B?\n\ny\n", ["--respondent-type", "municipality"], "out of order: 1 comes after 2"),
        ("45. A?\n\nx\n", ["--respondent-type", "municipality"], "question 45 is outside respondent type"),
        ("1. A?\n\n2. B?\n", ["--respondent-type", "municipality"], "no answer text"),
        ("1. A?\n\nx\n", ["--respondent-type", "virasto"], "--respondent-type: unknown respondent type 'virasto'"),
        ("1. A?\n\nx\n", ["--respondent-type", "municipality"], "pass --organization"),
        ("1. A?\n\nx\n", ["--respondent-type", "municipality", "--response-id", "a b"], "response_id"),
        (
            "".join(f"{n}. Q{n}?\n\nx\n\n" for n in range(1, 10)),
            ["--respondent-type", "employment_area"],
            "found 9 questions (1-9), but respondent type employment_area has only 8",
        ),
    ],
)
def test_an_unimportable_document_exits_2_with_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, args: list[str], message: str
) -> None:
    organisation = [] if message == "pass --organization" else ["--organization", "Esimerkkilä"]
    code, out, err = feedback_import(capsys, str(write(tmp_path, text)), *args, *organisation)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_an_answer_over_the_limit_exits_2_naming_the_question(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, f"Esimerkkilän kunta\n\n1. A?\n\n{'x' * 20_001}\n")
    code, _, err = feedback_import(capsys, str(path), "--respondent-type", "municipality")
    assert code == 2 and "error: the answer to question 27 (the document's question 1) has 20001 characters" in err


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.txt", None, "cannot read"),
        ("broken.docx", b"PK\x03\x04 not really a zip", "is not a readable .docx document"),
        ("old.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "legacy Word/Office file"),
        ("image.png", b"\x89PNG\r\n\x1a\n\x00\x00", "binary file, not text"),
    ],
)
def test_a_file_that_is_not_a_readable_document_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: bytes | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    code, _, err = feedback_import(capsys, str(path), "--respondent-type", "municipality")
    assert code == 2 and err.startswith("error: ") and message in err


def test_an_error_in_a_real_process_shows_no_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, "3. A?\n\nx\n\n3. B?\n\ny\n")
    result = subprocess.run(
        [sys.executable, "-m", "feedback_cli.main", "import", str(path), "--respondent-type", "municipality"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr == "error: question 3 appears twice (question numbers found: 3, 3)\n"


# --- --submit against a real HTTP server -------------------------------------------------------------------


class RecordingIngest(BaseHTTPRequestHandler):
    """Answers every POST with 202 and keeps what it received."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.path, dict(self.headers), body))  # type: ignore[attr-defined]
        answer = json.dumps({"status": "accepted"}).encode()
        self.send_response(202)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:  # keep the test output clean
        pass


@pytest.fixture
def ingest_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), RecordingIngest)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def url_of(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}"


def test_submit_posts_the_response_with_the_bearer_token(
    ingest_server: ThreadingHTTPServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = feedback_import(capsys, str(SEED002), "--submit", "--url", url_of(ingest_server), "--token", "t1")
    assert code == 0
    ((path, headers, body),) = ingest_server.received  # type: ignore[attr-defined]
    assert path == "/v1/responses"
    assert headers["Authorization"] == "Bearer t1"
    assert headers["Content-Type"] == "application/json"
    posted = SurveyResponse.model_validate_json(body)
    assert posted.source == "import" and posted == SurveyResponse.model_validate_json(out)
    assert 'submitted: 202 {"status": "accepted"}' in err


def test_submit_takes_url_and_token_from_the_environment(
    ingest_server: ThreadingHTTPServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INGEST_URL", url_of(ingest_server))
    monkeypatch.setenv("INGEST_API_TOKENS", " first-token , second-token")
    code, _, _ = feedback_import(capsys, str(SEED000), "--respondent-type", "municipality", "--submit")
    assert code == 0
    ((_, headers, _),) = ingest_server.received  # type: ignore[attr-defined]
    assert headers["Authorization"] == "Bearer first-token"


def test_submit_without_a_token_exits_2(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INGEST_API_TOKENS", raising=False)
    code, _, err = feedback_import(capsys, str(SEED002), "--submit", "--url", "http://127.0.0.1:9")
    assert code == 2 and "error: no token" in err


def test_submit_says_when_ingest_cannot_be_reached(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = feedback_import(capsys, str(SEED002), "--submit", "--url", "http://127.0.0.1:9", "--token", "t")
    assert code == 1 and "error: cannot reach http://127.0.0.1:9" in err

"""Phase: a correction's way through the pipeline on `feedback dev up`, timed from the moment it is posted to the
moment the new owner's alert is in dev up's SMTP sink.

Full-size statements are posted and delivered first; then, one at a time with the stack otherwise idle, one
paragraph of each is moved through the workspace's API (`POST /api/corrections`, what `feedback route correct`
sends) from its section to one whose owner had nothing of that statement. The correction goes the whole way:
the workspace's outbox publishes `RouteCorrected`, classify applies it and publishes the routes again, notify
alerts the owner who gained the paragraph. The alert's arrival is the sink's file name (time.time_ns() when it
stored the message), so the figure does not depend on how often this process looks.
"""

from __future__ import annotations

import time
import uuid
from email import message_from_bytes
from email.header import decode_header, make_header
from pathlib import Path

import httpx

from feedback_contracts.owners import OwnersDirectory, load_owners
from feedback_contracts.taxonomy import load_taxonomy

from .common import REPO_ROOT, Children, Plan, percentile
from .pipeline import ADMIN_TOKEN, Session, _plain_text, _post, _read_posts

# The words: "within a second or two on the dev stack".
TARGET_S = 2.0
OWNERS = REPO_ROOT / "config" / "owners.example.yaml"  # what dev up runs with


REASON = "Kohta kuuluu toiselle osiolle (suorituskykymittaus)."
WAIT_S = 30.0


def run(children: Children, workdir: Path, plan: Plan) -> dict:
    session = Session(children, workdir, uuid.uuid4().hex[:6])
    session.start()
    try:
        directory = load_owners(OWNERS)
        statements = _post_statements(session, plan.corrections_count)
        timings = [_correct(session, directory, response_id) for response_id in statements]
    finally:
        session.stop()
    return {
        "broker": session.broker_description,
        "corrections": len(timings),
        "timings": timings,
        "alert_ms": _summary([t["alert_ms"] for t in timings]),
        "post_ms": _summary([t["post_ms"] for t in timings]),
        "target_s": TARGET_S,
    }


def _summary(values: list[float]) -> dict:
    def rounded(value: float | None) -> float | None:
        return round(value, 1) if value is not None else None

    return {"p50": rounded(percentile(values, 50)), "p90": rounded(percentile(values, 90)),
            "max": rounded(max(values, default=None))}  # fmt: skip


def _post_statements(session: Session, count: int) -> list[str]:
    """`count` full-size statements posted at 2/s, each recorded by the workspace and its alerts delivered."""
    prefix = session.prefix("corr")
    load = _post(session, prefix, 2, count / 2)
    load.process.wait(120)
    posted = [r["id"] for r in _read_posts(session, prefix)["records"] if r["status"] == "202"]
    if len(posted) < count:
        raise RuntimeError(f"only {len(posted)} of {count} statements were accepted")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        session.mailbox.scan()
        if all(session.mailbox.arrivals.get(rid) for rid in posted) and all(_statement(session, r) for r in posted):
            break
        time.sleep(0.5)
    else:
        raise RuntimeError("the statements' alerts or workspace records did not all arrive within 120 s")
    time.sleep(3)  # whatever alerts of theirs were still on the way are in by now
    return posted


def _statement(session: Session, response_id: str) -> dict | None:
    answer = httpx.get(
        f"{session.stack.urls['workspace']}/api/statements/{response_id}",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=10,
    )
    return answer.json() if answer.status_code == 200 else None


def _move(directory: OwnersDirectory, routed: dict) -> tuple[dict, str, str, str]:
    """A paragraph routed to one owned section, and a chapter 5 section whose immediate owner got nothing of
    this statement: (paragraph, section it leaves, section it goes to, the new owner's address)."""
    receivers = {owner for p in routed["paragraphs"] for r in p["routes"] for owner in r["owners"]}
    paragraphs = [
        p for p in routed["paragraphs"]
        if len(p["routes"]) == 1 and p["routes"][0]["section_id"]
        and directory.default_owner not in p["routes"][0]["owners"]
    ]  # fmt: skip
    if not paragraphs:
        raise RuntimeError(f"{routed['response_id']}: no paragraph is routed to exactly one owned section")
    paragraph = paragraphs[0]
    source = paragraph["routes"][0]["section_id"]
    for section in load_taxonomy().sections:
        if not section.id.startswith("5.") or section.id == source:
            continue
        for owner in directory.owners_for(section.id):
            immediate = owner.mode == "immediate" and owner.email
            if immediate and owner.id not in receivers and owner.id != directory.default_owner:
                return paragraph, source, section.id, ", ".join(owner.email)
    raise RuntimeError(f"{routed['response_id']}: every immediate owner already has a paragraph of it")


def _correct(session: Session, directory: OwnersDirectory, response_id: str) -> dict:
    routed = _statement(session, response_id)
    if routed is None:
        raise RuntimeError(f"{response_id}: the workspace does not have it")
    paragraph, source, target, address = _move(directory, routed)
    mail = session.stack.mail
    before = {p.name for p in mail.glob("*.eml")}
    body = {"response_id": response_id, "paragraph_id": paragraph["paragraph_id"], "add": [target],
            "remove": [source], "reason": REASON}  # fmt: skip
    sent = time.time()
    answer = httpx.post(
        f"{session.stack.urls['workspace']}/api/corrections",
        json=body, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30,
    )  # fmt: skip
    answered = time.time()
    if answer.status_code not in (200, 201, 202):
        raise RuntimeError(f"{response_id}: POST /api/corrections answered {answer.status_code}: {answer.text}")
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        for path in sorted(mail.glob("*.eml")):
            if path.name in before or path.name.startswith("."):
                continue
            before.add(path.name)
            raw = path.read_bytes()
            message = message_from_bytes(raw)
            if response_id in _plain_text(raw) and message["To"] == address:
                if "siirretty" not in str(make_header(decode_header(message["Subject"]))).lower():
                    raise RuntimeError(f"{response_id}: the new owner got an alert that is not a moved paragraph's")
                arrived = int(path.name.split("-", 1)[0]) / 1e9
                return {"response_id": response_id, "from": source, "to": target,
                        "post_ms": round((answered - sent) * 1000, 1), "alert_ms": round((arrived - sent) * 1000, 1)}  # fmt: skip
        time.sleep(0.01)
    raise RuntimeError(f"{response_id}: the new owner's alert did not arrive within {WAIT_S:g} s")


# --- the report ----------------------------------------------------------------------------------------------


def render(results: dict) -> str:
    phase = results.get("corrections")
    if not phase:
        return ""
    lines = [
        "## 8. Corrections: from the correction to the new owner's alert",
        "",
        f"On `feedback dev up` (SQLite, dev up's SMTP sink), {phase.get('corrections', 0)} full-size statements "
        "posted and delivered, then one paragraph of each moved, one correction at a time, through the workspace's "
        "`POST /api/corrections` to a section whose owner had nothing of that statement. Measured from the POST to "
        "the new owner's alert stored by the sink; the path is the workspace's outbox, `RouteCorrected`, classify, "
        "`ResponseClassified` (routing + 1), notify, SMTP. "
        f'Target (the issue\'s "a second or two"): every alert within {TARGET_S:g} s.',
        "",
    ]
    if "error" in phase:
        return "\n".join([*lines, f"The phase failed: {phase['error']}", ""])
    alert, post = phase["alert_ms"], phase["post_ms"]
    lines += [
        "| measure | p50 | p90 | max |",
        "| --- | --- | --- | --- |",
        f"| POST to the new owner's alert (ms) | {_num(alert['p50'])} | {_num(alert['p90'])} | {_num(alert['max'])} |",
        f"| the POST's own answer (ms) | {post['p50']} | {post['p90']} | {post['max']} |",
        "",
    ]
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return f"{value:,.0f}" if value is not None else "–"


def target_rows(results: dict) -> list[tuple]:
    phase = results.get("corrections")
    if not phase or "error" in phase:
        return []
    worst = phase["alert_ms"]["max"]
    met = worst is not None and worst <= TARGET_S * 1000
    return [(
        f"a correction to the new owner's alert, dev up ({phase['corrections']} corrections)",
        f"≤ {TARGET_S:g} s each", f"max {_num(worst)} ms (p50 {_num(phase['alert_ms']['p50'])} ms)",
        "met" if met else "**missed**", "",
    )]  # fmt: skip

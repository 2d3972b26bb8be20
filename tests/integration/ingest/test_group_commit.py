"""Accepts committed in groups: each request still gets the answer it would get alone, nothing is stored twice,
and a group whose transaction fails stores none of what failed and answers 503 to those requests."""

from __future__ import annotations

import asyncio
import copy
import sqlite3
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import asyncpg
import pytest
from sqlalchemy import update

from feedback_contracts.events import RESPONSES_TOPIC
from feedback_contracts.responses import SurveyResponse
from feedback_ingest.migrations import migrate
from feedback_ingest.rules import received_event
from feedback_ingest.store import AcceptResult, ConflictError, IngestStore, Outcome, legacy_content_hash
from feedback_ingest.tables import revisions

pytestmark = pytest.mark.integration


def _variant(template: dict, response_id: str, revision: int = 1, note: str = "") -> dict:
    body = copy.deepcopy(template)
    body["response_id"], body["revision"] = response_id, revision
    if note:
        body["answers"][0]["text"] += f" {note}"
    return body


async def _store(database_url: str) -> IngestStore:
    store = IngestStore(database_url)
    await asyncio.to_thread(migrate, store.url)
    return store


def test_one_group_decides_each_accept_as_if_it_came_alone(database_url: str, seed002_response, unique) -> None:
    rid, other = f"group-{unique}", f"group-other-{unique}"
    posted = [
        _variant(seed002_response, rid),  # new: accepted
        _variant(seed002_response, rid),  # the same again: a duplicate
        _variant(seed002_response, rid, note="Muutettu."),  # same revision, other content: conflict
        _variant(seed002_response, rid, revision=3, note="Korjattu."),  # an edit: accepted, replaces 1
        _variant(seed002_response, rid, revision=2),  # older than 3 by now: conflict
        _variant(seed002_response, other),  # another response: accepted
    ]

    async def run() -> tuple[list, list, list, dict]:
        store = await _store(database_url)
        try:
            now = datetime.now(UTC)
            # Gathered, they all wait before the writer first runs: one group, one transaction.
            outcomes = await asyncio.gather(
                *(store.accept(SurveyResponse.model_validate(body), now) for body in posted), return_exceptions=True
            )
            stored = await store.revisions_of(rid)
            queued = [(row.response_id, row.revision) for row in await store.unsent(100)]
            return outcomes, stored, queued, await store.latest_revisions()
        finally:
            await store.close()

    outcomes, stored, queued, latest = asyncio.run(run())
    assert outcomes[0] == AcceptResult(Outcome.ACCEPTED, rid, 1, None)
    assert outcomes[1] == AcceptResult(Outcome.DUPLICATE, rid, 1, None)
    assert isinstance(outcomes[2], ConflictError) and "different content" in str(outcomes[2])
    assert outcomes[3] == AcceptResult(Outcome.ACCEPTED, rid, 3, 1)
    assert isinstance(outcomes[4], ConflictError) and "older than the latest stored revision 3" in str(outcomes[4])
    assert outcomes[5] == AcceptResult(Outcome.ACCEPTED, other, 1, None)
    assert [(s.revision, s.replaces_revision, s.state) for s in stored] == [(1, None, "accepted"), (3, 1, "accepted")]
    assert queued == [(rid, 1), (rid, 3), (other, 1)]  # the outbox in the order they were accepted
    assert latest == {rid: 3, other: 1}


def test_many_concurrent_posts_are_answered_by_the_rules_and_each_stored_and_published_once(
    ingest_settings, make_client, topics, seed002_response, unique, form_headers, eventually
) -> None:
    client = make_client(ingest_settings)
    distinct = [f"many-{unique}-{n}" for n in range(24)]
    same, clashing = f"same-{unique}", f"clash-{unique}"
    bodies = [(rid, _variant(seed002_response, rid)) for rid in distinct]
    bodies += [(same, _variant(seed002_response, same)) for _ in range(12)]
    bodies += [(clashing, _variant(seed002_response, clashing, note=f"Versio {n}.")) for n in range(12)]

    def post(item: tuple[str, dict]) -> tuple[str, int]:
        rid, body = item
        return rid, client.post("/v1/responses", json=body, headers=form_headers).status_code

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        answers = list(pool.map(post, bodies))

    by_id: dict[str, Counter[int]] = {}
    for rid, code in answers:
        by_id.setdefault(rid, Counter())[code] += 1
    assert all(by_id[rid] == Counter({202: 1}) for rid in distinct)
    assert by_id[same] == Counter({202: 1, 200: 11})  # one accepted, every identical repeat a duplicate
    assert by_id[clashing] == Counter({202: 1, 409: 11})  # one accepted, every other content a conflict
    for rid in [*distinct, same, clashing]:
        assert len(client.get(f"/v1/responses/{rid}/revisions", headers=form_headers).json()) == 1

    mine = {*distinct, same, clashing}
    keys = lambda: Counter(r.key.decode() for r in topics.read(RESPONSES_TOPIC) if r.key.decode() in mine)  # noqa: E731
    eventually(lambda: len(keys()) == len(mine), timeout=30, what="every response published")
    assert keys() == Counter(dict.fromkeys(mine, 1))


def _fail_contact_rows_of(database_url: str, prefix: str) -> None:
    """A database error for the contact row of any response whose id starts with `prefix`: an accept of such a
    response fails after its response and revision rows were written, on a statement carrying contact data."""
    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url.split("///", 1)[1]) as connection:
            connection.execute(
                f"CREATE TRIGGER fail_marked BEFORE INSERT ON contacts WHEN NEW.response_id LIKE '{prefix}%' "
                "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
            )
        return

    async def install() -> None:
        connection = await asyncpg.connect(database_url)
        try:
            await connection.execute(
                "CREATE FUNCTION fail_marked() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF NEW.response_id LIKE '{prefix}%' THEN RAISE EXCEPTION 'injected failure'; END IF; "
                "RETURN NEW; END $$"
            )
            await connection.execute(
                "CREATE TRIGGER fail_marked BEFORE INSERT ON contacts FOR EACH ROW EXECUTE FUNCTION fail_marked()"
            )
        finally:
            await connection.close()

    asyncio.run(install())


def _stop_failing(database_url: str) -> None:
    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url.split("///", 1)[1]) as connection:
            connection.execute("DROP TRIGGER fail_marked")
        return

    async def drop() -> None:
        connection = await asyncpg.connect(database_url)
        try:
            await connection.execute("DROP TRIGGER fail_marked ON contacts")
        finally:
            await connection.close()

    asyncio.run(drop())


def test_accepts_whose_transaction_fails_get_503_store_nothing_and_do_not_fail_the_others(
    ingest_settings, make_client, seed002_response, unique, form_headers, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(ingest_settings)  # migrates the database
    _fail_contact_rows_of(ingest_settings.database_url, f"fail-{unique}")
    failing = [f"fail-{unique}-{n}" for n in range(6)]
    fine = [f"fine-{unique}-{n}" for n in range(6)]
    bodies = [_variant(seed002_response, rid) for pair in zip(failing, fine, strict=True) for rid in pair]

    def post(body: dict) -> tuple[str, int, dict]:
        answer = client.post("/v1/responses", json=body, headers=form_headers)
        return body["response_id"], answer.status_code, answer.json()

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        answers = {rid: (code, body) for rid, code, body in pool.map(post, bodies)}

    for rid in failing:
        assert answers[rid] == (503, {"detail": "the request could not be completed; retry later"})
        assert client.get(f"/v1/responses/{rid}", headers=form_headers).status_code == 404
    for rid in fine:
        assert answers[rid][0] == 202
        assert client.get(f"/v1/responses/{rid}", headers=form_headers).status_code == 200

    # The failures are logged without the values the statement carried.
    logged = caplog.text
    assert "unexpected error on POST /v1/responses" in logged
    respondent = seed002_response["respondent"]
    for personal in (respondent["email"], respondent["phone"], respondent["first_name"], respondent["last_name"]):
        assert personal not in logged

    _stop_failing(ingest_settings.database_url)
    # Nothing of the failed accepts was kept: the same posts now are first revisions, accepted.
    again = client.post("/v1/responses", json=_variant(seed002_response, failing[0]), headers=form_headers)
    assert again.status_code == 202 and again.json()["replaces_revision"] is None
    assert len(client.get(f"/v1/responses/{failing[0]}/revisions", headers=form_headers).json()) == 1


def test_a_retry_of_a_revision_stored_with_the_earlier_fingerprint_is_still_a_duplicate(
    database_url: str, seed002_response, unique
) -> None:
    response = SurveyResponse.model_validate(_variant(seed002_response, f"legacy-{unique}"))
    changed = SurveyResponse.model_validate(_variant(seed002_response, f"legacy-{unique}", note="Muutettu."))

    async def run() -> tuple[AcceptResult, BaseException | AcceptResult]:
        store = await _store(database_url)
        try:
            await store.accept(response, datetime.now(UTC))
            # As a revision accepted before the fingerprint changed carries it.
            async with store.engine.begin() as conn:
                await conn.execute(
                    update(revisions)
                    .where(revisions.c.response_id == response.response_id)
                    .values(content_hash=legacy_content_hash(response))
                )
            repeat = await store.accept(response, datetime.now(UTC))
            try:
                other: BaseException | AcceptResult = await store.accept(changed, datetime.now(UTC))
            except ConflictError as exc:
                other = exc
            return repeat, other
        finally:
            await store.close()

    repeat, other = asyncio.run(run())
    assert repeat.outcome is Outcome.DUPLICATE
    assert isinstance(other, ConflictError)


def test_requests_the_direct_path_leaves_to_the_framework_are_answered_as_before(
    ingest_settings, make_client, seed002_response, unique, form_headers
) -> None:
    client = make_client(ingest_settings)
    # A streamed body (no Content-Length).
    streamed = _variant(seed002_response, f"streamed-{unique}")
    import json

    def chunks():
        yield json.dumps(streamed).encode()

    answer = client.post(
        "/v1/responses", content=chunks(), headers={**form_headers, "Content-Type": "application/json"}
    )
    assert answer.status_code == 202
    # A lone surrogate escape: Python's JSON parser reads it, pydantic's refuses it; the text is cleaned as ever.
    lone = _variant(seed002_response, f"surrogate-{unique}")
    raw = json.dumps(lone).replace("Kanta-H", "Kanta-\\ud800H", 1).encode()
    answer = client.post(
        "/v1/responses", content=raw, headers={**form_headers, "Content-Type": "application/json; charset=utf-8"}
    )
    assert answer.status_code == 202, answer.text
    # Malformed JSON and a wrong token are answered by the route, as before.
    broken = client.post("/v1/responses", content=b"{", headers={**form_headers, "Content-Type": "application/json"})
    assert broken.status_code == 422 and broken.json()["detail"][0]["msg"] == "JSON decode error"
    refused = client.post("/v1/responses", json=streamed, headers={"Authorization": "Bearer nope"})
    assert refused.status_code == 401


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_when_the_database_cannot_be_reached_accepts_fail_instead_of_waiting(
    kind: str, seed002_response, unique, tmp_path
) -> None:
    # SQLite: the database path is a directory; PostgreSQL: nothing listens on the port.
    url = f"sqlite:///{tmp_path}" if kind == "sqlite" else "postgresql://postgres@127.0.0.1:1/nowhere"
    bodies = [SurveyResponse.model_validate(_variant(seed002_response, f"down-{unique}-{n}")) for n in range(5)]

    async def run() -> list[BaseException | AcceptResult]:
        store = IngestStore(url)
        try:
            accepts = asyncio.gather(
                *(store.accept(body, datetime.now(UTC)) for body in bodies), return_exceptions=True
            )
            return await asyncio.wait_for(accepts, 60)  # a guard against hanging, not a measure
        finally:
            await store.close()

    outcomes = asyncio.run(run())
    assert all(isinstance(outcome, Exception) and not isinstance(outcome, ConflictError) for outcome in outcomes)


def test_a_later_revisions_contact_data_replace_the_earlier_ones_within_a_group_and_across(
    database_url: str, seed002_response, unique
) -> None:
    rid = f"contact-{unique}"

    def revision(number: int, email: str | None) -> SurveyResponse:
        body = _variant(seed002_response, rid, revision=number, note=f"Versio {number}.")
        if email is None:
            body["respondent"] = {"organization": body["respondent"]["organization"]}
        else:
            body["respondent"]["email"] = email
        return SurveyResponse.model_validate(body)

    async def run() -> list:
        store = await _store(database_url)
        try:
            now = datetime.now(UTC)
            seen = []
            await asyncio.gather(
                store.accept(revision(1, "eka@example.org"), now), store.accept(revision(2, None), now)
            )
            seen.append(await store.contact(rid))
            await store.accept(revision(3, "kolmas@example.org"), now)
            seen.append(await store.contact(rid))
            await store.accept(revision(4, None), now)
            seen.append(await store.contact(rid))
            return seen
        finally:
            await store.close()

    after_group, after_third, after_fourth = asyncio.run(run())
    assert after_group is None  # revision 2 came without contact data
    assert after_third is not None and after_third.email == "kolmas@example.org"
    assert after_fourth is None


def test_on_sqlite_every_accept_commits_with_synchronous_full_even_after_the_relay_marked_rows_sent(
    tmp_path, seed002_response, unique
) -> None:
    """What a power cut must not undo: an accept (202) commits with synchronous=FULL; only the relay's marks
    (a lost one means publishing again) may commit without waiting for the disk."""
    statements: list[str] = []

    async def run() -> None:
        store = await _store(f"sqlite:///{tmp_path}/ingest.sqlite3")
        try:
            first = SurveyResponse.model_validate(_variant(seed002_response, f"durable-{unique}-1"))
            await store.accept(first, datetime.now(UTC))
            hot = store.repository.hot  # type: ignore[attr-defined]
            assert hot is not None
            hot.set_trace_callback(statements.append)  # what the hot connection runs from here on
            await store.mark_sent(await store.unsent(10), datetime.now(UTC))
            second = SurveyResponse.model_validate(_variant(seed002_response, f"durable-{unique}-2"))
            await store.accept(second, datetime.now(UTC))
        finally:
            await store.close()

    asyncio.run(run())
    pragmas_before_begin = [statements[i - 1] for i, sql in enumerate(statements) if sql.startswith("BEGIN") and i > 0]
    assert pragmas_before_begin == ["PRAGMA synchronous = NORMAL", "PRAGMA synchronous = FULL"]  # mark, then accept
    assert any(
        sql.startswith("INSERT INTO outbox") for sql in statements[statements.index("PRAGMA synchronous = FULL") :]
    )


def test_the_stored_event_is_the_published_event_as_text(database_url: str, seed002_response, unique) -> None:
    """The event goes into the store and out to the relay as bytes (SQLite: no decoding on the way), and is stored
    as the same text as ever: the event's JSON, which the read side and replays see."""
    response = SurveyResponse.model_validate(_variant(seed002_response, f"event-text-{unique}"))

    async def run() -> tuple[list, list]:
        store = await _store(database_url)
        try:
            now = datetime.now(UTC)
            await store.accept(response, now)
            payloads = [row.payload for row in await store.unsent(100) if row.response_id == response.response_id]
            expected = received_event(response, now, None).model_dump_json()
            stored = []
            if store.is_sqlite:
                with sqlite3.connect(store.repository.path) as connection:  # type: ignore[attr-defined]
                    stored = connection.execute(
                        "SELECT typeof(event), event FROM revisions WHERE response_id = ?", (response.response_id,)
                    ).fetchall()
                assert stored == [("text", expected)]
            return payloads, [expected.encode()]
        finally:
            await store.close()

    payloads, expected = asyncio.run(run())
    assert payloads == expected

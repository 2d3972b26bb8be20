"""Phase 5, the owners' workspace at the scale of a large consultation: its inbox and statement page answering
while the store holds 2,000 statements and 60,000 routed paragraphs, on SQLite and on PostgreSQL.

The statements are the fixtures' seed statements (seed 000, a municipality's 51 paragraphs; seed 002, an NGO
council's 23) and parts of them, each routed once by classify's Router, then cloned with new response ids,
organisations, respondent types and arrival times over six weeks until the store holds the planned number of
statements and routed paragraphs (about 30 per statement). A few statements get a second revision (one
paragraph edited), and owners have moved part of the items on (read, handled, not mine), as mid-consultation.
The store is filled through the workspace's own `WorkspaceStore`; then `uvicorn --factory` serves it as a
separate process and a few concurrent clients, each with its own signed-in session, fetch each page kind in
turn. Latency is from the request sent to the whole page read, on the client.

Beside it, the store's own calls for each page are timed alone (no HTTP, no rendering) and their SQL captured
and EXPLAINed: what a slow page spends in the database and how the database goes about it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import httpx

from .common import (
    FIXTURES,
    PYTHON,
    REPO_ROOT,
    SEED_RESPONSE,
    Child,
    Children,
    CpuMeter,
    Plan,
    broker,
    free_port,
    fresh_database,
    percentile,
    received_event,
    wait_http,
)

DATABASES = ("sqlite", "postgresql")
OWNERS_FILE = REPO_ROOT / "config" / "owners.example.yaml"
SECRET = "bench-workspace-secret"
# The page kinds measured: the inbox unfiltered and with each filter, a later page of it, and the statement page.
PAGES = (
    ("inbox", "inbox, newest first"),
    ("inbox_state", "inbox, state `uusi`"),
    ("inbox_section", "inbox, one section"),
    ("inbox_type", "inbox, one respondent type"),
    ("inbox_text", "inbox, free text"),
    ("inbox_later", "inbox, page 20"),
    ("statement", "statement page"),
    ("office_items", "office: every item (context)"),
)
# The pages the target is set for; the office's list of every item is context, signed in as the office.
TARGET_PAGES = frozenset(name for name, _ in PAGES if name != "office_items")
OFFICE_PAGES = frozenset({"office_items"})
# The free-text filter's word: in some statements' paragraphs, not in others.
SEARCH_WORD = "järjestö"
# Share of items owners have moved on from `uusi`, and to which state.
STATE_SHARES = (("luettu", 0.25), ("kasitelty", 0.2), ("ei_minulle", 0.03))
REVISED_SHARE = 0.05
FORM_TOKEN = re.compile(r'name="csrf" value="([^"]+)"')
LINK_TOKEN = re.compile(r'name="t" value="([^"]+)"')
TYPE_NAMES = {
    "board": "hallitus", "integration_committee": "yhteistoimintaelin", "influence_body": "vaikuttamistoimielin",
    "municipality": "kunta", "organization_or_parish": "yhdistys ry", "company": "Oy",
    "education": "oppilaitos", "regional_council": "liitto", "employment_area": "työllisyysalue",
    "kela_or_neighbour_county": "hyvinvointialue",
}  # fmt: skip
PLACES = ("Hämeenlinna", "Riihimäki", "Forssa", "Janakkala", "Hattula", "Hausjärvi", "Loppi", "Tammela",
          "Jokioinen", "Humppila", "Ypäjä", "Kanta-Häme")  # fmt: skip


def run(children: Children, workdir: Path, plan: Plan) -> dict:
    from feedback_contracts.owners import load_owners

    data = consultation(plan.workspace_statements, plan.workspace_paragraphs_per_statement)
    viewer = data.busiest_owner
    office = load_owners(OWNERS_FILE).default_owner
    result: dict = {
        "statements": len(data.statements),
        "revised": len(data.revisions),
        "routed_paragraphs": data.routed_paragraphs,
        "items": data.items,
        "variants": data.variants,
        "viewer": {"owner": viewer, **data.owner_load[viewer]},
        "office": office,
        "clients": plan.workspace_clients,
        "requests": plan.workspace_requests,
        "page_size": _page_size(),
        "databases": {},
    }
    print(
        f"  workspace: {len(data.statements):,} statements, {data.routed_paragraphs:,} routed paragraphs, "
        f"{data.items:,} items; viewer {viewer} ({data.owner_load[viewer]})",
        flush=True,
    )
    with broker(children, workdir, partitions=1) as kafka:
        result["broker"] = kafka.description
        for kind in DATABASES:
            try:
                with fresh_database(workdir, kind, "workspace") as (url, shown):
                    started = time.monotonic()
                    states = asyncio.run(fill(url, data, plan))
                    outcome: dict = {"database": shown, "fill_s": round(time.monotonic() - started, 1),
                                     "states": states}  # fmt: skip
                    queries = page_queries(data, viewer)
                    viewers = {"owner": viewer, "office": office}
                    with _server(children, workdir, kind, url, kafka.bootstrap) as server:
                        outcome["pages"] = asyncio.run(measure(server, viewers, queries, plan))
                    outcome["store"] = asyncio.run(store_alone(url, viewer, queries, plan))
                    result["databases"][kind] = outcome
            except Exception as exc:  # one database failing (no PostgreSQL here) must not lose the other
                result["databases"][kind] = {"error": f"{type(exc).__name__}: {exc}"}
            print(f"  workspace {kind}: {_summary(result['databases'][kind])}", flush=True)
    return result


def _summary(outcome: dict) -> str:
    if "error" in outcome:
        return outcome["error"]
    return ", ".join(f"{name} p95 {page['latency_ms']['p95']} ms" for name, page in outcome["pages"].items())


# --- the consultation ------------------------------------------------------------------------------------


@dataclass
class Consultation:
    statements: list  # ResponseClassified, revision 1
    revisions: list  # ResponseClassified, revision 2 of some
    routed_paragraphs: int
    items: int
    variants: list[dict]
    owner_load: dict[str, dict[str, int]]
    busiest_owner: str


def consultation(count: int, per_statement: float, seed: int = 15) -> Consultation:
    """`count` classified statements with about `per_statement` routed paragraphs each, from the seeds' variants."""
    from feedback_contracts.events import Paragraph, PublicRespondent
    from feedback_contracts.respondents import RespondentType

    rng = random.Random(seed)
    variants = routed_variants(rng)
    start = datetime(2026, 4, 1, 8, 0, tzinfo=UTC)
    spread = timedelta(weeks=6).total_seconds()
    statements, routed = [], 0
    small = [v for v in variants if routed_count(v) <= per_statement]
    large = [v for v in variants if routed_count(v) > per_statement]
    types = list(RespondentType)
    for n in range(count):
        # Keep the running mean at `per_statement`: a large variant when behind, a small one when ahead.
        pool = large if routed < per_statement * n and large else small or large
        base = rng.choice(pool)
        rtype = rng.choice(types)
        received = start + timedelta(seconds=spread * n / max(count, 1) + rng.uniform(0, 600))
        organization = f"{rng.choice(PLACES)} {TYPE_NAMES[rtype.value]} {n}"
        statements.append(
            base.model_copy(
                update={
                    "response_id": f"lausunto-{n:05d}",
                    "respondent": PublicRespondent(organization=organization, title=None),
                    "respondent_type": rtype,
                    "received_at": received,
                    "classified_at": received + timedelta(seconds=1),
                }
            )
        )
        routed += routed_count(base)
    revisions = []
    for event in rng.sample(statements, round(len(statements) * REVISED_SHARE)):
        routed_indexes = sorted({p.paragraph for r in event.routes for p in r.paragraphs})
        edited = rng.choice(routed_indexes)
        paragraphs = tuple(
            Paragraph(index=p.index, question=p.question, text=p.text + " Täydennetty muokkauksessa.")
            if p.index == edited
            else p
            for p in event.paragraphs
        )
        later = event.received_at + timedelta(days=rng.uniform(1, 7))
        revisions.append(
            event.model_copy(
                update={"revision": 2, "replaces_revision": 1, "paragraphs": paragraphs, "received_at": later,
                        "classified_at": later + timedelta(seconds=1)}
            )
        )  # fmt: skip
    load: dict[str, dict[str, int]] = {}
    for event in statements:
        for route in event.routes:
            for owner in route.owners:
                entry = load.setdefault(owner, {"items": 0, "paragraphs": 0})
                entry["items"] += 1
                entry["paragraphs"] += len(route.paragraphs)
    items = sum(v["items"] for v in load.values())
    busiest = max(load, key=lambda o: load[o]["paragraphs"])
    shown = [{"name": v.response_id, "paragraphs": len(v.paragraphs), "routed": routed_count(v)} for v in variants]
    return Consultation(statements, revisions, routed, items, shown, load, busiest)


def routed_count(event) -> int:  # noqa: ANN001
    return sum(len(route.paragraphs) for route in event.routes)


def routed_variants(rng: random.Random) -> list:
    """The seed statements whole and in parts (some of their answers), each routed once by classify's Router."""
    from feedback_classify.classifier import shared_classifier
    from feedback_classify.routing import Router
    from feedback_contracts.owners import load_owners
    from feedback_contracts.respondents import RespondentType
    from feedback_contracts.responses import SurveyResponse
    from feedback_contracts.taxonomy import load_taxonomy
    from feedback_ingest.importer import ImportOptions, import_file

    router = Router(load_taxonomy(), load_owners(OWNERS_FILE), shared_classifier())
    seeds = [
        SurveyResponse.model_validate_json(SEED_RESPONSE.read_text(encoding="utf-8")),
        import_file(
            FIXTURES / "seed000_hameenlinna.txt", ImportOptions(respondent_type=RespondentType.MUNICIPALITY)
        ).response,
    ]
    variants = []
    received = datetime(2026, 4, 1, tzinfo=UTC)
    for s, response in enumerate(seeds):
        answers = list(response.answers)
        parts = [answers] + [sorted(rng.sample(answers, k), key=lambda a: a.question)
                             for k in (len(answers) // 3, len(answers) // 2, 2 * len(answers) // 3) for _ in range(3)]  # fmt: skip
        for p, part in enumerate(parts):
            if not part:
                continue
            variant = response.model_copy(update={"answers": part})
            event = router.route(received_event(variant, received, f"seed{s}-part{p}"), received)
            if event.routes:
                variants.append(event)
    return variants


# --- filling the store -----------------------------------------------------------------------------------


async def fill(url: str, data: Consultation, plan: Plan, seed: int = 15) -> dict[str, int]:
    """The statements, then the revisions, through WorkspaceStore.record; then owners' state changes."""
    from feedback_workspace.items import State
    from feedback_workspace.store import ItemFilter, WorkspaceStore

    rng = random.Random(seed)
    store = WorkspaceStore(url)
    parallel = asyncio.Semaphore(1 if url.startswith("sqlite") else 4)

    async def limited(coroutine) -> None:  # noqa: ANN001
        async with parallel:
            await coroutine

    try:
        await store.create()
        await asyncio.gather(*(limited(store.record(e, e.classified_at)) for e in data.statements))
        await asyncio.gather(*(limited(store.record(e, e.classified_at)) for e in data.revisions))
        items, _ = await store.items(ItemFilter(owners=None), limit=10**7)
        rng.shuffle(items)
        changes, at = [], 0
        for state, share in STATE_SHARES:
            chosen = items[at : at + round(len(items) * share)]
            at += len(chosen)
            for item in chosen:
                when = item["updated_at"] + timedelta(hours=rng.uniform(1, 120))
                note = "Huomioidaan luonnoksen seuraavassa versiossa." if state != "luettu" else None
                if state == "ei_minulle":
                    note = "Kuuluu toiselle luvulle."
                changes.append(store.set_state(item["id"], item["owner_id"], State(state), note, when))
        await asyncio.gather(*(limited(c) for c in changes))
        if not url.startswith("sqlite"):
            # What autovacuum does within a minute of such a load: the planner's statistics of the new rows, and the
            # visibility map that lets counts be read from an index alone (the state changes left dead rows).
            async with store.engine.connect() as conn:
                autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await autocommit.exec_driver_sql("VACUUM ANALYZE")
        return {state.value: count for state, count in (await store.counts_by_state()).items()}
    finally:
        await store.close()


# --- what the clients ask for ----------------------------------------------------------------------------


def page_queries(data: Consultation, owner: str) -> dict[str, list[dict]]:
    """Each page kind's query strings (the statement page: its path), for the owner's inbox."""
    rng = random.Random(7)
    sections = Counter(r.section_id or "-" for e in data.statements for r in e.routes if owner in r.owners)
    types = Counter(e.respondent_type.value for e in data.statements if any(owner in r.owners for r in e.routes))
    mine = [e.response_id for e in data.statements if any(owner in r.owners for r in e.routes)]
    revised = {e.response_id for e in data.revisions} & set(mine)
    statements = rng.sample(mine, min(len(mine), 200)) + sorted(revised)[:20]
    return {
        "inbox": [{}],
        "inbox_state": [{"tila": "uusi"}],
        "inbox_section": [{"luku": s} for s, _ in sections.most_common(3)],
        "inbox_type": [{"vastaajaryhma": t} for t, _ in types.most_common(3)],
        "inbox_text": [{"haku": SEARCH_WORD}, {"haku": "Hämeenlinna"}, {"haku": "ei löydy mistään"}],
        "inbox_later": [{"sivu": "20"}],
        "statement": [{"path": f"/lausunnot/{rid}"} for rid in statements],
        "office_items": [{}],
    }


def _url(name: str, query: dict) -> str:
    if name == "statement":
        return query["path"]
    base = "/toimisto/kohteet" if name in OFFICE_PAGES else "/saapuneet"
    return base + ("?" + urlencode(query) if query else "")


# --- serving and measuring -------------------------------------------------------------------------------


@dataclass
class Server:
    url: str
    child: Child


@contextlib.contextmanager
def _server(children: Children, workdir: Path, kind: str, database_url: str, bootstrap: str) -> Iterator[Server]:
    port = free_port()
    env = {
        "DATABASE_URL": database_url, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "WORKSPACE_SECRET": SECRET,
        "WORKSPACE_SECURE_COOKIES": "false", "WORKSPACE_BASE_URL": f"http://127.0.0.1:{port}",
        "OWNERS_FILE": str(OWNERS_FILE), "LOG_LEVEL": "WARNING",
    }  # fmt: skip
    # --no-access-log as `feedback dev up` runs the services: an access line per request would measure logging.
    command = [PYTHON, "-m", "uvicorn", "--factory", "feedback_workspace.app:create_app", "--host", "127.0.0.1",
               "--port", str(port), "--no-access-log"]  # fmt: skip
    child = children.spawn(f"workspace-{kind}", command, env=env, log=workdir / f"workspace-{kind}.log")
    try:
        wait_http(f"http://127.0.0.1:{port}/readyz", child)
        yield Server(f"http://127.0.0.1:{port}", child)
    finally:
        children.stop(child)


async def _signed_in(base_url: str, owner: str) -> httpx.AsyncClient:
    """A client with its own session, signed in as `owner` the way the link in an alert does it."""
    from feedback_runtime.signin import SignInLinks

    client = httpx.AsyncClient(base_url=base_url, timeout=60)
    shown = await client.get(SignInLinks(SECRET).url(base_url, owner, "/saapuneet"))
    csrf, token = FORM_TOKEN.search(shown.text), LINK_TOKEN.search(shown.text)
    if shown.status_code != 200 or csrf is None or token is None:
        raise RuntimeError(f"the sign-in page answered {shown.status_code}")
    answer = await client.post("/kirjaudu", data={"csrf": csrf.group(1), "t": token.group(1), "seuraava": "/"})
    if answer.status_code != 303:
        raise RuntimeError(f"signing in answered {answer.status_code}")
    return client


async def measure(server: Server, viewers: dict[str, str], queries: dict[str, list[dict]], plan: Plan) -> dict:
    """Each page kind in turn, first from one client (the page's own time), then from `workspace_clients` clients
    at once (what a page takes while others are being served), each client a session of its own."""
    sessions: dict[str, list[httpx.AsyncClient]] = {}
    try:
        for role, owner in viewers.items():
            sessions[role] = [await _signed_in(server.url, owner) for _ in range(plan.workspace_clients)]
        results = {}
        for name, _ in PAGES:
            clients = sessions["office" if name in OFFICE_PAGES else "owner"]
            urls = [_url(name, q) for q in queries[name]]
            # Warm-up: every URL of the kind once, so the first requests' caches do not count.
            for url in urls:
                await clients[0].get(url)
            alone = await _load(server, clients[:1], [urls[i % len(urls)] for i in range(plan.workspace_requests // 2)])
            results[name] = await _load(server, clients, [urls[i % len(urls)] for i in range(plan.workspace_requests)])
            results[name]["alone"] = alone
            results[name]["urls"] = urls[:3]
        return results
    finally:
        for clients in sessions.values():
            for client in clients:
                await client.aclose()


async def _load(server: Server, clients: list[httpx.AsyncClient], todo: list[str]) -> dict:
    """`todo` fetched by the clients at once, each taking the next URL as soon as its page has been read."""
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    sizes: list[int] = []
    meter = CpuMeter({"server": server.child.pid})
    started = time.perf_counter()

    async def worker(client: httpx.AsyncClient) -> None:
        while todo:
            url = todo.pop()
            t0 = time.perf_counter()
            answer = await client.get(url)
            latencies.append(time.perf_counter() - t0)
            statuses[str(answer.status_code)] += 1
            sizes.append(len(answer.content))

    await asyncio.gather(*(worker(c) for c in clients))
    wall = time.perf_counter() - started
    cpu = meter.read()["server"]
    return {
        "requests": len(latencies),
        "statuses": dict(statuses),
        "latency_ms": {f"p{p}": _ms(percentile(latencies, p)) for p in (50, 95)} | {"max": _ms(max(latencies))},
        "rate": round(len(latencies) / wall, 1),
        "server_cpu_ms": round(cpu * wall / len(latencies) * 1000, 1),
        "page_kb": round(statistics.median(sizes) / 1024, 1),
    }


def _ms(seconds: float | None) -> float | None:
    return round(seconds * 1000, 1) if seconds is not None else None


# --- the store alone -------------------------------------------------------------------------------------


async def store_alone(url: str, owner: str, queries: dict[str, list[dict]], plan: Plan) -> dict:
    """The store calls each page makes, timed alone (median of a few runs), their SQL captured and EXPLAINed."""
    from sqlalchemy import event

    from feedback_workspace.pages import PAGE_SIZE, item_filter
    from feedback_workspace.store import WorkspaceStore

    store = WorkspaceStore(url)
    captured: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        captured.append((statement, parameters))

    event.listen(store.engine.sync_engine, "before_cursor_execute", capture)
    viewer = frozenset({owner})
    results = {}
    try:
        for name, _ in PAGES:
            query = queries[name][0]

            async def calls(query: dict = query, name: str = name) -> None:
                if name == "statement":
                    await store.statement(query["path"].rsplit("/", 1)[1])
                    return
                owners = None if name in OFFICE_PAGES else viewer
                where, _ = item_filter(owners, query.get("tila"), query.get("luku"), query.get("vastaajaryhma"),
                                       query.get("haku"))  # fmt: skip
                page = int(query.get("sivu", "1"))
                await store.page(where, PAGE_SIZE, (page - 1) * PAGE_SIZE)

            timings = []
            for _ in range(max(3, plan.workspace_store_runs)):
                captured.clear()
                t0 = time.perf_counter()
                await calls()
                timings.append(time.perf_counter() - t0)
            statements = [(sql, params) for sql, params in captured if sql.lstrip().upper().startswith("SELECT")]
            results[name] = {
                "query": query,
                "ms": _ms(statistics.median(timings)),
                "plans": [await _explain(store, sql, params) for sql, params in statements],
            }
    finally:
        event.remove(store.engine.sync_engine, "before_cursor_execute", capture)
        await store.close()
    return results


async def _explain(store, sql: str, params: object) -> dict:  # noqa: ANN001
    """The statement's plan: SQLite's EXPLAIN QUERY PLAN, PostgreSQL's EXPLAIN ANALYZE (it runs the statement)."""
    sqlite = store.url.startswith("sqlite")
    prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN (ANALYZE, BUFFERS) "
    async with store.engine.connect() as conn:
        rows = (await conn.exec_driver_sql(prefix + sql, params)).all()  # type: ignore[arg-type]
    lines = [row[-1] if sqlite else row[0] for row in rows]
    return {"sql": " ".join(sql.split()), "plan": lines}


def main() -> None:  # pragma: no cover - for looking at the generated consultation by hand
    data = consultation(2000, 30)
    print(json.dumps({"statements": len(data.statements), "routed": data.routed_paragraphs, "items": data.items,
                      "variants": data.variants, "busiest": data.busiest_owner}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()


def _page_size() -> int:
    from feedback_workspace.pages import PAGE_SIZE

    return PAGE_SIZE

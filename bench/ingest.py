"""Phase 1, ingest: POST /v1/responses with full-size bodies, SQLite and PostgreSQL, against its peer
(bench/peer.py: FastAPI validating the same body and awaiting FastStream's publish to the same broker) and,
for context, a bare ASGI endpoint.

One uvicorn process per target, a real broker behind ingest (its outbox relay publishes while the load
runs) and the peer, and the load generator in a process of its own. CPU shares of server, load generator
and broker are sampled over the same window: on two cores the load generator can be what limits the rate.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from feedback_cli.devstack import create_topics

from .common import (
    PYTHON,
    TOKEN,
    Broker,
    Child,
    Children,
    CpuMeter,
    Plan,
    broker,
    free_port,
    fresh_database,
    metric_sum,
    py_spy,
    scrape,
    start_profile,
    summarize_profile,
    uvicorn_stack,
    wait_http,
)
from .peer import PEER_TOPIC

TARGETS = ("bare", "peer", "sqlite", "postgresql")
FACTORIES = {"bare": "bench.bare:create_app", "peer": "bench.peer:create_app"}
PARTITIONS = 6


@dataclass
class Server:
    target: str
    url: str
    child: Child
    database: str | None
    uvicorn: str  # the event loop and HTTP parser it runs on (common.uvicorn_stack)


def run(children: Children, workdir: Path, plan: Plan) -> dict:
    results: dict = {"targets": {}}
    with broker(children, workdir, PARTITIONS) as kafka:
        results["broker"] = kafka.description
        create_topics(kafka.bootstrap, PARTITIONS, (PEER_TOPIC,))
        for target in TARGETS:
            try:
                with _server(children, workdir, target, kafka) as server:
                    runs = [_measure(children, server, kafka, n, plan) for n in plan.ingest_connections]
                    results["targets"][target] = {"database": server.database, "uvicorn": server.uvicorn,
                                                  "runs": runs}  # fmt: skip
                    if target == "sqlite" and py_spy():
                        results["targets"][target]["profile"] = _profile(children, server, kafka, workdir, plan)
            except Exception as exc:  # one target failing (no PostgreSQL here) must not lose the others
                results["targets"][target] = {"error": f"{type(exc).__name__}: {exc}"}
            print(f"  ingest {target}: {_summary(results['targets'][target])}", flush=True)
        try:
            results["steps"] = _steps(children, workdir, kafka, plan)
            print(f"  ingest steps: {results['steps']['steps_us']}", flush=True)
        except Exception as exc:  # the breakdown explains the figures; losing it must not lose them
            results["steps"] = {"error": f"{type(exc).__name__}: {exc}"}
    return results


def _steps(children: Children, workdir: Path, kafka: Broker, plan: Plan) -> dict:
    """Each step of an accept measured alone (bench/ingest_steps.py), in a fresh process, servers stopped."""
    folder = workdir / "steps"
    folder.mkdir(exist_ok=True)
    command = [PYTHON, "-m", "bench.ingest_steps", "--bootstrap", kafka.bootstrap, "--workdir", str(folder),
               "--count", str(plan.ingest_steps_count)]  # fmt: skip
    child = children.spawn("ingest-steps", command, stdout=subprocess.PIPE, log=workdir / "ingest-steps.log")
    out, _ = child.process.communicate(timeout=300)
    lines = [line for line in out.decode().splitlines() if line.startswith("{")]
    if child.process.returncode != 0 or not lines:
        raise RuntimeError(f"bench.ingest_steps exited {child.process.returncode}; see {workdir / 'ingest-steps.log'}")
    return json.loads(lines[-1])


def _summary(result: dict) -> str:
    if "error" in result:
        return result["error"]
    return ", ".join(f"{r['connections']} conns {r['rate']:.0f}/s" for r in result["runs"])


@contextlib.contextmanager
def _server(children: Children, workdir: Path, target: str, kafka: Broker) -> Iterator[Server]:
    """uvicorn with one target (the bare endpoint, the peer, or ingest on a fresh database), as the Dockerfile
    runs ingest (uvicorn's own choice of event loop and HTTP parser: uvloop and httptools when installed)."""
    port = free_port()
    with _database(workdir, target) as (database_url, shown):
        factory = FACTORIES.get(target, "feedback_ingest.app:create_app")
        env = {
            "INGEST_API_TOKENS": TOKEN,
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
            **({"DATABASE_URL": database_url} if database_url else {}),
        }
        # --no-access-log as `feedback dev up` runs it: an access line per request would measure logging.
        command = [PYTHON, "-m", "uvicorn", "--factory", factory, "--host", "127.0.0.1", "--port", str(port),
                   "--no-access-log"]  # fmt: skip
        child = children.spawn(f"ingest-{target}", command, env=env, log=workdir / f"ingest-{target}.log")
        try:
            wait_http(f"http://127.0.0.1:{port}/{'healthz' if target in FACTORIES else 'readyz'}", child)
            yield Server(target, f"http://127.0.0.1:{port}", child, shown, uvicorn_stack(child.pid))
        finally:
            children.stop(child)


@contextlib.contextmanager
def _database(workdir: Path, target: str) -> Iterator[tuple[str | None, str | None]]:
    """A fresh database for the target: a new SQLite file, or a PostgreSQL database created and dropped here."""
    if target in FACTORIES:
        yield None, None
        return
    with fresh_database(workdir, target, "ingest") as (url, shown):
        yield url, shown


def _profile(children: Children, server: Server, kafka: Broker, workdir: Path, plan: Plan) -> dict:
    """An extra run, not among the figures, with py-spy sampling the server: where a request's time goes."""
    connections = plan.ingest_connections[0]
    seconds = plan.ingest_profile_s
    warmup = min(2.0, plan.ingest_warmup_s)
    extra = Plan(ingest_connections=(connections,), ingest_warmup_s=warmup, ingest_duration_s=seconds + warmup)
    out = workdir / f"profile-ingest-{server.target}.txt"
    sampler = start_profile(children, server.child.pid, seconds, out)
    _measure(children, server, kafka, connections, extra)
    if sampler is not None:
        sampler.process.wait(30)
    return {"connections": connections, **summarize_profile(out)}


def _measure(children: Children, server: Server, kafka: Broker, connections: int, plan: Plan) -> dict:
    """One closed-loop run at `connections`, with the CPU share of each process over the measured window."""
    command = [PYTHON, "-m", "bench.loadgen", "closed", "--url", f"{server.url}/v1/responses",
               "--connections", str(connections), "--warmup", str(plan.ingest_warmup_s),
               "--duration", str(plan.ingest_duration_s), "--prefix", f"bench-{uuid.uuid4().hex[:8]}"]  # fmt: skip
    load = children.spawn("loadgen", command, stdout=subprocess.PIPE)
    pids = {"server": server.child.pid, "loadgen": load.pid, **_broker_pid(children)}
    meter, cpu, result = None, {}, {}
    assert load.process.stdout is not None
    for raw in load.process.stdout:
        line = raw.decode().strip()
        if line == "window-start":
            meter = CpuMeter(pids)
        elif line == "window-end" and meter is not None:
            cpu = meter.read()
        elif line.startswith("{"):
            result = json.loads(line)
    children.stop(load)
    if not result:
        raise RuntimeError(f"the load generator gave no result (exit {load.process.returncode})")
    result["cpu"] = cpu
    if server.target not in FACTORIES:
        result.update(_relay_state(server.url))
    return result


def _broker_pid(children: Children) -> dict[str, int]:
    brokers = [c for c in children.started if c.name == "tansu" and c.process.poll() is None]
    return {"broker": brokers[-1].pid} if brokers else {}


def _relay_state(url: str, timeout: float = 60.0) -> dict:
    """The outbox backlog when the load stopped, and how long the relay then took to publish all of it.

    Waiting here also keeps one run's backlog from being published during the next run's window.
    """
    backlog = metric_sum(scrape(f"{url}/metrics"), "feedback_ingest_outbox_backlog_messages")
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if metric_sum(scrape(f"{url}/metrics"), "feedback_ingest_outbox_backlog_messages") == 0:
            return {"backlog_at_end": int(backlog), "drain_s": round(time.monotonic() - start, 1)}
        time.sleep(0.5)
    return {"backlog_at_end": int(backlog), "drain_s": None}

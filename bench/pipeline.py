"""Phase 2, the pipeline end to end: `feedback dev up` on the phase's broker, statements posted at fixed rates,
alerts timed as they reach dev up's SMTP sink, and the highest rate the stack sustains without a growing backlog.

An alert is matched to its statement by the response id in its text/plain part; its arrival time is in the
sink's file name (time.time_ns() when the message was stored). End-to-end latency is arrival minus the
moment the load generator sent the POST.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from email import message_from_bytes
from pathlib import Path

from .common import (
    PYTHON,
    TOKEN,
    Broker,
    Child,
    Children,
    CpuMeter,
    Plan,
    broker,
    children_of,
    command_line,
    free_port,
    metric_sum,
    percentile,
    rss_mb,
    scrape,
    start_profile,
    summarize_profile,
    uvicorn_stack,
)

# The services dev up starts, each a uvicorn process of its own: the workspace consumes the routings too.
SERVICES = {"ingest": "feedback_ingest.app", "classify": "feedback_classify.app", "notify": "feedback_notify.app",
            "workspace": "feedback_workspace.app"}  # fmt: skip
SAMPLE_EVERY_S = 2.0
# A probe stops early once this many seconds of offered load are waiting: it has failed, and a longer
# backlog only makes the next probe wait longer for the drain.
ABORT_BACKLOG_S = 15.0
# How long a step may take to deliver what it left owed before the next step gets a fresh stack instead:
# a step whose backlog grew would need minutes, and its latencies are lower bounds whatever we wait.
DRAIN_TIMEOUT_S = 60.0
DRAIN_TIMEOUT_GROWING_S = 10.0
# Consumer lag is measured by the services with an admin client every KAFKA_LAG_INTERVAL_SECONDS
# (15 s by default); 5 s gives a 30 s probe several readings.
LAG_INTERVAL_S = "5"
# The workspace's admin API (the corrections phase posts corrections through it).
ADMIN_TOKEN = "bench-admin-token"


@dataclass
class Stack:
    children: Children
    child: Child
    urls: dict[str, str]
    pids: dict[str, int]
    mail: Path


@dataclass
class Mailbox:
    """The sink's folder: counts files cheaply while load runs, parses them only between steps."""

    directory: Path
    seen: set[str] = field(default_factory=set)
    arrivals: dict[str, list[float]] = field(default_factory=dict)
    unmatched: int = 0

    def count(self) -> int:
        with os.scandir(self.directory) as entries:
            return sum(1 for e in entries if e.name.endswith(".eml") and not e.name.startswith("."))

    def scan(self) -> None:
        for path in sorted(self.directory.glob("*.eml")):
            if path.name in self.seen:
                continue
            self.seen.add(path.name)
            arrived = int(path.name.split("-", 1)[0]) / 1e9
            match = _RESPONSE_ID.search(_plain_text(path.read_bytes()))
            if match is None:
                self.unmatched += 1
                continue
            self.arrivals.setdefault(match.group(0), []).append(arrived)


_RESPONSE_ID = re.compile(r"bench-[0-9a-f]{6}-[a-z]+\d+-\d{6}")


def _plain_text(raw: bytes) -> str:
    """The decoded text/plain part (the compat32 parser: five times faster than policy.default here)."""
    for part in message_from_bytes(raw).walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            return payload.decode(part.get_content_charset() or "utf-8", "replace") if payload else ""
    return ""


class Session:
    """One dev up stack on its own broker (a fresh Tansu per stack), its mailbox and what is known about it.

    A step that overloads the stack leaves minutes of backlog behind; rather than wait for it, the session
    starts a fresh stack (broker, topics, databases, mail) so the next step begins from empty.
    """

    def __init__(self, children: Children, workdir: Path, run_id: str) -> None:
        self.children, self.workdir, self.run_id = children, workdir, run_id
        self.generation = 0
        self.steps = 0
        self.peak: dict[str, float] = {}
        self.per_response = 0
        self.broker_description = ""
        self._exit: contextlib.ExitStack | None = None

    def start(self) -> None:
        self.generation += 1
        folder = self.workdir / f"stack-{self.generation}"
        folder.mkdir(parents=True, exist_ok=True)
        self._exit = contextlib.ExitStack()
        try:
            kafka = self._exit.enter_context(broker(self.children, folder))
            self.broker_description = kafka.description
            self.stack = _start_stack(self.children, folder, kafka)
            self._exit.callback(_stop_stack, self.children, self.stack)
            self.mailbox = Mailbox(self.stack.mail)
        except BaseException:
            self._exit.close()
            raise

    def stop(self) -> None:
        if self._exit is not None:
            self._exit.close()
            self._exit = None

    def restart(self) -> None:
        self.stop()
        self.start()
        _warm_up(self)

    def prefix(self, label: str) -> str:
        """Response ids unique over the run, so no statement is ever a repeat of an earlier one."""
        self.steps += 1
        return f"bench-{self.run_id}-{label}{self.steps}"


def run(children: Children, workdir: Path, plan: Plan) -> dict:
    results: dict = {}
    session = Session(children, workdir, uuid.uuid4().hex[:6])
    session.start()
    try:
        results["broker"] = session.broker_description
        time.sleep(plan.pipeline_settle_s)  # let start-up work (first lag reading, connections) settle before "idle"
        results["rss_idle_mb"] = {name: rss_mb(pid) for name, pid in session.stack.pids.items()}
        results["uvicorn"] = {name: uvicorn_stack(session.stack.pids[name]) for name in SERVICES}
        results["alerts_per_response"] = _warm_up(session)
        steps = []
        for rate in plan.pipeline_rates:
            # The last (highest) step is profiled: every service is as busy as it gets there.
            profile = rate == plan.pipeline_rates[-1]
            steps.append(_step(session, rate, plan.pipeline_step_s, profile=profile))
            print(f"  pipeline {rate:g}/s: {_brief(steps[-1])}", flush=True)
        results["steps"] = steps
        results["sustained"] = _sustain(session, steps, plan)
        results["rss_peak_mb"] = session.peak
        results["stacks_started"] = session.generation
    finally:
        session.stop()
    return results


def _brief(step: dict) -> str:
    latency = step.get("e2e_ms", {})
    verdict = "bounded" if step["bounded"] else "GROWING"
    censored = f", {step['missing_alerts']} alerts still owed at cut-off" if step.get("missing_alerts") else ""
    return f"p50 {latency.get('p50')} ms, p99 {latency.get('p99')} ms, backlog {verdict}{censored}"


# --- the stack -------------------------------------------------------------------------------------------


def _start_stack(children: Children, workdir: Path, kafka: Broker) -> Stack:
    ports = {name: free_port() for name in ("ingest", "classify", "notify", "workspace", "smtp")}
    data = workdir / "devstack"
    groups = {"CLASSIFY_GROUP_ID": f"bench-classify-{uuid.uuid4().hex[:6]}",
              "NOTIFY_GROUP_ID": f"bench-notify-{uuid.uuid4().hex[:6]}"}  # fmt: skip
    if kafka.external:
        # A broker we did not start may hold older events: new groups that start at the end never see them.
        _start_groups_at_end(kafka.bootstrap, groups)
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
        "INGEST_API_TOKENS": TOKEN,
        "ADMIN_API_TOKENS": ADMIN_TOKEN,
        "KAFKA_LAG_INTERVAL_SECONDS": LAG_INTERVAL_S,
        **groups,
    }
    command = [PYTHON, "-m", "feedback_cli.main", "dev", "up", "--data-dir", str(data),
               "--ingest-port", str(ports["ingest"]), "--classify-port", str(ports["classify"]),
               "--notify-port", str(ports["notify"]), "--workspace-port", str(ports["workspace"]),
               "--smtp-port", str(ports["smtp"])]  # fmt: skip
    log = workdir / "devup.log"
    # dev up's own databases (SQLite files in its data dir), whatever this shell has in DATABASE_URL.
    child = children.spawn("dev-up", command, env=env, log=log, unset=("DATABASE_URL", "NOTIFY_DATABASE_URL"))
    _wait_ready(child, log)
    pids = {"dev up (SMTP sink)": child.pid}
    for pid in children_of(child.pid):
        for name, module in SERVICES.items():
            if module in command_line(pid):
                pids[name] = pid
    missing = set(SERVICES) - set(pids)
    if missing:
        raise RuntimeError(f"dev up is ready but {', '.join(sorted(missing))} was not found among its children")
    urls = {name: f"http://127.0.0.1:{ports[name]}" for name in SERVICES}
    return Stack(children, child, urls, pids, data / "mail")


def _wait_ready(child: Child, log: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise RuntimeError(f"dev up exited with code {child.process.returncode}; see {log}")
        if log.exists() and any(line.startswith("ready ") for line in log.read_text(errors="replace").splitlines()):
            return
        time.sleep(0.3)
    raise RuntimeError(f"dev up was not ready after {timeout:.0f}s; see {log}")


def _stop_stack(children: Children, stack: Stack) -> None:
    """Ctrl-C, as a user stops dev up: it stops the services, the sink and (when it started one) the broker."""
    if stack.child.process.poll() is None:
        os.kill(stack.child.pid, signal.SIGINT)
        try:
            stack.child.process.wait(60)
        except subprocess.TimeoutExpired:
            pass
    children.stop(stack.child)


def _start_groups_at_end(bootstrap: str, groups: dict[str, str]) -> None:
    """Commit each new group's offsets at the topics' ends. (Tansu 0.6 reports a batched log's end as its last
    batch's first offset + 1, so there the groups re-read a few records; Apache Kafka reports the true end.)"""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    from feedback_contracts.events import CLASSIFIED_TOPIC, RESPONSES_TOPIC

    topics = {"CLASSIFY_GROUP_ID": RESPONSES_TOPIC, "NOTIFY_GROUP_ID": CLASSIFIED_TOPIC}
    for variable, group in groups.items():
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
        try:
            partitions = [TopicPartition(topics[variable], p) for p in consumer.partitions_for_topic(topics[variable])]
            ends = consumer.end_offsets(partitions)
            consumer.commit({tp: OffsetAndMetadata(offset, "", -1) for tp, offset in ends.items()})
        finally:
            consumer.close()


# --- observing -------------------------------------------------------------------------------------------


def _backlogs(stack: Stack) -> dict[str, float]:
    """Where work waits: ingest's outbox, each consumer group's lag, notify's undelivered jobs."""
    ingest = scrape(f"{stack.urls['ingest']}/metrics")
    classify = scrape(f"{stack.urls['classify']}/metrics")
    notify = scrape(f"{stack.urls['notify']}/metrics")
    return {
        "outbox": metric_sum(ingest, "feedback_ingest_outbox_backlog_messages"),
        "classify_lag": metric_sum(classify, "feedback_consumer_lag_messages"),
        "notify_lag": metric_sum(notify, "feedback_consumer_lag_messages"),
        "pending_deliveries": metric_sum(notify, "feedback_notify_pending_deliveries"),
    }


def _note_rss(stack: Stack, peak: dict[str, float]) -> None:
    for name, pid in stack.pids.items():
        value = rss_mb(pid)
        if value is not None:
            peak[name] = max(peak.get(name, 0.0), value)


def _slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (t, value) points; 0 for fewer than three."""
    if len(points) < 3:
        return 0.0
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / var if var else 0.0


# --- one load step ---------------------------------------------------------------------------------------


def _post(session: Session, prefix: str, rate: float, duration: float) -> Child:
    out = session.workdir / f"posts-{prefix}.jsonl"
    command = [PYTHON, "-m", "bench.loadgen", "open", "--url", f"{session.stack.urls['ingest']}/v1/responses",
               "--rate", str(rate), "--duration", str(duration), "--prefix", prefix, "--out", str(out)]  # fmt: skip
    return session.children.spawn(f"loadgen-{prefix}", command, log=session.workdir / f"loadgen-{prefix}.log")


def _warm_up(session: Session) -> int:
    """Six statements at 2/s: warms the classifier's caches and tells how many alerts one statement makes."""
    prefix = session.prefix("warm")
    load = _post(session, prefix, 2, 3)
    load.process.wait(60)
    posted = [r["id"] for r in _read_posts(session, prefix)["records"] if r["status"] == "202"]
    deadline, last, stable_since = time.monotonic() + 90, -1, time.monotonic()
    while time.monotonic() < deadline:
        count = session.mailbox.count()
        if count != last:
            last, stable_since = count, time.monotonic()
        elif count and time.monotonic() - stable_since > 3 and not any(_backlogs(session.stack).values()):
            break
        time.sleep(0.5)
    session.mailbox.scan()
    per_response = {len(session.mailbox.arrivals.get(rid, [])) for rid in posted}
    if len(per_response) != 1 or 0 in per_response:
        raise RuntimeError(f"warm-up statements got differing numbers of alerts: {sorted(per_response)}")
    session.per_response = per_response.pop()
    return session.per_response


def _step(
    session: Session, rate: float, duration: float, *, label: str = "r", abort: bool = False, profile: bool = False
) -> dict:
    """Post at `rate` for `duration`, watching the backlog; then wait (a while) for the drain and time every alert.

    With `abort`, a step whose backlog passes ABORT_BACKLOG_S of offered load stops early: it has failed.
    With `profile`, py-spy samples each service during the step (without pausing it) to say where time goes.
    """
    stack, mailbox, per_response = session.stack, session.mailbox, session.per_response
    prefix = session.prefix(label)
    baseline = mailbox.count()
    load = _post(session, prefix, rate, duration)
    meter = CpuMeter({**stack.pids, "loadgen": load.pid, **_broker_pid(session)})
    profiles = _start_profiles(session, prefix, duration - 4) if profile else {}
    start = time.monotonic()
    owed, series, aborted = [], [], False
    while load.process.poll() is None:
        time.sleep(SAMPLE_EVERY_S)
        elapsed = time.monotonic() - start
        # Statements offered so far, in alerts, minus alerts stored: what the stack still owes, in statements.
        waiting = (min(elapsed, duration) * rate * per_response - (mailbox.count() - baseline)) / per_response
        owed.append((elapsed, waiting))
        series.append({"t": round(elapsed, 1), **_backlogs(stack)})
        _note_rss(stack, session.peak)
        if abort and waiting > ABORT_BACKLOG_S * rate:
            aborted = True
            session.children.stop(load)
    result = {"rate": rate, "duration_s": duration, "label": label, "cpu": meter.read(), "aborted": aborted}
    result.update(_verdict(owed, series, rate, duration))
    if profiles:
        result["profile"] = _finish_profiles(session, profiles)
    posted = _read_posts(session, prefix)
    accepted = [p for p in posted["records"] if p["status"] == "202"]
    if aborted:
        result.update(bounded=False, why_not=f"aborted after {owed[-1][0]:.0f}s: backlog over {ABORT_BACKLOG_S:.0f}s")
        session.restart()
        return result
    result["loadgen"] = posted["summary"]
    cap = DRAIN_TIMEOUT_S if result["bounded"] else DRAIN_TIMEOUT_GROWING_S
    drained = _drain(session, baseline + len(accepted) * per_response, cap)
    result["drain_s"] = drained
    mailbox.scan()
    result.update(_latencies(accepted, mailbox, per_response))
    send_rate = posted["summary"].get("send_rate") or 0
    refused = len(posted["records"]) - len(accepted)
    if refused or send_rate < 0.95 * rate:
        result["bounded"] = False
        result["why_not"] = f"{refused} posts refused, sent at {send_rate:.1f}/s"
    if drained is None:
        session.restart()  # minutes of backlog left: start the next step on an empty stack
    return result


def _start_profiles(session: Session, prefix: str, seconds: float) -> dict[str, tuple[Child, Path]]:
    profiles = {}
    for name in SERVICES:
        out = session.workdir / f"profile-{prefix}-{name}.txt"
        child = start_profile(session.children, session.stack.pids[name], seconds, out)
        if child is not None:
            profiles[name] = (child, out)
    return profiles


def _finish_profiles(session: Session, profiles: dict[str, tuple[Child, Path]]) -> dict[str, dict]:
    summaries = {}
    for name, (child, out) in profiles.items():
        try:
            child.process.wait(30)
        except subprocess.TimeoutExpired:
            session.children.stop(child, signal.SIGINT)  # py-spy writes what it has on SIGINT
        summaries[name] = summarize_profile(out)
    return summaries


def _broker_pid(session: Session) -> dict[str, int]:
    brokers = [c for c in session.children.started if c.name == "tansu" and c.process.poll() is None]
    return {"broker": brokers[-1].pid} if brokers else {}


def _read_posts(session: Session, prefix: str) -> dict:
    path, log = session.workdir / f"posts-{prefix}.jsonl", session.workdir / f"loadgen-{prefix}.log"
    records = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    summary = {}
    for line in log.read_text(errors="replace").splitlines() if log.exists() else []:
        if line.startswith("{"):
            summary = json.loads(line)
    return {"records": records, "summary": summary}


def _verdict(owed: list[tuple[float, float]], series: list[dict], rate: float, duration: float) -> dict:
    """Bounded unless what the stack owes keeps growing after the first third of the step.

    Growing means a trend above 5% of the offered rate and more than 3 s of offered load waiting at the end:
    at a sustainable rate the backlog is rate x latency and flat.
    """
    settled = [(t, v) for t, v in owed if t >= duration / 3]
    slope = _slope(settled)
    final = owed[-1][1] if owed else 0.0
    growing = slope > 0.05 * rate and final > 3 * rate
    where = {}
    for name in ("outbox", "classify_lag", "notify_lag", "pending_deliveries"):
        values = [(s["t"], s[name]) for s in series]
        if values:
            later = [(t, v) for t, v in values if t >= duration / 3]
            where[name] = {
                "max": max(v for _, v in values),
                "end": values[-1][1],
                "slope_per_s": round(_slope(later), 2),
            }
    return {
        "bounded": not growing,
        "owed_slope_per_s": round(slope, 2),
        "owed_at_end": round(final, 1),
        "backlogs": where,
    }


def _drain(session: Session, expected: int, cap: float) -> float | None:
    """Seconds until every alert owed has arrived; None when that takes more than `cap` seconds."""
    start = time.monotonic()
    while time.monotonic() - start < cap:
        _note_rss(session.stack, session.peak)
        if session.mailbox.count() >= expected:
            return round(time.monotonic() - start, 1)
        time.sleep(0.5)
    return None


def _latencies(accepted: list[dict], mailbox: Mailbox, per_response: int) -> dict:
    """Per alert and per statement (its last alert); alerts not arrived by the cut-off are counted as missing."""
    every, last, missing = [], [], 0
    for post in accepted:
        arrivals = mailbox.arrivals.get(post["id"], [])
        missing += max(0, per_response - len(arrivals))
        every.extend(a - post["sent"] for a in arrivals)
        if len(arrivals) >= per_response:
            last.append(max(arrivals) - post["sent"])

    def summary(values: list[float]) -> dict:
        return {f"p{p}": _ms(percentile(values, p)) for p in (50, 90, 99)} | {"max": _ms(max(values, default=None))}

    return {
        "alerts": len(every),
        "missing_alerts": missing,
        "e2e_ms": summary(every),
        "e2e_last_alert_ms": summary(last),
    }


def _ms(value: float | None) -> float | None:
    return round(value * 1000, 1) if value is not None else None


# --- the highest sustained rate --------------------------------------------------------------------------


def _sustain(session: Session, steps: list[dict], plan: Plan) -> dict:
    """Bracket the limit with short probes, then hold the best rate for the full time, stepping down if it fails
    (to the next bounded probe within a fifth below, else by a fifth).

    The fixed-rate steps count as probes: a step whose backlog grew already says that rate is too much.
    Without any bounded step the search halves downwards; with every step bounded it ramps up (50, 75, ...).
    """
    probes = [
        {"rate": s["rate"], "bounded": s["bounded"], "duration_s": s["duration_s"], "from": "step"} for s in steps
    ]

    def probe(rate: float) -> bool:
        result = _step(session, rate, plan.sustain_probe_s, label="p", abort=True)
        probes.append({"rate": rate, "bounded": result["bounded"], "duration_s": plan.sustain_probe_s,
                       "from": "probe", "owed_slope_per_s": result["owed_slope_per_s"]})  # fmt: skip
        print(f"  probe {rate:g}/s: {'bounded' if result['bounded'] else 'growing'}", flush=True)
        return result["bounded"]

    good = max((p["rate"] for p in probes if p["bounded"]), default=None)
    bad = min((p["rate"] for p in probes if not p["bounded"]), default=None)
    if good is None and bad is not None:
        rate = _nice(bad / 2)
        for _ in range(plan.sustain_halvings):
            if probe(rate):
                good = rate
                break
            bad, rate = rate, _nice(rate / 2)
    elif bad is None:
        rate = max(plan.sustain_start, (good or 0) + plan.sustain_step)
        for _ in range(plan.sustain_ramps):
            if not probe(rate):
                bad = rate
                break
            good, rate = rate, rate + plan.sustain_step
    for _ in range(plan.sustain_bisections):
        if good is None or bad is None or bad - good <= max(0.5, 0.1 * good):
            break
        middle = _nice((good + bad) / 2)
        if probe(middle):
            good = middle
        else:
            bad = middle
    holds = []
    for _ in range(plan.sustain_holds):
        if good is None:
            break
        held = _step(session, good, plan.sustain_hold_s, label="h", abort=True)
        holds.append(held)
        print(f"  hold {good:g}/s for {plan.sustain_hold_s:.0f}s: {_brief(held)}", flush=True)
        if held["bounded"]:
            return {"rate": good, "probes": probes, "holds": holds}
        # Step down to the next rate a shorter run kept up with, when there is one close below; else by a fifth.
        failed = good
        below = [p["rate"] for p in probes if p["bounded"] and 0.8 * failed <= p["rate"] < failed]
        good = max(below) if below else _nice(failed * 0.8)
    return {"rate": None, "probes": probes, "holds": holds}


def _nice(rate: float) -> float:
    """Whole numbers above 10/s, halves below: finer steps say nothing on a shared machine."""
    return float(round(rate)) if rate >= 10 else round(rate * 2) / 2

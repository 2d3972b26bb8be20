"""`feedback dev up`: the whole system on one machine, in the foreground, with embedded defaults."""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from .devstack import SmtpSink, create_topics, die_with_parent, start_tansu, stop_process

# config/owners.example.yaml at the repository root (cli/src/feedback_cli/dev.py -> repo).
REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_OWNERS = REPO_ROOT / "config" / "owners.example.yaml"
READY_TIMEOUT_SECONDS = 90.0


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    factory: str
    port: int
    env: dict[str, str]


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("dev", help="local development stack")
    sub = parser.add_subparsers(dest="dev_command", required=True, metavar="SUBCOMMAND")
    up = sub.add_parser(
        "up", help="start broker, topics, SMTP sink, the three services and the workspace in the foreground"
    )
    up.add_argument(
        "--data-dir", type=Path, default=Path("var"), help="where mail, logs and databases go (default var/)"
    )
    up.add_argument("--owners", type=Path, default=DEFAULT_OWNERS, help="owners directory (default: the example)")
    up.add_argument(
        "--kafka-port",
        type=int,
        default=9092,
        help="port of the local broker (ignored when KAFKA_BOOTSTRAP_SERVERS is set)",
    )
    up.add_argument("--ingest-port", type=int, default=8000)
    up.add_argument("--classify-port", type=int, default=8001)
    up.add_argument("--notify-port", type=int, default=8002)
    up.add_argument("--workspace-port", type=int, default=8003, help="the owners' workspace (default 8003)")
    up.add_argument("--smtp-port", type=int, default=1025)
    up.add_argument("--partitions", type=int, default=6, help="partitions per topic (default 6)")
    up.add_argument("--no-smtp-sink", action="store_true", help="use an SMTP server already on 127.0.0.1:--smtp-port")
    up.add_argument(
        "--with-prometheus", action="store_true", help="also start a local Prometheus with the project's rules"
    )
    up.add_argument("--prometheus-port", type=int, default=9090)
    up.set_defaults(run=run_up)


def _forward(prefix: str, stream: object) -> None:
    for line in iter(stream.readline, b""):  # type: ignore[attr-defined]
        sys.stdout.write(f"[{prefix}] {line.decode('utf-8', 'replace')}")
        sys.stdout.flush()


def _wait_ready(specs: list[ServiceSpec], processes: dict[str, subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    pending = {spec.name: f"http://127.0.0.1:{spec.port}/readyz" for spec in specs}
    while pending:
        for name, url in list(pending.items()):
            if processes[name].poll() is not None:
                raise RuntimeError(f"{name} exited with code {processes[name].returncode} before it was ready")
            try:
                if httpx.get(url, timeout=5.0).is_success:
                    del pending[name]
            except httpx.HTTPError:
                pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"not ready after {READY_TIMEOUT_SECONDS:.0f}s: {', '.join(pending)}")
        if pending:
            time.sleep(0.3)


def start_prometheus(data_dir: Path, port: int, specs: list[ServiceSpec]) -> subprocess.Popen[bytes]:
    """Debian's Prometheus scraping this stack with the project's scrape settings and alert rules."""
    binary = shutil.which("prometheus")
    if binary is None:
        raise RuntimeError("--with-prometheus needs the prometheus binary (Debian package prometheus)")
    base = yaml.safe_load((REPO_ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
    ports = {f"feedback-{s.name}": s.port for s in specs}
    for job in base["scrape_configs"]:
        job["static_configs"] = [{"targets": [f"127.0.0.1:{ports[job['job_name']]}"]}]
    base["rule_files"] = [str(REPO_ROOT / "deploy" / "prometheus" / "rules" / "*.yml")]
    config = data_dir / "prometheus" / "prometheus.yml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(yaml.safe_dump(base, sort_keys=False), encoding="utf-8")
    log = (data_dir / "logs" / "prometheus.log").open("ab")
    process = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={data_dir / 'prometheus' / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--web.enable-lifecycle"],
        stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"prometheus exited with code {process.returncode}; see {data_dir / 'logs' / 'prometheus.log'}"
            )
        try:
            if httpx.get(f"http://127.0.0.1:{port}/-/ready", timeout=2).is_success:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    process.kill()
    raise RuntimeError("prometheus did not become ready in 30s")


def _default_owner(owners: Path) -> str:
    """The owners directory's default owner (the strategy office in the example), for the sign-in hint."""
    try:
        return str(yaml.safe_load(owners.read_text(encoding="utf-8"))["default_owner"])
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return "ID"


def run_up(args: argparse.Namespace) -> int:
    data_dir: Path = args.data_dir.resolve()
    (data_dir / "logs").mkdir(parents=True, exist_ok=True)
    owners = args.owners.resolve()
    if not owners.is_file():
        print(f"error: owners file {owners} does not exist", file=sys.stderr)
        return 2

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())

    broker: subprocess.Popen[bytes] | None = None
    sink: SmtpSink | None = None
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
        if not bootstrap:
            broker = start_tansu(args.kafka_port, log_file=data_dir / "logs" / "broker.log")
            bootstrap = f"127.0.0.1:{args.kafka_port}"
        create_topics(bootstrap, args.partitions)
        if not args.no_smtp_sink:
            sink = SmtpSink(data_dir / "mail", args.smtp_port).start()

        tokens = os.environ.get("INGEST_API_TOKENS", "").strip()
        if not tokens:
            tokens = "dev-" + secrets.token_urlsafe(18)
            print(f"development token (set INGEST_API_TOKENS to choose your own): {tokens}", flush=True)
        admin_tokens = os.environ.get("ADMIN_API_TOKENS", "").strip()
        if not admin_tokens:
            admin_tokens = "admin-" + secrets.token_urlsafe(18)
            print(f"development admin token (set ADMIN_API_TOKENS to choose your own): {admin_tokens}", flush=True)
        workspace_secret = os.environ.get("WORKSPACE_SECRET", "").strip()
        if not workspace_secret:
            workspace_secret = "ws-" + secrets.token_urlsafe(24)
            print(
                f"development workspace secret (set WORKSPACE_SECRET to choose your own): {workspace_secret}",
                flush=True,
            )
        workspace_url = f"http://127.0.0.1:{args.workspace_port}"
        # Notify signs each alert's sign-in link with the secret the workspace checks it with.
        workspace = {"WORKSPACE_BASE_URL": workspace_url, "WORKSPACE_SECRET": workspace_secret}
        common = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "OWNERS_FILE": str(owners),
            "ADMIN_API_TOKENS": admin_tokens,
            "PYTHONUNBUFFERED": "1",
        }
        specs = [
            ServiceSpec(
                "ingest",
                "feedback_ingest.app:create_app",
                args.ingest_port,
                {
                    "INGEST_API_TOKENS": tokens,
                    "DATABASE_URL": os.environ.get("DATABASE_URL")
                    or f"sqlite:///{data_dir / 'ingest' / 'ingest.sqlite3'}",
                },
            ),
            ServiceSpec(
                "classify",
                "feedback_classify.app:create_app",
                args.classify_port,
                {
                    # Each response's latest routing and the corrections of routes.
                    "DATABASE_URL": os.environ.get("CLASSIFY_DATABASE_URL")
                    or f"sqlite:///{data_dir / 'classify' / 'classify.sqlite3'}",
                },
            ),
            ServiceSpec(
                "notify",
                "feedback_notify.app:create_app",
                args.notify_port,
                {
                    "SMTP_HOST": "127.0.0.1",
                    "SMTP_PORT": str(args.smtp_port),
                    "DATABASE_URL": os.environ.get("NOTIFY_DATABASE_URL")
                    or f"sqlite:///{data_dir / 'notify' / 'notify.sqlite3'}",
                    **workspace,
                },
            ),
            ServiceSpec(
                "workspace",
                "feedback_workspace.app:create_app",
                args.workspace_port,
                {
                    "DATABASE_URL": os.environ.get("WORKSPACE_DATABASE_URL")
                    or f"sqlite:///{data_dir / 'workspace' / 'workspace.sqlite3'}",
                    "WORKSPACE_SECURE_COOKIES": "false",  # plain HTTP on this machine
                    **workspace,
                },
            ),
        ]
        for spec in specs:
            command = [
                sys.executable, "-m", "uvicorn", "--factory", spec.factory,
                "--host", "127.0.0.1", "--port", str(spec.port), "--no-access-log",
            ]  # fmt: skip
            process = subprocess.Popen(
                command,
                env={**common, **spec.env},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )
            processes[spec.name] = process
            threading.Thread(target=_forward, args=(spec.name, process.stdout), daemon=True).start()

        _wait_ready(specs, processes)
        if args.with_prometheus:
            processes["prometheus"] = start_prometheus(data_dir, args.prometheus_port, specs)
        urls = " ".join(f"{s.name}=http://127.0.0.1:{s.port}" for s in specs)
        if args.with_prometheus:
            urls += f" prometheus=http://127.0.0.1:{args.prometheus_port}"
        print(f"ready {urls} kafka={bootstrap} smtp=127.0.0.1:{args.smtp_port} mail={data_dir / 'mail'}", flush=True)
        print(
            f"sign in to the workspace with the link in an alert in {data_dir / 'mail'}, or make one: "
            f"WORKSPACE_SECRET={workspace_secret} WORKSPACE_BASE_URL={workspace_url} OWNERS_FILE={owners} "
            f"feedback workspace login-link --owner {_default_owner(owners)}",
            flush=True,
        )

        while not stop.is_set():
            for name, process in processes.items():
                if process.poll() is not None:  # any service, or prometheus, gone: stop everything
                    print(f"{name} exited with code {process.returncode}; stopping everything", file=sys.stderr)
                    return 1
            stop.wait(0.5)
        return 0
    except (RuntimeError, TimeoutError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes.values():
            stop_process(process)
        if sink is not None:
            sink.stop()
        if broker is not None:
            stop_process(broker)
        print("stopped", flush=True)

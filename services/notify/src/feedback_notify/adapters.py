"""The outside world of notify: an SMTP server and owners' webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
import time
from email.message import EmailMessage
from typing import Literal

import aiosmtplib
import httpx


class TransientDeliveryError(Exception):
    """The delivery may succeed later (server down, timeout, SMTP 4xx, HTTP 5xx or 429)."""


class PermanentDeliveryError(Exception):
    """The delivery will not succeed as it is (SMTP 5xx for the recipient, HTTP 4xx)."""


class SmtpSender:
    """Sends alerts to an SMTP server: plain, STARTTLS or implicit TLS, with optional authentication."""

    def __init__(
        self,
        host: str,
        port: int,
        timeout: float,
        security: Literal["none", "starttls", "tls"] = "none",
        username: str | None = None,
        password: str | None = None,
        ca_file: str | None = None,
    ) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.security, self.username, self.password = security, username, password
        self.tls_context = ssl.create_default_context(cafile=ca_file) if security != "none" else None

    async def send(self, message: EmailMessage) -> None:
        try:
            await aiosmtplib.send(
                message,
                hostname=self.host,
                port=self.port,
                timeout=self.timeout,
                use_tls=self.security == "tls",
                start_tls=self.security == "starttls",
                username=self.username,
                password=self.password,
                tls_context=self.tls_context,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [refused.code for refused in exc.recipients]
            detail = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
            if codes and all(code >= 500 for code in codes):
                raise PermanentDeliveryError(f"recipients refused: {detail}") from exc
            raise TransientDeliveryError(f"recipients refused: {detail}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            if 400 <= exc.code < 500:
                raise TransientDeliveryError(f"SMTP {exc.code}: {exc.message}") from exc
            raise PermanentDeliveryError(f"SMTP {exc.code}: {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TransientDeliveryError(f"{type(exc).__name__}: {exc}") from exc


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

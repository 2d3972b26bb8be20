"""SMTP delivery."""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib


class TransientDeliveryError(Exception):
    """The delivery may succeed later (server down, timeout, 4xx)."""


class PermanentDeliveryError(Exception):
    """The delivery will not succeed as it is (5xx for the recipient)."""


class SmtpSender:
    """Sends alerts to an SMTP server, one conversation per message."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host, self.port, self.timeout = host, port, timeout

    async def send(self, message: EmailMessage) -> None:
        try:
            await aiosmtplib.send(message, hostname=self.host, port=self.port, timeout=self.timeout, start_tls=False)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [refused.code for refused in exc.recipients]
            detail = "; ".join(f"{r.recipient}: {r.code}" for r in exc.recipients)
            if codes and all(code >= 500 for code in codes):
                raise PermanentDeliveryError(f"recipients refused: {detail}") from exc
            raise TransientDeliveryError(f"recipients refused: {detail}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            if 400 <= exc.code < 500:
                raise TransientDeliveryError(f"SMTP {exc.code}: {exc.message}") from exc
            raise PermanentDeliveryError(f"SMTP {exc.code}: {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TransientDeliveryError(f"{type(exc).__name__}: {exc}") from exc

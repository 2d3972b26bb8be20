"""The SMTP adapter against a real server that insists on STARTTLS and authentication."""

from __future__ import annotations

import ssl
import subprocess
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from feedback_cli.devstack import free_port
from feedback_notify.adapters import PermanentDeliveryError, SmtpSender, TransientDeliveryError


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


class Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802, ANN001, ANN201
        self.messages.append(envelope.original_content)
        return "250 OK"


def _authenticator(server, session, envelope, mechanism, auth_data):  # noqa: ANN001, ANN201
    return AuthResult(success=auth_data.login == b"notify" and auth_data.password == b"s3cret")


def _message() -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "lausunnot@example.org", "owner@example.org", "Lausunto"
    message.set_content("Hei")
    return message


async def test_starttls_with_authentication_delivers_and_a_wrong_password_is_refused(certificate) -> None:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox, port = Inbox(), free_port()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
        authenticator=_authenticator, auth_required=True, auth_require_tls=True,
    )  # fmt: skip
    controller.start()
    try:
        sender = SmtpSender("127.0.0.1", port, 10, "starttls", "notify", "s3cret", str(cert))
        await sender.send(_message())
        await sender.send(_message())  # again over the same connection, still encrypted and logged in
        await sender.close()
        assert len(inbox.messages) == 2
        with pytest.raises((PermanentDeliveryError, TransientDeliveryError)):  # a refused login delivers nothing
            await SmtpSender("127.0.0.1", port, 3, "starttls", "notify", "wrong", str(cert)).send(_message())
        with pytest.raises(TransientDeliveryError):  # an untrusted certificate is not delivered to
            await SmtpSender("127.0.0.1", port, 3, "starttls", "notify", "s3cret").send(_message())
        assert len(inbox.messages) == 2
    finally:
        controller.stop()


async def test_implicit_tls_with_authentication_delivers_and_a_plain_connection_is_not_made(certificate) -> None:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox, port = Inbox(), free_port()
    # ssl_context: the whole connection is TLS from its first byte (SMTPS, port 465 in production).
    # aiosmtpd only counts STARTTLS as TLS for AUTH, so it is told that this session needs no more.
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, ssl_context=context,
        authenticator=_authenticator, auth_required=True, auth_require_tls=False,
    )  # fmt: skip
    controller.start()
    try:
        sender = SmtpSender("127.0.0.1", port, 10, "tls", "notify", "s3cret", str(cert))
        await sender.send(_message())
        await sender.send(_message())  # again over the same connection
        await sender.close()
        assert len(inbox.messages) == 2
        with pytest.raises(TransientDeliveryError):  # an untrusted certificate is not delivered to
            await SmtpSender("127.0.0.1", port, 3, "tls", "notify", "s3cret").send(_message())
        with pytest.raises((PermanentDeliveryError, TransientDeliveryError)):  # plain SMTP to a TLS port
            await SmtpSender("127.0.0.1", port, 3, "none", "notify", "s3cret").send(_message())
        assert len(inbox.messages) == 2
    finally:
        controller.stop()

"""Kafka security settings: plaintext locally, TLS with SCRAM in production."""

from __future__ import annotations

import pytest
from faststream.security import SASLScram512
from pydantic import ValidationError

from feedback_runtime.settings import KafkaSettings


def test_the_local_default_is_plaintext_without_security() -> None:
    assert KafkaSettings().faststream_security() is None


def test_sasl_ssl_with_scram_512_gives_a_scram_security_over_tls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "feedback-classify")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "s3cret")
    security = KafkaSettings().faststream_security()
    assert isinstance(security, SASLScram512)
    assert security.use_ssl and security.ssl_context is not None
    assert "s3cret" not in repr(KafkaSettings())


def test_sasl_without_credentials_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    with pytest.raises(ValidationError, match="KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD are required"):
        KafkaSettings()

"""Settings every service reads from its environment: Kafka, admin tokens, the owners directory."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from faststream.security import BaseSecurity


class KafkaSettings(BaseSettings):
    """`KAFKA_*` environment variables. Services subclass this with their own settings.

    Locally the broker is plaintext; in production the services reach Kafka over TLS with SCRAM
    credentials (one user per service, see deploy/k8s).
    """

    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore")

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092", description="Comma-separated host:port list of Kafka brokers."
    )
    kafka_enable_idempotence: bool = Field(
        default=False,
        description="Idempotent producer. Turn on for Apache Kafka; the local Tansu broker does not support it.",
    )
    kafka_session_timeout_ms: int = Field(default=10_000, ge=1_000, description="Consumer group session timeout.")
    kafka_heartbeat_interval_ms: int = Field(default=3_000, ge=100, description="Consumer group heartbeat interval.")
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_SSL", "SASL_PLAINTEXT"] = Field(
        default="PLAINTEXT", description="How to reach the brokers."
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = Field(
        default="SCRAM-SHA-512", description="SASL mechanism when the protocol is SASL_*."
    )
    kafka_sasl_username: str | None = Field(default=None, description="SASL user (the service's KafkaUser).")
    kafka_sasl_password: SecretStr | None = Field(default=None, description="SASL password.")
    kafka_ssl_cafile: Path | None = Field(default=None, description="CA certificate of the brokers (PEM).")
    kafka_lag_interval_seconds: float = Field(
        default=15.0, gt=0, description="How often a consumer service measures its group's lag."
    )

    @model_validator(mode="after")
    def _credentials_for_sasl(self) -> KafkaSettings:
        if self.kafka_security_protocol.startswith("SASL") and not (
            self.kafka_sasl_username and self.kafka_sasl_password
        ):
            raise ValueError("KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD are required with a SASL security protocol")
        return self

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.kafka_security_protocol not in ("SSL", "SASL_SSL"):
            return None
        return ssl.create_default_context(cafile=str(self.kafka_ssl_cafile) if self.kafka_ssl_cafile else None)

    def kafka_python_options(self) -> dict[str, object]:
        """Connection options for kafka-python's admin client (consumer lag)."""
        options: dict[str, object] = {"security_protocol": self.kafka_security_protocol, "request_timeout_ms": 10_000}
        context = self.ssl_context()
        if context is not None:
            options["ssl_context"] = context
        if self.kafka_security_protocol.startswith("SASL"):
            options["sasl_mechanism"] = self.kafka_sasl_mechanism
            options["sasl_plain_username"] = self.kafka_sasl_username
            options["sasl_plain_password"] = (
                self.kafka_sasl_password.get_secret_value() if self.kafka_sasl_password else None
            )
        return options

    def faststream_security(self) -> BaseSecurity | None:
        """The FastStream security object for these settings."""
        from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

        context = self.ssl_context()
        if not self.kafka_security_protocol.startswith("SASL"):
            return BaseSecurity(ssl_context=context, use_ssl=context is not None) if context else None
        scheme = {"SCRAM-SHA-512": SASLScram512, "SCRAM-SHA-256": SASLScram256, "PLAIN": SASLPlaintext}
        password = self.kafka_sasl_password.get_secret_value() if self.kafka_sasl_password else ""
        return scheme[self.kafka_sasl_mechanism](
            username=self.kafka_sasl_username or "",
            password=password,
            ssl_context=context,
            use_ssl=context is not None,
        )


def split_tokens(value: str) -> tuple[str, ...]:
    """Comma-separated bearer tokens, blanks dropped."""
    return tuple(token.strip() for token in value.split(",") if token.strip())


class ServiceSettings(KafkaSettings):
    """What every service of the pipeline reads besides Kafka. Services subclass this with their own fields."""

    admin_api_tokens: str = Field(
        default="", description="Comma-separated bearer tokens of the service's admin endpoints (none: they refuse everyone)."
    )

    @property
    def admin_tokens(self) -> tuple[str, ...]:
        return split_tokens(self.admin_api_tokens)


class OwnersSettings(BaseSettings):
    """The owners directory, for the services that read it; mixed into their settings."""

    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore")

    owners_file: Path = Field(default=Path("config/owners.example.yaml"), description="The owners directory (YAML).")
    owners_reload_seconds: float = Field(
        default=5.0, gt=0, description="How often the owners file is checked for changes (SIGHUP reloads at once)."
    )

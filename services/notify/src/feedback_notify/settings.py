"""Notify's configuration, from environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr

from feedback_runtime.settings import OwnersSettings, ServiceSettings


class NotifySettings(ServiceSettings, OwnersSettings):
    """Environment of the notify service. ADMIN_API_TOKENS are the tokens of its admin endpoints."""

    notify_group_id: str = Field(default="feedback-notify", description="Kafka consumer group of notify.")
    notify_reminders_group_id: str = Field(
        default="feedback-notify-reminders",
        description="Kafka consumer group of notify's consumer of the workspace's reminders (feedback.reminders.v1).",
    )
    notify_migrate_on_start: bool = Field(default=True, description="Bring the database schema up to date at start.")
    database_url: str = Field(
        default="sqlite+aiosqlite:///var/notify/notify.sqlite3",
        validation_alias=AliasChoices("DATABASE_URL", "NOTIFY_DATABASE_URL"),
        description="The delivery log: a SQLite file (default) or PostgreSQL.",
    )
    smtp_host: str = Field(default="127.0.0.1", description="SMTP server host.")
    smtp_port: int = Field(default=1025, description="SMTP server port.")
    smtp_security: Literal["none", "starttls", "tls"] = Field(
        default="none", description="Plain, STARTTLS or implicit TLS."
    )
    smtp_username: str | None = Field(default=None, description="SMTP user, when the server wants authentication.")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password.")
    smtp_ca_file: Path | None = Field(
        default=None, description="CA certificate to trust for the SMTP server's TLS (PEM)."
    )
    smtp_timeout_seconds: float = Field(default=30.0, gt=0, description="Timeout of one SMTP conversation.")
    smtp_from: str = Field(
        default="Oma Hämeen lausuntopalvelu <lausunnot@example.org>", description="Sender of the alerts."
    )
    webhook_secret: SecretStr | None = Field(
        default=None, description="Shared secret for the webhooks' HMAC-SHA256 signature."
    )
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, description="Timeout of one webhook call.")
    statement_base_url: str | None = Field(
        default=None,
        description="Where a whole statement can be read: alerts link to <base>/<response_id> (when the workspace "
        "is not configured).",
    )
    workspace_base_url: str | None = Field(
        default=None,
        description="Where owners reach the workspace. With WORKSPACE_SECRET, every alert carries a personal "
        "sign-in link for its owner role that opens the statement there (a digest's opens the inbox).",
    )
    workspace_secret: SecretStr | None = Field(
        default=None, description="Signs the alerts' sign-in links: the workspace's own WORKSPACE_SECRET."
    )
    workspace_link_days: float = Field(
        default=14, gt=0, description="How long a sign-in link is valid: the workspace's WORKSPACE_LINK_DAYS."
    )
    notify_max_alert_chars: int = Field(default=100_000, ge=2_000, description="Longer alerts are cut, with a note.")
    notify_retry_base_seconds: float = Field(default=5.0, gt=0, description="First retry delay; doubles per attempt.")
    notify_retry_max_seconds: float = Field(default=300.0, gt=0, description="Longest delay between retries.")
    notify_give_up_hours: float = Field(default=48.0, gt=0, description="A delivery still failing after this is dead.")
    notify_delivery_concurrency: int = Field(
        default=32,
        ge=1,
        le=64,
        description="Workers sending at once, each on its own kept SMTP connection; also the most alerts a crash can "
        "leave sent but not recorded (resent with the same Message-ID).",
    )

    def workspace_configured(self) -> bool:
        """Both the workspace's address and its secret are set: alerts carry sign-in links."""
        return bool(self.workspace_base_url and self.workspace_secret and self.workspace_secret.get_secret_value())

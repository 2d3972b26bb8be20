"""The workspace's configuration, from environment variables."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr

from feedback_runtime.settings import OwnersSettings, ServiceSettings, split_tokens


class WorkspaceSettings(ServiceSettings, OwnersSettings):
    """Environment of the workspace service. ADMIN_API_TOKENS are the tokens of its API."""

    workspace_group_id: str = Field(default="feedback-workspace", description="Kafka consumer group of the workspace.")
    database_url: str = Field(
        default="sqlite+aiosqlite:///var/workspace/workspace.sqlite3",
        validation_alias=AliasChoices("DATABASE_URL", "WORKSPACE_DATABASE_URL"),
        description="The workspace's store: a SQLite file (default) or PostgreSQL.",
    )
    workspace_migrate_on_start: bool = Field(default=True, description="Bring the database schema up to date at start.")
    workspace_secret: SecretStr = Field(
        default=SecretStr(""),
        description="Signs sign-in links, session cookies and form tokens; notify signs its links with the same "
        "value. Required; `feedback dev up` generates one.",
    )
    workspace_base_url: str = Field(
        default="http://127.0.0.1:8003", description="Where owners reach the workspace (links in alerts and pages)."
    )
    workspace_link_days: float = Field(default=14, gt=0, description="How long a sign-in link from an alert is valid.")
    workspace_session_hours: float = Field(default=12, gt=0, description="How long a signed-in session lasts.")
    workspace_secure_cookies: bool = Field(
        default=True, description="Send the session cookie over HTTPS only (turn off only for local development)."
    )
    workspace_office_owners: str = Field(
        default="",
        description="Comma-separated owner ids of the strategy office (sees everything); empty: the directory's "
        "default owner.",
    )
    workspace_reminder_days: int = Field(
        default=5, ge=1, description="Working days an item may stay 'uusi' before its owner is reminded."
    )
    workspace_escalation_days: int = Field(
        default=5, ge=1, description="Working days after the reminder before the strategy office is told."
    )
    workspace_escalation_interval_seconds: float = Field(
        default=60, gt=0, description="How often overdue items are looked for."
    )
    workspace_corrections_interval_seconds: float = Field(
        default=5, gt=0, description="How often corrections left unpublished (a crash, the broker away) are sent again."
    )
    oidc_issuer: str | None = Field(
        default=None,
        description="OpenID Connect issuer URL (production sign-in; its discovery document is read from "
        "ISSUER/.well-known/openid-configuration). Register WORKSPACE_BASE_URL/kirjaudu/oidc/paluu as the "
        "client's redirect URI. Empty: sign-in links only.",
    )
    oidc_client_id: str | None = Field(default=None, description="OpenID Connect client id (required with the issuer).")
    oidc_client_secret: SecretStr | None = Field(
        default=None, description="OpenID Connect client secret; empty: a public client (PKCE protects the code)."
    )

    def office_owners(self, default_owner: str) -> frozenset[str]:
        return frozenset(split_tokens(self.workspace_office_owners) or (default_owner,))

"""OpenID Connect sign-in: the county's identity provider says who the person is (a verified email address), the
owners directory says which roles that address acts as.

Authlib does the protocol: it reads the issuer's discovery document, sends the person there with a state, a nonce
and a PKCE challenge (kept in the session cookie), and on their return checks the state, fetches the tokens and
validates the ID token (signature against the issuer's keys, issuer, audience, expiry, nonce). What is left here is
the decision: which owner roles, if any, the person may sign in as."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from authlib.integrations.starlette_client import OAuth, StarletteOAuth2App

from feedback_contracts.owners import OwnersDirectory

from .settings import WorkspaceSettings

# The client's name in Authlib's registry (and in the session key of a sign-in under way).
CLIENT_NAME = "county"
SCOPE = "openid email"
# The path the identity provider returns the person to; register `WORKSPACE_BASE_URL` + this path with it.
CALLBACK_PATH = "/kirjaudu/oidc/paluu"
# Calls to the identity provider (discovery, token, keys) give up after this long.
PROVIDER_TIMEOUT_SECONDS = 10.0
# What a call to an unreachable or failing provider raises (Authlib moves from httpx to httpx2 where installed).
PROVIDER_ERRORS: tuple[type[Exception], ...] = (httpx.HTTPError,)
try:
    import httpx2  # type: ignore[import-not-found]

    PROVIDER_ERRORS += (httpx2.HTTPError,)
except ImportError:  # pragma: no cover - depends on what is installed
    pass


@dataclass(frozen=True)
class OidcSignIn:
    """The configured identity provider and where it sends people back to."""

    client: StarletteOAuth2App
    redirect_uri: str


def oidc_sign_in(settings: WorkspaceSettings) -> OidcSignIn | None:
    """The identity provider of OIDC_ISSUER, or None when it is not configured (sign-in links only)."""
    issuer = (settings.oidc_issuer or "").strip().rstrip("/")
    if not issuer:
        return None
    if not settings.oidc_client_id:
        raise ValueError("OIDC_ISSUER is set but OIDC_CLIENT_ID is not: the workspace needs both to sign people in")
    secret = settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else None
    oauth = OAuth()
    client = oauth.register(
        CLIENT_NAME,
        client_id=settings.oidc_client_id,
        client_secret=secret or None,
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        client_kwargs={
            "scope": SCOPE,
            "code_challenge_method": "S256",
            "timeout": PROVIDER_TIMEOUT_SECONDS,
            # A public client (no secret) authenticates by its id alone; PKCE protects its code.
            **({} if secret else {"token_endpoint_auth_method": "none"}),
        },
    )
    return OidcSignIn(client, settings.workspace_base_url.rstrip("/") + CALLBACK_PATH)


class Refusal(Exception):
    """The identity provider vouched for someone the workspace does not let in; `message` says why, in Finnish."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(reason)
        self.message = message
        self.reason = reason


def _verified(value: object) -> bool:
    # Some providers send the claim as a string.
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def email_of(claims: dict) -> str:
    """The person's address from the ID token's claims; refused when missing, or when the provider says it is
    not verified (a provider that does not send `email_verified` verifies addresses itself)."""
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise Refusal(
            "Kirjautumispalvelu ei kertonut sähköpostiosoitettasi, joten vastuuroolia ei voitu tunnistaa. "
            "Ota yhteyttä strategiatoimistoon.",
            "no_email",
        )
    if "email_verified" in claims and not _verified(claims["email_verified"]):
        raise Refusal(
            "Sähköpostiosoitettasi ei ole vahvistettu kirjautumispalvelussa. Vahvista osoite tai ota yhteyttä "
            "strategiatoimistoon.",
            "email_not_verified",
        )
    return email.strip()


def owner_ids_for(directory: OwnersDirectory, email: str) -> list[str]:
    """The owner roles whose `email` list holds this address (compared without regard to case)."""
    wanted = email.strip().casefold()
    return sorted(owner.id for owner in directory.owners if any(str(a).casefold() == wanted for a in owner.email))


def roles_for(directory: OwnersDirectory, claims: dict) -> list[str]:
    """The roles a person with these ID token claims signs in as; Refusal when none."""
    email = email_of(claims)
    owner_ids = owner_ids_for(directory, email)
    if not owner_ids:
        raise Refusal(
            f"Sähköpostiosoitetta {email} ei ole lausuntojen vastuuhenkilöiden luettelossa, joten et voi kirjautua "
            "työtilaan. Jos sinun kuuluu käsitellä lausuntoja, pyydä strategiatoimistoa lisäämään osoitteesi.",
            "not_an_owner",
        )
    return owner_ids

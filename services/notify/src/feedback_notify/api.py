"""Notify's admin endpoints (bearer token from ADMIN_API_TOKENS): flush digests, retry dead deliveries, and
what has been recorded (for `feedback reconcile`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from faststream.asgi import AsgiResponse, Request, get, post

from feedback_contracts.owners import OwnersDirectory
from feedback_runtime.asgi import json_response, query_param, unauthorized

from .service import Dispatcher
from .store import NotifyStore


def admin_routes(
    dispatcher: Dispatcher,
    store: NotifyStore,
    directory: Callable[[], OwnersDirectory],
    admin_tokens: tuple[str, ...],
) -> list[tuple[str, Any]]:
    def refused(request: Request) -> AsgiResponse | None:
        """401 without an admin token, 404 for an ?owner= the directory does not know; None when neither."""
        if refusal := unauthorized(request, admin_tokens):
            return refusal
        owner_id = query_param(request, "owner")
        if owner_id and directory().get(owner_id) is None:
            return json_response({"detail": f"no owner {owner_id!r}"}, 404)
        return None

    @post(description="Send every pending digest now (admin): ?owner=ID for one owner.")
    async def flush(request: Request) -> AsgiResponse:
        if answer := refused(request):
            return answer
        return json_response({"digests": await dispatcher.flush_digests(query_param(request, "owner"))})

    @post(description="Send dead deliveries again (admin): ?owner=ID for one owner, ?since=ISO-TIME for newer ones.")
    async def retry_dead(request: Request) -> AsgiResponse:
        if answer := refused(request):
            return answer
        since = None
        if raw := query_param(request, "since"):
            try:
                since = datetime.fromisoformat(raw)
            except ValueError:
                return json_response({"detail": f"since: {raw!r} is not an ISO 8601 time"}, 422)
            if since.tzinfo is None:
                return json_response({"detail": "since: give a time zone (e.g. 2026-05-04T08:00+03:00)"}, 422)
        return json_response({"requeued": await dispatcher.retry_dead(query_param(request, "owner"), since)})

    @get(description="Per response, the latest revision notify has recorded (admin; for feedback reconcile).")
    async def recorded(request: Request) -> AsgiResponse:
        if refusal := unauthorized(request, admin_tokens):
            return refusal
        return json_response(await store.recorded_revisions())

    return [
        ("/v1/admin/flush-digests", flush),
        ("/v1/admin/retry-dead", retry_dead),
        ("/v1/admin/recorded", recorded),
    ]

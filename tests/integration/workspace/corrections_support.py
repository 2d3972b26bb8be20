"""Helpers of the corrections' tests: the workspace served with an API token, its API as a client, and a correction
applied to a classified revision the way classify applies it (the same revision routed again, `routing` one
higher, the paragraph taken from the removed sections and given to the added ones with a `correction` reason)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
from workspace_support import OWNERS_FILE, Workspace, make_workspace

from feedback_contracts.events import (
    AppliedCorrection,
    Reason,
    ResponseClassified,
    RouteCorrected,
    RoutedParagraph,
    SectionRoute,
)
from feedback_contracts.owners import load_owners
from feedback_contracts.taxonomy import load_taxonomy

ADMIN_TOKEN = "corrections-admin-token"


def served_with_api(kafka_bootstrap: str, database_url: str, unique: str) -> Iterator[Workspace]:
    """The `workspace` fixture's body with ADMIN_API_TOKENS for the API: a test module that calls its API
    defines its `workspace` fixture with this (overriding conftest's)."""
    served = make_workspace(kafka_bootstrap, database_url, f"workspace-{unique}", admin_api_tokens=ADMIN_TOKEN).start()
    try:
        yield served
    finally:
        served.stop()


def api(workspace: Workspace, token: str | None = ADMIN_TOKEN) -> httpx.Client:
    client = workspace.anonymous()
    if token is not None:
        client.headers["Authorization"] = f"Bearer {token}"
    return client


def paragraph_of(event: ResponseClassified, section_id: str, owner: str | None = None) -> str:
    """The id of the first paragraph the event routes to `section_id` (and to `owner`, if given)."""
    route = next(r for r in event.routes if r.section_id == section_id and (owner is None or owner in r.owners))
    index = route.paragraphs[0].paragraph
    return next(p.paragraph_id for p in event.paragraphs if p.index == index)


def sections_of(event: ResponseClassified, paragraph_id: str) -> list[str]:
    indexes = {p.index for p in event.paragraphs if p.paragraph_id == paragraph_id}
    return [
        r.section_id
        for r in event.routes
        if r.section_id is not None and any(rp.paragraph in indexes for rp in r.paragraphs)
    ]


def rerouted(event: ResponseClassified, correction: RouteCorrected) -> ResponseClassified:
    """`event` routed again with `correction` applied, as classify publishes it."""
    directory, taxonomy = load_owners(OWNERS_FILE), load_taxonomy()
    indexes = sorted(p.index for p in event.paragraphs if p.paragraph_id == correction.paragraph_id)
    routes: list[SectionRoute] = []
    for route in event.routes:
        if route.section_id in correction.remove:
            kept = tuple(rp for rp in route.paragraphs if rp.paragraph not in indexes)
            if kept:
                routes.append(route.model_copy(update={"paragraphs": kept}))
        else:
            routes.append(route)
    moved = tuple(
        RoutedParagraph(paragraph=i, score=1.0, reasons=(Reason(kind="correction", correction=correction.note()),))
        for i in indexes
    )
    for section in correction.add:
        existing = next((n for n, r in enumerate(routes) if r.section_id == section), None)
        if existing is None:
            owners = tuple(o.id for o in directory.owners_for(section))
            title = taxonomy.get(section).title
            routes.append(SectionRoute(section_id=section, section_title=title, owners=owners, paragraphs=moved))
        else:
            merged = sorted((*routes[existing].paragraphs, *moved), key=lambda rp: rp.paragraph)
            routes[existing] = routes[existing].model_copy(update={"paragraphs": tuple(merged)})
    applied = AppliedCorrection(
        correction_id=correction.correction_id, paragraph_id=correction.paragraph_id, revision=correction.revision,
        add=correction.add, remove=correction.remove, by_role=correction.by_role, reason=correction.reason,
        corrected_at=correction.corrected_at, status="applied",
    )  # fmt: skip
    return ResponseClassified.model_validate(
        {
            **event.model_dump(),
            "routes": [r.model_dump() for r in routes],
            "routing": event.routing + 1,
            "correction_id": correction.correction_id,
            "corrections": [*(c.model_dump() for c in event.corrections), applied.model_dump()],
        }
    )

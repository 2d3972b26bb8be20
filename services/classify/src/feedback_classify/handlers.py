"""Classify's consumers: each `ResponseReceived` is routed (with the response's corrections applied again) and
published as `ResponseClassified`; each `RouteCorrected` is applied once to the response's latest routing, which
is published again."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from faststream.kafka import KafkaPublisher
from prometheus_client import CollectorRegistry, Counter, Histogram

from feedback_contracts.events import EVENT_TYPE_HEADER, ResponseClassified, ResponseReceived, RouteCorrected
from feedback_runtime.consumer import Unprocessable
from feedback_runtime.metrics import FAST_BUCKETS

from .corrections import CorrectionRefused, RoutingHead, corrected, final_sections, revision_routing
from .learning import Learning
from .routing import Router
from .store import ClassifyStore, StoredRouting

T = TypeVar("T")
Clock = Callable[[], datetime]

log = logging.getLogger("feedback.classify")


class ClassifyMetrics:
    """Domain metrics of classify, on the service's own registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.responses = Counter(
            "feedback_classify_responses_total",
            "Response revisions handled by classify, by outcome (classified; superseded: a newer revision was "
            "routed already; dead_lettered).",
            ["outcome"],
            registry=registry,
        )
        self.paragraphs_routed = Counter(
            "feedback_classify_paragraphs_routed_total",
            "Paragraphs routed, by strategy section ('none' when only the default owner gets them).",
            ["section"],
            registry=registry,
        )
        self.default_only = Counter(
            "feedback_classify_paragraphs_default_only_total",
            "Paragraphs that only the default owner receives (no section owner matched).",
            registry=registry,
        )
        self.corrections = Counter(
            "feedback_classify_corrections_total",
            "Corrections of routes handled by classify, by outcome (applied; duplicate: applied before; "
            "dead_lettered: unknown response, paragraph or section, or not a correction).",
            ["outcome"],
            registry=registry,
        )
        self._routed: dict[str, Counter] = {}
        self.duration = Histogram(
            "feedback_classify_duration_seconds",
            "Time to split and route one response revision.",
            buckets=FAST_BUCKETS,
            registry=registry,
        )

    def count_routes(self, result: ResponseClassified, default_owner: str) -> None:
        self.responses.labels("classified").inc()
        for route in result.routes:
            section = route.section_id or "none"
            # Each section's child looked up once: `labels` takes a lock and checks its values on every call.
            if (routed := self._routed.get(section)) is None:
                routed = self._routed[section] = self.paragraphs_routed.labels(section)
            routed.inc(len(route.paragraphs))
        routed_elsewhere = {p.paragraph for r in result.routes if set(r.owners) - {default_owner} for p in r.paragraphs}
        self.default_only.inc(len({p.index for p in result.paragraphs} - routed_elsewhere))


def _pure(what: str, decide: Callable[..., T]) -> Callable[..., T]:
    """Routing and applying corrections are pure: what fails there fails the same way every time, so the record
    is parked with the reason (and the transaction it ran in rolled back) instead of being retried."""

    def run(*args: object) -> T:
        try:
            return decide(*args)
        except CorrectionRefused as exc:
            raise Unprocessable(str(exc)) from exc
        except Exception as exc:
            raise Unprocessable(f"{what} failed: {type(exc).__name__}") from exc

    return run


class Publisher:
    """Publishes a stored routing, keyed by its response id."""

    def __init__(self, classified: KafkaPublisher) -> None:
        self.classified = classified

    async def __call__(self, routing: StoredRouting) -> None:
        await self.classified.publish(
            routing.json,
            key=routing.event.response_id.encode(),
            headers={EVENT_TYPE_HEADER: "ResponseClassified"},
        )


class ResponseHandler:
    """Routes one response revision, applies the response's corrections again, stores the routing and publishes
    it, keyed by its response id. A revision older than the stored one changes and publishes nothing."""

    def __init__(
        self,
        router: Callable[[], Router],
        publish: Publisher,
        metrics: ClassifyMetrics,
        store: ClassifyStore,
        clock: Clock = lambda: datetime.now(UTC),
    ) -> None:
        self.router = router
        self.publish = publish
        self.metrics = metrics
        self.store = store
        self.clock = clock

    async def __call__(self, event: ResponseReceived) -> None:
        router = self.router()
        try:
            with self.metrics.duration.time():
                fresh = router.route(event)
        except Exception as exc:
            # Routing is pure: what fails here fails the same way every time, so the record is parked.
            raise Unprocessable(f"routing failed: {type(exc).__name__}") from exc

        def decide(stored: RoutingHead | None, corrections: list[RouteCorrected]) -> ResponseClassified | None:
            return revision_routing(fresh, stored, corrections, router.taxonomy, router.owners)

        routing = await self.store.record_revision(
            event.response_id, _pure("applying the corrections", decide), self.clock()
        )
        if routing is None:
            self.metrics.responses.labels("superseded").inc()
            log.info(
                "response %s revision %d is older than the one routed already; nothing published",
                event.response_id, event.revision,
                extra={"response_id": event.response_id, "revision": event.revision},
            )  # fmt: skip
            return
        await self.publish(routing)
        self.metrics.count_routes(routing.event, router.owners.default_owner)
        log.info(
            "classified response %s revision %d into %d sections",
            event.response_id, event.revision, len(routing.event.routes),
            extra={"response_id": event.response_id, "revision": event.revision},
        )  # fmt: skip


class CorrectionHandler:
    """Applies a correction once to the response's latest routing, stores both, learns the paragraph as a
    precedent and publishes the routing again (`routing` one higher). A correction applied before publishes
    nothing, unless publishing its routing failed before: then that routing is published now."""

    def __init__(
        self,
        router: Callable[[], Router],
        publish: Publisher,
        metrics: ClassifyMetrics,
        store: ClassifyStore,
        learning: Learning,
        clock: Clock = lambda: datetime.now(UTC),
    ) -> None:
        self.router = router
        self.publish = publish
        self.metrics = metrics
        self.store = store
        self.learning = learning
        self.clock = clock

    async def __call__(self, event: RouteCorrected) -> None:
        router = self.router()
        now = self.clock()

        def decide(latest: ResponseClassified | None, earlier: list[RouteCorrected]) -> ResponseClassified:
            return corrected(latest, event, earlier, router.taxonomy, router.owners, now)

        result = await self.store.record_correction(event, _pure("applying the correction", decide), now)
        if result.routing is None:
            self.metrics.corrections.labels("duplicate").inc()
            log.info("correction %s was applied before; nothing published", event.correction_id,
                     extra={"response_id": event.response_id, "correction_id": event.correction_id})  # fmt: skip
            return
        if not result.duplicate:
            self.learning.learn(event, final_sections(result.routing.event, event.paragraph_id), now)
        await self.publish(result.routing)
        await self.store.mark_published(event.correction_id, self.clock())
        self.metrics.corrections.labels("applied").inc()
        log.info(
            "applied correction %s to response %s: revision %d, routing %d",
            event.correction_id, event.response_id, result.routing.event.revision, result.routing.event.routing,
            extra={"response_id": event.response_id, "correction_id": event.correction_id},
        )  # fmt: skip

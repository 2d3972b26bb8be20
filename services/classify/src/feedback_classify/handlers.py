"""Classify's consumer: each `ResponseReceived` is routed and published as `ResponseClassified`."""

from __future__ import annotations

import logging
from collections.abc import Callable

from faststream.kafka import KafkaPublisher
from prometheus_client import CollectorRegistry, Counter, Histogram

from feedback_contracts.events import EVENT_TYPE_HEADER, ResponseClassified, ResponseReceived
from feedback_runtime.consumer import Unprocessable
from feedback_runtime.metrics import FAST_BUCKETS

from .routing import Router

log = logging.getLogger("feedback.classify")


class ClassifyMetrics:
    """Domain metrics of classify, on the service's own registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.responses = Counter(
            "feedback_classify_responses_total",
            "Response revisions handled by classify, by outcome (classified, dead_lettered).",
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
        self.duration = Histogram(
            "feedback_classify_duration_seconds",
            "Time to split and route one response revision.",
            buckets=FAST_BUCKETS,
            registry=registry,
        )

    def count_routes(self, result: ResponseClassified, default_owner: str) -> None:
        self.responses.labels("classified").inc()
        for route in result.routes:
            self.paragraphs_routed.labels(route.section_id or "none").inc(len(route.paragraphs))
        routed_elsewhere = {p.paragraph for r in result.routes if set(r.owners) - {default_owner} for p in r.paragraphs}
        self.default_only.inc(len({p.index for p in result.paragraphs} - routed_elsewhere))


class ResponseHandler:
    """Routes one response revision and publishes the result, keyed by its response id."""

    def __init__(self, router: Callable[[], Router], classified: KafkaPublisher, metrics: ClassifyMetrics) -> None:
        self.router = router
        self.classified = classified
        self.metrics = metrics

    async def __call__(self, event: ResponseReceived) -> None:
        router = self.router()
        try:
            with self.metrics.duration.time():
                result = router.route(event)
        except Exception as exc:
            # Routing is pure: what fails here fails the same way every time, so the record is parked.
            raise Unprocessable(f"routing failed: {type(exc).__name__}") from exc
        await self.classified.publish(
            result.model_dump_json(),
            key=event.response_id.encode(),
            headers={EVENT_TYPE_HEADER: "ResponseClassified"},
        )
        self.metrics.count_routes(result, router.owners.default_owner)
        log.info(
            "classified response %s revision %d into %d sections",
            event.response_id, event.revision, len(result.routes),
            extra={"response_id": event.response_id, "revision": event.revision},
        )  # fmt: skip

"""Composition root of the classify service: `uvicorn --factory feedback_classify.app:create_app`."""

from __future__ import annotations

import logging

from faststream.asgi import AsgiFastStream
from prometheus_client import CollectorRegistry

from feedback_contracts.events import CLASSIFIED_TOPIC, RESPONSES_TOPIC, ResponseReceived
from feedback_contracts.owners import OwnersDirectory
from feedback_contracts.taxonomy import Taxonomy, load_taxonomy
from feedback_runtime.asgi import consumer_app, on_event_loop
from feedback_runtime.consumer import EventConsumer
from feedback_runtime.kafka import kafka_broker
from feedback_runtime.lag import lag_monitor
from feedback_runtime.logs import configure_service_logging
from feedback_runtime.owners_watch import LiveOwners

from .api import classify_route
from .classifier import Classifier, load_params
from .handlers import ClassifyMetrics, ResponseHandler
from .morphology import default_analyzer
from .routing import Router
from .settings import ClassifySettings

SERVICE = "classify"
log = logging.getLogger("feedback.classify")


def create_app(
    settings: ClassifySettings | None = None,
    *,
    configure_logs: bool | None = None,
    registry: CollectorRegistry | None = None,
    taxonomy: Taxonomy | None = None,
    owners: OwnersDirectory | None = None,
) -> AsgiFastStream:
    """Build the classify service: a consumer of responses that publishes classified events."""
    configure_service_logging(SERVICE, configure_logs, settings)
    settings = settings or ClassifySettings()
    registry = registry or CollectorRegistry()
    taxonomy = taxonomy or load_taxonomy()
    analyzer = default_analyzer(settings.classifier_analyzer)
    params = load_params(settings.classifier_params_file)

    def build_router(directory: OwnersDirectory) -> Router:
        terms = {sid: list(words) for sid, words in directory.section_terms.items()}
        return Router(taxonomy, directory, Classifier(taxonomy, analyzer, params, terms))

    routers = LiveOwners(settings, build_router, owners)
    metrics = ClassifyMetrics(registry)
    log.info("classifier ready: analyser %s, owners %s", analyzer.name, settings.owners_file)

    broker = kafka_broker(settings, SERVICE, registry)
    classified = broker.publisher(
        CLASSIFIED_TOPIC, title="ResponseClassified", description="Routed paragraphs per response revision."
    )
    EventConsumer(
        broker,
        settings,
        service=SERVICE,
        topic=RESPONSES_TOPIC,
        group_id=settings.classify_group_id,
        event_type=ResponseReceived,
        handle=ResponseHandler(lambda: routers.current, classified, metrics),
        registry=registry,
        on_parked=metrics.responses.labels("dead_lettered").inc,
    )
    lag = lag_monitor(settings, settings.classify_group_id, RESPONSES_TOPIC, registry)
    return consumer_app(
        broker,
        registry,
        title="feedback-classify",
        description="Routes statement paragraphs to strategy sections.",
        routes=[classify_route(lambda: routers.current.classifier, settings.admin_tokens)],
        on_startup=[routers.watcher.start, on_event_loop(lag.start)],
        on_shutdown=[routers.watcher.stop, on_event_loop(lag.stop)],
    )

"""Composition root of the classify service: `uvicorn --factory feedback_classify.app:create_app`."""

from __future__ import annotations

import logging

from faststream.asgi import AsgiFastStream
from prometheus_client import CollectorRegistry

from feedback_contracts.events import (
    CLASSIFIED_TOPIC,
    CORRECTIONS_TOPIC,
    RESPONSES_TOPIC,
    ResponseReceived,
    RouteCorrected,
)
from feedback_contracts.owners import OwnersDirectory
from feedback_contracts.questionnaire import load_questionnaire, read_question_texts
from feedback_contracts.taxonomy import Taxonomy, load_taxonomy
from feedback_runtime.asgi import consumer_app, on_event_loop
from feedback_runtime.consumer import EventConsumer
from feedback_runtime.heap import freeze_startup_heap
from feedback_runtime.kafka import kafka_broker
from feedback_runtime.lag import lag_monitor
from feedback_runtime.logs import configure_service_logging
from feedback_runtime.owners_watch import LiveOwners

from .api import classify_route
from .classifier import Classifier, load_params
from .handlers import ClassifyMetrics, CorrectionHandler, Publisher, ResponseHandler
from .labels import precedent_index, read_label_files
from .learning import Learning
from .morphology import default_analyzer
from .precedents import PrecedentIndex
from .routing import Router
from .settings import ClassifySettings
from .store import ClassifyStore

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
    """Build the classify service: consumers of responses and of corrections that publish classified events."""
    configure_service_logging(SERVICE, configure_logs, settings)
    settings = settings or ClassifySettings()
    registry = registry or CollectorRegistry()
    taxonomy = taxonomy or load_taxonomy()
    analyzer = default_analyzer(settings.classifier_analyzer)
    params = load_params(settings.classifier_params_file)
    questionnaire = load_questionnaire().completed(read_question_texts(settings.question_texts_file))
    # One index for the service's lifetime: every router built on an owners reload consults the same one.
    precedents = precedent_index(read_label_files(settings.precedent_paths), PrecedentIndex(analyzer))

    def build_router(directory: OwnersDirectory) -> Router:
        terms = {sid: list(words) for sid, words in directory.section_terms.items()}
        classifier = Classifier(taxonomy, analyzer, params, terms, questionnaire=questionnaire)
        return Router(taxonomy, directory, classifier, precedents)

    routers = LiveOwners(settings, build_router, owners)
    metrics = ClassifyMetrics(registry)
    log.info(
        "classifier ready: analyser %s, owners %s, %d precedents", analyzer.name, settings.owners_file, len(precedents)
    )

    store = ClassifyStore(settings.database_url)
    learning = Learning(precedents, store, settings.classify_learn_interval_seconds)

    broker = kafka_broker(settings, SERVICE, registry)
    publish = Publisher(
        broker.publisher(
            CLASSIFIED_TOPIC,
            title="ResponseClassified",
            description="Routed paragraphs per response revision, again (routing + 1) after each correction.",
        )
    )
    EventConsumer(
        broker,
        settings,
        service=SERVICE,
        topic=RESPONSES_TOPIC,
        group_id=settings.classify_group_id,
        event_type=ResponseReceived,
        handle=ResponseHandler(lambda: routers.current, publish, metrics, store),
        registry=registry,
        on_parked=metrics.responses.labels("dead_lettered").inc,
    )
    # Corrections in a group of their own: a rebalance of either consumer never pauses the other, and the
    # responses group's lag (what the autoscaler reads) stays about responses.
    EventConsumer(
        broker,
        settings,
        service=SERVICE,
        topic=CORRECTIONS_TOPIC,
        group_id=settings.classify_corrections_group_id,
        event_type=RouteCorrected,
        handle=CorrectionHandler(lambda: routers.current, publish, metrics, store, learning),
        registry=registry,
        on_parked=metrics.corrections.labels("dead_lettered").inc,
    )
    lag = lag_monitor(settings, settings.classify_group_id, RESPONSES_TOPIC, registry)

    async def open_store() -> None:
        if settings.classify_migrate_on_start:
            await store.create()
        await learning.start()

    async def close_store() -> None:
        await learning.stop()
        await store.close()

    return consumer_app(
        broker,
        registry,
        title="feedback-classify",
        description="Routes statement paragraphs to strategy sections, and applies people's corrections of routes.",
        routes=[classify_route(lambda: routers.current.classifier, settings.admin_tokens, precedents)],
        on_startup=[open_store, routers.watcher.start, on_event_loop(lag.start), on_event_loop(freeze_startup_heap)],
        on_shutdown=[routers.watcher.stop, on_event_loop(lag.stop), close_store],
    )

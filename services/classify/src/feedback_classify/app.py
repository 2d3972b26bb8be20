"""Composition root of the classify service: `uvicorn --factory feedback_classify.app:create_app`."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging

from faststream import AckPolicy
from faststream.asgi import AsgiFastStream, AsgiResponse, AsyncAPIRoute, Request, post
from faststream.kafka import KafkaMessage
from faststream.specification import AsyncAPI
from prometheus_client import CollectorRegistry, Counter, Histogram

from feedback_contracts.events import (
    CLASSIFIED_TOPIC,
    EVENT_TYPE_HEADER,
    RESPONSES_TOPIC,
    ResponseReceived,
    dlq_topic,
)
from feedback_contracts.logs import configure_logging
from feedback_contracts.owners import OwnersDirectory, load_owners
from feedback_contracts.owners_watch import OwnersWatcher
from feedback_contracts.respondents import RespondentType
from feedback_contracts.runtime import dead_letter_of, kafka_broker, lag_monitor, on_event_loop, standard_routes
from feedback_contracts.taxonomy import Taxonomy, load_taxonomy

from .classifier import Classifier, load_params
from .commands import sections_json
from .morphology import default_analyzer
from .routing import Router
from .settings import ClassifySettings

SERVICE = "classify"
# How long a fetch may wait at the broker for new events. Apache Kafka answers as soon as one arrives;
# Tansu (dev up's broker) holds the fetch for the whole time, which the default 500 ms added to every statement.
FETCH_MAX_WAIT_MS = 100
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
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=registry,
        )
        self.dead_letters = Counter(
            "feedback_dead_letters_total",
            "Messages parked on a dead-letter topic.",
            ["service", "topic"],
            registry=registry,
        )


def create_app(
    settings: ClassifySettings | None = None,
    *,
    configure_logs: bool | None = None,
    registry: CollectorRegistry | None = None,
    taxonomy: Taxonomy | None = None,
    owners: OwnersDirectory | None = None,
) -> AsgiFastStream:
    """Build the classify service: a consumer of responses that publishes classified events."""
    # Configured from the environment means run as a service (uvicorn --factory): log JSON.
    if configure_logs if configure_logs is not None else settings is None:
        configure_logging(SERVICE)
    settings = settings or ClassifySettings()
    registry = registry or CollectorRegistry()
    taxonomy = taxonomy or load_taxonomy()
    analyzer = default_analyzer(settings.classifier_analyzer)
    params = load_params(settings.classifier_params_file)

    def build_router(directory: OwnersDirectory) -> Router:
        terms = {sid: list(words) for sid, words in directory.section_terms.items()}
        return Router(taxonomy, directory, Classifier(taxonomy, analyzer, params, terms))

    current = {"router": build_router(owners or load_owners(settings.owners_file))}
    watcher = OwnersWatcher(
        settings.owners_file,
        lambda directory: current.update(router=build_router(directory)),
        settings.owners_reload_seconds,
    )
    metrics = ClassifyMetrics(registry)
    log.info("classifier ready: analyser %s, owners %s", analyzer.name, settings.owners_file)

    lag = lag_monitor(settings, settings.classify_group_id, RESPONSES_TOPIC, registry)
    broker = kafka_broker(settings, SERVICE, registry)
    classified = broker.publisher(
        CLASSIFIED_TOPIC, title="ResponseClassified", description="Routed paragraphs per response revision."
    )
    dead_letters = broker.publisher(
        dlq_topic(RESPONSES_TOPIC), title="DeadLetter", description="Responses classify could not process."
    )

    @broker.subscriber(
        RESPONSES_TOPIC,
        group_id=settings.classify_group_id,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.MANUAL,
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
        title="ResponseReceived",
    )
    async def on_response_received(msg: KafkaMessage) -> None:
        """Route one response revision; park what cannot be processed on the dead-letter topic."""
        record = msg.raw_message
        try:
            event = ResponseReceived.model_validate_json(msg.body)
            with metrics.duration.time():
                result = current["router"].classify(event)
        except Exception as exc:  # anything the message itself causes: retrying would fail the same way
            letter = dead_letter_of(record, exc, SERVICE)
            log.warning("dead-lettered %s[%d]@%d: %s", record.topic, record.partition, record.offset, letter.error_type)
            await _publish_or_retry(
                msg,
                dead_letters.publish(
                    letter.model_dump_json(), key=record.key, headers={EVENT_TYPE_HEADER: "DeadLetter"}
                ),
            )
            metrics.responses.labels("dead_lettered").inc()
            return
        key = event.response_id.encode()
        if await _publish_or_retry(
            msg,
            classified.publish(result.model_dump_json(), key=key, headers={EVENT_TYPE_HEADER: "ResponseClassified"}),
        ):
            metrics.responses.labels("classified").inc()
            for route in result.routes:
                metrics.paragraphs_routed.labels(route.section_id or "none").inc(len(route.paragraphs))
            default_owner = current["router"].owners.default_owner
            routed_elsewhere = {
                p.paragraph for r in result.routes if set(r.owners) - {default_owner} for p in r.paragraphs
            }
            metrics.default_only.inc(len({p.index for p in result.paragraphs} - routed_elsewhere))
            log.info(
                "classified response %s revision %d into %d sections",
                event.response_id,
                event.revision,
                len(result.routes),
                extra={"response_id": event.response_id, "revision": event.revision},
            )

    @post(
        description="Route one paragraph (bearer token from ADMIN_API_TOKENS): "
        "{text, question?, respondent_type?} -> {sections: [{id, score, reasons}]}"
    )
    async def classify_text(request: Request) -> AsgiResponse:
        header = request.headers.get("authorization", "")
        presented = header[7:].encode() if header.lower().startswith("bearer ") else b""
        # Against every configured token, each in constant time.
        matches = [hmac.compare_digest(presented, token.encode()) for token in settings.admin_tokens]
        if not (settings.admin_tokens and any(matches)):
            return AsgiResponse(
                json.dumps({"detail": "missing or invalid bearer token"}).encode(),
                401,
                headers={"content-type": "application/json", "www-authenticate": "Bearer"},
            )
        try:
            body = json.loads(await request.body())
            if not isinstance(body, dict) or not isinstance(body.get("text"), str):
                raise ValueError("expected a JSON object with a string 'text'")
            if len(body["text"]) > 20_000:
                raise ValueError("text over 20000 characters")
            rtype = RespondentType.parse(body["respondent_type"]) if body.get("respondent_type") else None
            question = body.get("question")
            if question is not None and (not isinstance(question, int) or not 1 <= question <= 84):
                raise ValueError("question must be a whole number 1-84")
        except ValueError as exc:
            return AsgiResponse(
                json.dumps({"detail": str(exc)}).encode(), 422, headers={"content-type": "application/json"}
            )
        sections = current["router"].classifier.classify(body["text"], question, rtype)
        answer = {"id": body.get("id"), "sections": sections_json(sections)}
        return AsgiResponse(
            json.dumps(answer, ensure_ascii=False).encode(), 200, headers={"content-type": "application/json"}
        )

    return AsgiFastStream(
        broker,
        asgi_routes=[
            *standard_routes(broker, registry),
            ("/v1/classify", classify_text),
        ],
        # The AsyncAPI page without its "try it out" route, which would let anyone publish to the topics.
        asyncapi_path=AsyncAPIRoute("/asyncapi", try_it_out_path=None),
        specification=AsyncAPI(
            title="feedback-classify", description="Routes statement paragraphs to strategy sections."
        ),
        on_startup=[watcher.start, on_event_loop(lag.start)],
        on_shutdown=[watcher.stop, on_event_loop(lag.stop)],
    )


async def _publish_or_retry(msg: KafkaMessage, publishing: object) -> bool:
    """Await a publish; on failure, nack after a pause so the record comes back instead of being skipped."""
    try:
        await publishing  # type: ignore[misc]
    except Exception:
        log.exception("publish failed; the record will be redelivered")
        await asyncio.sleep(1.0)
        await msg.nack()
        return False
    await msg.ack()
    return True

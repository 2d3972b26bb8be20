"""Several ingest replicas on one database (the HorizontalPodAutoscaler runs two to six): one relay publishes,
each revision goes out once and in order, and a standby takes over when the publishing replica stops."""

from __future__ import annotations

import copy

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from feedback_contracts.events import RESPONSES_TOPIC, ResponseReceived
from feedback_ingest.app import create_app
from feedback_ingest.migrations import migrate
from feedback_ingest.store import IngestStore

pytestmark = pytest.mark.integration


def _gauge(registry: CollectorRegistry, name: str) -> float | None:
    return registry.get_sample_value(name)


def _leading(registry: CollectorRegistry) -> bool:
    return _gauge(registry, "feedback_ingest_relay_active") == 1


def _standing_by(registry: CollectorRegistry) -> bool:
    # Connected to the broker (ready to take over) but not publishing.
    return (
        _gauge(registry, "feedback_ingest_relay_active") == 0
        and _gauge(registry, "feedback_ingest_broker_connected") == 1
    )


def _published(client: TestClient, response_id: str, revision: int, headers: dict) -> bool:
    answer = client.get(f"/v1/responses/{response_id}", headers=headers)
    latest = answer.json().get("latest", {}) if answer.status_code == 200 else {}
    return latest.get("state") == "published" and latest.get("revision") == revision


def _events(topics, prefix: str) -> dict[str, list[int]]:
    """Per response of this test, the revisions on the topic in log order."""
    found: dict[str, list[int]] = {}
    for record in topics.read(RESPONSES_TOPIC):
        if record.key.decode().startswith(prefix):
            event = ResponseReceived.model_validate_json(record.value)
            found.setdefault(event.response_id, []).append(event.revision)
    return found


def test_two_replicas_publish_each_revision_once_in_order_and_the_standby_takes_over(
    ingest_settings, make_client, topics, seed002_response, unique, form_headers, eventually
) -> None:
    leader_metrics, standby_metrics = CollectorRegistry(), CollectorRegistry()
    prefix = f"replicas-{unique}-"
    with TestClient(create_app(ingest_settings, registry=leader_metrics)) as leader:
        eventually(lambda: _leading(leader_metrics), what="the first replica's relay to take the lease")
        standby = make_client(ingest_settings, standby_metrics)
        eventually(lambda: _standing_by(standby_metrics), what="the second replica's relay to stand by")

        # Each response's first revision goes to one replica and its edit to the other, as a load balancer may.
        for n in range(12):
            first, second = (leader, standby) if n % 2 else (standby, leader)
            body = copy.deepcopy(seed002_response)
            body["response_id"] = f"{prefix}{n}"
            assert first.post("/v1/responses", json=body, headers=form_headers).status_code == 202
            body["revision"] = 2
            body["answers"][0]["text"] += " Täydennys."
            assert second.post("/v1/responses", json=body, headers=form_headers).status_code == 202
        for n in range(12):
            eventually(lambda n=n: _published(leader, f"{prefix}{n}", 2, form_headers), what=f"{prefix}{n} published")
        assert _leading(leader_metrics) and _standing_by(standby_metrics)

    # The publishing replica stopped: the standby takes the lease and publishes what comes to it.
    eventually(lambda: _leading(standby_metrics), what="the standby to take over the lease")
    body = copy.deepcopy(seed002_response)
    body["response_id"] = f"{prefix}after"
    assert standby.post("/v1/responses", json=body, headers=form_headers).status_code == 202
    eventually(lambda: _published(standby, f"{prefix}after", 1, form_headers), what="the takeover to publish")

    events = _events(topics, prefix)
    assert events == {**{f"{prefix}{n}": [1, 2] for n in range(12)}, f"{prefix}after": [1]}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_on_postgresql_the_publishing_relay_hears_of_the_other_replicas_accepts_at_once(
    ingest_settings, make_client, topics, seed002_response, unique, form_headers, eventually
) -> None:
    # A poll two minutes apart: only the accepting transaction's notification can wake the relay in time.
    settings = ingest_settings.model_copy(update={"ingest_relay_poll_seconds": 120.0})
    leader_metrics, standby_metrics = CollectorRegistry(), CollectorRegistry()
    leader = make_client(settings, leader_metrics)
    eventually(lambda: _leading(leader_metrics), what="the first replica's relay to take the lease")
    standby = make_client(settings, standby_metrics)
    eventually(lambda: _standing_by(standby_metrics), what="the second replica's relay to stand by")

    rid = seed002_response["response_id"] = f"notified-{unique}"
    assert standby.post("/v1/responses", json=seed002_response, headers=form_headers).status_code == 202
    eventually(lambda: _published(leader, rid, 1, form_headers), timeout=30, what=f"{rid} published by the leader")
    assert _events(topics, rid) == {rid: [1]}


def test_a_released_lease_is_free_for_another_process_at_once(database_url) -> None:
    """Released (a relay stopping) means released: not kept by a pooled connection's session."""
    import asyncio

    migrate(IngestStore(database_url).url)

    async def scenario() -> list[bool]:
        first, second = IngestStore(database_url), IngestStore(database_url)
        try:
            seen = [await first.take_relay_lease(lambda: None), await second.take_relay_lease(lambda: None)]
            await first.release_relay_lease()
            seen.append(await first.relay_lease_held())
            seen.append(await second.take_relay_lease(lambda: None))
            seen.append(await first.take_relay_lease(lambda: None))
            return seen
        finally:
            await first.close()
            await second.close()

    assert asyncio.run(scenario()) == [True, False, False, True, False]

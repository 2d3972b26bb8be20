"""Consumer lag, measured the way that is right on Apache Kafka: per group, topic and partition, the
end offset minus the group's committed offset (minus the earliest offset where nothing is committed yet).

Used by the consumer services to export `feedback_consumer_lag_messages` (`lag_monitor`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Gauge

from .settings import KafkaSettings

log = logging.getLogger("feedback.lag")


def compute_lag(
    committed: Mapping[tuple[str, int], int | None],
    end: Mapping[tuple[str, int], int],
    earliest: Mapping[tuple[str, int], int],
) -> dict[tuple[str, int], int]:
    """Lag per (topic, partition): end - committed, or end - earliest where the group committed nothing."""
    lag = {}
    for tp, end_offset in end.items():
        position = committed.get(tp)
        start = earliest.get(tp, 0) if position is None or position < 0 else position
        lag[tp] = max(0, end_offset - start)
    return lag


class LagMonitor:
    """Measures the lag of consumer groups on their topics every `interval` seconds, in a thread."""

    def __init__(
        self, bootstrap: str, groups: Mapping[str, Iterable[str]], gauge: Any, interval: float = 15.0, **admin: Any
    ) -> None:
        self.bootstrap = bootstrap
        self.groups = {group: list(topics) for group, topics in groups.items()}
        self.gauge = gauge
        self.interval = interval
        self.admin_options = admin
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def measure(self) -> dict[tuple[str, str, int], int]:
        """Lag per (group, topic, partition), read with kafka-python's admin client."""
        from kafka import TopicPartition
        from kafka.admin import KafkaAdminClient, OffsetSpec

        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="feedback-lag", **self.admin_options)
        try:
            result: dict[tuple[str, str, int], int] = {}
            for group, topics in self.groups.items():
                described = admin.describe_topics(topics)
                partitions = [
                    TopicPartition(t["name"], p["partition_index"]) for t in described for p in t.get("partitions", [])
                ]
                if not partitions:
                    continue
                committed_raw = admin.list_group_offsets({group: partitions}).get(group, {})
                committed = {
                    (tp.topic, tp.partition): (meta.offset if meta else None) for tp, meta in committed_raw.items()
                }
                end = admin.list_partition_offsets({tp: OffsetSpec.LATEST for tp in partitions})
                earliest = admin.list_partition_offsets({tp: OffsetSpec.EARLIEST for tp in partitions})
                lag = compute_lag(
                    committed,
                    {(tp.topic, tp.partition): o.offset for tp, o in end.items()},
                    {(tp.topic, tp.partition): o.offset for tp, o in earliest.items()},
                )
                result.update({(group, topic, partition): value for (topic, partition), value in lag.items()})
            return result
        finally:
            admin.close()

    def refresh(self) -> None:
        try:
            for (group, topic, partition), value in self.measure().items():
                self.gauge.labels(group, topic, str(partition)).set(value)
        except Exception as exc:  # the broker may be away; the next round tries again
            log.warning("consumer lag not measured: %s: %s", type(exc).__name__, exc)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="lag-monitor", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        self.refresh()
        while not self._stop.wait(self.interval):
            self.refresh()

    def stop(self) -> None:
        self._stop.set()


def lag_monitor(settings: KafkaSettings, group: str, topic: str, registry: CollectorRegistry) -> LagMonitor:
    """`feedback_consumer_lag_messages` for one consumer group on one topic, on the service's registry."""
    gauge = Gauge(
        "feedback_consumer_lag_messages",
        "Messages not yet consumed, per consumer group, topic and partition (end offset minus committed).",
        ["group", "topic", "partition"],
        registry=registry,
    )
    return LagMonitor(
        settings.kafka_bootstrap_servers,
        {group: [topic]},
        gauge,
        interval=settings.kafka_lag_interval_seconds,
        **settings.kafka_python_options(),
    )

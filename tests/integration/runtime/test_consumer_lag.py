"""Consumer lag: end offset minus committed offset, per group, topic and partition."""

from __future__ import annotations

import pytest
from kafka import KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.structs import OffsetAndMetadata
from prometheus_client import CollectorRegistry, Gauge

from feedback_runtime.lag import LagMonitor, compute_lag

pytestmark = pytest.mark.integration


def test_lag_is_end_minus_committed_or_minus_earliest_when_nothing_is_committed() -> None:
    lag = compute_lag({("t", 0): 2, ("t", 1): None}, {("t", 0): 5, ("t", 1): 3}, {("t", 0): 0, ("t", 1): 1})
    assert lag == {("t", 0): 3, ("t", 1): 2}


def test_the_monitor_reads_committed_and_end_offsets_from_the_broker(kafka_bootstrap: str, unique: str) -> None:
    # Single-record sends: the local Tansu broker answers end offsets right only then (see KAFKA-LOCAL notes);
    # on Apache Kafka the same code is right for any batch size.
    topic, group = f"feedback.lagtest.{unique}", f"lagtest-{unique}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=0)
    for partition, count in ((0, 5), (1, 3)):
        for n in range(count):
            producer.send(topic, value=f"{n}".encode(), partition=partition).get(timeout=10)
    producer.close()
    admin.alter_group_offsets(group, {TopicPartition(topic, 0): OffsetAndMetadata(2, "", -1)})
    admin.close()

    registry = CollectorRegistry()
    gauge = Gauge("feedback_consumer_lag_messages", "lag", ["group", "topic", "partition"], registry=registry)
    monitor = LagMonitor(kafka_bootstrap, {group: [topic]}, gauge)
    assert monitor.measure() == {(group, topic, 0): 3, (group, topic, 1): 3}
    monitor.refresh()
    assert (
        registry.get_sample_value("feedback_consumer_lag_messages", {"group": group, "topic": topic, "partition": "0"})
        == 3
    )

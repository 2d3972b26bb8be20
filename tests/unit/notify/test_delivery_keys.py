"""Delivery keys are the names existing delivery logs hold and the source of the Message-IDs mail readers have
seen: their text, and the Message-IDs made of it, never change; a stored key reads back as the same key."""

from __future__ import annotations

import pytest

from feedback_notify.keys import DeliveryKey, digest_items_key
from feedback_notify.render import message_id

# (key, its text as delivery logs hold it, the Message-ID notify has always derived from that text)
KNOWN = [
    (DeliveryKey("turvallisuus", "email", "r1", 1), "turvallisuus:email:r1:1",
     "<d343d6455b33406b0a7f6d084fc0752e3cee62af@example.org>"),
    (DeliveryKey.digest("office", "webhook", "2026-03-20"), "office:webhook:digest:2026-03-20",
     "<dbec0456dfc53dfc1fdd19d2aaa5346dc66fd309@example.org>"),
    (DeliveryKey.alert("kunnat", "email", "abc:def", 12), "kunnat:email:abc:def:12",  # a response id may hold ":"
     "<8010b1812928522ac299570a89e94b929e8c9504@example.org>"),
    (DeliveryKey.correction("turvallisuus", "email", "korjaus-1"), "turvallisuus:email:correction:korjaus-1",
     "<e0cdf0dd9b35b3054bd43f775040a6b72e1b41cb@example.org>"),
]  # fmt: skip


@pytest.mark.parametrize(("key", "text", "mid"), KNOWN)
def test_a_key_keeps_its_text_and_message_id_and_reads_back_from_its_text(
    key: DeliveryKey, text: str, mid: str
) -> None:
    assert key.text == str(key) == text
    assert message_id(key, "example.org") == mid
    assert DeliveryKey.parse(text) == key


@pytest.mark.parametrize(
    "key",
    [
        DeliveryKey("office", "email", "digest", 3),  # a response called "digest" is no digest
        DeliveryKey("office", "email", "digest:2026-03-20", 1),
        DeliveryKey.digest("office", "email", "flush-20260320T100000000000"),
        DeliveryKey("office", "email", "r-1.2_x", 1000),
        DeliveryKey("office", "email", "correction", 3),  # a response called "correction" is no correction
        DeliveryKey("office", "email", "correction:7", 2),
        DeliveryKey.correction("office", "webhook", "c-2026.05_01"),
        DeliveryKey.correction("office", "email", "7a"),
        DeliveryKey.reminder("office", "email", "correction-1"),
    ],
)
def test_every_key_reads_back_from_its_text(key: DeliveryKey) -> None:
    assert DeliveryKey.parse(key.text) == key


def test_a_correction_key_reads_back_as_the_same_correction() -> None:
    key = DeliveryKey.parse("kunnat:webhook:correction:korjaus-7")
    assert key == DeliveryKey.correction("kunnat", "webhook", "korjaus-7")
    assert key.is_correction and not key.is_digest and not key.is_reminder and key.response_id is None


def test_the_digest_items_of_a_digest_are_marked_with_the_owner_and_the_digest_id() -> None:
    assert digest_items_key("office", "2026-03-20") == "office:digest:2026-03-20"


@pytest.mark.parametrize("text", ["office", "office:email", "office:email:r1", "office:email:r1:x", ":email:r1:1"])
def test_what_is_not_a_key_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        DeliveryKey.parse(text)


@pytest.mark.parametrize(
    "fields",
    [
        {"owner": "a:b", "channel": "email", "response_id": "r1", "revision": 1},
        {"owner": "office", "channel": "email", "response_id": "r1"},
        {"owner": "office", "channel": "email", "response_id": "r1", "revision": 1, "digest_id": "2026-03-20"},
        {"owner": "office", "channel": "email", "digest_id": "20260320"},  # would read back as an alert
        {"owner": "office", "channel": "email", "response_id": "r1", "revision": -1},
        {"owner": "office", "channel": "email", "response_id": "", "revision": 1},
        {"owner": "office", "channel": "email", "correction_id": "20260320"},  # would read back as an alert
        {"owner": "office", "channel": "email", "correction_id": "a:b"},
        {"owner": "office", "channel": "email", "correction_id": ""},
        {"owner": "office", "channel": "email", "correction_id": "k1", "reminder_id": "k1"},
    ],
)
def test_a_key_that_could_not_be_read_back_is_refused(fields: dict) -> None:
    with pytest.raises(ValueError):
        DeliveryKey(**fields)

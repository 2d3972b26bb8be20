"""Delivery keys: the one name of each delivery in notify's log, in its Message-ID and webhook header.

An alert's key is "<owner>:<channel>:<response id>:<revision>", a digest's "<owner>:<channel>:digest:<digest
id>" (its day, or flush-<time>), a workspace reminder's "<owner>:<channel>:reminder:<reminder id>", and the
alert of a paragraph moved to an owner by a correction "<owner>:<channel>:correction:<correction id>" (one per
correction, however often its routing comes). Databases hold these strings and mail readers have seen the
Message-IDs made of them: the text must never change. Owner ids and channels have no ":" (a response id may); a
digest id, a reminder id or a correction id is never only digits (and the latter two have no ":"), so an alert
of a response called "digest", "reminder" or "correction" is still told from them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from feedback_contracts.events import CORRECTION_ID_PATTERN, REMINDER_ID_PATTERN

DIGEST = "digest"
REMINDER = "reminder"
CORRECTION = "correction"


@dataclass(frozen=True, slots=True)
class DeliveryKey:
    """One delivery: an owner's alert of one response revision, an owner's digest, a reminder from the
    workspace, or an owner's alert of what one correction moved to them, on one channel."""

    owner: str
    channel: str
    response_id: str | None = None  # an alert's
    revision: int | None = None  # an alert's
    digest_id: str | None = None  # a digest's
    reminder_id: str | None = None  # a workspace reminder's (or escalation's)
    correction_id: str | None = None  # a moved paragraph's alert

    def __post_init__(self) -> None:
        if ":" in self.owner or ":" in self.channel or not self.owner or not self.channel:
            raise ValueError(f"not a delivery key's owner and channel: {self.owner!r}, {self.channel!r}")
        alert = self.response_id is not None and self.revision is not None
        forms = (alert, self.digest_id is not None, self.reminder_id is not None, self.correction_id is not None)
        if sum(forms) != 1 or (self.response_id is None) != (self.revision is None):
            raise ValueError("a delivery key names one of a response revision, a digest, a reminder or a correction")
        if self.digest_id is not None and (not self.digest_id or self.digest_id.isdigit()):
            raise ValueError(f"not a digest id: {self.digest_id!r}")
        if self.reminder_id is not None and not re.fullmatch(REMINDER_ID_PATTERN, self.reminder_id):
            raise ValueError(f"not a reminder id: {self.reminder_id!r}")
        if self.correction_id is not None and not re.fullmatch(CORRECTION_ID_PATTERN, self.correction_id):
            raise ValueError(f"not a correction id: {self.correction_id!r}")
        if self.response_id == "" or (self.revision is not None and self.revision < 0):
            raise ValueError(f"not a response revision: {self.response_id!r}, {self.revision!r}")

    @classmethod
    def alert(cls, owner: str, channel: str, response_id: str, revision: int) -> DeliveryKey:
        return cls(owner, channel, response_id, revision)

    @classmethod
    def digest(cls, owner: str, channel: str, digest_id: str) -> DeliveryKey:
        return cls(owner, channel, digest_id=digest_id)

    @classmethod
    def reminder(cls, owner: str, channel: str, reminder_id: str) -> DeliveryKey:
        return cls(owner, channel, reminder_id=reminder_id)

    @classmethod
    def correction(cls, owner: str, channel: str, correction_id: str) -> DeliveryKey:
        return cls(owner, channel, correction_id=correction_id)

    @property
    def is_digest(self) -> bool:
        return self.digest_id is not None

    @property
    def is_reminder(self) -> bool:
        return self.reminder_id is not None

    @property
    def is_correction(self) -> bool:
        return self.correction_id is not None

    @property
    def text(self) -> str:
        """The key as the delivery log stores it."""
        if self.digest_id is not None:
            return f"{self.owner}:{self.channel}:{DIGEST}:{self.digest_id}"
        if self.reminder_id is not None:
            return f"{self.owner}:{self.channel}:{REMINDER}:{self.reminder_id}"
        if self.correction_id is not None:
            return f"{self.owner}:{self.channel}:{CORRECTION}:{self.correction_id}"
        return f"{self.owner}:{self.channel}:{self.response_id}:{self.revision}"

    def __str__(self) -> str:
        return self.text

    @classmethod
    def parse(cls, text: str) -> DeliveryKey:
        """The key of a stored key string (`text`); ValueError for anything else."""
        owner, channel, rest = _split(text)
        response_id, _, revision = rest.rpartition(":")
        if response_id and revision.isascii() and revision.isdigit():
            return cls(owner, channel, response_id, int(revision))
        if rest.startswith(DIGEST + ":"):
            return cls(owner, channel, digest_id=rest[len(DIGEST) + 1 :])
        if rest.startswith(REMINDER + ":"):
            return cls(owner, channel, reminder_id=rest[len(REMINDER) + 1 :])
        if rest.startswith(CORRECTION + ":"):
            return cls(owner, channel, correction_id=rest[len(CORRECTION) + 1 :])
        raise ValueError(f"not a delivery key: {text!r}")


def digest_items_key(owner: str, digest_id: str) -> str:
    """What marks the digest items gathered into one of an owner's digests (on every channel)."""
    return f"{owner}:{DIGEST}:{digest_id}"


def _split(text: str) -> tuple[str, str, str]:
    parts = text.split(":", 2)
    if len(parts) != 3:
        raise ValueError(f"not a delivery key: {text!r}")
    return parts[0], parts[1], parts[2]

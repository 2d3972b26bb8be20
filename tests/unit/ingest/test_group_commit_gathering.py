"""A single writer that has just committed a group lets the answered clients' next requests gather before it
commits again: their group does not start with whichever request came back first."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from feedback_contracts.responses import SurveyResponse
from feedback_ingest import group_commit
from feedback_ingest.group_commit import GroupCommit
from feedback_ingest.rules import AcceptResult, Outcome, PostedRevision

CLIENTS = 16
# Each COMMIT waits this long for the disk.
COMMIT_S = 0.004
ROUNDS = 4


class FakeRepository:
    """One writer whose transactions take COMMIT_S each; remembers the size of every group it committed."""

    writers = 1

    def __init__(self) -> None:
        self.groups: list[int] = []

    async def writer(self) -> FakeRepository:
        return self

    async def accept(self, group: Sequence[PostedRevision]) -> list[AcceptResult]:
        self.groups.append(len(group))
        await asyncio.sleep(COMMIT_S)
        return [AcceptResult(Outcome.ACCEPTED, p.response.response_id, p.response.revision, None) for p in group]

    async def close(self) -> None:
        pass


def test_the_clients_of_a_group_come_back_as_one_group_not_as_one_and_the_rest(
    seed002_response: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Generous, so that a busy machine's late wake-ups do not decide the test.
    monkeypatch.setattr(group_commit, "GATHER_S", 0.5)
    responses = []
    for n in range(CLIENTS):
        body = copy.deepcopy(seed002_response)
        body["response_id"] = f"client-{n}"
        responses.append(SurveyResponse.model_validate(body))
    repository = FakeRepository()
    commits = GroupCommit(repository)  # type: ignore[arg-type]

    async def client(n: int) -> None:
        for _ in range(ROUNDS):
            await commits.accept(responses[n], datetime.now(UTC))
            await asyncio.sleep(0.0005 * n)  # answered together, the clients come back one after another

    async def scenario() -> None:
        await asyncio.gather(*(client(n) for n in range(CLIENTS)))

    asyncio.run(scenario())
    assert sum(repository.groups) == ROUNDS * CLIENTS
    # Without gathering the first clients back took a COMMIT of their own (16, 1, 8, 8, 7, 2, 14, ...). With it,
    # half of them gather while the other half's group commits. (The last round's groups thin out as clients
    # finish.)
    steady = repository.groups[1:-2]
    assert steady and min(steady) >= CLIENTS // 2, repository.groups

"""Notify's service layer: turning classified events into delivery jobs, and delivering what is due."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from typing import Protocol
from zoneinfo import ZoneInfo

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from feedback_contracts.events import ResponseClassified
from feedback_contracts.owners import Owner, OwnersDirectory

from .adapters import PermanentDeliveryError, TransientDeliveryError
from .alerts import Alert, Digest, diff, owner_part, route_owners, snapshot_of
from .render import Renderer, email_message, webhook_payload
from .store import Job, NewDigestItem, NewJob, NotifyStore

log = logging.getLogger("feedback.notify")
HELSINKI = ZoneInfo("Europe/Helsinki")


class MailSender(Protocol):
    async def send(self, message) -> None: ...  # noqa: ANN001


class HookSender(Protocol):
    async def send(self, url: str, payload: dict, key: str) -> None: ...


class NotifyMetrics:
    """Domain metrics of notify, on the service's own registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.deliveries = Counter(
            "feedback_notify_deliveries_total",
            "Alert deliveries by channel, mode and outcome (delivered, duplicate, failed, retried).",
            ["channel", "mode", "outcome"],
            registry=registry,
        )
        self.retries = Counter(
            "feedback_notify_retries_total",
            "Deliveries put off after a transient failure.",
            ["channel"],
            registry=registry,
        )
        self.dead_letters = Counter(
            "feedback_notify_dead_letters_total",
            "Deliveries given up (permanent failure or retries exhausted); kept as dead records in the delivery log.",
            ["channel"],
            registry=registry,
        )
        self.pending_digest_items = Gauge(
            "feedback_notify_pending_digest_items",
            "Routed items waiting for their owner's next digest.",
            registry=registry,
        )
        self.pending_deliveries = Gauge(
            "feedback_notify_pending_deliveries",
            "Delivery jobs not yet delivered (due or waiting to retry).",
            registry=registry,
        )
        self.end_to_end = Histogram(
            "feedback_end_to_end_latency_seconds",
            "From the statement's receipt at ingest to the alert's delivery.",
            ["channel", "mode"],
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400),
            registry=registry,
        )
        self.events = Counter(
            "feedback_notify_events_total",
            "Classified events handled by notify, by outcome (handled, duplicate: nothing new, dead_lettered).",
            ["outcome"],
            registry=registry,
        )
        self.dead_lettered_messages = Counter(
            "feedback_dead_letters_total",
            "Messages parked on a dead-letter topic.",
            ["service", "topic"],
            registry=registry,
        )


@dataclass
class IntakeReport:
    jobs: int = 0
    digest_items: int = 0
    unchanged: list[str] = field(default_factory=list)
    duplicates: int = 0


def _channels(owner: Owner) -> list[str]:
    return (["email"] if owner.email else []) + (["webhook"] if owner.webhook else [])


class Intake:
    """Records what each owner should hear about a revision, in one transaction, idempotently."""

    def __init__(self, store: NotifyStore, owners: Callable[[], OwnersDirectory], metrics: NotifyMetrics) -> None:
        self.store = store
        self.owners = owners
        self.metrics = metrics

    async def accept(self, event: ResponseClassified, now: datetime) -> IntakeReport:
        directory = self.owners()
        report = IntakeReport()
        async with self.store.write() as conn:
            per_route = route_owners(event, directory)
            receivers = [owner for owners in per_route for owner in owners]
            earlier = await self.store.owners_with_snapshots(conn, event.response_id)
            for owner_id in dict.fromkeys([*receivers, *earlier]):
                owner = directory.get(owner_id)
                if owner is None:
                    continue  # an owner removed from the directory since the last revision
                sections = owner_part(event, owner_id, per_route)
                previous = await self.store.snapshot(conn, event.response_id, owner_id)
                if previous is not None and previous[0] >= event.revision:
                    report.duplicates += 1  # a redelivered or replayed revision: already recorded
                    continue
                if previous is None:
                    if not sections:
                        continue
                    kind, shown, unchanged = "new", sections, 0
                else:
                    shown, unchanged = diff(previous[1], sections)
                    if not shown:
                        report.unchanged.append(owner_id)
                        await self.store.save_snapshot(
                            conn, event.response_id, owner_id, event.revision, snapshot_of(sections), now
                        )
                        continue
                    kind = "update" if sections else "withdrawn"
                await self.store.save_snapshot(
                    conn, event.response_id, owner_id, event.revision, snapshot_of(sections), now
                )
                alert = Alert(
                    kind=kind,  # type: ignore[arg-type]
                    owner_id=owner.id,
                    owner_name=owner.name,
                    response_id=event.response_id,
                    revision=event.revision,
                    replaces_revision=event.replaces_revision,
                    organization=event.respondent.organization,
                    title=event.respondent.title,
                    respondent_type=event.respondent_type,
                    received_at=event.received_at,
                    sections=shown if kind != "withdrawn" else [],
                    unchanged=unchanged,
                )
                payload = alert.model_dump(mode="json")
                if owner.mode == "digest":
                    item = NewDigestItem(owner.id, event.response_id, event.revision, payload)
                    report.digest_items += await self.store.add_digest_item(conn, item, now)
                    continue
                for channel in _channels(owner):
                    key = f"{owner.id}:{channel}:{event.response_id}:{event.revision}"
                    job = NewJob(key, owner.id, channel, "immediate", kind, payload, event.received_at)
                    report.jobs += await self.store.add_job(conn, job, now)
        return report


class Dispatcher:
    """Delivers due jobs, retrying transient failures on a persisted schedule, and builds digests on time."""

    def __init__(
        self,
        store: NotifyStore,
        owners: Callable[[], OwnersDirectory],
        renderer: Renderer,
        mail: MailSender,
        hooks: HookSender,
        metrics: NotifyMetrics,
        *,
        sender: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        concurrency: int = 8,
        batch_size: int = 100,
        base_backoff: float = 5.0,
        max_backoff: float = 300.0,
        give_up_after: timedelta = timedelta(hours=48),
        lease: timedelta = timedelta(minutes=5),
    ) -> None:
        self.lease = lease
        self.store, self.owners, self.renderer = store, owners, renderer
        self.mail, self.hooks, self.metrics = mail, hooks, metrics
        self.sender = sender
        self.domain = parseaddr(sender)[1].partition("@")[2] or "feedback.invalid"
        self.clock = clock
        self.semaphore = asyncio.Semaphore(concurrency)
        self.batch_size = batch_size
        self.base_backoff, self.max_backoff, self.give_up_after = base_backoff, max_backoff, give_up_after
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()

    def notify(self) -> None:
        self._wakeup.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wakeup.set()

    async def run(self, idle: float = 1.0) -> None:
        while not self._stopping.is_set():
            try:
                await self.schedule_digests()
                delivered = await self.deliver_due()
                await self.refresh_gauges()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("delivery round failed; trying again")
                delivered = 0
            if delivered < self.batch_size:
                try:
                    await asyncio.wait_for(self._wakeup.wait(), timeout=idle)
                except TimeoutError:
                    pass
                self._wakeup.clear()

    async def refresh_gauges(self) -> None:
        counts = await self.store.counts()
        self.metrics.pending_digest_items.set(counts.get("digest_items_pending", 0))
        self.metrics.pending_deliveries.set(counts.get("pending", 0))

    async def deliver_due(self) -> int:
        jobs = await self.store.due(self.clock(), self.batch_size)
        await asyncio.gather(*(self._deliver_one(job) for job in jobs))
        return len(jobs)

    async def _deliver_one(self, job: Job) -> None:
        async with self.semaphore:
            if not await self.store.claim(job.key, self.clock(), self.lease):
                return  # another worker has it
            owner = self.owners().get(job.owner_id) or self.owners().owners_for(None)[0]
            try:
                if job.kind == "digest":
                    rendered = self.renderer.digest(Digest.model_validate(job.payload))
                else:
                    rendered = self.renderer.alert(Alert.model_validate(job.payload))
                if job.channel == "email":
                    if not owner.email:
                        raise PermanentDeliveryError(f"owner {owner.id} has no email address any more")
                    message = email_message(
                        rendered,
                        sender=self.sender,
                        recipients=owner.email,
                        key=job.key,
                        domain=self.domain,
                        date=self.clock(),
                    )
                    await self.mail.send(message)
                else:
                    if owner.webhook is None:
                        raise PermanentDeliveryError(f"owner {owner.id} has no webhook any more")
                    await self.hooks.send(
                        str(owner.webhook), webhook_payload(rendered, job.payload, owner.webhook_format), job.key
                    )
            except TransientDeliveryError as exc:
                await self._retry(job, str(exc))
                return
            except PermanentDeliveryError as exc:
                await self._give_up(job, str(exc))
                return
            except Exception as exc:  # a rendering bug must not lose the job: park it as dead, visibly
                log.exception("delivery %s failed unexpectedly", job.key)
                await self._give_up(job, f"{type(exc).__name__}: {exc}")
                return
            now = self.clock()
            await self.store.settle(job.key, "delivered", now)
            self.metrics.deliveries.labels(job.channel, job.mode, "delivered").inc()
            if job.received_at is not None:
                self.metrics.end_to_end.labels(job.channel, job.mode).observe(
                    max(0.0, (now - job.received_at).total_seconds())
                )
            log.info("delivered %s", job.key, extra={"owner": job.owner_id})

    async def _retry(self, job: Job, error: str) -> None:
        now = self.clock()
        if now - job.created_at > self.give_up_after:
            await self._give_up(job, f"retries exhausted after {self.give_up_after}: {error}")
            return
        delay = min(self.max_backoff, self.base_backoff * 2**job.attempts)
        delay *= random.uniform(0.75, 1.25)  # jitter: owners of one failing server do not retry in lockstep
        await self.store.retry_later(job.key, now + timedelta(seconds=delay), error)
        self.metrics.retries.labels(job.channel).inc()
        self.metrics.deliveries.labels(job.channel, job.mode, "retried").inc()
        log.warning("delivery %s failed (%s); retrying in %.0fs", job.key, error, delay, extra={"owner": job.owner_id})

    async def _give_up(self, job: Job, error: str) -> None:
        await self.store.settle(job.key, "dead", self.clock(), error)
        self.metrics.deliveries.labels(job.channel, job.mode, "failed").inc()
        self.metrics.dead_letters.labels(job.channel).inc()
        log.error("delivery %s given up: %s", job.key, error, extra={"owner": job.owner_id})

    async def schedule_digests(self) -> int:
        """Create today's digest for every digest owner whose time has come and who has something waiting."""
        now = self.clock()
        local = now.astimezone(HELSINKI)
        created = 0
        directory = self.owners()
        for owner_id in await self.store.owners_with_pending_items():
            owner = directory.get(owner_id)
            if owner is None or owner.mode != "digest":
                continue
            hour, minute = (int(x) for x in owner.digest_time.split(":"))
            scheduled = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
            if local < scheduled:
                continue
            digest_id = scheduled.date().isoformat()
            if await self.store.digest_exists([f"{owner.id}:{c}:digest:{digest_id}" for c in _channels(owner)]):
                continue
            created += await self._create_digest(owner, digest_id, now)
        return created

    async def flush_digests(self, owner_id: str | None = None) -> dict[str, int]:
        """Send every pending digest now (or one owner's); returns items per owner."""
        now = self.clock()
        directory = self.owners()
        result = {}
        for pending in await self.store.owners_with_pending_items():
            owner = directory.get(pending)
            if owner is None or (owner_id and owner.id != owner_id):
                continue
            count = await self._create_digest(owner, f"flush-{now:%Y%m%dT%H%M%S%f}", now)
            if count:
                result[owner.id] = count
        self.notify()
        return result

    async def _create_digest(self, owner: Owner, digest_id: str, now: datetime) -> int:
        def build(items: list[dict]) -> dict:
            return Digest(
                owner_id=owner.id, owner_name=owner.name, items=[Alert.model_validate(i) for i in items]
            ).model_dump(mode="json")

        count = await self.store.create_digest(owner.id, digest_id, _channels(owner), now, build)
        if count:
            log.info("digest %s for owner %s with %d items", digest_id, owner.id, count, extra={"owner": owner.id})
        return count

"""Notify's service layer: turning classified events into delivery jobs, and delivering what is due."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from typing import Protocol
from zoneinfo import ZoneInfo

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from feedback_contracts.events import ItemsOverdue, ResponseClassified
from feedback_contracts.owners import Owner, OwnersDirectory

from .adapters import PermanentDeliveryError, TransientDeliveryError
from .alerts import Alert, Digest, channels, decide, route_owners
from .delivery_log import DeliveryLog, Job, Outcome
from .email_wire import compose_email
from .keys import DeliveryKey
from .pipeline import DeliveryPipeline
from .reminders import KINDS as REMINDER_KINDS
from .reminders import ReminderRenderer, reminder_webhook_payload
from .render import Renderer, webhook_payload

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
        self.reminders = Counter(
            "feedback_notify_reminders_total",
            "Reminders and escalations from the workspace, by kind (reminder, escalation) and outcome (queued, "
            "duplicate: that reminder id was queued before, dead_lettered).",
            ["kind", "outcome"],
            registry=registry,
        )


@dataclass
class IntakeReport:
    jobs: int = 0
    digest_items: int = 0
    unchanged: list[str] = field(default_factory=list)
    duplicates: int = 0


class Intake:
    """Records what each owner should hear about a revision, in one transaction, idempotently."""

    def __init__(
        self, delivery_log: DeliveryLog, owners: Callable[[], OwnersDirectory], metrics: NotifyMetrics
    ) -> None:
        self.delivery_log = delivery_log
        self.owners = owners
        self.metrics = metrics

    async def accept(self, event: ResponseClassified, now: datetime) -> IntakeReport:
        directory = self.owners()
        per_route = route_owners(event, directory)
        recorded = await self.delivery_log.record_revision(
            event.response_id, lambda stored: decide(event, directory, per_route, stored), now
        )
        return IntakeReport(
            jobs=recorded.jobs,
            digest_items=recorded.digest_items,
            unchanged=recorded.decision.unchanged,
            duplicates=recorded.decision.duplicates,
        )


class Dispatcher:
    """Delivers due jobs, retrying transient failures on a persisted schedule, and builds digests on time.

    Jobs are leased in batches (one transaction per claim) and fed to `concurrency` workers, each sending on
    its own reused SMTP connection; outcomes are recorded in one transaction per group as they come in. At
    most `concurrency` jobs are ever sent but not yet recorded, so a crash resends no more than that (with
    the same Message-ID), and a job whose lease has half lapsed before a worker reached it is handed back
    untried rather than risk being sent by two workers.
    """

    def __init__(
        self,
        delivery_log: DeliveryLog,
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
        reminders: ReminderRenderer | None = None,
    ) -> None:
        self.lease = lease
        self.reminders = reminders or ReminderRenderer()
        self.delivery_log, self.owners, self.renderer = delivery_log, owners, renderer
        self.mail, self.hooks, self.metrics = mail, hooks, metrics
        self.sender = sender
        self.domain = parseaddr(sender)[1].partition("@")[2] or "feedback.invalid"
        self.clock = clock
        self.concurrency = concurrency
        self.batch_size = max(batch_size, concurrency)
        self.base_backoff, self.max_backoff, self.give_up_after = base_backoff, max_backoff, give_up_after
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()

    def notify(self) -> None:
        self._wakeup.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wakeup.set()

    async def run(self, idle: float = 1.0) -> None:
        """Deliver until stopped: claim more as soon as the workers have room, wake at once when intake adds
        jobs (`notify`), otherwise look again every `idle` seconds; digests and gauges at most that often."""
        pipeline = self._pipeline()
        housekeeping_at = 0.0
        try:
            while not self._stopping.is_set():
                try:
                    if time.monotonic() >= housekeeping_at:
                        housekeeping_at = time.monotonic() + idle
                        await self.schedule_digests()
                        await self.refresh_gauges()
                    if pipeline.outstanding and pipeline.room() * 2 < self.batch_size:
                        await pipeline.wait_for_room(self._stopping)  # claim in batches worth a transaction
                        continue
                    limit = pipeline.room()
                    if pipeline.submit(await self._claim(limit)) == limit:
                        continue  # more may be due
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("delivery round failed; trying again")
                await self._idle(idle)
        except BaseException:
            await pipeline.abort()
            raise
        await pipeline.close()

    async def _idle(self, idle: float) -> None:
        close_idle = getattr(self.mail, "close_idle", None)
        if close_idle is not None:
            await close_idle()
        try:
            await asyncio.wait_for(self._wakeup.wait(), timeout=idle)
        except TimeoutError:
            pass
        self._wakeup.clear()

    async def refresh_gauges(self) -> None:
        counts = await self.delivery_log.counts()
        self.metrics.pending_digest_items.set(counts.get("digest_items_pending", 0))
        self.metrics.pending_deliveries.set(counts.get("pending", 0))

    async def deliver_due(self) -> int:
        """Deliver everything due now and record the outcomes before returning; returns how many jobs were tried."""
        pipeline = self._pipeline()
        tried = 0
        try:
            while jobs := await self._claim(self.batch_size):
                tried += pipeline.submit(jobs)
                await pipeline.drained()
        finally:
            await pipeline.close()
        return tried

    def _pipeline(self) -> DeliveryPipeline:
        return DeliveryPipeline(
            self.delivery_log, self.attempt, self.recorded, self.clock,
            concurrency=self.concurrency, batch_size=self.batch_size,
        )  # fmt: skip

    async def _claim(self, limit: int) -> list[Job]:
        return await self.delivery_log.claim_due(self.clock(), limit, self.lease) if limit > 0 else []

    async def attempt(self, job: Job) -> Outcome:
        """Render and send one claimed job; what became of it, to be recorded."""
        if job.lease_until is not None and self.clock() > job.lease_until - self.lease / 2:
            return Outcome(job.key, "released")  # waited too long for a worker: sending now could outlive the lease
        try:
            owner = self.owners().get(job.owner_id) or self.owners().owners_for(None)[0]
            reminder = job.kind in REMINDER_KINDS
            if job.kind == "digest":
                rendered = self.renderer.digest(Digest.model_validate(job.payload))
            elif reminder:
                names = {o.id: o.name for o in self.owners().owners}
                rendered = self.reminders.render(ItemsOverdue.model_validate(job.payload), owner.id, names)
            else:
                rendered = self.renderer.alert(Alert.model_validate(job.payload))
            if job.channel == "email":
                if not owner.email:
                    raise PermanentDeliveryError(f"owner {owner.id} has no email address any more")
                message = compose_email(
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
                shape = reminder_webhook_payload if reminder else webhook_payload
                await self.hooks.send(
                    str(owner.webhook), shape(rendered, job.payload, owner.webhook_format), job.key.text
                )
        except TransientDeliveryError as exc:
            return self._retry(job, str(exc))
        except PermanentDeliveryError as exc:
            return Outcome(job.key, "dead", str(exc))
        except Exception as exc:  # a rendering bug must not lose the job: park it as dead, visibly
            log.exception("delivery %s failed unexpectedly", job.key)
            return Outcome(job.key, "dead", f"{type(exc).__name__}: {exc}")
        return Outcome(job.key, "delivered", at=self.clock())

    def _retry(self, job: Job, error: str) -> Outcome:
        now = self.clock()
        if now - (job.retry_from or job.created_at) > self.give_up_after:
            return Outcome(job.key, "dead", f"retries exhausted after {self.give_up_after}: {error}")
        delay = min(self.max_backoff, self.base_backoff * 2**job.attempts)
        delay *= random.uniform(0.75, 1.25)  # jitter: owners of one failing server do not retry in lockstep
        return Outcome(job.key, "retry", error, next_attempt_at=now + timedelta(seconds=delay))

    def recorded(self, job: Job, outcome: Outcome) -> None:
        """Metrics and logs of an outcome, once it is in the delivery log."""
        match outcome.status:
            case "delivered":
                self.metrics.deliveries.labels(job.channel, job.mode, "delivered").inc()
                if job.received_at is not None and outcome.at is not None:
                    self.metrics.end_to_end.labels(job.channel, job.mode).observe(
                        max(0.0, (outcome.at - job.received_at).total_seconds())
                    )
                log.debug("delivered %s", job.key, extra={"owner": job.owner_id})
            case "retry":
                self.metrics.retries.labels(job.channel).inc()
                self.metrics.deliveries.labels(job.channel, job.mode, "retried").inc()
                delay = (outcome.next_attempt_at - self.clock()).total_seconds() if outcome.next_attempt_at else 0
                log.warning(
                    "delivery %s failed (%s); retrying in %.0fs", job.key, outcome.error, delay,
                    extra={"owner": job.owner_id},
                )  # fmt: skip
            case "dead":
                self.metrics.deliveries.labels(job.channel, job.mode, "failed").inc()
                self.metrics.dead_letters.labels(job.channel).inc()
                log.error("delivery %s given up: %s", job.key, outcome.error, extra={"owner": job.owner_id})
            case _:
                log.debug("delivery %s handed back untried", job.key, extra={"owner": job.owner_id})

    async def schedule_digests(self) -> int:
        """Create today's digest for every digest owner whose time has come and who has something waiting
        from before it (by when ingest received it). What arrives after today's time waits for tomorrow's
        digest; a digest missed while the service was down goes out as soon as it is back that day.
        """
        now = self.clock()
        local = now.astimezone(HELSINKI)
        created = 0
        directory = self.owners()
        for owner_id, oldest in (await self.delivery_log.oldest_pending_items()).items():
            owner = directory.get(owner_id)
            if owner is None or owner.mode != "digest":
                continue
            hour, minute = (int(x) for x in owner.digest_time.split(":"))
            scheduled = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
            if local < scheduled or oldest >= scheduled:
                continue
            digest_id = scheduled.date().isoformat()
            keys = [DeliveryKey.digest(owner.id, channel, digest_id) for channel in channels(owner)]
            if await self.delivery_log.digest_exists(keys):
                continue
            created += await self._create_digest(owner, digest_id, now)
        return created

    async def flush_digests(self, owner_id: str | None = None) -> dict[str, int]:
        """Send every pending digest now (or one owner's); returns items per owner."""
        now = self.clock()
        directory = self.owners()
        result = {}
        for pending in await self.delivery_log.owners_with_pending_items():
            owner = directory.get(pending)
            if owner is None or (owner_id and owner.id != owner_id):
                continue
            count = await self._create_digest(owner, f"flush-{now:%Y%m%dT%H%M%S%f}", now)
            if count:
                result[owner.id] = count
        self.notify()
        return result

    async def retry_dead(self, owner_id: str | None = None, since: datetime | None = None) -> int:
        """Send dead deliveries again (after the address or the mail server was fixed); returns how many."""
        count = await self.delivery_log.requeue_dead(self.clock(), owner_id, since)
        if count:
            log.info("requeued %d dead deliveries", count, extra={"owner": owner_id} if owner_id else {})
            await self.refresh_gauges()
            self.notify()
        return count

    async def _create_digest(self, owner: Owner, digest_id: str, now: datetime) -> int:
        def build(items: list[dict]) -> dict:
            return Digest(
                owner_id=owner.id, owner_name=owner.name, items=[Alert.model_validate(i) for i in items]
            ).model_dump(mode="json")

        count = await self.delivery_log.create_digest(owner.id, digest_id, channels(owner), now, build)
        if count:
            log.info("digest %s for owner %s with %d items", digest_id, owner.id, count, extra={"owner": owner.id})
        return count

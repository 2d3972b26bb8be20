"""The workspace's metrics, on its own registry."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from .items import State

# Time to first acknowledgement is measured in hours to weeks.
ACKNOWLEDGEMENT_BUCKETS = (60, 300, 900, 3600, 4 * 3600, 8 * 3600, 86400, 2 * 86400, 5 * 86400, 10 * 86400, 30 * 86400)


class WorkspaceMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.items = Gauge(
            "feedback_workspace_items",
            "Current (not withdrawn) items, by state (uusi, luettu, kasitelty, ei_minulle).",
            ["state"],
            registry=registry,
        )
        self.first_acknowledgement = Histogram(
            "feedback_workspace_time_to_first_acknowledgement_seconds",
            "From an item's arrival to its owner first marking it (read, handled or not mine).",
            buckets=ACKNOWLEDGEMENT_BUCKETS,
            registry=registry,
        )
        self.escalations = Counter(
            "feedback_workspace_escalations_total",
            "Reminders to owners and escalations to the strategy office, by kind.",
            ["kind"],
            registry=registry,
        )
        self.sign_ins = Counter(
            "feedback_workspace_sign_ins_total", "Sign-ins, by method (link, oidc).", ["method"], registry=registry
        )
        self.refused = Counter(
            "feedback_workspace_refused_total",
            "Requests refused, by reason (sign_in: bad or expired link; forbidden: another role's item or a form "
            "without its token; unauthorized: API without a token).",
            ["reason"],
            registry=registry,
        )
        self.events = Counter(
            "feedback_workspace_events_total",
            "Classified revisions handled, by outcome (recorded, duplicate, dead_lettered).",
            ["outcome"],
            registry=registry,
        )
        self.corrections = Counter(
            "feedback_workspace_corrections_total",
            "Corrections of routes stored, by who made them (owner, office).",
            ["by"],
            registry=registry,
        )
        for by in ("owner", "office"):
            self.corrections.labels(by)  # both series exist from the start, at 0

    def state_changed(self, item: dict, state: State) -> None:
        if item["first_acknowledged_at"] is None and item["state"] is State.NEW and state is not State.NEW:
            self.first_acknowledgement.observe((datetime.now(UTC) - item["created_at"]).total_seconds())

    def set_counts(self, counts: dict[State, int]) -> None:
        for state, count in counts.items():
            self.items.labels(state.value).set(count)

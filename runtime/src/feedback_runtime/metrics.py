"""Metric conventions of the pipeline: every name starts with `feedback_`, each service keeps its metrics on
a `CollectorRegistry` of its own (tests read them with `registry.get_sample_value`), and no label ever
carries respondent data (labels are sections, owners' roles, channels, outcomes, topics)."""

from __future__ import annotations

NAMESPACE = "feedback"

# Buckets for work measured in milliseconds to seconds (a request, one event's processing).
FAST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)

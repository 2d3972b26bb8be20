"""The Prometheus config, alerting rules and Grafana dashboard: valid for promtool, unit-tested, and
written against the metrics the services actually export."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = REPO_ROOT / "deploy" / "prometheus"
CONFIG = PROMETHEUS / "prometheus.yml"
RULE_FILES = sorted((PROMETHEUS / "rules").glob("*.yml"))
RULE_TESTS = sorted((PROMETHEUS / "tests").glob("*.yml"))
GRAFANA = REPO_ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "feedback.json"
RUNBOOK = REPO_ROOT / "docs" / "runbook.md"

FASTSTREAM_COUNTERS = {
    "feedback_received_messages_total",
    "feedback_received_processed_messages_total",
    "feedback_received_processed_messages_exceptions_total",
    "feedback_published_messages_total",
}
COUNTERS_AND_GAUGES = FASTSTREAM_COUNTERS | {
    "up",
    "feedback_ingest_responses_total",
    "feedback_ingest_rejected_total",
    "feedback_ingest_duplicates_total",
    "feedback_ingest_http_requests_total",
    "feedback_ingest_outbox_backlog_messages",
    "feedback_ingest_outbox_oldest_age_seconds",
    "feedback_ingest_broker_connected",
    "feedback_classify_responses_total",
    "feedback_classify_paragraphs_routed_total",
    "feedback_classify_paragraphs_default_only_total",
    "feedback_notify_deliveries_total",
    "feedback_notify_retries_total",
    "feedback_notify_dead_letters_total",
    "feedback_notify_pending_digest_items",
    "feedback_notify_events_total",
    "feedback_dead_letters_total",
    "feedback_consumer_lag_messages",
}
# The owners' workspace's own (feedback_workspace.metrics; a test below checks them against it).
WORKSPACE_COUNTERS_AND_GAUGES = {
    "feedback_workspace_items",
    "feedback_workspace_escalations_total",
    "feedback_workspace_sign_ins_total",
    "feedback_workspace_refused_total",
    "feedback_workspace_events_total",
    "feedback_workspace_corrections_total",
}
WORKSPACE_HISTOGRAMS = {"feedback_workspace_time_to_first_acknowledgement_seconds"}
COUNTERS_AND_GAUGES |= WORKSPACE_COUNTERS_AND_GAUGES
HISTOGRAMS = {
    "feedback_received_processed_messages_duration_seconds",
    "feedback_published_messages_duration_seconds",
    "feedback_ingest_publish_latency_seconds",
    "feedback_classify_duration_seconds",
    "feedback_end_to_end_latency_seconds",
    *WORKSPACE_HISTOGRAMS,
}
EXPORTED_METRICS = COUNTERS_AND_GAUGES | {
    f"{name}{suffix}" for name in HISTOGRAMS for suffix in ("_bucket", "_sum", "_count")
}

PROMQL_KEYWORDS = {
    # binary and modifier keywords
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool",
    "inf", "nan", "start", "end",
    # aggregations
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk", "quantile",
    # functions
    "abs", "absent", "absent_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min", "day_of_month",
    "day_of_week", "day_of_year", "days_in_month", "delta", "deriv", "exp", "floor", "histogram_count",
    "histogram_sum", "histogram_fraction", "histogram_quantile", "holt_winters", "hour", "idelta", "increase",
    "irate", "label_join", "label_replace", "ln", "log2", "log10", "minute", "month", "predict_linear", "rate",
    "resets", "round", "scalar", "sgn", "sort", "sort_desc", "sqrt", "time", "timestamp", "vector", "year",
    "avg_over_time", "min_over_time", "max_over_time", "sum_over_time", "count_over_time", "quantile_over_time",
    "stddev_over_time", "stdvar_over_time", "last_over_time", "present_over_time", "acos", "acosh", "asin",
    "asinh", "atan", "atanh", "atan2", "cos", "cosh", "sin", "sinh", "tan", "tanh", "deg", "rad", "pi",
}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects: identifiers outside label matchers, ranges and label
    lists that are neither a function call nor a keyword."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', " ", expr)  # string literals
    text = re.sub(r"\$\{[^}]*\}|\$\w+", " ", text)  # Grafana variables such as $__rate_interval
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)  # label lists
    names = set()
    for match in re.finditer(r"(?<![\w:.])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()", text):
        name = match.group(1)
        if name.lower() not in PROMQL_KEYWORDS:
            names.add(name)
    return names


def run_promtool(*args: str) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is not installed (Debian: apt-get install prometheus)"
    result = subprocess.run([promtool, *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"promtool {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"


def load_rules() -> list[dict[str, Any]]:
    rules = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            rules.extend(group["rules"])
    return rules


def alerts() -> list[dict[str, Any]]:
    return [rule for rule in load_rules() if "alert" in rule]


def recorded_names() -> set[str]:
    return {rule["record"] for rule in load_rules() if "record" in rule}


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def dashboard_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from dashboard_panels(panel.get("panels", []))


def github_anchor(heading: str) -> str:
    return re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", heading.strip().lower()))


def test_promtool_accepts_the_config() -> None:
    run_promtool("check", "config", str(CONFIG.relative_to(REPO_ROOT)))


def test_promtool_accepts_the_rules() -> None:
    assert RULE_FILES
    run_promtool("check", "rules", *(str(path.relative_to(REPO_ROOT)) for path in RULE_FILES))


def test_promtool_unit_tests_of_the_rules_pass() -> None:
    assert RULE_TESTS
    run_promtool("test", "rules", *(str(path.relative_to(REPO_ROOT)) for path in RULE_TESTS))


def test_config_scrapes_the_four_services_every_five_seconds_and_loads_the_rules() -> None:
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    assert config["global"]["scrape_interval"] == "5s"
    assert config["rule_files"] == ["rules/*.yml"]
    targets = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    assert targets == {
        "feedback-ingest": ["127.0.0.1:8000"],
        "feedback-classify": ["127.0.0.1:8001"],
        "feedback-notify": ["127.0.0.1:8002"],
        # `feedback dev up --workspace-port`, default 8003.
        "feedback-workspace": ["127.0.0.1:8003"],
    }


def test_every_alert_has_a_severity_an_explanation_and_a_runbook_section() -> None:
    anchors = {
        github_anchor(line.lstrip("#"))
        for line in RUNBOOK.read_text(encoding="utf-8").splitlines()
        if line.startswith("## ")
    }
    for alert in alerts():
        name = alert["alert"]
        assert alert["labels"]["severity"] in {"critical", "warning", "info"}, name
        annotations = alert["annotations"]
        assert annotations["summary"] and annotations["description"], name
        assert annotations["runbook"] == f"docs/runbook.md#{name.lower()}", name
        assert name.lower() in anchors, f"docs/runbook.md has no section for {name}"


def test_the_required_alerts_exist() -> None:
    names = {alert["alert"] for alert in alerts()}
    assert {
        "FeedbackServiceDown",
        "FeedbackConsumerLagGrowing",
        "FeedbackDeadLetters",
        "FeedbackDeliveryFailureRatioHigh",
        "FeedbackDeliveriesRetrying",
        "FeedbackOutboxBacklogStale",
        "FeedbackIngestServerErrorsHigh",
        "FeedbackEndToEndLatencyHigh",
        "FeedbackWorkspaceBacklogGrowing",
    } <= names


def test_an_smtp_outage_makes_an_alert_pending_within_a_minute() -> None:
    quick = [
        alert
        for alert in alerts()
        if "feedback_notify_retries_total" in alert["expr"]
        and re.search(r"feedback_notify_retries_total\[1m\]", alert["expr"])
        and alert.get("for", "0s") in {"0s", "15s", "30s", "1m"}
    ]
    assert [alert["alert"] for alert in quick] == ["FeedbackDeliveriesRetrying"]


def test_every_alert_is_unit_tested_firing_and_not_firing() -> None:
    firing: set[str] = set()
    silent: set[str] = set()
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    names = {alert["alert"] for alert in alerts()}
    assert names - firing == set(), "alerts never tested firing"
    assert names - silent == set(), "alerts never tested not firing"


def test_rules_use_only_exported_metrics() -> None:
    recorded = recorded_names()
    assert all(name.count(":") == 2 for name in recorded), "recording rules are named level:metric:operations"
    assert not recorded & EXPORTED_METRICS
    for rule in load_rules():
        unknown = metric_names(rule["expr"]) - EXPORTED_METRICS - recorded
        assert not unknown, f"{rule.get('alert') or rule.get('record')} uses unknown metrics {unknown}"


def test_dashboard_is_the_feedback_pipeline_dashboard() -> None:
    board = dashboard()
    assert board["uid"] == "feedback-pipeline"
    assert board["schemaVersion"] == 39
    ids = [panel["id"] for panel in dashboard_panels(board["panels"])]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    rows = [panel["title"] for panel in dashboard_panels(board["panels"]) if panel["type"] == "row"]
    assert len(rows) >= 6


def test_every_dashboard_panel_queries_the_prometheus_datasource() -> None:
    for panel in dashboard_panels(dashboard()["panels"]):
        if panel["type"] == "row":
            continue
        title = panel["title"]
        assert panel["datasource"]["uid"] == "prometheus", title
        assert panel["targets"], f"{title} has no target"
        for target in panel["targets"]:
            assert target["expr"].strip(), title
            assert target.get("datasource", {"uid": "prometheus"})["uid"] == "prometheus", title
        assert panel["gridPos"]["x"] >= 0 and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, title


def test_dashboard_uses_only_exported_metrics() -> None:
    seen: set[str] = set()
    for panel in dashboard_panels(dashboard()["panels"]):
        for target in panel.get("targets", []):
            names = metric_names(target["expr"])
            unknown = names - EXPORTED_METRICS - recorded_names()
            assert not unknown, f"panel {panel['title']!r} uses unknown metrics {unknown}"
            seen |= names
    missing = {"feedback_ingest_responses_total", "feedback_classify_paragraphs_routed_total",
               "feedback_notify_deliveries_total", "feedback_consumer_lag_messages", "feedback_dead_letters_total",
               "feedback_end_to_end_latency_seconds_bucket", "up", "feedback_workspace_items",
               "feedback_workspace_time_to_first_acknowledgement_seconds_bucket",
               "feedback_workspace_escalations_total", "feedback_workspace_sign_ins_total",
               "feedback_workspace_refused_total"} - seen  # fmt: skip
    assert not missing, f"the dashboard shows nothing of {missing}"


def test_the_workspace_metrics_named_here_are_the_ones_it_registers() -> None:
    from prometheus_client import CollectorRegistry

    from feedback_workspace.metrics import WorkspaceMetrics

    registry = CollectorRegistry()
    WorkspaceMetrics(registry)
    registered: dict[str, str] = {family.name: family.type for family in registry.collect()}
    named = {
        name.removesuffix("_total") if name.endswith("_total") else name: name
        for name in WORKSPACE_COUNTERS_AND_GAUGES | WORKSPACE_HISTOGRAMS
    }
    assert set(registered) == set(named)
    for family, kind in registered.items():
        exported = named[family]
        if kind == "counter":
            assert exported == f"{family}_total"
        elif kind == "histogram":
            assert exported in WORKSPACE_HISTOGRAMS
        else:
            assert kind == "gauge" and exported == family


def test_the_backlog_alert_watches_the_unread_state_the_workspace_reports() -> None:
    from feedback_workspace.items import State

    (alert,) = [a for a in alerts() if a["alert"] == "FeedbackWorkspaceBacklogGrowing"]
    assert f'feedback_workspace_items{{state="{State.NEW.value}"}}' in alert["expr"]
    assert "offset 1d" in alert["expr"]
    # Every replica reports the one database's counts: never summed over replicas.
    assert "sum" not in re.sub(r"\s", "", alert["expr"]).replace("feedback_workspace", "")
    assert alert["for"] == "1h"
    # The states the dashboard's panel and the runbook name.
    states = {state.value for state in State}
    assert states == {"uusi", "luettu", "kasitelty", "ei_minulle"}


def test_dashboard_has_a_row_for_the_workspace() -> None:
    panels = list(dashboard_panels(dashboard()["panels"]))
    rows = [panel for panel in panels if panel["type"] == "row"]
    (row,) = [row for row in rows if "workspace" in row["title"].lower()]
    below = [p for p in panels if p["type"] != "row" and p["gridPos"]["y"] > row["gridPos"]["y"]]
    exprs = " ".join(target["expr"] for panel in below for target in panel["targets"])
    for metric in WORKSPACE_COUNTERS_AND_GAUGES - {"feedback_workspace_events_total"}:
        assert metric in exprs, metric
    assert "histogram_quantile(0.50" in exprs and "histogram_quantile(0.90" in exprs


def test_grafana_provisioning_points_at_prometheus_and_the_dashboards() -> None:
    datasources = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    [source] = datasources["datasources"]
    assert (source["name"], source["uid"], source["type"], source["url"]) == (
        "Prometheus",
        "prometheus",
        "prometheus",
        "http://prometheus:9090",
    )
    providers = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "feedback.yml").read_text())
    [provider] = providers["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RetryingNotify(BaseHTTPRequestHandler):
    """/metrics of a notify whose mail server is down: one more retry at every scrape."""

    retries = 0

    def do_GET(self) -> None:
        type(self).retries += 1
        body = (
            "# TYPE feedback_notify_retries_total counter\n"
            f'feedback_notify_retries_total{{channel="email"}} {self.retries}\n'
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_running_prometheus_shows_smtp_retries_as_a_pending_alert_within_a_minute(tmp_path: Path) -> None:
    binary = shutil.which("prometheus")
    assert binary, "prometheus is not installed (Debian: apt-get install prometheus)"
    exporter = ThreadingHTTPServer(("127.0.0.1", 0), RetryingNotify)
    threading.Thread(target=exporter.serve_forever, daemon=True).start()
    config = {
        "global": {"scrape_interval": "5s", "evaluation_interval": "5s"},
        "rule_files": [str(path) for path in RULE_FILES],
        "scrape_configs": [
            {"job_name": "feedback-notify", "static_configs": [{"targets": [f"127.0.0.1:{exporter.server_port}"]}]}
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    port = free_port()
    log = tmp_path / "prometheus.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [binary, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        states: list[str] = []
        while time.monotonic() < deadline and not states:
            time.sleep(1)
            assert server.poll() is None, f"prometheus exited:\n{log.read_text(errors='replace')}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/alerts", timeout=5) as answer:
                    found = json.load(answer)["data"]["alerts"]
            except OSError:
                continue
            states = [alert["state"] for alert in found if alert["labels"]["alertname"] == "FeedbackDeliveriesRetrying"]
        assert states and states[0] in {"pending", "firing"}, (
            f"no FeedbackDeliveriesRetrying alert within a minute:\n{log.read_text(errors='replace')}"
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
        exporter.shutdown()


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (le) (rate(a_bucket{mode!="digest"}[10m])) > 60', {"a_bucket"}),
        ("deriv(sum by (group, topic) (lag)[10m:1m]) > 0 and sum by(group,topic)(lag) > 0", {"lag"}),
        ("x > 0 and count_over_time(x[1m]) < on (job, instance) group_left () sum_over_time(up[1m])", {"x", "up"}),
        ("sum(rate(b_total[$__rate_interval])) by (status) / 1e3 + c offset 10m", {"b_total", "c"}),
        ("histogram_quantile(0.99, sum(rate(d[5m])) without (pod))", {"d"}),
        ("job:e:rate5m > bool 0.5 unless absent(f)", {"job:e:rate5m", "f"}),
    ],
)
def test_metric_names_are_parsed_from_promql(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_the_kubernetes_prometheusrule_carries_exactly_the_rule_files() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "generate", REPO_ROOT / "deploy" / "k8s" / "generate_prometheusrule.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    committed = (REPO_ROOT / "deploy" / "k8s" / "base" / "prometheusrule.yaml").read_text(encoding="utf-8")
    assert committed == module.render(), "run `make k8s-rules` and commit deploy/k8s/base/prometheusrule.yaml"

"""Operations see the flow in a real Prometheus scraping the running dev stack, and are alerted when mail stops."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from devstack_support import StartDevUp

from feedback_cli.devstack import SmtpSink, free_port

pytestmark = pytest.mark.e2e
TOKEN = "prometheus-e2e-token"


def _query(prometheus: str, expr: str) -> float:
    result = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10).json()["data"]["result"]
    return float(result[0]["value"][1]) if result else 0.0


def _alerts(prometheus: str) -> list[dict]:
    return httpx.get(f"{prometheus}/api/v1/alerts", timeout=10).json()["data"]["alerts"]


def _wait(condition, timeout: float, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(1)


def test_prometheus_sees_the_counters_move_and_raises_the_alert_when_the_mail_server_stops(
    dev_up: StartDevUp, tmp_path: Path, seed002_response: dict, unique: str
) -> None:
    ports = {"smtp": free_port(), "prometheus": free_port()}
    sink = SmtpSink(tmp_path / "mail", ports["smtp"]).start()
    env = {
        "INGEST_API_TOKENS": TOKEN,
        "NOTIFY_RETRY_BASE_SECONDS": "1",
        "NOTIFY_GROUP_ID": f"notify-prom-{unique}",
        "CLASSIFY_GROUP_ID": f"classify-prom-{unique}",
    }
    prometheus = f"http://127.0.0.1:{ports['prometheus']}"
    try:
        stack = dev_up(
            "--no-smtp-sink", "--with-prometheus", "--prometheus-port", str(ports["prometheus"]), env=env, ports=ports
        )
        ingest = stack.ingest
        seed002_response["response_id"] = f"prom-{unique}-1"
        answer = httpx.post(
            f"{ingest}/v1/responses", json=seed002_response, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert answer.status_code == 202

        _wait(lambda: _query(prometheus, "sum(feedback_ingest_responses_total)") >= 1, 60, "intake in Prometheus")
        _wait(
            lambda: _query(prometheus, 'sum(feedback_notify_deliveries_total{outcome="delivered"})') >= 1,
            90,
            "deliveries in Prometheus",
        )
        # Under load one scrape can time out: wait for all four targets (with the workspace) to be up at once.
        _wait(lambda: _query(prometheus, 'count(up{job=~"feedback-.*"} == 1)') == 4, 60, "all four targets up")
        assert _query(prometheus, "sum(feedback_classify_paragraphs_routed_total)") > 0
        assert [a for a in _alerts(prometheus) if a["state"] == "firing"] == []

        sink.stop()  # the mail server goes away
        seed002_response["response_id"] = f"prom-{unique}-2"
        answer = httpx.post(
            f"{ingest}/v1/responses", json=seed002_response, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert answer.status_code == 202

        def retrying_alert() -> bool:
            return any(
                a["labels"]["alertname"] == "FeedbackDeliveriesRetrying" and a["state"] in ("pending", "firing")
                for a in _alerts(prometheus)
            )

        _wait(retrying_alert, 90, "the delivery alert to become pending")
    finally:
        try:
            sink.stop()
        except Exception:
            pass

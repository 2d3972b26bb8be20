"""Write deploy/k8s/base/prometheusrule.yaml from deploy/prometheus/rules/*.yml (`make k8s-rules`).

The Prometheus operator wants the rules as a PrometheusRule object; the rule files stay the single
source, tested with promtool. A test fails when the two differ.
"""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "rules"
TARGET = ROOT / "deploy" / "k8s" / "base" / "prometheusrule.yaml"


def render() -> str:
    groups = []
    for path in sorted(RULES.glob("*.yml")):
        groups.extend(yaml.safe_load(path.read_text(encoding="utf-8"))["groups"])
    rule = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "feedback-pipeline",
            "labels": {"app.kubernetes.io/part-of": "feedback-pipeline", "release": "kube-prometheus-stack"},
        },
        "spec": {"groups": groups},
    }
    header = "# Generated from deploy/prometheus/rules/ by `make k8s-rules`; edit the rule files, not this.\n"
    return header + yaml.safe_dump(rule, sort_keys=False, allow_unicode=True, width=120)


if __name__ == "__main__":
    TARGET.write_text(render(), encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}")

"""deploy/k8s: both overlays render; core objects validate against the Kubernetes schema; Strimzi, KEDA
and prometheus-operator resources hang together; the services run locked down and reach Kafka as
their own users; from outside, only ingest's API and the workspace's pages are reachable."""

from __future__ import annotations

import copy
import re
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml
from deploy_support import K8S, OVERLAYS, REPO, SERVICES, container_environment, find, one, service_container

from feedback_contracts.events import (
    ALL_TOPICS,
    CLASSIFIED_TOPIC,
    CORRECTIONS_TOPIC,
    REMINDERS_TOPIC,
    RESPONSES_TOPIC,
    dlq_topic,
)

KUBERNETES_VERSION = "1.30.0"
NAMESPACES = {"dev": "feedback-dev", "prod": "feedback"}
CLUSTER = "feedback-kafka"
# Custom resources: apiVersion -> kinds we use. Anything else is a typo or needs a test.
CUSTOM = {
    "kafka.strimzi.io/v1beta2": {"Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser"},
    "keda.sh/v1alpha1": {"ScaledObject", "TriggerAuthentication"},
    "monitoring.coreos.com/v1": {"ServiceMonitor", "PrometheusRule"},
}
PARTITIONS = {
    RESPONSES_TOPIC: 12,
    CLASSIFIED_TOPIC: 12,
    REMINDERS_TOPIC: 3,
    CORRECTIONS_TOPIC: 3,
    dlq_topic(RESPONSES_TOPIC): 3,
    dlq_topic(CLASSIFIED_TOPIC): 3,
    dlq_topic(REMINDERS_TOPIC): 3,
    dlq_topic(CORRECTIONS_TOPIC): 3,
}
# Scaled on lag by KEDA: the service, the topic and the group's variable.
CONSUMES = {"classify": RESPONSES_TOPIC, "notify": CLASSIFIED_TOPIC}
GROUP_VARIABLE = {"classify": "CLASSIFY_GROUP_ID", "notify": "NOTIFY_GROUP_ID"}
# Every consumer group of each service, by the variable that names it.
GROUP_VARIABLES = {
    "classify": ("CLASSIFY_GROUP_ID", "CLASSIFY_CORRECTIONS_GROUP_ID"),
    "notify": ("NOTIFY_GROUP_ID", "NOTIFY_REMINDERS_GROUP_ID"),
    "workspace": ("WORKSPACE_GROUP_ID",),
}
# Least privilege: (resource type, name) -> operations, per service.
ACLS = {
    "ingest": {("topic", RESPONSES_TOPIC): {"Describe", "Write"}},
    "classify": {
        ("topic", RESPONSES_TOPIC): {"Describe", "Read"},
        ("group", "feedback-classify"): {"Read"},
        ("topic", CLASSIFIED_TOPIC): {"Describe", "Write"},
        ("topic", dlq_topic(RESPONSES_TOPIC)): {"Describe", "Write"},
        ("topic", CORRECTIONS_TOPIC): {"Describe", "Read"},
        ("group", "feedback-classify-corrections"): {"Read"},
        ("topic", dlq_topic(CORRECTIONS_TOPIC)): {"Describe", "Write"},
    },
    "notify": {
        ("topic", CLASSIFIED_TOPIC): {"Describe", "Read"},
        ("group", "feedback-notify"): {"Read"},
        ("topic", dlq_topic(CLASSIFIED_TOPIC)): {"Describe", "Write"},
        ("topic", REMINDERS_TOPIC): {"Describe", "Read"},
        ("group", "feedback-notify-reminders"): {"Read"},
        ("topic", dlq_topic(REMINDERS_TOPIC)): {"Describe", "Write"},
    },
    "workspace": {
        ("topic", CLASSIFIED_TOPIC): {"Describe", "Read"},
        ("group", "feedback-workspace"): {"Read"},
        ("topic", dlq_topic(CLASSIFIED_TOPIC)): {"Describe", "Write"},
        ("topic", REMINDERS_TOPIC): {"Describe", "Write"},
        ("topic", CORRECTIONS_TOPIC): {"Describe", "Write"},
    },
}
# Reached from outside the namespace, through the ingress controller.
EXPOSED = ("ingest", "workspace")
# The workspace's Ingress may route its pages, never these.
WORKSPACE_INTERNAL = {"/metrics", "/healthz", "/readyz"}


def _is_custom(obj: dict[str, Any]) -> bool:
    return obj["apiVersion"] in CUSTOM


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {variable["name"]: variable for variable in container.get("env", [])}


def _pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["spec"]["template"]["spec"]


def _matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        value, operator = labels.get(expression["key"]), expression["operator"]
        if operator == "In" and value not in expression["values"]:
            return False
        if operator == "NotIn" and value in expression["values"]:
            return False
        if operator == "Exists" and value is None:
            return False
        if operator == "DoesNotExist" and value is not None:
            return False
    return True


def _pod_labels(objects: list[dict[str, Any]], service: str) -> dict[str, str]:
    return one(objects, "Deployment", f"feedback-{service}")["spec"]["template"]["metadata"]["labels"]


def _topics(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {t["spec"].get("topicName", t["metadata"]["name"]): t for t in find(objects, "KafkaTopic")}


# --- rendering and schema -----------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_into_its_namespace(overlay: str, rendered: dict[str, list[dict[str, Any]]]) -> None:
    objects = rendered[overlay]
    assert objects
    namespace = NAMESPACES[overlay]
    assert one(objects, "Namespace", namespace)
    for obj in objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == namespace, f"{obj['kind']}/{obj['metadata']['name']}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_core_objects_validate_against_the_kubernetes_schema(
    overlay: str, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    core = [obj for obj in rendered[overlay] if not _is_custom(obj)]
    assert {"Deployment", "Service", "NetworkPolicy", "PodDisruptionBudget", "ConfigMap"} <= {o["kind"] for o in core}
    for obj in core:
        name = f"{obj['kind']}/{obj['metadata']['name']}"
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            pytest.fail(f"{name}: {obj['apiVersion']} {obj['kind']} is not a Kubernetes {KUBERNETES_VERSION} kind")
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            pytest.fail(f"{name} is invalid at {path}: {error.message}")


def test_the_schema_validation_catches_mistakes(rendered: dict[str, list[dict[str, Any]]]) -> None:
    # The validator works offline from the schemas in its wheel, and is not vacuous.
    deployment = copy.deepcopy(one(rendered["prod"], "Deployment", "feedback-ingest"))
    kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["paht"] = "/readyz"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
    deployment = copy.deepcopy(one(rendered["prod"], "Deployment", "feedback-ingest"))
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_custom_resources_are_known_kinds_with_a_name_and_a_spec(
    overlay: str, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    for obj in filter(_is_custom, rendered[overlay]):
        assert obj["kind"] in CUSTOM[obj["apiVersion"]], f"unknown {obj['apiVersion']} kind {obj['kind']}"
        assert obj["metadata"].get("name"), obj
        assert isinstance(obj.get("spec"), dict) and obj["spec"], f"{obj['kind']}/{obj['metadata']['name']} has no spec"


# --- Strimzi ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kafka_runs_in_kraft_mode_with_node_pools(overlay: str, rendered: dict[str, list[dict[str, Any]]]) -> None:
    objects = rendered[overlay]
    kafka = one(objects, "Kafka", CLUSTER)
    assert kafka["metadata"]["annotations"]["strimzi.io/kraft"] == "enabled"
    assert kafka["metadata"]["annotations"]["strimzi.io/node-pools"] == "enabled"
    assert "zookeeper" not in kafka["spec"]
    assert "replicas" not in kafka["spec"]["kafka"], "with node pools the replicas are the pools'"
    assert kafka["spec"]["entityOperator"].keys() >= {"topicOperator", "userOperator"}
    pools = find(objects, "KafkaNodePool")
    assert pools
    for pool in pools:
        assert pool["metadata"]["labels"]["strimzi.io/cluster"] == CLUSTER
    roles = {role for pool in pools for role in pool["spec"]["roles"]}
    assert roles == {"controller", "broker"}
    brokers = sum(p["spec"]["replicas"] for p in pools if "broker" in p["spec"]["roles"])
    config = kafka["spec"]["kafka"]["config"]
    replication = config["default.replication.factor"]
    assert config["offsets.topic.replication.factor"] == replication <= brokers
    assert config["min.insync.replicas"] <= replication
    if overlay == "prod":
        assert brokers == 3 and replication == 3 and config["min.insync.replicas"] == 2
        assert all(p["spec"]["storage"]["volumes"][0]["type"] == "persistent-claim" for p in pools)
    else:
        assert brokers == 1 and replication == 1


def test_prod_kafka_listens_only_on_tls_with_scram_and_acls(rendered: dict[str, list[dict[str, Any]]]) -> None:
    kafka = one(rendered["prod"], "Kafka", CLUSTER)
    listeners = kafka["spec"]["kafka"]["listeners"]
    assert listeners, "no listener"
    for listener in listeners:
        assert listener["tls"] is True, f"listener {listener['name']} is not TLS"
        assert listener["authentication"]["type"] == "scram-sha-512"
    assert kafka["spec"]["kafka"]["authorization"]["type"] == "simple"


def test_dev_kafka_is_plaintext(rendered: dict[str, list[dict[str, Any]]]) -> None:
    objects = rendered["dev"]
    kafka = one(objects, "Kafka", CLUSTER)
    assert [listener["tls"] for listener in kafka["spec"]["kafka"]["listeners"]] == [False]
    assert "authorization" not in kafka["spec"]["kafka"]
    assert not find(objects, "KafkaUser")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_topics_belong_to_the_cluster_with_their_partitions(
    overlay: str, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    objects = rendered[overlay]
    clusters = {k["metadata"]["name"] for k in find(objects, "Kafka")}
    topics = _topics(objects)
    assert set(topics) == set(ALL_TOPICS)
    brokers = sum(p["spec"]["replicas"] for p in find(objects, "KafkaNodePool"))
    for name, topic in topics.items():
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] in clusters
        assert topic["spec"]["partitions"] == PARTITIONS[name], name
        replicas = topic["spec"]["replicas"]
        assert replicas <= brokers
        assert topic["spec"].get("config", {}).get("min.insync.replicas", 1) <= replicas
        if overlay == "prod":
            assert replicas == 3 and topic["spec"]["config"]["min.insync.replicas"] == 2


def test_each_service_has_its_own_kafka_user_with_least_privilege(
    rendered: dict[str, list[dict[str, Any]]], service_environments: dict[str, Any]
) -> None:
    objects = rendered["prod"]
    topics = _topics(objects)
    users = {u["metadata"]["name"]: u for u in find(objects, "KafkaUser")}
    assert set(users) == {f"feedback-{service}" for service in SERVICES}
    for service in SERVICES:
        user = users[f"feedback-{service}"]
        assert user["metadata"]["labels"]["strimzi.io/cluster"] == CLUSTER
        assert user["spec"]["authentication"]["type"] == "scram-sha-512"
        assert user["spec"]["authorization"]["type"] == "simple"
        granted: dict[tuple[str, str], set[str]] = {}
        for acl in user["spec"]["authorization"]["acls"]:
            resource = acl["resource"]
            assert resource.get("patternType", "literal") == "literal", f"{service}: no prefixes or wildcards"
            assert resource["name"] != "*"
            granted.setdefault((resource["type"], resource["name"]), set()).update(acl["operations"])
            if resource["type"] == "topic":
                assert resource["name"] in topics, f"{service}'s ACL names topic {resource['name']}, not a KafkaTopic"
        assert granted == ACLS[service], service
    # The groups in the ACLs are the ones the services use, and no others.
    for service, variables in GROUP_VARIABLES.items():
        groups = set()
        for variable in variables:
            group = _env(service_container(objects, service))[variable]["value"]
            assert service_environments[service].variables[variable].default == group
            groups.add(group)
        assert {name for kind, name in ACLS[service] if kind == "group"} == groups, service


def test_prod_services_reach_kafka_over_tls_as_their_own_user(rendered: dict[str, list[dict[str, Any]]]) -> None:
    objects = rendered["prod"]
    kafka = one(objects, "Kafka", CLUSTER)
    (listener,) = kafka["spec"]["kafka"]["listeners"]
    for service in SERVICES:
        deployment = one(objects, "Deployment", f"feedback-{service}")
        container = service_container(objects, service)
        env = _env(container)
        assert env["KAFKA_BOOTSTRAP_SERVERS"]["value"] == f"{CLUSTER}-kafka-bootstrap:{listener['port']}"
        assert env["KAFKA_SECURITY_PROTOCOL"]["value"] == "SASL_SSL"
        assert env["KAFKA_SASL_MECHANISM"]["value"] == "SCRAM-SHA-512"
        assert env["KAFKA_ENABLE_IDEMPOTENCE"]["value"] == "true"
        username = env["KAFKA_SASL_USERNAME"]["value"]
        assert one(objects, "KafkaUser", username) and username == f"feedback-{service}"
        assert env["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": username, "key": "password"}
        # The CA file is the cluster CA Secret's ca.crt, mounted read-only.
        cafile = PurePosixPath(env["KAFKA_SSL_CAFILE"]["value"])
        volumes = {v["name"]: v for v in _pod_spec(deployment)["volumes"]}
        mounts = [m for m in container["volumeMounts"] if cafile.parent == PurePosixPath(m["mountPath"])]
        assert len(mounts) == 1 and mounts[0].get("readOnly") is True
        secret = volumes[mounts[0]["name"]]["secret"]
        assert secret["secretName"] == f"{CLUSTER}-cluster-ca-cert"
        assert {"key": "ca.crt", "path": cafile.name} in secret["items"]


def test_dev_services_reach_kafka_in_plaintext(rendered: dict[str, list[dict[str, Any]]]) -> None:
    objects = rendered["dev"]
    (listener,) = one(objects, "Kafka", CLUSTER)["spec"]["kafka"]["listeners"]
    for service in SERVICES:
        env = _env(service_container(objects, service))
        assert env["KAFKA_BOOTSTRAP_SERVERS"]["value"] == f"{CLUSTER}-kafka-bootstrap:{listener['port']}"
        assert env.get("KAFKA_SECURITY_PROTOCOL", {"value": "PLAINTEXT"})["value"] == "PLAINTEXT"
        assert not {"KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD", "KAFKA_SSL_CAFILE"} & env.keys()
        assert one(objects, "Deployment", f"feedback-{service}")["spec"]["replicas"] == 1


# --- scaling and availability --------------------------------------------------------------------


def test_prod_autoscaling(rendered: dict[str, list[dict[str, Any]]]) -> None:
    objects = rendered["prod"]
    (hpa,) = find(objects, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "feedback-ingest"}
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    assert hpa["spec"]["minReplicas"] >= 2
    topics = _topics(objects)
    scaled = {s["spec"]["scaleTargetRef"]["name"]: s for s in find(objects, "ScaledObject")}
    assert set(scaled) == {"feedback-classify", "feedback-notify"}
    for service, topic in CONSUMES.items():
        deployment = one(objects, "Deployment", f"feedback-{service}")
        assert "replicas" not in deployment["spec"], "KEDA owns the replica count"
        env = _env(service_container(objects, service))
        obj = scaled[f"feedback-{service}"]
        (trigger,) = obj["spec"]["triggers"]
        assert trigger["type"] == "kafka"
        metadata = trigger["metadata"]
        assert metadata["topic"] == topic
        assert metadata["consumerGroup"] == env[GROUP_VARIABLE[service]]["value"]
        assert metadata["bootstrapServers"] == env["KAFKA_BOOTSTRAP_SERVERS"]["value"]
        assert metadata["sasl"] == "scram_sha512" and metadata["tls"] == "enable"
        # A group has at most one consumer per partition: more replicas would idle.
        assert obj["spec"]["maxReplicaCount"] == topics[topic]["spec"]["partitions"]
        assert str(metadata.get("allowIdleConsumers", "false")).lower() == "false"
        assert 1 <= obj["spec"]["minReplicaCount"] <= obj["spec"]["maxReplicaCount"]
        auth = one(objects, "TriggerAuthentication", trigger["authenticationRef"]["name"])
        parameters = {ref["parameter"]: ref for ref in auth["spec"]["secretTargetRef"]}
        assert parameters["password"]["name"] == env["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"]
        assert parameters["ca"] == {"parameter": "ca", "name": f"{CLUSTER}-cluster-ca-cert", "key": "ca.crt"}
        (username,) = auth["spec"]["env"]
        assert username["parameter"] == "username" and username["name"] == "KAFKA_SASL_USERNAME"
        assert username["containerName"] == service


def test_dev_runs_one_replica_without_autoscalers(rendered: dict[str, list[dict[str, Any]]]) -> None:
    objects = rendered["dev"]
    assert not find(objects, "HorizontalPodAutoscaler")
    assert not find(objects, "ScaledObject")
    for deployment in find(objects, "Deployment"):
        assert deployment["spec"]["replicas"] == 1


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_has_a_disruption_budget(overlay: str, rendered: dict[str, list[dict[str, Any]]]) -> None:
    objects = rendered[overlay]
    budgets = find(objects, "PodDisruptionBudget")
    for service in SERVICES:
        labels = _pod_labels(objects, service)
        matching = [b for b in budgets if _matches(b["spec"]["selector"], labels)]
        assert len(matching) == 1, service
        assert matching[0]["spec"].get("maxUnavailable") == 1


# --- the pods ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_workloads_run_locked_down(overlay: str, rendered: dict[str, list[dict[str, Any]]]) -> None:
    workloads = [o for o in rendered[overlay] if o["kind"] in ("Deployment", "StatefulSet")]
    for workload in workloads:
        name = workload["metadata"]["name"]
        pod = _pod_spec(workload)
        assert pod["automountServiceAccountToken"] is False, name
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"].get("runAsUser", 1) != 0, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        claims = {c["metadata"]["name"] for c in workload["spec"].get("volumeClaimTemplates", [])}
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            assert context.get("privileged", False) is False, name
            assert context["seccompProfile"] == {"type": "RuntimeDefault"}, name
            resources = container["resources"]
            assert resources["requests"].keys() >= {"cpu", "memory"}, name
            assert resources["limits"].keys() >= {"memory"}, name
            mounts = {m["mountPath"]: m for m in container.get("volumeMounts", [])}
            assert "/tmp" in mounts and "emptyDir" in volumes[mounts["/tmp"]["name"]], f"{name}: /tmp not writable"
            for mount in mounts.values():
                assert mount["name"] in volumes or mount["name"] in claims, f"{name}: no volume {mount['name']}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_have_probes_and_writable_data_dirs(overlay: str, rendered: dict[str, list[dict[str, Any]]]) -> None:
    objects = rendered[overlay]
    for service in SERVICES:
        deployment = one(objects, "Deployment", f"feedback-{service}")
        container = service_container(objects, service)
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports == {"http": 8000}
        assert container["image"].split("/")[-1].split(":")[0] == f"feedback-{service}"
        for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            get = container[probe]["httpGet"]
            assert get["path"] == path and get["port"] in ("http", 8000), f"{service} {probe}"
        assert _pod_spec(deployment)["serviceAccountName"] == f"feedback-{service}"
        # Files the service writes must be on a writable volume (the root filesystem is read-only).
        volumes = {v["name"]: v for v in _pod_spec(deployment)["volumes"]}
        writable = [
            PurePosixPath(m["mountPath"])
            for m in container["volumeMounts"]
            if "emptyDir" in volumes[m["name"]] and not m.get("readOnly")
        ]
        # A SQLite DATABASE_URL (sqlite:///relative or sqlite:////absolute) must point into one of them.
        url = container_environment(objects, container, lambda name: "placeholder").get("DATABASE_URL", "")
        if url.startswith("sqlite"):
            path = PurePosixPath(url.split(":///", 1)[1])
            assert path.is_absolute(), f"{service}: {url} is relative to the read-only working directory"
            assert any(path.is_relative_to(root) for root in writable), f"{service}: {path} is not writable"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_images_are_pinned(overlay: str, rendered: dict[str, list[dict[str, Any]]]) -> None:
    for workload in (o for o in rendered[overlay] if o["kind"] in ("Deployment", "StatefulSet")):
        for container in _pod_spec(workload)["containers"]:
            image = container["image"]
            tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else "latest"
            assert tag != "latest", f"{workload['metadata']['name']}: {image}"


def test_owners_yaml_in_the_kustomize_base_is_a_copy_of_the_example() -> None:
    copy_ = K8S / "base" / "owners.yaml"
    original = REPO / "config" / "owners.example.yaml"
    assert copy_.read_bytes() == original.read_bytes(), (
        f"{copy_.relative_to(REPO)} differs from {original.relative_to(REPO)}: "
        f"cp {original.relative_to(REPO)} {copy_.relative_to(REPO)}"
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_owners_directory_is_a_configmap_mounted_where_the_services_read_it(
    overlay: str, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    objects = rendered[overlay]
    example = (REPO / "config" / "owners.example.yaml").read_text()
    for service in ("classify", "notify", "workspace"):
        deployment = one(objects, "Deployment", f"feedback-{service}")
        container = service_container(objects, service)
        owners_file = PurePosixPath(_env(container)["OWNERS_FILE"]["value"])
        volumes = {v["name"]: v for v in _pod_spec(deployment)["volumes"]}
        (mount,) = [m for m in container["volumeMounts"] if PurePosixPath(m["mountPath"]) == owners_file.parent]
        config_map = one(objects, "ConfigMap", volumes[mount["name"]]["configMap"]["name"])
        assert config_map["metadata"]["name"].startswith("feedback-owners-"), "generated, with a content hash"
        assert config_map["data"][owners_file.name] == example
        yaml.safe_load(config_map["data"][owners_file.name])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_select_their_pods(overlay: str, rendered: dict[str, list[dict[str, Any]]]) -> None:
    objects = rendered[overlay]
    for service in SERVICES:
        svc = one(objects, "Service", f"feedback-{service}")
        assert _matches({"matchLabels": svc["spec"]["selector"]}, _pod_labels(objects, service))
        (port,) = svc["spec"]["ports"]
        assert port["name"] == "http" and port["targetPort"] in ("http", 8000)


def _secret_ref(container: dict[str, Any], variable: str) -> dict[str, str]:
    """The Secret and key a variable comes from, without the hash suffix of dev's secretGenerator."""
    ref = _env(container)[variable]["valueFrom"]["secretKeyRef"]
    return {"name": re.sub(r"-[a-z0-9]{10}$", "", ref["name"]), "key": ref["key"]}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_notify_keeps_its_state_in_postgres_and_shares_the_admin_tokens(
    overlay: str, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    objects = rendered[overlay]
    notify = service_container(objects, "notify")
    env = _env(notify)
    assert "NOTIFY_DELIVERY_DB" not in env
    assert _secret_ref(notify, "DATABASE_URL") == {"name": "feedback-notify-database", "key": "url"}
    assert _secret_ref(notify, "ADMIN_API_TOKENS") == _secret_ref(
        service_container(objects, "ingest"), "ADMIN_API_TOKENS"
    )
    assert _secret_ref(notify, "WEBHOOK_SECRET") == {"name": "feedback-notify-webhook", "key": "secret"}
    # Stateless apart from PostgreSQL: nothing writable but /tmp.
    volumes = {v["name"]: v for v in _pod_spec(one(objects, "Deployment", "feedback-notify"))["volumes"]}
    writable = [m["mountPath"] for m in notify["volumeMounts"] if not m.get("readOnly")]
    assert writable == ["/tmp"], writable
    assert [name for name, v in volumes.items() if "emptyDir" in v] == ["tmp"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_workspace_keeps_its_items_in_postgres_and_shares_its_secret_and_address_with_notify(
    overlay: str, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    objects = rendered[overlay]
    workspace, notify = service_container(objects, "workspace"), service_container(objects, "notify")
    assert _secret_ref(workspace, "DATABASE_URL") == {"name": "feedback-workspace-database", "key": "url"}
    assert _env(workspace)["WORKSPACE_MIGRATE_ON_START"]["value"] == "true"
    # notify signs the alerts' links with the secret the workspace checks them with, for the address and the
    # lifetime the workspace uses: one Secret, one ConfigMap.
    assert _secret_ref(workspace, "WORKSPACE_SECRET") == {"name": "feedback-workspace-secret", "key": "secret"}
    assert _secret_ref(notify, "WORKSPACE_SECRET") == _secret_ref(workspace, "WORKSPACE_SECRET")
    for variable in ("WORKSPACE_BASE_URL", "WORKSPACE_LINK_DAYS"):
        assert "configMapKeyRef" in _env(workspace)[variable]["valueFrom"], variable
        assert _env(notify)[variable]["valueFrom"] == _env(workspace)[variable]["valueFrom"], variable
    # Stateless apart from PostgreSQL: nothing writable but /tmp.
    volumes = {v["name"]: v for v in _pod_spec(one(objects, "Deployment", "feedback-workspace"))["volumes"]}
    writable = [m["mountPath"] for m in workspace["volumeMounts"] if not m.get("readOnly")]
    assert writable == ["/tmp"], writable
    assert [name for name, v in volumes.items() if "emptyDir" in v] == ["tmp"]


def test_prod_workspace_signs_people_in_with_openid_connect(rendered: dict[str, list[dict[str, Any]]]) -> None:
    workspace = service_container(rendered["prod"], "workspace")
    env = _env(workspace)
    assert env["OIDC_ISSUER"]["value"].startswith("https://")
    assert env["OIDC_CLIENT_ID"]["value"]
    assert _secret_ref(workspace, "OIDC_CLIENT_SECRET") == {"name": "feedback-workspace-oidc", "key": "client-secret"}
    # Secure session cookies: the default, and nothing turns it off.
    assert env.get("WORKSPACE_SECURE_COOKIES", {"value": "true"})["value"] == "true"


def test_dev_workspace_uses_the_throwaway_postgres_and_links_through_a_port_forward(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    objects = rendered["dev"]
    workspace = service_container(objects, "workspace")
    env = container_environment(objects, workspace, lambda name: pytest.fail(f"dev has no value for {name}"))
    assert env["DATABASE_URL"] == "postgresql://feedback:dev-only-password@feedback-postgres:5432/workspace"
    assert env["WORKSPACE_SECRET"] and env["WORKSPACE_BASE_URL"] == "http://localhost:8003"
    assert not {"OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET"} & env.keys()
    postgres = one(objects, "StatefulSet", "feedback-postgres")
    init_volume = next(v for v in _pod_spec(postgres)["volumes"] if v["name"] == "init")
    init = one(objects, "ConfigMap", init_volume["configMap"]["name"])
    assert any("CREATE DATABASE workspace" in sql for sql in init["data"].values())
    policy = one(objects, "NetworkPolicy", "feedback-postgres")
    admitted = [peer for rule in policy["spec"]["ingress"] for peer in rule["from"]]
    assert any(_matches(peer["podSelector"], _pod_labels(objects, "workspace")) for peer in admitted)


def test_prod_notify_mails_over_starttls_with_credentials_and_links_statements(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    objects = rendered["prod"]
    notify = service_container(objects, "notify")
    env = _env(notify)
    assert env["SMTP_SECURITY"]["value"] == "starttls"
    for variable, key in (
        ("SMTP_HOST", "host"),
        ("SMTP_PORT", "port"),
        ("SMTP_USERNAME", "username"),
        ("SMTP_PASSWORD", "password"),
    ):
        assert _secret_ref(notify, variable) == {"name": "feedback-smtp", "key": key}, variable
    # The alerts link to the statement in the workspace, at the host of its Ingress, over https.
    url = container_environment(objects, notify, lambda name: "placeholder")["WORKSPACE_BASE_URL"]
    assert url.startswith("https://") and not url.endswith("/")
    assert urlsplit(url).hostname == _ingress_host(one(objects, "Ingress", "feedback-workspace"))
    assert "STATEMENT_BASE_URL" not in env, "with the workspace configured notify ignores it"


def test_dev_notify_uses_the_throwaway_postgres(rendered: dict[str, list[dict[str, Any]]]) -> None:
    objects = rendered["dev"]
    notify = service_container(objects, "notify")
    env = container_environment(objects, notify, lambda name: pytest.fail(f"dev has no value for {name}"))
    assert env["DATABASE_URL"] == "postgresql://feedback:dev-only-password@feedback-postgres:5432/notify"
    assert env["ADMIN_API_TOKENS"] and env["WEBHOOK_SECRET"]
    assert "SMTP_USERNAME" not in env and env.get("SMTP_SECURITY", "none") == "none"
    # The `notify` database exists (created on first start), and its NetworkPolicy admits notify.
    postgres = one(objects, "StatefulSet", "feedback-postgres")
    init_volume = next(v for v in _pod_spec(postgres)["volumes"] if v["name"] == "init")
    init = one(objects, "ConfigMap", init_volume["configMap"]["name"])
    assert any("CREATE DATABASE notify" in sql for sql in init["data"].values())
    policy = one(objects, "NetworkPolicy", "feedback-postgres")
    admitted = [peer for rule in policy["spec"]["ingress"] for peer in rule["from"]]
    assert any(_matches(peer["podSelector"], _pod_labels(objects, "notify")) for peer in admitted)


def test_classify_keeps_routings_and_corrections_in_postgres(rendered: dict[str, list[dict[str, Any]]]) -> None:
    prod = service_container(rendered["prod"], "classify")
    assert _secret_ref(prod, "DATABASE_URL") == {"name": "feedback-classify-database", "key": "url"}
    objects = rendered["dev"]
    classify = service_container(objects, "classify")
    env = container_environment(objects, classify, lambda name: pytest.fail(f"dev has no value for {name}"))
    assert env["DATABASE_URL"] == "postgresql://feedback:dev-only-password@feedback-postgres:5432/classify"
    # The `classify` database exists (created on first start), and its NetworkPolicy admits classify.
    postgres = one(objects, "StatefulSet", "feedback-postgres")
    init_volume = next(v for v in _pod_spec(postgres)["volumes"] if v["name"] == "init")
    init = one(objects, "ConfigMap", init_volume["configMap"]["name"])
    assert any("CREATE DATABASE classify" in sql for sql in init["data"].values())
    policy = one(objects, "NetworkPolicy", "feedback-postgres")
    admitted = [peer for rule in policy["spec"]["ingress"] for peer in rule["from"]]
    assert any(_matches(peer["podSelector"], _pod_labels(objects, "classify")) for peer in admitted)


def test_no_secret_values_are_committed_for_prod(rendered: dict[str, list[dict[str, Any]]]) -> None:
    assert not find(rendered["prod"], "Secret")
    for secret in find(rendered["dev"], "Secret"):
        text = yaml.safe_dump(secret)
        assert "example.org" not in text


# --- network policies --------------------------------------------------------------------------------


def _policies_selecting(objects: list[dict[str, Any]], labels: dict[str, str]) -> list[dict[str, Any]]:
    return [p for p in find(objects, "NetworkPolicy") if _matches(p["spec"]["podSelector"], labels)]


def _is_prometheus(peer: dict[str, Any]) -> bool:
    namespace = (peer.get("namespaceSelector") or {}).get("matchLabels", {})
    pod = (peer.get("podSelector") or {}).get("matchLabels", {})
    return namespace.get("kubernetes.io/metadata.name") == "monitoring" and pod.get("app.kubernetes.io/name") == (
        "prometheus"
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_deny_by_default(overlay: str, rendered: dict[str, list[dict[str, Any]]]) -> None:
    objects = rendered[overlay]
    deny = [
        p
        for p in find(objects, "NetworkPolicy")
        if p["spec"]["podSelector"] == {}
        and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    assert deny, "no default-deny policy"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_ingest_and_the_workspace_take_traffic_from_outside_the_namespace(
    overlay: str, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    objects = rendered[overlay]
    exposed = [_pod_labels(objects, service) for service in EXPOSED]
    for policy in find(objects, "NetworkPolicy"):
        for rule in policy["spec"].get("ingress", []):
            assert rule.get("from"), f"{policy['metadata']['name']}: an ingress rule without `from` admits everyone"
            for peer in rule["from"]:
                assert "ipBlock" not in peer, policy["metadata"]["name"]
                if "namespaceSelector" in peer and not _is_prometheus(peer):
                    selector = policy["spec"]["podSelector"]
                    assert selector and any(_matches(selector, labels) for labels in exposed), (
                        f"{policy['metadata']['name']} admits another namespace to pods other than ingest and the "
                        "workspace"
                    )
                    # Only the ingress controller's namespace, only its pods' port.
                    assert peer["namespaceSelector"] == {
                        "matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}
                    }, policy["metadata"]["name"]
                    assert rule["ports"] == [{"protocol": "TCP", "port": 8000}], policy["metadata"]["name"]
    # ingest and the workspace: from the ingress controller; all four: from Prometheus, on the metrics port.
    for service in SERVICES:
        peers = [
            (peer, rule.get("ports", []))
            for p in _policies_selecting(objects, _pod_labels(objects, service))
            for rule in p["spec"].get("ingress", [])
            for peer in rule["from"]
        ]
        assert any(_is_prometheus(peer) and {"protocol": "TCP", "port": 8000} in ports for peer, ports in peers)
        outside = [peer for peer, _ in peers if "namespaceSelector" in peer and not _is_prometheus(peer)]
        assert bool(outside) == (service in EXPOSED), service


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_may_reach_kafka_and_dns(overlay: str, rendered: dict[str, list[dict[str, Any]]]) -> None:
    objects = rendered[overlay]
    broker_labels = {"strimzi.io/cluster": CLUSTER, "strimzi.io/kind": "Kafka", "strimzi.io/name": f"{CLUSTER}-kafka"}
    (listener,) = one(objects, "Kafka", CLUSTER)["spec"]["kafka"]["listeners"]
    for service in SERVICES:
        labels = _pod_labels(objects, service)
        egress = [rule for p in _policies_selecting(objects, labels) for rule in p["spec"].get("egress", [])]
        kafka = [
            rule
            for rule in egress
            if any(
                "podSelector" in peer and _matches(peer["podSelector"], broker_labels) for peer in rule.get("to", [])
            )
        ]
        assert any({"protocol": "TCP", "port": listener["port"]} in rule["ports"] for rule in kafka), service
        dns = [rule for rule in egress if {"protocol": "UDP", "port": 53} in rule.get("ports", [])]
        assert dns, f"{service} cannot resolve names"
        # The Kafka listener admits the service (Strimzi writes that policy from networkPolicyPeers).
        peers = listener["networkPolicyPeers"]
        assert any("podSelector" in peer and _matches(peer["podSelector"], labels) for peer in peers), service


def test_notify_may_reach_mail_and_postgres_and_the_workspace_its_oidc_provider(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    objects = rendered["prod"]

    def ports(service: str) -> set[int]:
        policies = _policies_selecting(objects, _pod_labels(objects, service))
        return {
            port["port"] for p in policies for rule in p["spec"].get("egress", []) for port in rule.get("ports", [])
        }

    assert {25, 465, 587, 443, 5432} <= ports("notify")
    assert 5432 in ports("ingest")
    assert not {25, 465, 587, 443} & ports("classify")
    assert 5432 in ports("classify")
    assert {5432, 443} <= ports("workspace")
    assert not {25, 465, 587} & ports("workspace")


# --- monitoring ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_prometheus_scrapes_the_four_services(overlay: str, rendered: dict[str, list[dict[str, Any]]]) -> None:
    objects = rendered[overlay]
    monitors = find(objects, "ServiceMonitor")
    for service in SERVICES:
        svc = one(objects, "Service", f"feedback-{service}")
        matching = [m for m in monitors if _matches(m["spec"]["selector"], svc["metadata"]["labels"])]
        assert len(matching) == 1, service
        (endpoint,) = matching[0]["spec"]["endpoints"]
        assert endpoint["port"] in {p["name"] for p in svc["spec"]["ports"]}
        assert endpoint.get("path", "/metrics") == "/metrics"
    rule = one(objects, "PrometheusRule", "feedback-pipeline")
    assert rule["spec"]["groups"] and all(group["rules"] for group in rule["spec"]["groups"])


def _ingress_host(ingress: dict[str, Any]) -> str:
    (rule,) = ingress["spec"]["rules"]
    return rule["host"]


def _backends(ingress: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (path["path"], path["pathType"], path["backend"]["service"]["name"])
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }


def _routed(ingress: dict[str, Any], request_path: str) -> bool:
    """Whether the Ingress sends `request_path` to a backend (Kubernetes' Exact and Prefix matching: a prefix
    matches whole path elements, `/kohteet` matches `/kohteet/1` but not `/kohteetx`)."""
    for path, path_type, _ in _backends(ingress):
        if path_type == "Exact" and request_path == path:
            return True
        if path_type == "Prefix":
            prefix = [part for part in path.split("/") if part]
            if [part for part in request_path.split("/") if part][: len(prefix)] == prefix:
                return True
    return False


def test_prod_exposes_only_the_ingest_api_and_the_workspace(rendered: dict[str, list[dict[str, Any]]]) -> None:
    objects = rendered["prod"]
    ingresses = {i["metadata"]["name"]: i for i in find(objects, "Ingress")}
    assert set(ingresses) == {"feedback-ingest", "feedback-workspace"}
    assert _backends(ingresses["feedback-ingest"]) == {("/v1/", "Prefix", "feedback-ingest")}
    assert {name for _, _, name in _backends(ingresses["feedback-workspace"])} == {"feedback-workspace"}
    hosts = set()
    for ingress in ingresses.values():
        host = _ingress_host(ingress)
        (tls,) = ingress["spec"]["tls"]
        assert tls["hosts"] == [host] and tls["secretName"], ingress["metadata"]["name"]
        hosts.add(host)
        for path in (p for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]):
            assert path["backend"]["service"]["port"] == {"name": "http"}
    assert len(hosts) == 2, "each on its own host"
    # The workspace's address (where its links and OIDC callback point) is its Ingress host, over https.
    url = container_environment(objects, service_container(objects, "workspace"), lambda name: "placeholder")
    assert url["WORKSPACE_BASE_URL"] == f"https://{_ingress_host(ingresses['feedback-workspace'])}"
    annotations = ingresses["feedback-workspace"]["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/ssl-redirect"] == "true"


def _app_paths(routes: list[Any], prefix: str = "") -> set[str]:
    """The paths of a FastAPI app's routes, included routers and mounts (a mount as `<path>/x`)."""
    paths: set[str] = set()
    for route in routes:
        if hasattr(route, "original_router"):  # FastAPI's included router
            context = getattr(route, "include_context", None)
            paths |= _app_paths(route.original_router.routes, prefix + (getattr(context, "prefix", "") or ""))
        elif hasattr(route, "routes") and not hasattr(route, "methods"):  # a mount (static files) or a router
            paths.add(prefix + route.path + "/x")
        else:
            paths.add(prefix + route.path)
    return {re.sub(r"\{[^}]+\}", "1", path) for path in paths}


def test_the_workspace_ingress_routes_every_page_and_nothing_internal(
    rendered: dict[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    from feedback_workspace.app import create_app
    from feedback_workspace.settings import WorkspaceSettings

    settings = WorkspaceSettings(
        workspace_secret="test-secret",
        database_url=f"sqlite+aiosqlite:///{tmp_path}/workspace.sqlite3",
        owners_file=REPO / "config" / "owners.example.yaml",
    )
    app = create_app(settings, configure_logs=False)
    paths = _app_paths(app.routes)
    assert {"/", "/saapuneet", "/kirjaudu", "/toimisto", "/static/x"} | WORKSPACE_INTERNAL <= paths, paths
    ingress = one(rendered["prod"], "Ingress", "feedback-workspace")
    unrouted = sorted(path for path in paths - WORKSPACE_INTERNAL if not _routed(ingress, path))
    assert not unrouted, f"pages of the workspace its Ingress does not route: {unrouted}"
    exposed = sorted(path for path in WORKSPACE_INTERNAL | {"/docs", "/openapi.json"} if _routed(ingress, path))
    assert not exposed, f"the workspace's Ingress exposes {exposed}"


def test_prod_runs_two_workspace_replicas_without_an_autoscaler(rendered: dict[str, list[dict[str, Any]]]) -> None:
    objects = rendered["prod"]
    deployment = one(objects, "Deployment", "feedback-workspace")
    assert deployment["spec"]["replicas"] >= 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    targets = [o["spec"]["scaleTargetRef"]["name"] for o in find(objects, "HorizontalPodAutoscaler")]
    targets += [o["spec"]["scaleTargetRef"]["name"] for o in find(objects, "ScaledObject")]
    assert "feedback-workspace" not in targets

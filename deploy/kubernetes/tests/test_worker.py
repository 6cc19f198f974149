"""The erp-worker objects of each overlay against docs/contract.md §14."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import Rendered

# DNS, PostgreSQL (and PgBouncer), Redis and SMTP submission: nothing else goes out (§14).
WORKER_EGRESS_PORTS = {53, 5432, 6432, 6379, 587}


def test_the_worker_runs_the_api_image_with_its_own_command(rendered: Rendered) -> None:
    assert rendered.worker["command"] == ["erp-worker", "run"]
    assert rendered.worker["image"] == rendered.api["image"]


def test_probes_use_the_worker_health_port(rendered: Rendered) -> None:
    worker = rendered.worker
    config = rendered.one("ConfigMap", "erp-worker")["data"]
    (health,) = (p["containerPort"] for p in worker["ports"] if p["name"] == "health")
    assert health == int(config["WORKER_HEALTH_PORT"])
    assert worker["livenessProbe"]["httpGet"] == {"path": "/healthz/live", "port": "health"}
    assert worker["startupProbe"]["httpGet"] == {"path": "/healthz/live", "port": "health"}
    assert worker["readinessProbe"]["httpGet"] == {"path": "/healthz/ready", "port": "health"}


def test_grace_period_covers_the_drain(rendered: Rendered) -> None:
    shutdown = float(rendered.config["SHUTDOWN_TIMEOUT_S"])
    assert rendered.worker_pod["spec"]["terminationGracePeriodSeconds"] > shutdown


def test_budget_and_policy_select_the_worker_pods(rendered: Rendered) -> None:
    labels = rendered.worker_pod["metadata"]["labels"].items()
    budget = rendered.one("PodDisruptionBudget", "erp-worker")["spec"]
    policy = rendered.one("NetworkPolicy", "erp-worker")["spec"]
    assert budget["maxUnavailable"] == 1
    assert budget["selector"]["matchLabels"].items() <= labels
    assert policy["podSelector"]["matchLabels"].items() <= labels


def test_network_policy_lets_out_only_dns_postgresql_redis_and_smtp(rendered: Rendered) -> None:
    policy = rendered.one("NetworkPolicy", "erp-worker")["spec"]
    assert sorted(policy["policyTypes"]) == ["Egress", "Ingress"]
    ports = set()
    for rule in policy["egress"]:
        assert rule["ports"], rule  # a rule without ports opens every port
        ports |= {port["port"] for port in rule["ports"]}
    assert ports == WORKER_EGRESS_PORTS
    smtp_port = int(rendered.one("ConfigMap", "erp-worker")["data"]["SMTP_PORT"])
    assert smtp_port in ports
    ingress = {port["port"] for rule in policy["ingress"] for port in rule["ports"]}
    assert ingress == {"health", "metrics"}


def test_worker_pod_security_is_restricted(rendered: Rendered) -> None:
    spec = rendered.worker_pod["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["enableServiceLinks"] is False
    assert spec["automountServiceAccountToken"] is False
    context = rendered.worker["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    assert rendered.worker["resources"]["limits"]


def test_worker_secrets_come_from_the_secret(rendered: Rendered) -> None:
    for variable in rendered.worker["env"]:
        assert "value" not in variable, variable["name"]
        assert variable["valueFrom"]["secretKeyRef"]["name"] == "erp-api"

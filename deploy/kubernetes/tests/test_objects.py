"""The objects around the pod: Service, budget, autoscaler, network policy, secrets."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import Rendered

# Settings of docs/contract.md §2 that hold secrets, and any name that looks like one.
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|_KEY$|^DATABASE_URL$|^APP_CACHE_REDIS_URL$")
# DNS, PostgreSQL (and PgBouncer's usual port), Redis: nothing else goes out (§11).
ALLOWED_EGRESS_PORTS = {53, 5432, 6432, 6379}


def test_every_object_of_contract_section_11_is_rendered(rendered: Rendered) -> None:
    kinds = {obj["kind"] for obj in rendered.objects}
    assert kinds == {
        "ConfigMap",
        "Deployment",
        "HorizontalPodAutoscaler",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "Service",
        "ServiceAccount",
    }


def test_every_object_is_in_the_overlay_namespace(rendered: Rendered) -> None:
    namespaces = {obj["metadata"].get("namespace") for obj in rendered.objects}
    assert namespaces == {"erp-dev" if rendered.overlay == "development" else "erp"}


def test_selectors_match_the_pod_labels(rendered: Rendered) -> None:
    labels = rendered.pod["metadata"]["labels"].items()
    selectors = {
        "Deployment": rendered.one("Deployment")["spec"]["selector"]["matchLabels"],
        "Service": rendered.one("Service")["spec"]["selector"],
        "PodDisruptionBudget": rendered.one("PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
        "NetworkPolicy": rendered.one("NetworkPolicy")["spec"]["podSelector"]["matchLabels"],
    }
    for kind, selector in selectors.items():
        assert selector, kind
        assert selector.items() <= labels, kind


def test_service_ports_name_container_ports(rendered: Rendered) -> None:
    targets = {port["name"]: port["targetPort"] for port in rendered.one("Service")["spec"]["ports"]}
    assert targets == {"http": "http", "metrics": "metrics"}
    assert rendered.container_port("http") == 8000


def test_autoscaler_scales_the_deployment_and_the_budget_keeps_it_serving(rendered: Rendered) -> None:
    hpa = rendered.one("HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "erp-api"}
    assert 1 <= hpa["minReplicas"] <= hpa["maxReplicas"]
    assert rendered.one("PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    if rendered.overlay == "production":
        # One pod may be drained while another rolls: two must remain.
        assert hpa["minReplicas"] >= 3


def test_network_policy_lets_out_only_dns_postgresql_and_redis(rendered: Rendered) -> None:
    policy = rendered.one("NetworkPolicy")["spec"]
    assert sorted(policy["policyTypes"]) == ["Egress", "Ingress"]
    for rule in policy["egress"]:
        # A rule without ports would open every port of its destinations.
        assert rule["ports"], rule
        assert {port["port"] for port in rule["ports"]} <= ALLOWED_EGRESS_PORTS, rule


def test_network_policy_lets_in_only_the_http_and_metrics_ports(rendered: Rendered) -> None:
    policy = rendered.one("NetworkPolicy")["spec"]
    ports = {port["port"] for rule in policy["ingress"] for port in rule["ports"]}
    assert ports == {"http", "metrics"}
    if rendered.overlay == "production":
        (metrics,) = (rule for rule in policy["ingress"] if rule["ports"][0]["port"] == "metrics")
        assert metrics["from"], "production: only the monitoring namespace scrapes"


def test_no_secret_value_is_rendered(rendered: Rendered) -> None:
    assert not rendered.all("Secret"), "the operator creates the Secret; the repository holds none"
    for key, value in rendered.config.items():
        assert not SECRET_NAME.search(key), f"{key} belongs in the Secret"
        assert not re.search(r"://[^/@\s]*:[^/@\s]*@", value), f"{key} carries credentials"
    spec = rendered.pod["spec"]
    for container in [*spec["initContainers"], *spec["containers"]]:
        for variable in container.get("env", []):
            if SECRET_NAME.search(variable["name"]):
                assert "value" not in variable, variable["name"]
                assert variable["valueFrom"]["secretKeyRef"]["name"] == "erp-api", variable["name"]


def test_the_secret_holds_what_the_service_requires(rendered: Rendered) -> None:
    # DATABASE_URL always; JWT_SECRET_KEY in staging and production (docs/contract.md §2).
    referenced = {
        variable["name"]: variable["valueFrom"]["secretKeyRef"]
        for variable in rendered.api["env"]
        if "secretKeyRef" in variable.get("valueFrom", {})
    }
    assert not referenced["DATABASE_URL"].get("optional", False)
    assert not referenced["JWT_SECRET_KEY"].get("optional", False)

"""The erp-api pod of each overlay against docs/contract.md §4, §8 and §11."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import Rendered

# The pod's scratch directory (an emptyDir), not a file that this test makes.
TMP = "/tmp"  # noqa: S108


def all_containers(rendered: Rendered) -> list[dict]:
    spec = rendered.pod["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def test_startup_and_liveness_probe_live_and_readiness_probes_ready(rendered: Rendered) -> None:
    api = rendered.api
    for probe, path in (
        ("startupProbe", "/healthz/live"),
        ("livenessProbe", "/healthz/live"),
        ("readinessProbe", "/healthz/ready"),
    ):
        assert api[probe]["httpGet"]["path"] == path, probe
        assert rendered.container_port(api[probe]["httpGet"]["port"]) == 8000, probe


def test_readiness_probe_waits_longer_than_the_health_check_bound(rendered: Rendered) -> None:
    # /healthz/ready answers within HEALTH_CHECK_TIMEOUT_S even when a dependency
    # hangs (§4): the probe must wait for that answer, not time out first.
    bound = float(rendered.config["HEALTH_CHECK_TIMEOUT_S"])
    assert rendered.api["readinessProbe"]["timeoutSeconds"] > bound


def test_grace_period_covers_pre_stop_pause_and_shutdown_timeout(rendered: Rendered) -> None:
    pause = rendered.api["lifecycle"]["preStop"]["sleep"]["seconds"]
    shutdown = math.ceil(float(rendered.config["SHUTDOWN_TIMEOUT_S"]))
    assert pause >= 5, "too short for the endpoint removal to reach the load balancers"
    assert rendered.pod["spec"]["terminationGracePeriodSeconds"] >= shutdown + pause + 5


def test_migrations_run_in_an_init_container_of_the_same_image(rendered: Rendered) -> None:
    (migrate,) = rendered.pod["spec"]["initContainers"]
    assert migrate["command"] == ["erp-db", "upgrade"]
    assert migrate["image"] == rendered.api["image"]
    assert rendered.api["command"][:2] == ["erp-api", "serve"]


def test_pod_security_is_restricted(rendered: Rendered) -> None:
    pod = rendered.pod["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    for container in all_containers(rendered):
        context = container["securityContext"]
        assert context["runAsNonRoot"] is True, container["name"]
        assert context["runAsUser"] >= 10000, container["name"]
        assert context["allowPrivilegeEscalation"] is False, container["name"]
        assert context["readOnlyRootFilesystem"] is True, container["name"]
        assert context["capabilities"] == {"drop": ["ALL"]}, container["name"]
        assert context.get("privileged", False) is False, container["name"]
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}, container["name"]


def test_tmp_is_the_only_writable_path(rendered: Rendered) -> None:
    volumes = {volume["name"]: volume for volume in rendered.pod["spec"]["volumes"]}
    for container in all_containers(rendered):
        writable = {
            mount["mountPath"]: volumes[mount["name"]]
            for mount in container.get("volumeMounts", [])
            if not mount.get("readOnly", False)
        }
        assert list(writable) == [TMP], container["name"]
        assert "emptyDir" in writable[TMP], container["name"]


def test_service_links_are_off(rendered: Rendered) -> None:
    # A Service named `redis` would otherwise set REDIS_PORT=tcp://…:6379 in the pod.
    assert rendered.pod["spec"]["enableServiceLinks"] is False


def test_every_container_has_requests_and_limits(rendered: Rendered) -> None:
    for container in all_containers(rendered):
        for bound in ("requests", "limits"):
            assert set(container["resources"][bound]) >= {"cpu", "memory"}, (container["name"], bound)


def test_config_map_reference_resolves_to_the_generated_one(rendered: Rendered) -> None:
    name = rendered.one("ConfigMap")["metadata"]["name"]
    for container in all_containers(rendered):
        assert container["envFrom"] == [{"configMapRef": {"name": name}}], container["name"]


def test_metrics_port_is_the_configured_one(rendered: Rendered) -> None:
    assert rendered.container_port("metrics") == int(rendered.config["METRICS_PORT"])


def test_rollout_never_drops_below_the_wanted_ready_count(rendered: Rendered) -> None:
    deployment = rendered.one("Deployment")["spec"]
    assert deployment["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert "replicas" not in deployment, "the HorizontalPodAutoscaler owns the count"


def test_images_are_pinned_to_the_service_version(rendered: Rendered, service_version: str) -> None:
    # A tag or a digest, never `latest` nor no tag (which means `latest`).
    for container in all_containers(rendered):
        image = container["image"]
        if "@sha256:" in image:
            continue
        _, _, tag = image.rpartition(":")
        assert tag == service_version, f"{image}: tag it with the release, {service_version}"


def test_production_always_pulls(production: Rendered) -> None:
    for container in all_containers(production):
        assert container["imagePullPolicy"] == "Always", container["name"]

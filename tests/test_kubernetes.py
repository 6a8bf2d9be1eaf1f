"""deploy/kubernetes: every manifest parses, validates against the Kubernetes API schemas (strict:
unknown fields are errors), builds with kustomize, and says what the service needs: probes on the health
endpoints, a hardened pod, resources, writable emptyDirs, and only settings that exist."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any

import kubernetes_validate
import pytest
import yaml
from ops_support import REPO_ROOT

from service.cli import GRACEFUL_SHUTDOWN_SECONDS
from service.health import READINESS_TIMEOUT_SECONDS
from service.health import router as health_router
from service.security.trusted_clients import parse_trusted_clients
from service.settings import Settings

MANIFESTS = REPO_ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.30"  # the oldest minor the manifests promise to work on
EXPECTED_KINDS = {
    "ConfigMap": "v1",
    "Secret": "v1",
    "Deployment": "apps/v1",
    "Service": "v1",
    "HorizontalPodAutoscaler": "autoscaling/v2",
    "PodDisruptionBudget": "policy/v1",
    "Job": "batch/v1",
    "NetworkPolicy": "networking.k8s.io/v1",
}
NON_SETTING_ENV = {"PROMETHEUS_MULTIPROC_DIR"}
DOCKERFILE_USER = re.compile(r"^USER\s+(\d+)(?::(\d+))?\s*$", re.MULTILINE)


# Not the service: the reviewers' offline burden run, applied on its own (kubectl apply -f).
SEPARATE_MANIFESTS = {"burden-job.yaml"}
BURDEN_JOB = MANIFESTS / "burden-job.yaml"


def manifest_files() -> list[Path]:
    return sorted(
        path
        for path in MANIFESTS.glob("*.yaml")
        if path.name != "kustomization.yaml" and path.name not in SEPARATE_MANIFESTS
    )


def documents() -> list[dict[str, Any]]:
    found = []
    for path in manifest_files():
        found.extend(
            document for document in yaml.safe_load_all(path.read_text(encoding="utf-8")) if document
        )
    return found


def one(kind: str) -> dict[str, Any]:
    (document,) = [document for document in documents() if document["kind"] == kind]
    return document


def pod_spec() -> dict[str, Any]:
    spec: dict[str, Any] = one("Deployment")["spec"]["template"]["spec"]
    return spec


def container() -> dict[str, Any]:
    (main,) = pod_spec()["containers"]
    return dict(main)


def config_env() -> dict[str, str]:
    """The environment the container gets: ConfigMap (envFrom) plus explicit env with literal values."""
    env = {name: str(value) for name, value in one("ConfigMap")["data"].items()}
    for item in container().get("env", []):
        if "value" in item:
            env[item["name"]] = str(item["value"])
    return env


def env_names() -> set[str]:
    names = set(one("ConfigMap")["data"])
    names.update(item["name"] for item in container().get("env", []))
    return names


# --- the files ---------------------------------------------------------------------------------------


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text(encoding="utf-8"))
    assert kustomization["kind"] == "Kustomization"
    assert sorted(kustomization["resources"]) == [path.name for path in manifest_files()]


def test_manifests_have_the_expected_kinds_and_api_versions() -> None:
    kinds = {document["kind"]: document["apiVersion"] for document in documents()}
    assert kinds == EXPECTED_KINDS
    assert len(documents()) == len(EXPECTED_KINDS)


@pytest.mark.parametrize("kind", sorted(EXPECTED_KINDS))
def test_manifest_validates_against_the_kubernetes_schema(kind: str) -> None:
    kubernetes_validate.validate(one(kind), KUBERNETES_VERSION, strict=True)


def test_schema_validation_rejects_a_misspelt_field() -> None:
    broken = yaml.safe_load(yaml.safe_dump(one("Deployment")))
    broken["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {"httpGet": {"path": "/"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_kustomize_builds_the_manifests_with_the_configured_image() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the kustomize build is not checked (schemas still are)")
    result = subprocess.run(
        [kubectl, "kustomize", str(MANIFESTS)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    built = [document for document in yaml.safe_load_all(result.stdout) if document]
    assert {document["kind"] for document in built} == set(EXPECTED_KINDS)
    (deployment,) = [document for document in built if document["kind"] == "Deployment"]
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "registry.example.org/immuno-cds:0.1.0"


# --- the pod -----------------------------------------------------------------------------------------


def _probe_target(probe: dict[str, Any]) -> tuple[str, int]:
    get = probe["httpGet"]
    port = get["port"]
    if isinstance(port, str):
        (port,) = [p["containerPort"] for p in container()["ports"] if p["name"] == port]
    return get["path"], int(port)


def test_probes_call_the_health_endpoints_on_the_port_the_service_listens_on() -> None:
    main = container()
    listening = int(config_env()["CDS_PORT"])
    assert _probe_target(main["livenessProbe"]) == ("/health/live", listening)
    assert _probe_target(main["startupProbe"]) == ("/health/live", listening)
    assert _probe_target(main["readinessProbe"]) == ("/health/ready", listening)
    served = {route.path for route in health_router.routes}  # type: ignore[attr-defined]
    assert {"/health/live", "/health/ready"} <= served


def test_startup_probe_allows_for_slow_worker_start() -> None:
    probe = container()["startupProbe"]
    assert probe["periodSeconds"] * probe["failureThreshold"] >= 60


def test_readiness_probe_timeout_exceeds_the_services_own_database_timeout() -> None:
    assert container()["readinessProbe"]["timeoutSeconds"] > READINESS_TIMEOUT_SECONDS


def test_the_container_is_hardened() -> None:
    security = container()["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert "add" not in security["capabilities"]
    assert security["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod_spec()["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod_spec()["automountServiceAccountToken"] is False


def test_the_pod_runs_as_the_images_user() -> None:
    match = DOCKERFILE_USER.search((REPO_ROOT / "Dockerfile").read_text(encoding="utf-8"))
    assert match is not None
    security = pod_spec()["securityContext"]
    assert security["runAsUser"] == int(match.group(1))
    assert security["runAsGroup"] == int(match.group(2) or match.group(1))


def test_resources_have_requests_and_limits_for_cpu_and_memory() -> None:
    resources = container()["resources"]
    for section in ("requests", "limits"):
        assert set(resources[section]) == {"cpu", "memory"}


def _mounts() -> dict[str, PurePosixPath]:
    return {mount["name"]: PurePosixPath(mount["mountPath"]) for mount in container()["volumeMounts"]}


def _empty_dirs() -> set[str]:
    return {volume["name"] for volume in pod_spec()["volumes"] if "emptyDir" in volume}


def _mounted_from_empty_dir(path: PurePosixPath) -> bool:
    return any(mount == path and name in _empty_dirs() for name, mount in _mounts().items())


def test_tmp_and_the_metrics_directory_are_writable_empty_dirs() -> None:
    assert _mounted_from_empty_dir(PurePosixPath("/tmp"))
    assert _mounted_from_empty_dir(PurePosixPath(config_env()["PROMETHEUS_MULTIPROC_DIR"]))


def test_the_trusted_clients_file_is_mounted_from_the_secret() -> None:
    path = PurePosixPath(config_env()["CDS_TRUSTED_CLIENTS_FILE"])
    (volume,) = [v for v in pod_spec()["volumes"] if v["name"] == "trusted-clients"]
    assert volume["secret"]["secretName"] == one("Secret")["metadata"]["name"]
    assert _mounts()["trusted-clients"] == path.parent
    (item,) = volume["secret"]["items"]
    assert item["path"] == path.name
    assert item["key"] in one("Secret")["stringData"]


def test_the_example_trusted_clients_file_is_valid_configuration() -> None:
    text = one("Secret")["stringData"]["trusted-clients.yaml"]
    clients = parse_trusted_clients(yaml.safe_load(text), Path("/etc/immuno-cds/trusted-clients.yaml"))
    assert clients


def test_the_database_url_comes_from_the_secret() -> None:
    (item,) = [item for item in container()["env"] if item["name"] == "CDS_DATABASE_URL"]
    reference = item["valueFrom"]["secretKeyRef"]
    assert reference["name"] == one("Secret")["metadata"]["name"]
    assert reference["key"] in one("Secret")["stringData"]
    assert "CDS_DATABASE_URL" not in one("ConfigMap")["data"]


# --- settings ----------------------------------------------------------------------------------------


def test_every_environment_variable_is_a_setting() -> None:
    settings = {f"CDS_{name.upper()}" for name in Settings.model_fields}
    unknown = {name for name in env_names() if name not in settings and name not in NON_SETTING_ENV}
    assert unknown == set()


def test_configuration_values_parse_as_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in config_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CDS_DATABASE_URL", one("Secret")["stringData"]["CDS_DATABASE_URL"])
    settings = Settings()
    assert settings.profile == "production"
    assert settings.port == 8000
    assert settings.workers >= 1
    assert settings.cors_allow_origins == ["https://ehr.example.org"]
    assert settings.public_base_url is not None and settings.public_base_url.startswith("https://")
    assert settings.effective_database_url.startswith("postgresql+asyncpg://")


# --- scaling -----------------------------------------------------------------------------------------


def test_service_pdb_and_autoscaler_select_the_deployment() -> None:
    deployment = one("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= labels.items()
    assert one("Service")["spec"]["selector"] == selector
    assert one("PodDisruptionBudget")["spec"]["selector"]["matchLabels"] == selector
    target = one("HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert one("Service")["spec"]["ports"][0]["targetPort"] == "http"


def test_replicas_are_left_to_the_autoscaler_and_a_drain_keeps_one_pod() -> None:
    # A replicas field would reset the HPA's choice on every `kubectl apply`.
    assert "replicas" not in one("Deployment")["spec"]
    hpa = one("HorizontalPodAutoscaler")["spec"]
    assert hpa["minReplicas"] >= 2
    assert hpa["maxReplicas"] > hpa["minReplicas"]
    assert one("PodDisruptionBudget")["spec"]["maxUnavailable"] < hpa["minReplicas"]
    # Rolling updates never go below the desired count.
    assert one("Deployment")["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_pods_stop_within_their_grace_period() -> None:
    pre_stop = container()["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    assert int(pre_stop[1]) + GRACEFUL_SHUTDOWN_SECONDS < pod_spec()["terminationGracePeriodSeconds"]


POSTGRES_DEFAULT_MAX_CONNECTIONS = 100
POSTGRES_RESERVED_CONNECTIONS = 3  # superuser_reserved_connections
# For migrations, `immuno-cds` commands, monitoring and an operator's psql.
CONNECTION_HEADROOM = 15


def test_the_largest_deployment_stays_under_postgresqls_default_connection_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in config_env().items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    pods = one("HorizontalPodAutoscaler")["spec"]["maxReplicas"]
    pods += one("Deployment")["spec"]["strategy"]["rollingUpdate"]["maxSurge"]
    per_worker = settings.database_pool_size + settings.database_max_overflow
    connections = pods * settings.workers * per_worker
    assert connections == 72  # the arithmetic in docs/deployment.md, "Kubernetes"
    available = POSTGRES_DEFAULT_MAX_CONNECTIONS - POSTGRES_RESERVED_CONNECTIONS
    assert connections + CONNECTION_HEADROOM <= available


def test_the_migration_job_runs_migrate_with_the_services_image_and_database() -> None:
    job = one("Job")["spec"]
    spec = job["template"]["spec"]
    (migrate,) = spec["containers"]
    assert migrate["command"] == ["immuno-cds", "migrate"]
    assert migrate["image"] == container()["image"]
    assert migrate["envFrom"] == container()["envFrom"]
    assert [e for e in migrate["env"] if e["name"] == "CDS_DATABASE_URL"] == [
        e for e in container()["env"] if e["name"] == "CDS_DATABASE_URL"
    ]
    assert spec["restartPolicy"] == "Never"
    assert job["ttlSecondsAfterFinished"] > 0  # so that the next release's apply can create it again
    hardened = migrate["securityContext"]
    assert hardened["readOnlyRootFilesystem"] is True
    assert hardened["allowPrivilegeEscalation"] is False
    assert hardened["capabilities"]["drop"] == ["ALL"]


def test_the_network_policy_limits_egress_to_dns_the_database_and_https() -> None:
    policy = one("NetworkPolicy")["spec"]
    assert sorted(policy["policyTypes"]) == ["Egress", "Ingress"]
    (selector,) = policy["podSelector"]["matchExpressions"]
    assert pod_spec() is not None
    assert "immuno-cds" in selector["values"]
    assert "immuno-cds-migrate" in selector["values"]
    ports = sorted({port["port"] for rule in policy["egress"] for port in rule["ports"]})
    assert ports == [53, 443, 5432]
    for rule in policy["egress"]:
        assert rule.get("to"), "an egress rule without `to` would open that port to everywhere"


# --- the reviewers' burden Job (burden-job.yaml, outside the kustomization) ---------------------------


def burden_documents() -> dict[str, dict[str, Any]]:
    documents = [d for d in yaml.safe_load_all(BURDEN_JOB.read_text(encoding="utf-8")) if d]
    return {document["metadata"]["name"]: document for document in documents}


def test_the_burden_job_is_not_part_of_the_services_kustomization() -> None:
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text(encoding="utf-8"))
    assert "burden-job.yaml" not in kustomization["resources"]
    assert set(burden_documents()) == {
        "immuno-cds-burden-data",
        "immuno-cds-burden-shards",
        "immuno-cds-burden-merge",
    }


@pytest.mark.parametrize(
    "name", ["immuno-cds-burden-data", "immuno-cds-burden-shards", "immuno-cds-burden-merge"]
)
def test_the_burden_job_validates_against_the_kubernetes_schema(name: str) -> None:
    kubernetes_validate.validate(burden_documents()[name], KUBERNETES_VERSION, strict=True)


def test_the_burden_shards_are_an_indexed_job_whose_shard_count_matches_the_merge() -> None:
    documents = burden_documents()
    shards = documents["immuno-cds-burden-shards"]["spec"]
    assert shards["completionMode"] == "Indexed"
    count = shards["completions"]
    (burden,) = shards["template"]["spec"]["containers"]
    command = " ".join(burden["command"])
    assert "immuno-cds burden " in command
    assert f"--shard $((JOB_COMPLETION_INDEX + 1))/{count}" in command
    merge = documents["immuno-cds-burden-merge"]["spec"]["template"]["spec"]
    (wait,) = merge["initContainers"]
    assert f"-ge {count}" in " ".join(wait["command"])
    (merger,) = merge["containers"]
    assert "immuno-cds burden-merge /data/burden/shard-*" in " ".join(merger["command"])

"""deploy/k8s: every overlay rendered by the real kustomize and validated offline, strictly, against the
Kubernetes schemas (kubernetes-validate) and KEDA's own CRD schemas; then what an operator relies on."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from services.core.queue import CLASSIFY_QUEUE, DETECT_QUEUE
from services.core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("cpu", "gpu", "dev")
KUBERNETES_VERSION = "1.33.0"  # the oldest release the manifests are held to
KEDA_SCHEMAS = {"ScaledObject": "keda-scaledobjects.yaml", "TriggerAuthentication": "keda-triggerauthentications.yaml"}
WORKER_PORT = 9100  # FACETAG_METRICS_PORT: /livez, /readyz and /metrics of each worker
Resource = dict[str, Any]


def render(kustomize: Path, overlay: str, tmp: Path) -> list[Resource]:
    """``kustomize build`` of an overlay; the dev overlay with its secrets.env made by its own script, in a copy."""
    tree = tmp / "k8s"
    shutil.copytree(K8S, tree, ignore=shutil.ignore_patterns("secrets.env"))
    if overlay == "dev":
        subprocess.run([str(tree / "overlays" / "dev" / "generate-secrets")], check=True, capture_output=True)
    built = subprocess.run([str(kustomize), "build", str(tree / "overlays" / overlay)], capture_output=True,
                           text=True)
    assert built.returncode == 0, f"kustomize build {overlay} failed:\n{built.stderr}"
    return [doc for doc in yaml.safe_load_all(built.stdout) if doc]


@pytest.fixture(scope="module")
def rendered(kustomize: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], list[Resource]]:
    """``rendered(OVERLAY)``: the overlay's objects, built once per module."""
    @cache
    def build(name: str) -> list[Resource]:
        return render(kustomize, name, tmp_path_factory.mktemp(name))
    return build


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest, rendered: Callable[[str], list[Resource]]) -> tuple[str, list[Resource]]:
    name: str = request.param
    return name, rendered(name)


def _closed(schema: Any) -> Any:
    """The CRD schema with unknown fields refused, as ``kubectl apply --validate=strict`` refuses them (a
    CRD's structural schema would otherwise prune a misspelt field without a word)."""
    if isinstance(schema, dict):
        closed = {key: _closed(value) for key, value in schema.items()}
        if "properties" in closed and "additionalProperties" not in closed \
                and not closed.get("x-kubernetes-preserve-unknown-fields"):
            closed["additionalProperties"] = False
        return closed
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    return schema


@cache
def keda_validator(path: Path, version: str) -> jsonschema.Draft7Validator:
    crd = yaml.safe_load(path.read_text())
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    schema = _closed(served["schema"]["openAPIV3Schema"])
    schema["properties"]["metadata"] = {"type": "object"}  # ObjectMeta is checked by Kubernetes itself
    return jsonschema.Draft7Validator(schema)


def schema_errors(resource: Resource, schema_file: Callable[[str], Path]) -> list[str]:
    where = f"{resource['kind']} {resource['metadata']['name']}"
    if resource["apiVersion"].startswith("keda.sh/"):
        validator = keda_validator(schema_file(KEDA_SCHEMAS[resource["kind"]]), resource["apiVersion"].split("/")[1])
        return [f"{where}: {'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(resource)]
    try:
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{where}: {'.'.join(map(str, error.absolute_path))}: {error.message}"]
    return []


def by_kind(resources: list[Resource], kind: str) -> dict[str, Resource]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


def container(deployment: Resource) -> Resource:
    (facetag,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "facetag"]
    return facetag


def test_every_overlay_renders_and_validates(overlay: tuple[str, list[Resource]],
                                             schema_file: Callable[[str], Path]) -> None:
    name, resources = overlay
    errors = [error for resource in resources for error in schema_errors(resource, schema_file)]
    assert not errors, f"overlay {name} does not validate:\n" + "\n".join(errors)


def test_a_misspelt_field_is_caught(schema_file: Callable[[str], Path]) -> None:
    """The checks can fail: a typo in a Deployment and in a ScaledObject is reported, not pruned."""
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
                  "spec": {"replica": 2, "selector": {}, "template": {}}}
    scaled = {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": "x"},
              "spec": {"scaleTargetRef": {"name": "x"}, "maxReplicas": 3, "triggers": []}}
    assert any("replica" in e for e in schema_errors(deployment, schema_file))
    assert any("maxReplicas" in e for e in schema_errors(scaled, schema_file))


def test_every_facetag_process_runs_locked_down_with_resources(overlay: tuple[str, list[Resource]]) -> None:
    overlay_name, resources = overlay
    standard = "baseline" if overlay_name == "dev" else "restricted"  # dev's stock store images start as root
    assert by_kind(resources, "Namespace")["facetag"]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] \
        == standard
    (image_user,) = re.findall(r"^USER (\d+)$", (ROOT / "deploy" / "Dockerfile").read_text(), re.MULTILINE)
    for name, deployment in by_kind(resources, "Deployment").items():
        if not name.startswith("facetag-"):
            continue  # the dev overlay's stores
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] == int(image_user) != 0, f"{name}: not the image's own user"
        facetag = container(deployment)
        assert facetag["securityContext"]["readOnlyRootFilesystem"] is True, name
        assert facetag["securityContext"]["allowPrivilegeEscalation"] is False, name
        for amount in ("cpu", "memory"):
            assert amount in facetag["resources"]["requests"] and amount in facetag["resources"]["limits"], name
        sources = [source.get("configMapRef") or source["secretRef"] for source in facetag["envFrom"]]
        assert [s["name"].startswith("facetag-settings-") for s in sources] == [True, False], name  # hashed name
        assert sources[1]["name"] == "facetag", name


def test_probes_follow_the_health_endpoints(overlay: tuple[str, list[Resource]]) -> None:
    _, resources = overlay
    deployments = by_kind(resources, "Deployment")
    gateway = container(deployments["facetag-gateway"])
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for kind in ("detector", "classifier", "trainer"):
        worker = container(deployments[f"facetag-{kind}"])
        assert worker["command"] == ["facetag", "worker", kind]
        assert worker["ports"] == [{"name": "metrics", "containerPort": WORKER_PORT}]
        assert worker["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "metrics"}
        assert worker["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}


def test_workers_get_time_to_finish_their_task_and_singletons_stay_single(
        overlay: tuple[str, list[Resource]]) -> None:
    _, resources = overlay
    deployments = by_kind(resources, "Deployment")
    for kind in ("detector", "classifier"):
        # longer than the slowest task the bench saw (a few seconds), with room for a busy node
        assert deployments[f"facetag-{kind}"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 60
    assert deployments["facetag-trainer"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 300
    for singleton in ("facetag-trainer", "facetag-beat"):
        assert deployments[singleton]["spec"]["replicas"] == 1
        assert deployments[singleton]["spec"]["strategy"] == {"type": "Recreate"}
    budgets = {b["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]
               for b in by_kind(resources, "PodDisruptionBudget").values()}
    assert budgets == {"gateway", "detector", "classifier"}


def test_keda_scales_detectors_and_classifiers_on_their_queues(overlay: tuple[str, list[Resource]]) -> None:
    name, resources = overlay
    scaled = by_kind(resources, "ScaledObject")
    if name == "dev":
        assert not scaled, "the dev overlay runs without KEDA"
        return
    lists = {s["spec"]["scaleTargetRef"]["name"]: s["spec"]["triggers"][0]["metadata"]["listName"]
             for s in scaled.values()}
    assert lists == {"facetag-detector": DETECT_QUEUE, "facetag-classifier": CLASSIFY_QUEUE}
    deployments = by_kind(resources, "Deployment")
    auth = by_kind(resources, "TriggerAuthentication")
    for scaler in scaled.values():
        spec = scaler["spec"]
        assert spec["scaleTargetRef"]["name"] in deployments
        assert 1 <= spec["minReplicaCount"] < spec["maxReplicaCount"]
        assert spec["triggers"][0]["type"] == "redis" and int(spec["triggers"][0]["metadata"]["listLength"]) > 0
        assert spec["triggers"][0]["authenticationRef"]["name"] in auth


def test_gpu_classifiers_ask_for_a_gpu_and_insist_on_cuda(rendered: Callable[[str], list[Resource]]) -> None:
    deployments = by_kind(rendered("gpu"), "Deployment")
    classifier = container(deployments["facetag-classifier"])
    assert classifier["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert {"name": "FACETAG_EXECUTION_PROVIDER", "value": "cuda"} in classifier["env"]
    detector = container(deployments["facetag-detector"])
    assert "nvidia.com/gpu" not in detector["resources"]["limits"] and "env" not in detector


def test_no_password_ships_and_every_setting_exists(kustomize: Path, rendered: Callable[[str], list[Resource]],
                                                    tmp_path: Path) -> None:
    """cpu and gpu expect the operator's Secret; dev will not render until its random secrets.env is made."""
    for name in ("cpu", "gpu"):
        assert not by_kind(rendered(name), "Secret")
    built = subprocess.run([str(kustomize), "build", str(K8S / "overlays" / "dev")], capture_output=True, text=True)
    if not (K8S / "overlays" / "dev" / "secrets.env").exists():
        assert built.returncode != 0 and "secrets.env" in built.stderr
    first = by_kind(rendered("dev"), "Secret")["facetag"]["data"]
    second = by_kind(render(kustomize, "dev", tmp_path), "Secret")["facetag"]["data"]
    assert first["MINIO_ROOT_PASSWORD"] != second["MINIO_ROOT_PASSWORD"], "dev passwords must be random"
    settings = by_kind(rendered("cpu"), "ConfigMap")
    (config,) = settings.values()
    keys = set(config["data"]) | {k for k in first if k.startswith("FACETAG_")}
    unknown = sorted(k for k in keys if k.removeprefix("FACETAG_").lower() not in Settings.model_fields)
    assert not unknown, f"not Facetag settings (misspelt?): {unknown}"

"""The Kubernetes manifests (deploy/kubernetes, issue 20.5) are valid for the API server and keep
the shape a fleet relies on. Validated offline against Kubernetes' own OpenAPI schemas, strictly
(no unknown field), as shipped by the kubernetes-validate package (PyPI; a test dependency),
for the newest version it carries and the oldest one the manifests need (1.33: backoffLimitPerIndex
is GA there). The reconcile script goes through shellcheck like the workflows' scripts."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.conftest import REPO

DEPLOY = REPO / "deploy" / "kubernetes"
FILES = sorted(DEPLOY.glob("*.yaml"))
VERSIONS = ("1.33", kubernetes_validate.latest_version())


def _documents(path: Path) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(path.read_text(encoding="utf-8")) if document]


def _resources() -> dict[str, dict[str, Any]]:
    """kind/name (or generateName) -> resource, across every file."""
    found = {}
    for path in FILES:
        for document in _documents(path):
            metadata = document["metadata"]
            found[f"{document['kind']}/{metadata.get('name') or metadata['generateName']}"] = document
    return found


def _pod_spec(resource: dict[str, Any]) -> dict[str, Any]:
    job = resource["spec"]["jobTemplate"]["spec"] if resource["kind"] == "CronJob" else resource["spec"]
    spec: dict[str, Any] = job["template"]["spec"]
    return spec


def _job_spec(resource: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = resource["spec"]["jobTemplate"]["spec"] if resource["kind"] == "CronJob" else resource["spec"]
    return spec


WORKLOADS = ("Job/campaign-reconciler-plan-", "Job/campaign-reconciler-apply-", "CronJob/campaign-reconciler-reconcile")


def test_the_set_is_complete() -> None:
    assert sorted(_resources()) == sorted([
        *WORKLOADS, "ConfigMap/campaign-reconciler", "ConfigMap/campaign-reconciler-reconcile",
        "Secret/campaign-reconciler",
    ])


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_every_manifest_is_valid_for_the_api_server(path: Path, version: str) -> None:
    for document in _documents(path):
        assert kubernetes_validate.validate(document, version, strict=True)


def test_the_validation_really_checks() -> None:
    job = copy.deepcopy(_resources()["Job/campaign-reconciler-plan-"])
    job["spec"]["template"]["spec"]["containers"][0]["envFrom"][1]["secretRef"]["nmae"] = "typo"
    with pytest.raises(kubernetes_validate.ValidationError, match="nmae"):
        kubernetes_validate.validate(job, VERSIONS[-1], strict=True)
    job = copy.deepcopy(_resources()["Job/campaign-reconciler-plan-"])
    job["spec"]["completions"] = "eight"
    with pytest.raises(kubernetes_validate.ValidationError, match="integer"):
        kubernetes_validate.validate(job, VERSIONS[-1], strict=True)


@pytest.mark.parametrize("name", WORKLOADS)
def test_each_workload_is_an_indexed_job_whose_pods_take_one_shard_each(name: str) -> None:
    resource = _resources()[name]
    job = _job_spec(resource)
    [container] = _pod_spec(resource)["containers"]
    shards = {item["name"]: item["value"] for item in container["env"]}["SHARDS"]
    assert job["completionMode"] == "Indexed"
    assert job["completions"] == int(shards), "--shard I/N: N must be the number of pods"
    script = " ".join(container["command"] + container.get("args", []))
    if resource["kind"] == "CronJob":
        script = _resources()["ConfigMap/campaign-reconciler-reconcile"]["data"]["reconcile.sh"]
    assert '--shard "$JOB_COMPLETION_INDEX/$SHARDS"' in script or 'shard="$JOB_COMPLETION_INDEX/$SHARDS"' in script


@pytest.mark.parametrize("name", WORKLOADS)
def test_secrets_come_from_the_secret_and_the_store_is_postgresql(name: str) -> None:
    resource = _resources()[name]
    pod = _pod_spec(resource)
    [container] = pod["containers"]
    assert {"secretRef": {"name": "campaign-reconciler"}} in container["envFrom"]
    assert all("value" not in item or item["name"] == "SHARDS" for item in container["env"])
    secret = _resources()["Secret/campaign-reconciler"]["stringData"]
    assert secret["RECONCILER_STATE"].startswith("postgresql://")
    config = _resources()["ConfigMap/campaign-reconciler"]["data"]
    assert config["TOP_QPS_SHARED"] == "1"  # the pods share the app's quota through the store
    assert not set(secret) & set(config)
    # Hardened: no API token, non-root, read-only root with a scratch /tmp.
    assert pod["automountServiceAccountToken"] is False and pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert {"name": "scratch", "mountPath": "/tmp"} in container["volumeMounts"]


def test_the_example_secret_holds_placeholders_only() -> None:
    values = _resources()["Secret/campaign-reconciler"]["stringData"].values()
    assert all(value in ("", "CHANGE-ME") or "CHANGE-ME" in value for value in values)


def test_the_reconcile_script_passes_shellcheck() -> None:
    command = shutil.which("shellcheck")
    assert command, "shellcheck is not installed (Debian package shellcheck; .ci/run installs it)"
    script = _resources()["ConfigMap/campaign-reconciler-reconcile"]["data"]["reconcile.sh"]
    result = subprocess.run([command, "--format=json1", "--shell=bash", "-"], input=script,
                            capture_output=True, text=True, check=False)
    assert json.loads(result.stdout)["comments"] == [], result.stdout
    assert (REPO / ".github" / "scripts" / "undrifted_targets.py").is_file()  # the script it runs

"""The fleet workflow (.github/workflows/fleet.yml, issue 20.5): its matrix comes from
`reconciler shops --json`, cut into chunks so that no matrix has more than GitHub's 256 jobs, and
every shop is planned (and applied) by exactly one job. The chunking step's own script runs here
with bash and jq, against the real `reconciler shops` of generated manifests; actionlint,
shellcheck and zizmor check the file with the others (tests/test_workflows.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO

FLEET = REPO / ".github" / "workflows" / "fleet.yml"
GITHUB_MATRIX_LIMIT = 256


def _workflow() -> dict[Any, Any]:
    loaded = yaml.safe_load(FLEET.read_text(encoding="utf-8"))
    loaded["on"] = loaded.pop(True)  # YAML 1.1 reads the key `on` as True
    return loaded


def _step(job: str, name: str) -> dict[str, Any]:
    [step] = [step for step in _workflow()["jobs"][job]["steps"] if step.get("name") == name]
    return step


def _chunks(tmp_path: Path, shops: list[str], per_job: int) -> list[dict[str, Any]]:
    jq = shutil.which("jq")
    assert jq, "jq is not installed (Debian package jq; .ci/run installs it; GitHub's runners have it)"
    campaigns = tmp_path / "campaigns"
    campaigns.mkdir()
    (campaigns / "shops.yaml").write_text("".join(
        f"---\napiVersion: campaigns/v1\nkind: Shop\nmetadata: {{name: {shop}}}\n" for shop in shops), encoding="utf-8")
    output, summary = tmp_path / "output", tmp_path / "summary"
    env = {**os.environ, "PER_JOB": str(per_job), "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    script = _step("shops", "Cut the shops into chunks")["run"]
    ran = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=tmp_path, env=env,
                         capture_output=True, text=True, check=False, timeout=120)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    [line] = output.read_text(encoding="utf-8").splitlines()
    name, _, value = line.partition("=")
    assert name == "chunks"
    chunks: list[dict[str, Any]] = json.loads(value)
    return chunks


@pytest.mark.parametrize("count, per_job, sizes", [
    (45, 20, [20, 20, 5]),
    (3, 20, [3]),
    (0, 20, []),  # no shop: an empty matrix, which the plan and apply jobs skip
    (600, 1, [3] * 200),  # one shop a job would be 600 jobs: chunks of 3 keep it under 256
    (1000, 2, [4] * 250),
])
def test_every_shop_in_exactly_one_chunk_and_never_more_than_256_jobs(
    tmp_path: Path, count: int, per_job: int, sizes: list[int]
) -> None:
    shops = [f"shop-{number:04d}" for number in range(count)]
    chunks = _chunks(tmp_path, shops, per_job)
    assert len(chunks) <= GITHUB_MATRIX_LIMIT
    assert [chunk["index"] for chunk in chunks] == list(range(len(chunks)))
    assert [len(chunk["shops"].split()) for chunk in chunks] == sizes
    assert sorted(shop for chunk in chunks for shop in chunk["shops"].split()) == shops


def test_the_jobs_plan_and_apply_their_own_chunk_sharing_one_budget() -> None:
    workflow = _workflow()
    jobs = workflow["jobs"]
    assert workflow["defaults"]["run"]["shell"] == "bash"  # pipefail: `apply | tee` fails when apply fails
    for name in ("plan", "apply"):
        job = jobs[name]
        assert job["strategy"]["matrix"]["chunk"] == "${{ fromJSON(needs.shops.outputs.chunks) }}"
        assert job["strategy"]["fail-fast"] is False
        assert job["env"]["TOP_QPS_SHARED"] == "1"  # one app budget across the jobs (issue 20.3)
    assert jobs["plan"]["environment"] == "shop-plan" and jobs["apply"]["environment"] == "shop-production"
    assert jobs["apply"]["needs"] == ["shops", "plan"] and jobs["apply"]["if"].startswith("inputs.apply")
    plan = _step("plan", "Plan this chunk")
    assert plan["env"]["CHUNK_SHOPS"] == "${{ matrix.chunk.shops }}"  # through env, never pasted into the script
    assert 'args+=(--shop "$shop")' in plan["run"] and "--out plan.json" in plan["run"]
    apply = _step("apply", "Apply this chunk's plan")["run"]
    assert 'fleet-plan-$GITHUB_RUN_ID-$CHUNK' in apply and "reconciler apply planned/plan.json" in apply

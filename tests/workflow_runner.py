"""Runs the `run:` steps of our GitHub workflows locally, the way a runner does: each script with
`bash --noprofile --norc -eo pipefail`, the job's and the step's `env:` with their `${{ … }}`
expressions filled in from given contexts (secrets, github, inputs, steps.*.outputs), and
GITHUB_OUTPUT / GITHUB_STEP_SUMMARY files. Steps that need GitHub itself (`uses:` actions, `gh`)
are the test's to stand in for. Only `a || b` expressions are understood: the workflows use no
other kind in `env:`, and an unknown one fails the test instead of being guessed."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import REPO
from tests.pinned_clock import child_prelude

_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


@dataclass
class StepResult:
    returncode: int
    output: str  # stdout and stderr, interleaved as a job log shows them
    outputs: dict[str, str]


@dataclass
class WorkflowRunner:
    workflow: str  # file name under .github/workflows
    checkout: Path  # the working directory: what actions/checkout would have put there
    contexts: dict[str, str]  # "secrets.TOP_APP_KEY" → value, "github.sha" → value, …
    base_env: dict[str, str] = field(default_factory=dict)
    job_id: str | None = None  # which job, when the workflow has more than one
    summary: str = ""
    step_outputs: dict[str, dict[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        loaded = yaml.safe_load((REPO / ".github" / "workflows" / self.workflow).read_text(encoding="utf-8"))
        jobs = loaded["jobs"]
        if self.job_id is None:
            [self.job] = jobs.values()
        else:
            self.job = jobs[self.job_id]
        self.bin_dir = self.checkout / ".runner-bin"
        self.bin_dir.mkdir(exist_ok=True)
        # The job installed the package: `reconciler` and `python3` are on PATH. The shim is a
        # script like pip's console script, so (unlike `python -m`) the working directory is not
        # on sys.path, exactly as on the runner. It reads the test's pinned clock (tests/pinned_clock.py).
        shim = self.bin_dir / "reconciler"
        shim.write_text(f"#!{sys.executable}\n{child_prelude()}\nimport sys\nfrom reconciler.cli import main\n"
                        "sys.exit(main())\n", encoding="utf-8")
        shim.chmod(0o755)
        python = self.bin_dir / "python3"
        if not python.exists():
            python.symlink_to(sys.executable)

    def step(self, name: str) -> dict[str, Any]:
        matches = [step for step in self.job["steps"] if step.get("name") == name]
        assert len(matches) == 1, f"{self.workflow} has no single step named {name!r}"
        return matches[0]

    def run(self, name: str) -> StepResult:
        return self.run_step(self.step(name))

    def run_step(self, step: dict[str, Any]) -> StepResult:
        output_file = self.checkout / ".runner-output"
        summary_file = self.checkout / ".runner-summary"
        output_file.write_text("", encoding="utf-8")
        summary_file.write_text(self.summary, encoding="utf-8")
        env = {
            "PATH": f"{self.bin_dir}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.checkout),
            "PYTHONPATH": str(REPO),
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_OUTPUT": str(output_file),
            "GITHUB_STEP_SUMMARY": str(summary_file),
            **self.base_env,
            **self._env(self.job.get("env", {})),
            **self._env(step.get("env", {})),
        }
        script = self.checkout / ".runner-step.sh"
        script.write_text(step["run"], encoding="utf-8")
        result = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=self.checkout / step.get("working-directory", "."), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300,
            check=False,
        )
        outputs = dict(line.split("=", 1) for line in output_file.read_text(encoding="utf-8").splitlines() if "=" in line)
        if step.get("id"):
            self.step_outputs[step["id"]] = outputs
        self.summary = summary_file.read_text(encoding="utf-8")
        return StepResult(result.returncode, result.stdout, outputs)

    def _env(self, values: dict[str, Any]) -> dict[str, str]:
        return {name: self.substitute(str(value)) for name, value in values.items()}

    def substitute(self, text: str) -> str:
        """`text` with its `${{ … }}` expressions filled in, as the runner does for env and with."""
        return _EXPRESSION.sub(lambda m: self._evaluate(m.group(1)), text)

    def _evaluate(self, expression: str) -> str:
        for alternative in (part.strip() for part in expression.split("||")):
            value = self._lookup(alternative)
            if value:
                return value
        return ""

    def _lookup(self, name: str) -> str:
        if name.startswith("steps.") and ".outputs." in name:
            step_id, _, output = name[len("steps."):].partition(".outputs.")
            return self.step_outputs.get(step_id, {}).get(output, "")
        if name in self.contexts:
            return self.contexts[name]
        if name.startswith(("secrets.", "inputs.", "vars.")):
            return ""  # an unset secret, input or repository variable is empty on GitHub too
        raise AssertionError(f"{self.workflow}: the test gives no value for ${{{{ {name} }}}}")

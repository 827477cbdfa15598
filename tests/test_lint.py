"""ruff's bug-finding rules (pyflakes, bugbear; pyproject.toml [tool.ruff]) pass on all our Python:
an unused import or a zip that silently drops answers fails the suite, not a review."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_ruff_finds_nothing() -> None:
    command = [sys.executable, "-m", "ruff", "check", "--no-cache", "reconciler", "bench", "tests", ".github/scripts"]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr

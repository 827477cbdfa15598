"""mypy --strict passes on the package (pyproject.toml [tool.mypy]), as DESIGN.md asks: a wrong
type where TOP's JSON meets our model (an int id where the state store keeps text) fails here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_mypy_strict_finds_nothing() -> None:
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr

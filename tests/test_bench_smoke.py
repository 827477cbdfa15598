"""The benchmarks (bench/) run end to end at a tiny size: every script's code path against a real
sandbox and the real CLI, and the goals that do not depend on size hold (writes and reads equal
the minimal numbers, converged applies send nothing, no call-limit bans). The real sizes and
their figures: bench/RESULTS.md and the `bench` workflow."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import run_all


# The benchmarks start their sandbox and CLI as child processes on the machine's clock and date the
# generated shop from it, so every part agrees at any date without the suite's pinned clock.
@pytest.mark.real_clock
def test_the_benchmarks_run_and_meet_their_gated_goals_at_a_tiny_size(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    markdown = tmp_path / "results.md"

    exit_code = run_all.main(["--size", "tiny", "--json", str(results), "--markdown", str(markdown)])

    figures = json.loads(results.read_text(encoding="utf-8"))["figures"]
    missed = [f"{f['goal']} {f['name']}: {f['value']}" for f in figures if f["gate"] and not f["met"]]
    assert exit_code == 0 and missed == []
    goals = {figure["goal"].split()[0] for figure in figures}
    assert goals == {"1", "2", "3", "4"}
    ratios = {f["name"]: f["value"] for f in figures if f["goal"].startswith("1 ") and f["unit"] == "ratio"}
    assert ratios and set(ratios.values()) == {1.0}, ratios
    assert "| goal | figure | value | target | met |" in markdown.read_text(encoding="utf-8")

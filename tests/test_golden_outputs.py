"""Issue 18's promise: reshaping the core leaves what a reviewer reads byte-identical. The plan
text, plan JSON and pull-request markdown of the demo shop and of a generated benchmark shop are
compared with tests/golden/, recorded before the redesign (tests/golden_outputs.py rewrites them
when an output change is intended)."""

from __future__ import annotations

import difflib

from tests.golden_outputs import GOLDEN, outputs


def test_plan_outputs_match_the_recorded_golden_files() -> None:
    made = outputs()
    recorded = {path.name: path.read_text(encoding="utf-8") for path in GOLDEN.iterdir()}
    assert sorted(made) == sorted(recorded)
    for name, text in sorted(made.items()):
        if text != recorded[name]:
            diff = "".join(difflib.unified_diff(recorded[name].splitlines(True), text.splitlines(True), name, "now", n=2))
            raise AssertionError(f"{name} changed (python -m tests.golden_outputs rewrites it if intended):\n{diff[:4000]}")

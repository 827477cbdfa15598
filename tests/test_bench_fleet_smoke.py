"""The fleet benchmark (bench/bench_fleet.py, issue 20.6) runs end to end at its tiny size: one
sandbox process holding every shop (a session each), worker processes applying their shards
(`apply --shard I/N`) with one shared QPS budget (TOP_QPS_SHARED=1, PostgreSQL when Debian's
binaries are there, else the SQLite store's budget file), then planning again. The goals that do not
depend on size hold: no call-limit ban, every shop converged. The call rate against the budget is
gated at the full size only (bench/RESULTS.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import bench_fleet


# The benchmark dates its generated shops from the machine's clock, as its sandbox and CLI do.
@pytest.mark.real_clock
def test_the_fleet_benchmark_runs_and_meets_its_gated_goals_at_a_tiny_size(tmp_path: Path) -> None:
    results = tmp_path / "fleet.json"

    exit_code = bench_fleet.main(["--size", "tiny", "--workers", "2", "--json", str(results)])

    figures = json.loads(results.read_text(encoding="utf-8"))["figures"]
    missed = [f"{f['name']}: {f['value']}" for f in figures if f["gate"] and not f["met"]]
    assert exit_code == 0 and missed == []
    by_name = {f["name"]: f["value"] for f in figures}
    assert by_name["2 workers: call-limit bans (calls refused with code 7), apply and second plan"] == 0
    assert by_name["2 workers: shops converged (second plan: no change) / shops"] == 1.0

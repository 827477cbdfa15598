"""Goal 4, whole plan: the wall time of `reconciler plan` for the benchmark shop when TOP holds
it (converged, so every object is read and compared), against a sandbox that answers after 50 ms
and bans above 100 QPS, with the client's budget at 100 QPS. Goal: at most
1.2 x (read calls / QPS) + 10 s (gated). Issue 20.6's tighter goals are shown met or not, not
gated (seconds depend on the machine): the whole plan within 1.05 x (reads / QPS) + 2 s, reads
paced at 97 % of QPS or more, peak RSS at most 300 MB. Also shown: where the time goes (loading,
validating and normalising the manifests, measured on their own in this process; the read
phase as the sandbox saw it, each read method's span), and whether PyYAML's libyaml C loader is
in use.

    python bench/bench_whole_plan.py --size reduced     (applies the shop to a sandbox first)
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_minimal_calls import prepare  # noqa: E402
from bench.common import CliRun, Figure, Report, SandboxProcess, Workspace, scratch  # noqa: E402
from bench.generate_shop import SIZES  # noqa: E402
from reconciler.engine.plan import desired_resources  # noqa: E402
from reconciler.manifest import load_manifests  # noqa: E402
from reconciler.manifest.yaml_source import LOADER  # noqa: E402

GOAL = "4 whole plan"
LATENCY_S = 0.05
QPS = 100
READ_FACTOR = 1.2
FIXED_ALLOWANCE_S = 10.0
# Issue 20.6's tighter goals, shown met or not beside the gated one (not gated: seconds and
# megabytes depend on the machine; see RESULTS.md): the whole plan within 1.05 x reads / QPS + 2 s,
# the reads paced at 97 % of QPS or more, the plan's peak RSS at most 300 MB.
PACED_FACTOR = 1.05
PACED_ALLOWANCE_S = 2.0
PACED_SHARE = 0.97
PEAK_RSS_LIMIT_MB = 300.0


def load_times(campaigns: Path) -> tuple[float, float]:
    """Seconds to load and validate the manifests (YAML, schema, checks), and to normalise them."""
    started = time.perf_counter()
    manifests = load_manifests([str(campaigns)])
    loaded = time.perf_counter()
    desired_resources(manifests, datetime.now(timezone.utc))
    return loaded - started, time.perf_counter() - loaded


def print_read_timeline(calls: list[dict[str, Any]]) -> None:
    """Each method's reads: how many, and from when to when after the first read (where the read
    phase's time goes: methods read one after another leave the budget unused meanwhile)."""
    if not calls:
        return
    first = min(int(call["at"]) for call in calls)
    spans: dict[str, list[int]] = {}
    for call in calls:
        spans.setdefault(call["method"], []).append(int(call["at"]) - first)
    for method, times in sorted(spans.items(), key=lambda pair: min(pair[1])):
        print(f"    {method}: {len(times):,} reads, {min(times) / 1000:.2f}-{max(times) / 1000:.2f} s", flush=True)


def run(workspace: Workspace, sandbox: SandboxProcess, report: Report) -> CliRun:
    """Plans the converged shop in `workspace` with latency and the QPS limit on; returns the run."""
    load_s, normalise_s = load_times(workspace.campaigns)
    sandbox.faults(latency=LATENCY_S, qps_limit=QPS, ban_seconds=1)
    sandbox.clear_calls()
    try:
        started_at = time.time()  # the sandbox logs calls in epoch ms: where the plan's time goes
        result = workspace.with_qps(QPS).run("plan", str(workspace.campaigns), "--detailed-exitcode").check(0, 2)
        ended_at = time.time()
        calls = sandbox.calls()
        sandbox.clear_calls()
    finally:
        sandbox.faults()
    reads = len(calls)
    times = sorted(int(call["at"]) for call in calls)
    read_phase = (times[-1] - times[0]) / 1000 if times else 0.0
    limit = READ_FACTOR * reads / QPS + FIXED_ALLOWANCE_S
    print(f"goal 4: plan of the converged shop: {reads:,} reads at {QPS} QPS, {LATENCY_S * 1000:.0f} ms latency", flush=True)
    print_read_timeline(calls)
    report.add(Figure(GOAL, "plan wall time", result.wall_s, "s", limit=limit,
                      note=f"limit 1.2 x {reads:,} reads / {QPS} QPS + 10 s; exit {result.returncode}"))
    report.add(Figure(GOAL, "of which reading (first to last read at the sandbox)", read_phase, "s",
                      note=f"{reads / max(read_phase, 1e-9):.0f} reads/s"))
    report.add(Figure(GOAL, "of which loading + validating the manifests", load_s, "s",
                      note=f"measured alone; normalising: {normalise_s:.1f} s more"))
    ideal = reads / QPS
    paced_limit = PACED_FACTOR * ideal + PACED_ALLOWANCE_S
    report.add(Figure(GOAL, "plan wall time, issue 20.6 goal", result.wall_s, "s", limit=paced_limit,
                      note=f"limit 1.05 x {reads:,} reads / {QPS} QPS + 2 s"))
    report.add(Figure(GOAL, "issue 20.6 goal: (plan wall time - 2 s) / (reads / QPS)",
                      (result.wall_s - PACED_ALLOWANCE_S) / max(ideal, 1e-9), "ratio", limit=PACED_FACTOR,
                      note=f"whole plan / ideal {ideal:.2f} s: {result.wall_s / max(ideal, 1e-9):.2f} x"))
    report.add(Figure(GOAL, "read pace / QPS (reads / first-to-last read / QPS)", reads / max(read_phase, 1e-9) / QPS,
                      "ratio", limit=PACED_SHARE, at_most=False))
    if times:
        report.add(Figure(GOAL, "before the first read (start-up, loading, validating, state)",
                          times[0] / 1000 - started_at, "s"))
        report.add(Figure(GOAL, "after the last read (diff, price guardrails, output, exit)",
                          ended_at - times[-1] / 1000, "s"))
    report.add(Figure(GOAL, "plan peak RSS, issue 20.6 goal", result.max_rss_mb, "MB", limit=PEAK_RSS_LIMIT_MB))
    report.add(Figure(GOAL, "plan CPU time", result.cpu_s, "s"))
    report.add(Figure(GOAL, "call-limit bans during the plan", sum(1 for call in calls if not call["ok"]), "calls",
                      limit=0, exact=True, gate=True))
    report.add(Figure(GOAL, "YAML composed with libyaml's C loader", 1.0 if LOADER.__name__ == "CSafeLoader" else 0.0,
                      limit=1.0, exact=True, gate=True, note=f"loader {LOADER.__name__}"))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="reduced")
    args = parser.parse_args(argv)
    report = Report()
    with SandboxProcess() as sandbox, scratch("whole-plan") as root:
        _, workspace = prepare(SIZES[args.size], sandbox, root)
        workspace.run("apply", str(workspace.campaigns), "--auto-approve").check()
        run(workspace, sandbox, report)
    print(report.markdown())
    return 1 if report.missed(gated_only=True) else 0


if __name__ == "__main__":
    sys.exit(main())

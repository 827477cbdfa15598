"""Run every benchmark of issue 9 against the sandbox in one go and check the goals.

    python bench/run_all.py --size full      the sizes of the issue; takes long (see RESULTS.md)
    python bench/run_all.py --size reduced   the same shape, smaller: what CI runs
    python bench/run_all.py --size tiny      seconds; the pytest smoke test

Order: goal 2 (its own sandbox state), goal 1 (applies the shop from empty, then a 1 % random
edit), goal 4 (plans the converged shop with latency and a QPS limit) and goal 3 (diffs it in
memory; the peak memory of the whole plan comes from the plans of goals 1 and 4).

Exit status 1 when a gated goal is missed: ratios and counts (writes and reads against the
minimal numbers, 0 writes when converged, 0 call-limit bans, the write phase against calls / QPS,
the speed-up over deepdiff) — never plain seconds, which depend on the machine. Every figure,
goal or not, is printed as a Markdown table; --markdown and --json also write them to files.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import bench_diff, bench_minimal_calls, bench_quota_speed, bench_whole_plan  # noqa: E402
from bench.common import Figure, Report, SandboxProcess, dump_json, machine, scratch  # noqa: E402
from bench.generate_shop import SIZES, one_percent_edit  # noqa: E402


@dataclass(frozen=True)
class QuotaRun:
    calls: int
    qps: tuple[int, ...]


QUOTA_RUNS = {
    "full": QuotaRun(10_000, (20, 100, 200)),
    "reduced": QuotaRun(1_000, (100, 200)),
    "tiny": QuotaRun(160, (200,)),
}
GOALS = ("1", "2", "3", "4")


def run(size_name: str, goals: tuple[str, ...] = GOALS) -> Report:
    size = SIZES[size_name]
    report = Report()
    with SandboxProcess() as sandbox, scratch("all") as root:
        if "2" in goals:
            quota = QUOTA_RUNS[size_name]
            bench_quota_speed.run(sandbox, root / "quota", quota.calls, list(quota.qps), report,
                                  gate_wall=quota.calls >= 10_000)
            sandbox.reset()
        if not {"1", "3", "4"} & set(goals):
            return report
        shop = bench_minimal_calls.run(size, sandbox, root / "shop", report)
        peaks = dict(shop.plan_peak_mb)
        if "4" in goals:
            plan = bench_whole_plan.run(shop.workspace, sandbox, report)
            peaks["plan, converged (goal 4)"] = plan.max_rss_mb
        if "3" in goals:
            bench_diff.run(shop.live, one_percent_edit(shop.live, seed=93), root / "diff", shop.workspace.state,
                           sandbox.gateway, shop.workspace.env, report, gate_speedup=size.items_per_activity >= 100)
            step, peak = max(peaks.items(), key=lambda pair: pair[1])
            report.add(Figure(bench_diff.GOAL, "peak memory of the whole plan", peak, "MB",
                              limit=bench_diff.PLAN_MEMORY_LIMIT_MB,
                              note=f"max RSS of `reconciler plan`, largest at: {step}"))
    return report


def results_markdown(size_name: str, report: Report, command: str) -> str:
    facts = machine()
    lines = [
        f"## `{command}`",
        "",
        f"- date: {facts['date']}",
        f"- machine: {facts['nproc']} CPUs ({facts['cpu']}), memory `{facts['memory']}`",
        f"- Python {facts['python']} on {facts['platform']}",
        "",
        report.markdown(),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="reduced")
    parser.add_argument("--goals", default=",".join(GOALS), help="comma-separated goals to run (default all: 1,2,3,4)")
    parser.add_argument("--markdown", type=Path, default=None, help="write the figures as a Markdown section here")
    parser.add_argument("--json", type=Path, default=None, help="write the figures as JSON here")
    args = parser.parse_args(argv)
    goals = tuple(goal.strip() for goal in args.goals.split(",") if goal.strip())
    unknown = sorted(set(goals) - set(GOALS))
    if unknown:
        parser.error(f"unknown goal(s) {', '.join(unknown)}; choose from {', '.join(GOALS)}")
    report = run(args.size, goals)
    command = "python bench/run_all.py " + " ".join(sys.argv[1:] if argv is None else argv)
    text = results_markdown(args.size, report, command.strip())
    print(text)
    if args.markdown:
        args.markdown.write_text(text, encoding="utf-8")
    if args.json:
        dump_json(args.json, {"size": args.size, "machine": machine(), "figures": [f.as_json() for f in report.figures]})
    missed = report.missed(gated_only=True)
    for figure in missed:
        print(f"MISSED (gated): {figure.goal} {figure.name}: {figure.shown()} {figure.target()}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())

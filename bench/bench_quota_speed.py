"""Goal 2, quota-bound speed: `reconciler apply` of a plan of N write calls against a sandbox
that answers after 50 ms and bans the app (code 7) above its QPS limit, with the client's QPS
budget (TOP_QPS) set to that limit. Goal: at QPS 100 the apply finishes within 1.11 x (N / QPS)
with no call-limit ban; the figures for QPS 20 and 200 are shown too.

The plan is N writes of item-pool activities from empty: 40 activities, each a create and then
its items (N / 40 calls per activity; the calls of one activity depend on its create, the 40
activities do not depend on each other). Two times are reported: the whole `reconciler apply`
command (start-up, manifests, reads, plan, writes) and its write phase alone (first to last write
as the sandbox saw them), each as a ratio to N / QPS.

Calls in flight: apply sends independent changes up to TOP_CONCURRENCY at a time (default 8).
Each call takes the latency plus the client's own work (~60 ms here), so 8 in flight carry about
130 calls/s: enough for QPS 20 and 100. For QPS 200 the benchmark sets TOP_CONCURRENCY to
2 x QPS x latency (20), as a user of that quota would; the figure says so.

    python bench/bench_quota_speed.py --calls 10000 --qps 20 100 200
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Figure, Report, SandboxProcess, Workspace, scratch  # noqa: E402
from bench.generate_shop import Pool, ShopDef, Size, generate, write_manifests  # noqa: E402

GOAL = "2 quota-bound speed"
LATENCY_S = 0.05
ACTIVITIES = 40
GOAL_QPS = 100
RATIO_LIMIT = 1.11
DEFAULT_CONCURRENCY = 8  # reconciler.top.settings.DEFAULT_CONCURRENCY


def concurrency_for(qps: int) -> int | None:
    """TOP_CONCURRENCY for this QPS at the benchmark's latency: None where the default's ~130
    calls/s suffice (QPS 100 and below), else twice QPS x latency."""
    return None if qps <= GOAL_QPS else math.ceil(2 * qps * LATENCY_S)


def quota_shop(calls: int) -> ShopDef:
    """Only item-pool activities: ACTIVITIES creates plus their items make exactly `calls` writes."""
    if calls % ACTIVITIES or calls < 2 * ACTIVITIES:
        raise ValueError(f"calls must be a multiple of {ACTIVITIES}, at least {2 * ACTIVITIES}")
    shop = generate(Size(ACTIVITIES, calls // ACTIVITIES - 1, 0, 0, 0, 0, windows=1))
    return ShopDef(now=shop.now, pools={n: Pool(p.title, p.decrease, p.items) for n, p in shop.pools.items()},
                   windows={}, coupons={}, item_discounts={}, full_discounts={})


def run_one(sandbox: SandboxProcess, root: Path, calls: int, qps: int, report: Report, *, gate_wall: bool) -> None:
    sandbox.reset()
    sandbox.faults(latency=LATENCY_S, qps_limit=qps, ban_seconds=1)
    concurrency = concurrency_for(qps)
    workspace = Workspace(root / f"qps-{qps}", sandbox, qps=qps, concurrency=concurrency)
    in_flight = f"TOP_CONCURRENCY={concurrency}" if concurrency else f"default TOP_CONCURRENCY ({DEFAULT_CONCURRENCY})"
    write_manifests(quota_shop(calls), workspace.root)
    sandbox.clear_calls()
    result = workspace.run("apply", str(workspace.campaigns), "--auto-approve").check()
    tally = sandbox.tally()
    ideal = calls / qps
    wanted = RATIO_LIMIT if qps == GOAL_QPS else None
    report.add(Figure(GOAL, f"QPS {qps}: apply wall time / (calls / QPS)", result.wall_s / ideal, "ratio", limit=wanted,
                      gate=gate_wall and wanted is not None,
                      note=f"{result.wall_s:.1f} s for {tally.write_count:,} writes; ideal {ideal:.1f} s; {in_flight}"))
    report.add(Figure(GOAL, f"QPS {qps}: write phase / (calls / QPS)", tally.write_span_s / ideal, "ratio",
                      limit=wanted, gate=wanted is not None,
                      note=f"first to last write {tally.write_span_s:.1f} s, {tally.write_count / max(tally.write_span_s, 1e-9):.0f} writes/s"))
    report.add(Figure(GOAL, f"QPS {qps}: call-limit bans", tally.refused, "calls", limit=0, exact=True, gate=True,
                      note="calls the sandbox refused with code 7"))
    if tally.write_count != calls:
        report.add(Figure(GOAL, f"QPS {qps}: writes sent", tally.write_count, "calls", limit=calls, exact=True, gate=True))


def run(sandbox: SandboxProcess, root: Path, calls: int, qps_list: list[int], report: Report, *, gate_wall: bool) -> None:
    print(f"goal 2: apply of {calls:,} calls, latency {LATENCY_S * 1000:.0f} ms, QPS {qps_list}", flush=True)
    try:
        for qps in qps_list:
            run_one(sandbox, root, calls, qps, report, gate_wall=gate_wall)
    finally:
        sandbox.faults()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--qps", type=int, nargs="+", default=[20, GOAL_QPS, 200])
    args = parser.parse_args(argv)
    report = Report()
    with SandboxProcess() as sandbox, scratch("quota") as root:
        run(sandbox, root, args.calls, args.qps, report, gate_wall=args.calls >= 10_000)
    print(report.markdown())
    return 1 if report.missed(gated_only=True) else 0


if __name__ == "__main__":
    sys.exit(main())

"""Goal 3, fast diff: the CPU time of plan's in-memory diff for the benchmark shop, against
deepdiff over the whole desired-vs-live tree, and the peak memory of a whole `reconciler plan`.

The diff is timed exactly as the engine runs it (reconciler/engine/plan.py, `_plan_shop`): the
desired Resources come from the manifests (loader + each kind's normalise), the links from the
state store and the live objects from each kind's read_live against the sandbox; then every
kind's plan_change and check_plan run for every resource, and only that loop is timed
(time.process_time, best of a few runs). Two cases: the shop converged (every object compared,
none differs) and a 1 % random edit away from TOP.

The baseline is deepdiff (DeepDiff, default options) over plain nested dicts of the same shop
(bench/generate_shop.plain_tree) with the same 1 % edit: what a generic differ costs.

    python bench/bench_diff.py --size reduced     (applies the shop to a sandbox first)
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from deepdiff import DeepDiff  # noqa: E402

from bench.bench_minimal_calls import prepare  # noqa: E402
from bench.common import Figure, Report, SandboxProcess, scratch  # noqa: E402
from bench.generate_shop import (  # noqa: E402
    SIZES,
    ShopDef,
    one_percent_edit,
    plain_tree,
    pool_item_count,
    write_manifests,
)
from reconciler.engine.plan import desired_resources, kinds_in_dependency_order  # noqa: E402
from reconciler.kinds import KINDS  # noqa: E402
from reconciler.kinds.base import LiveState, PlanContext  # noqa: E402
from reconciler.manifest import load_manifests  # noqa: E402
from reconciler.model import Change, Link, Resource, ResourceKey  # noqa: E402
from reconciler.state import SqliteStateStore  # noqa: E402
from reconciler.top import Credentials, TopClient  # noqa: E402

GOAL = "3 fast diff"
DIFF_CPU_LIMIT_S = 0.5
SPEEDUP_LIMIT = 50.0
PLAN_MEMORY_LIMIT_MB = 500.0
REPEATS = 3


@dataclass(frozen=True)
class DiffInputs:
    """What the engine holds when it starts diffing one shop."""

    shop: str
    desired: Mapping[ResourceKey, Resource]
    links: Mapping[ResourceKey, Link]
    live: Mapping[str, LiveState]  # by kind


def diff(inputs: DiffInputs, now: datetime) -> list[Change]:
    """The engine's diff loop (engine/plan.py _plan_shop) without its reads: plan_change for every
    declared or managed resource, kind by kind in dependency order, then each kind's check_plan."""
    ctx = PlanContext(shop=inputs.shop, now=now, desired=inputs.desired, links=inputs.links)
    changes: list[Change] = []
    for kind_name in kinds_in_dependency_order():
        live = inputs.live.get(kind_name)
        if live is None:
            continue
        kind = KINDS[kind_name]
        keys = {r.key for r in ctx.desired_of(kind_name)} | {link.key for link in ctx.links_of(kind_name)}
        kind_changes = []
        for key in sorted(keys):
            change = kind.plan_change(ctx.desired.get(key), ctx.links.get(key), live.by_name.get(key.name), ctx)
            if change is not None:
                kind_changes.append(change)
                ctx.planned[key] = change
        kind.check_plan(kind_changes, live, ctx)
        changes.extend(kind_changes)
    return changes


def read_inputs(campaigns: Path, state_file: Path, gateway: str, env: Mapping[str, str], now: datetime) -> DiffInputs:
    """Desired resources from the manifests, links from the state store, live state from TOP,
    each kind read as the engine reads it (only kinds with something declared or managed)."""
    desired = {r.key: r for r in desired_resources(load_manifests([str(campaigns)]), now)}
    store = SqliteStateStore(str(state_file))
    try:
        links = {link.key: link for link in store.links()}
    finally:
        store.close()
    shop = next(iter(desired)).shop
    credentials = Credentials(env["TOP_APP_KEY"], env["TOP_APP_SECRET"], env["TOP_SESSION"], gateway)
    ctx = PlanContext(shop=shop, now=now, desired=desired, links=links)
    live: dict[str, LiveState] = {}
    with TopClient(credentials, concurrency=8) as client:
        for kind_name in kinds_in_dependency_order():
            kind = KINDS[kind_name]
            if ctx.desired_of(kind_name) or ctx.links_of(kind_name) or kind.always_read:
                live[kind_name] = kind.read_live(client, ctx)
    return DiffInputs(shop, desired, links, live)


def best_cpu(work: Callable[[], Any], repeats: int = REPEATS) -> tuple[float, Any]:
    """The least CPU time of `repeats` runs (the others had the machine's noise) and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.process_time()
        result = work()
        best = min(best, time.process_time() - started)
    return best, result


def deepdiff_baseline(desired: ShopDef, live: ShopDef) -> tuple[float, int]:
    """CPU seconds of DeepDiff over the plain nested-dict shop, and how many differences it found."""
    wanted, have = plain_tree(desired), plain_tree(live)
    cpu, found = best_cpu(lambda: DeepDiff(have, wanted), repeats=1)
    return cpu, sum(len(group) for group in found.values())


def run(
    live_shop: ShopDef, edit_target: ShopDef, workspace_root: Path, state_file: Path, gateway: str,
    env: Mapping[str, str], report: Report, *, plan_peak_mb: float | None = None, gate_speedup: bool = True,
) -> None:
    """`live_shop` is applied (TOP and the state store at `state_file` hold it); `edit_target` is 1 %
    away from it. Times the diff for both, and deepdiff for the edit. The speed-up is gated only
    for shops whose pools are large (a handful of items per pool measures fixed costs, not the diff)."""
    now = datetime.now(timezone.utc)
    print(f"goal 3: diff of {len(live_shop.pools)} pools, {pool_item_count(live_shop):,} pool items", flush=True)
    converged_dir = workspace_root / "converged"
    edited_dir = workspace_root / "edited"
    write_manifests(live_shop, converged_dir)
    write_manifests(edit_target, edited_dir)
    converged = read_inputs(converged_dir / "campaigns", state_file, gateway, env, now)
    edited = read_inputs(edited_dir / "campaigns", state_file, gateway, env, now)

    cpu_converged, changes = best_cpu(lambda: diff(converged, now))
    report.add(Figure(GOAL, "diff CPU, converged", cpu_converged, "s", limit=DIFF_CPU_LIMIT_S,
                      note=f"{len(changes)} changes"))
    cpu_edit, changes = best_cpu(lambda: diff(edited, now))
    calls = sum(len(change.calls) for change in changes)
    report.add(Figure(GOAL, "diff CPU, 1 % edit", cpu_edit, "s", limit=DIFF_CPU_LIMIT_S,
                      note=f"{len(changes)} changes, {calls:,} calls"))

    baseline_cpu, differences = deepdiff_baseline(edit_target, live_shop)
    report.add(Figure(GOAL, "deepdiff over the whole tree, 1 % edit (baseline)", baseline_cpu, "s",
                      note=f"{differences:,} differences"))
    slowest = max(cpu_converged, cpu_edit)
    report.add(Figure(GOAL, "speed-up over deepdiff (slower of the two diffs)", baseline_cpu / max(slowest, 1e-6), "x",
                      limit=SPEEDUP_LIMIT, at_most=False, gate=gate_speedup))
    if plan_peak_mb is not None:
        report.add(Figure(GOAL, "peak memory of the whole plan", plan_peak_mb, "MB", limit=PLAN_MEMORY_LIMIT_MB,
                          note="`reconciler plan` process, max RSS"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="reduced")
    args = parser.parse_args(argv)
    report = Report()
    with SandboxProcess() as sandbox, scratch("diff") as root:
        shop, workspace = prepare(SIZES[args.size], sandbox, root / "ws")
        workspace.run("apply", str(workspace.campaigns), "--auto-approve").check()
        plan = workspace.run("plan", str(workspace.campaigns)).check()
        run(shop, one_percent_edit(shop), root, workspace.state, sandbox.gateway, workspace.env, report,
            plan_peak_mb=plan.max_rss_mb)
    print(report.markdown())
    return 1 if report.missed(gated_only=True) else 0


if __name__ == "__main__":
    sys.exit(main())

"""Goal 1, minimal calls: the writes apply sends and the reads plan makes for the benchmark shop,
against the minimal number of each computed from the shop's definition (bench/minimal.py).

One run against a sandbox without latency or call limits:

    plan from empty      reads                   apply from empty      writes
    plan, converged      reads, no change        (1 % random edit)
    plan after the edit  reads                   apply the edit        writes
    apply, converged     writes (0)              plan, converged       reads

Ratios must be 1.00 and a converged apply must send 0 writes. The price guardrails' reads
(list prices, only when a plan changes promotions) are reported on their own, not in the ratio.

    python bench/bench_minimal_calls.py --size reduced
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import CallTally, Figure, Report, SandboxProcess, Workspace, scratch  # noqa: E402
from bench.generate_shop import (  # noqa: E402
    SIZES,
    ShopDef,
    Size,
    generate,
    one_percent_edit,
    pool_item_count,
    sandbox_items,
    write_manifests,
)
from bench.minimal import minimal_reads, minimal_writes  # noqa: E402

GOAL = "1 minimal calls"
EXIT_CHANGES = 2
# A 1 % random edit touches far more than 30 % of the shop's objects (a few items in most pools):
# the safety threshold would block it, as it should for a real shop. The benchmark means it.
FORCE = ("--force",)


@dataclass
class ConvergedShop:
    """A benchmark shop applied to a running sandbox: TOP and the state store hold `live`."""

    size: Size
    sandbox: SandboxProcess
    workspace: Workspace
    base: ShopDef
    live: ShopDef  # what is applied now (the base after its 1 % random edit)
    coupons_on_top: int  # every coupon created (a changed coupon leaves its old one valid)
    plan_peak_mb: dict[str, float]  # max RSS of each `reconciler plan` run, by step


def prepare(size: Size, sandbox: SandboxProcess, root: Path) -> tuple[ShopDef, Workspace]:
    """The shop's manifests in a new workspace, and its listing items in the sandbox."""
    shop = generate(size)
    workspace = Workspace(root, sandbox)
    write_manifests(shop, root)
    sandbox.set_up_items(sandbox_items(shop))
    sandbox.clear_calls()
    return shop, workspace


def run(size: Size, sandbox: SandboxProcess, root: Path, report: Report) -> ConvergedShop:
    sandbox.faults()  # no latency, no call limit: this goal counts calls, it does not time them
    shop, workspace = prepare(size, sandbox, root)
    peaks: dict[str, float] = {}
    campaigns = str(workspace.campaigns)
    print(f"goal 1: {len(shop.pools)} pools x {size.items_per_activity} items ({pool_item_count(shop):,} pool items), "
          f"{len(shop.catalogue)} listing items, {len(shop.coupons)} coupons, "
          f"{len(shop.item_discounts) + len(shop.full_discounts)} discounts", flush=True)

    _plan_reads(workspace, sandbox, report, "plan from empty", minimal_reads(shop, None, 0), peaks)
    _apply_writes(workspace, sandbox, report, "apply from empty", minimal_writes(None, shop))
    coupons = len(shop.coupons)
    _plan_reads(workspace, sandbox, report, "plan when converged", minimal_reads(shop, shop, coupons), peaks,
                changes=False)

    edited = one_percent_edit(shop)
    write_manifests(edited, workspace.root)
    _plan_reads(workspace, sandbox, report, "plan after a 1 % edit", minimal_reads(edited, shop, coupons), peaks)
    _apply_writes(workspace, sandbox, report, "apply after a 1 % edit", minimal_writes(shop, edited))
    coupons += sum(1 for name, coupon in edited.coupons.items() if shop.coupons[name] != coupon)

    converged = workspace.run("apply", campaigns, "--auto-approve").check()
    tally = sandbox.tally()
    report.add(Figure(GOAL, "writes of apply when converged", tally.write_count, "calls", limit=0, exact=True, gate=True,
                      note=f"{converged.wall_s:.1f} s"))
    _plan_reads(workspace, sandbox, report, "plan when converged after the edit", minimal_reads(edited, edited, coupons),
                peaks, changes=False)
    return ConvergedShop(size, sandbox, workspace, shop, edited, coupons, peaks)


def _plan_reads(
    workspace: Workspace, sandbox: SandboxProcess, report: Report, label: str, minimal: Counter[str],
    peaks: dict[str, float], *, changes: bool = True,
) -> CallTally:
    started = time.perf_counter()
    result = workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode", *FORCE).check(
        EXIT_CHANGES if changes else 0)
    tally = sandbox.tally()
    peaks[label] = result.max_rss_mb
    _explain(tally.reads, minimal, f"{label} reads")
    report.add(Figure(GOAL, f"{label}: reads / minimal", tally.read_count / sum(minimal.values()), "ratio", limit=1.0,
                      exact=True, gate=True, note=f"{tally.read_count:,} of {sum(minimal.values()):,} minimal"))
    if tally.write_count:
        report.add(Figure(GOAL, f"{label}: writes (plan never writes)", tally.write_count, "calls", limit=0, exact=True,
                          gate=True))
    if changes:
        report.add(Figure(GOAL, f"{label}: price-guardrail reads", tally.price_read_count, "calls",
                          note="list prices of the items the changes touch; " + _methods(tally.price_reads)))
    print(f"    ({label}: {time.perf_counter() - started:.1f} s, {result.cpu_s:.1f} s CPU, "
          f"{result.max_rss_mb:.0f} MB, exit {result.returncode})", flush=True)
    return tally


def _apply_writes(workspace: Workspace, sandbox: SandboxProcess, report: Report, label: str, minimal: Counter[str]) -> None:
    result = workspace.run("apply", str(workspace.campaigns), "--auto-approve", *FORCE).check()
    tally = sandbox.tally()
    _explain(tally.writes, minimal, f"{label} writes")
    rate = tally.write_count / result.wall_s if result.wall_s else 0.0
    report.add(Figure(GOAL, f"{label}: writes / minimal", tally.write_count / sum(minimal.values()), "ratio", limit=1.0,
                      exact=True, gate=True,
                      note=f"{tally.write_count:,} of {sum(minimal.values()):,} minimal; {result.wall_s:.0f} s, {rate:,.0f} writes/s"))


def _explain(actual: Counter[str], minimal: Counter[str], label: str) -> None:
    """Per method, where the counts differ: what a missed ratio comes from."""
    for method in sorted(actual.keys() | minimal.keys()):
        if actual[method] != minimal[method]:
            print(f"    {label}: {method} sent {actual[method]:,}, minimal {minimal[method]:,}", flush=True)


def _methods(counts: Counter[str]) -> str:
    return ", ".join(f"{method} {count:,}" for method, count in sorted(counts.items())) or "none"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="reduced")
    args = parser.parse_args(argv)
    report = Report()
    with SandboxProcess() as sandbox, scratch("minimal") as root:
        run(SIZES[args.size], sandbox, root, report)
    print(report.markdown())
    return 1 if report.missed(gated_only=True) else 0


if __name__ == "__main__":
    sys.exit(main())

"""Fleet (issue 20.6): many shops of one TOP app, applied by worker processes that share the app's
QPS budget through the PostgreSQL state store (TOP_QPS_SHARED=1), against one sandbox whose
rolling-second call limit is that budget, as TOP's is.

    python bench/bench_fleet.py                 200 shops x (5 pools x 20 items, 5 coupons, 2 discounts)
    python bench/bench_fleet.py --size medium   50 such shops, ~3 minutes
    python bench/bench_fleet.py --size tiny     8 small shops, seconds (tests/test_bench_smoke.py)

For 4 workers (`apply --shard I/4` each, all at once) and then for 1 worker (the ratio), on a fresh
sandbox and a fresh database each: every shop is applied from empty, then planned again by the
same workers. Goals: the aggregate call rate of the apply (every call the sandbox saw, over the
wall time from starting the workers to the last one's exit) at least 90 % of the budget; no call
refused with TOP's call-limit ban (code 7); every shop converged (each worker's second plan exits
0 with --detailed-exitcode: no change).

The sandbox: one process holding every shop, one fixed session per shop (bench/bench_fleet.py
starts it with SandboxServer(sessions=...); each Shop profile names its own TOP_SESSION_<N>
variable). PostgreSQL: a throwaway cluster from Debian's binaries (tests/postgres_server.py), or
RECONCILER_BENCH_POSTGRES_URL (a role that may CREATE DATABASE). Without either, the workers share
the budget through the SQLite store's machine-wide file instead, and the figures say so.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import CallTally, CliRun, Figure, Report, SandboxProcess, run_cli, scratch  # noqa: E402
from bench.generate_shop import SHOP, Size, generate, sandbox_items, write_manifests  # noqa: E402
from reconciler.sandbox.server import DEMO_APP_KEY, DEMO_APP_SECRET  # noqa: E402

GOAL = "6 fleet"
QPS = 100  # the app's budget (TOP_QPS) and the sandbox's rolling-second limit alike
LATENCY_S = 0.05
BAN_SECONDS = 1.0
RATE_GOAL = 0.90
BUDGET_VARIABLE = "RECONCILER_BENCH_POSTGRES_URL"


@dataclass(frozen=True)
class Fleet:
    shops: int
    shop: Size  # each shop's promotions (bench/generate_shop.py; the listing windows are left out)
    workers: tuple[int, ...] = (4, 1)


# "2 discounts": one item discount and one full discount. Ten listing items give the discounts
# items to name; the fleet has no listing windows (the shop has none).
FLEETS = {
    "full": Fleet(200, Size(5, 20, 10, 5, 1, 1, windows=2)),
    # A quarter of the fleet with the same shops: the workers still come near the budget for a
    # minute or so (pacing, bans), in a quarter of the time.
    "medium": Fleet(50, Size(5, 20, 10, 5, 1, 1, windows=2)),
    "tiny": Fleet(8, Size(2, 4, 10, 2, 1, 1, windows=2)),
}


def shop_name(index: int) -> str:
    return f"shop-{index:03d}"


def session_key(index: int) -> str:
    return f"sandbox-session-{shop_name(index)}"


def session_variable(index: int) -> str:
    return f"TOP_SESSION_{index:03d}"


# ---- the sandbox of the fleet: one process, one session per shop ---------------------------


def serve_sandbox(shops: int) -> None:
    """The sandbox in the foreground with a fixed session per shop (`--serve-sandbox N`)."""
    from reconciler.sandbox.server import SESSIONS, SandboxServer

    sessions = {**SESSIONS, **{session_key(i): shop_name(i) for i in range(shops)}}
    server = SandboxServer("127.0.0.1", 0, sessions=sessions)
    print(f"sandbox listening on {server.gateway} ({shops} fleet shops)", flush=True)
    server.serve_forever()


def fleet_sandbox(shops: int) -> SandboxProcess:
    return SandboxProcess(("-m", "bench.bench_fleet", "--serve-sandbox", str(shops)))


# ---- the manifests: one directory per shop -------------------------------------------------


def shop_profile(index: int) -> str:
    return f"""\
apiVersion: campaigns/v1
kind: Shop
metadata:
  name: {shop_name(index)}
spec:
  sign_method: hmac-sha256
  env: {{app_key: TOP_APP_KEY, app_secret: TOP_APP_SECRET, session: {session_variable(index)}, gateway: TOP_GATEWAY}}
"""


def write_fleet(fleet: Fleet, root: Path) -> tuple[Path, list[dict[str, object]]]:
    """campaigns/<shop>/*.yaml for every shop, and the sandbox items of each (POST bodies)."""
    campaigns = root / "campaigns"
    scratch_dir = root / "generated"
    bodies = []
    for index in range(fleet.shops):
        shop = replace(generate(fleet.shop, seed=1000 + index), windows={})
        generated = write_manifests(shop, scratch_dir)
        target = campaigns / shop_name(index)
        target.mkdir(parents=True)
        for path in sorted(generated.glob("*.yaml")):
            if path.name == "shops.yaml":
                continue
            # generate_shop writes one shop, SHOP; each manifest names it as `shop: demo-shop`.
            text = path.read_text(encoding="utf-8").replace(f"shop: {SHOP}", f"shop: {shop_name(index)}")
            (target / path.name).write_text(text, encoding="utf-8")
        (target / "shops.yaml").write_text(shop_profile(index), encoding="utf-8")
        bodies.append({**sandbox_items(shop), "shop": shop_name(index)})
    return campaigns, bodies


# ---- the shared budget's store -------------------------------------------------------------


@contextmanager
def postgres_server() -> Iterator[str | None]:
    """A PostgreSQL URL whose role may create databases, or None when there is none."""
    given = os.environ.get(BUDGET_VARIABLE)
    if given:
        yield given
        return
    from tests.postgres_server import _bin_dir, _Cluster  # the suite's throwaway cluster

    bin_dir = _bin_dir()
    if bin_dir is None:
        yield None
        return
    cluster = _Cluster(bin_dir)
    url = cluster.start()
    try:
        yield url
    finally:
        cluster.stop()


def fresh_database(server: str) -> str:
    import psycopg

    name = f"bench_fleet_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(urlsplit(server)._replace(path=f"/{name}"))


# ---- one run: N workers apply, then plan -----------------------------------------------------


@dataclass(frozen=True)
class Phase:
    runs: list[CliRun]
    wall_s: float  # from starting the workers to the last one's exit
    tally: CallTally
    span_s: float  # first to last call at the sandbox

    @property
    def calls(self) -> int:
        return self.tally.read_count + self.tally.price_read_count + self.tally.write_count

    def rate(self) -> float:
        return self.calls / max(self.wall_s, 1e-9)


def run_workers(command: list[str], workers: int, env: dict[str, str], root: Path,
                sandbox: SandboxProcess) -> Phase:
    sandbox.clear_calls()
    runs: list[CliRun | None] = [None] * workers

    def worker(index: int) -> None:
        shard = ["--shard", f"{index}/{workers}"] if workers > 1 else []
        runs[index] = run_cli([*command, *shard], env, cwd=root)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    calls = sandbox.calls()
    sandbox.clear_calls()
    times = sorted(int(call["at"]) for call in calls)
    span = (times[-1] - times[0]) / 1000 if times else 0.0
    return Phase([run for run in runs if run is not None], wall, CallTally.of(calls), span)


def run_fleet(fleet: Fleet, workers: int, sandbox: SandboxProcess, root: Path, campaigns: Path,
              bodies: list[dict[str, object]], state: str, report: Report, *, gate_rate: bool) -> Phase:
    sandbox.reset()
    sandbox.faults()
    for body in bodies:
        sandbox.set_up_items(body)
    env = {
        "TOP_GATEWAY": sandbox.gateway, "TOP_APP_KEY": DEMO_APP_KEY, "TOP_APP_SECRET": DEMO_APP_SECRET,
        "RECONCILER_STATE": state, "TOP_QPS": str(QPS), "TOP_QPS_SHARED": "1",
        "TOP_QPS_SHARED_DIR": str(root / f"budget-{workers}"),  # used with the SQLite store only
        **{session_variable(i): session_key(i) for i in range(fleet.shops)},
    }
    label = f"{workers} worker{'s' if workers > 1 else ''}"
    print(f"{GOAL}: {fleet.shops} shops, {label}, one budget of {QPS} QPS, sandbox limit {QPS}/s, "
          f"{LATENCY_S * 1000:.0f} ms latency", flush=True)
    sandbox.faults(latency=LATENCY_S, qps_limit=QPS, ban_seconds=BAN_SECONDS)
    try:
        apply = run_workers(["apply", str(campaigns), "--auto-approve"], workers, env, root, sandbox)
        for run in apply.runs:
            run.check()
        plan = run_workers(["plan", str(campaigns), "--detailed-exitcode"], workers, env, root, sandbox)
    finally:
        sandbox.faults()
    changed = [run for run in plan.runs if run.returncode != 0]
    for run in changed:
        print(f"  second plan exit {run.returncode}: {run.stdout[-1500:]}{run.stderr[-1500:]}", flush=True)
    covered = sorted({str(name) for run in shop_lists(campaigns, workers, env, root)
                      for name in json.loads(run.stdout)["shops"]})
    converged = len(covered) if not changed else 0

    # Gated at the full size only: a tiny run lasts seconds, most of them the workers' start-up.
    report.add(Figure(GOAL, f"{label}: apply, aggregate call rate / budget", apply.rate() / QPS, "ratio",
                      limit=RATE_GOAL if gate_rate else None, at_most=False, gate=gate_rate,
                      note=f"{apply.calls:,} calls ({apply.tally.write_count:,} writes) in {apply.wall_s:.1f} s "
                           f"from starting the workers to the last exit = {apply.rate():.1f} calls/s; at the "
                           f"sandbox, first to last call {apply.span_s:.1f} s = "
                           f"{apply.calls / max(apply.span_s, 1e-9):.1f} calls/s; each worker "
                           f"{', '.join(f'{run.wall_s:.0f}' for run in apply.runs)} s"))
    report.add(Figure(GOAL, f"{label}: call-limit bans (calls refused with code 7), apply and second plan",
                      apply.tally.refused + plan.tally.refused, "calls", limit=0, exact=True, gate=True))
    report.add(Figure(GOAL, f"{label}: shops converged (second plan: no change) / shops", converged / fleet.shops,
                      "ratio", limit=1.0, exact=True, gate=True,
                      note=f"{len(covered)} shops in the workers' shards; second plan {plan.calls:,} reads, "
                           f"{plan.tally.write_count} writes, {plan.wall_s:.1f} s = "
                           f"{plan.rate() / QPS:.2f} of the budget; exit codes "
                           f"{sorted(run.returncode for run in plan.runs)}"))
    report.add(Figure(GOAL, f"{label}: peak RSS of a worker's apply", max(run.max_rss_mb for run in apply.runs), "MB",
                      note=f"CPU of all workers {sum(run.cpu_s for run in apply.runs):.1f} s"))
    return apply


def shop_lists(campaigns: Path, workers: int, env: dict[str, str], root: Path) -> list[CliRun]:
    """`reconciler shops --json --shard I/N` of each worker: which shops the shards cover."""
    def listed(index: int) -> CliRun:
        shard = ["--shard", f"{index}/{workers}"] if workers > 1 else []
        return run_cli(["shops", str(campaigns), "--json", *shard], env, cwd=root).check()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(listed, range(workers)))


def run(size_name: str, report: Report, workers: tuple[int, ...] | None = None) -> None:
    fleet = FLEETS[size_name]
    if workers:
        fleet = replace(fleet, workers=workers)
    with scratch("fleet") as root, fleet_sandbox(fleet.shops) as sandbox, postgres_server() as server:
        campaigns, bodies = write_fleet(fleet, root)
        applies = {}
        for workers in fleet.workers:
            if server is None:
                state = str(root / f"state-{workers}.db")
                print(f"{GOAL}: no PostgreSQL ({BUDGET_VARIABLE} unset, no Debian binaries): the workers share "
                      "the SQLite store's budget file instead", flush=True)
            else:
                state = fresh_database(server)
            applies[workers] = run_fleet(fleet, workers, sandbox, root, campaigns, bodies, state, report,
                                         gate_rate=size_name != "tiny")
        if len(applies) > 1:
            most, fewest = max(applies), min(applies)
            report.add(Figure(GOAL, f"apply wall time, {fewest} worker / {most} workers", applies[fewest].wall_s
                              / max(applies[most].wall_s, 1e-9), "ratio",
                              note=f"{applies[fewest].wall_s:.1f} s / {applies[most].wall_s:.1f} s; budget store: "
                                   f"{'PostgreSQL' if server else 'SQLite + budget file'}"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(FLEETS), default="full")
    parser.add_argument("--workers", type=int, nargs="+", default=None,
                        help="worker counts to run, one fleet run each (default: 4 1)")
    parser.add_argument("--markdown", type=Path, default=None, help="write the figures as a Markdown table here")
    parser.add_argument("--json", type=Path, default=None, help="write the figures as JSON here")
    parser.add_argument("--serve-sandbox", type=int, default=None, metavar="SHOPS", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_sandbox is not None:
        serve_sandbox(args.serve_sandbox)
        return 0
    report = Report()
    run(args.size, report, tuple(args.workers) if args.workers else None)
    print(report.markdown())
    if args.markdown:
        args.markdown.write_text(report.markdown() + "\n", encoding="utf-8")
    if args.json:
        from bench.common import dump_json, machine

        dump_json(args.json, {"size": args.size, "machine": machine(), "figures": [f.as_json() for f in report.figures]})
    return 1 if report.missed(gated_only=True) else 0


if __name__ == "__main__":
    sys.exit(main())

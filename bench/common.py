"""What every benchmark shares: a sandbox in its own process, a workspace to run the `reconciler`
command in (also in its own process, timed and measured), the sandbox's call log summed up,
and the figures a benchmark reports.

The sandbox and the CLI run as separate processes, as a user runs them: neither steals the
other's interpreter lock, and each run's wall time, CPU time and peak memory are its own.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `python bench/x.py` from a checkout without an install
    sys.path.insert(0, str(REPO))

from reconciler.sandbox.server import DEMO_APP_KEY, DEMO_APP_SECRET, DEMO_SESSION  # noqa: E402
from reconciler.top import is_write  # noqa: E402

STARTUP_TIMEOUT = 30.0


# ---- the sandbox, in its own process ----------------------------------------------------------


class SandboxProcess:
    """`reconciler sandbox serve --port 0` in a child process; its URL is read from its first line."""

    def __init__(self, args: Sequence[str] = ("-m", "reconciler", "sandbox", "serve", "--port", "0")) -> None:
        self._args = tuple(args)  # what `python` runs; its first line names the gateway's URL
        self._process: subprocess.Popen[str] | None = None
        self.url = ""
        self._http = httpx.Client(timeout=600.0)

    def start(self) -> SandboxProcess:
        self._process = subprocess.Popen(
            [sys.executable, *self._args],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO, env=_child_env({}),
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        found = re.search(r"(http://\S+)/router/rest", line)
        if found is None:
            self.stop()
            raise RuntimeError(f"the sandbox did not start: {line!r}")
        self.url = found.group(1)
        return self

    @property
    def gateway(self) -> str:
        return f"{self.url}/router/rest"

    def stop(self) -> None:
        self._http.close()
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def faults(self, **settings: Any) -> None:
        """Replace the injected faults (latency, qps_limit, ...; nothing = none)."""
        self._http.post(f"{self.url}/_sandbox/faults", json=settings).raise_for_status()

    def clear_calls(self) -> None:
        self._http.post(f"{self.url}/_sandbox/calls/clear").raise_for_status()

    def reset(self) -> None:
        """Forget every shop and call (the faults in force stay)."""
        self._http.post(f"{self.url}/_sandbox/reset").raise_for_status()

    def calls(self) -> list[dict[str, Any]]:
        calls: list[dict[str, Any]] = self._http.get(f"{self.url}/_sandbox/calls").json()["calls"]
        return calls

    def tally(self) -> CallTally:
        """The calls since the last clear_calls, summed up (and the log cleared: it can be large)."""
        tally = CallTally.of(self.calls())
        self.clear_calls()
        return tally

    def set_up_items(self, body: Mapping[str, Any]) -> None:
        self._http.post(f"{self.url}/_sandbox/items", json=body).raise_for_status()


# The price guardrails (reconciler/engine/guardrails.py) read list prices after the kinds have
# planned: onsale.get and inventory.get asking for `price` (the listing kind's inventory reads do
# not), and item.seller.get. Told apart so each is counted on its own.
PRICE_READ_METHODS = ("taobao.items.onsale.get", "taobao.items.inventory.get", "taobao.item.seller.get")


def is_price_read(call: Mapping[str, Any]) -> bool:
    return call["method"] in PRICE_READ_METHODS and "price" in str(call["params"].get("fields", ""))


@dataclass(frozen=True)
class CallTally:
    """What reached the sandbox's gateway: reads (the kinds', the price guardrails') and writes per
    method, refused calls, and when the first and the last write arrived."""

    reads: Counter[str]
    price_reads: Counter[str]
    writes: Counter[str]
    refused: int  # calls answered with an error (with no other fault set: call-limit bans)
    first_write_ms: int | None
    last_write_ms: int | None

    @classmethod
    def of(cls, calls: Sequence[Mapping[str, Any]]) -> CallTally:
        reads: Counter[str] = Counter()
        price_reads: Counter[str] = Counter()
        writes: Counter[str] = Counter()
        write_times = []
        for call in calls:
            if is_write(call["method"]):
                writes[call["method"]] += 1
                write_times.append(int(call["at"]))
            elif is_price_read(call):
                price_reads[call["method"]] += 1
            else:
                reads[call["method"]] += 1
        refused = sum(1 for call in calls if not call["ok"])
        return cls(reads, price_reads, writes, refused, min(write_times, default=None), max(write_times, default=None))

    @property
    def read_count(self) -> int:
        return sum(self.reads.values())

    @property
    def price_read_count(self) -> int:
        return sum(self.price_reads.values())

    @property
    def write_count(self) -> int:
        return sum(self.writes.values())

    @property
    def write_span_s(self) -> float:
        if self.first_write_ms is None or self.last_write_ms is None:
            return 0.0
        return (self.last_write_ms - self.first_write_ms) / 1000


# ---- a workspace and the CLI, in its own process ---------------------------------------------


@dataclass(frozen=True)
class CliRun:
    args: tuple[str, ...]
    returncode: int
    wall_s: float
    cpu_s: float  # user + system of the command's process
    max_rss_mb: float  # its peak resident memory
    stdout: str
    stderr: str

    def check(self, *ok_codes: int) -> CliRun:
        if self.returncode not in (ok_codes or (0,)):
            raise RuntimeError(
                f"reconciler {' '.join(self.args[:2])} exited {self.returncode}:\n{self.stderr[-3000:]}\n{self.stdout[-2000:]}"
            )
        return self


class Workspace:
    """A directory with campaigns/ and a state store, and the environment a user would have."""

    def __init__(self, root: Path, sandbox: SandboxProcess, *, qps: int = 10_000, concurrency: int | None = None) -> None:
        self.root = root
        self.state = root / "state.db"
        self.env = {
            "TOP_GATEWAY": sandbox.gateway,
            "TOP_APP_KEY": DEMO_APP_KEY,
            "TOP_APP_SECRET": DEMO_APP_SECRET,
            "TOP_SESSION": DEMO_SESSION,
            "RECONCILER_STATE": str(self.state),
            "TOP_QPS": str(qps),
        }
        if concurrency is not None:
            self.env["TOP_CONCURRENCY"] = str(concurrency)

    @property
    def campaigns(self) -> Path:
        return self.root / "campaigns"

    def with_qps(self, qps: int, concurrency: int | None = None) -> Workspace:
        other = Workspace.__new__(Workspace)
        other.root, other.state = self.root, self.state
        other.env = {**self.env, "TOP_QPS": str(qps)}
        if concurrency is not None:
            other.env["TOP_CONCURRENCY"] = str(concurrency)
        return other

    def run(self, *args: str) -> CliRun:
        return run_cli(args, self.env, cwd=self.root)


def _child_env(extra: Mapping[str, str]) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("TOP_", "RECONCILER_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    return {**env, **extra}


def run_cli(args: Sequence[str], env: Mapping[str, str], *, cwd: Path) -> CliRun:
    """`python -m reconciler ARGS`, measured with wait4: wall time, CPU time and peak memory of
    that process alone."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "reconciler", *args], stdout=out, stderr=err, stdin=subprocess.DEVNULL,
            cwd=cwd, env=_child_env(env),
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return CliRun(tuple(args), process.returncode, wall, usage.ru_utime + usage.ru_stime,
                      usage.ru_maxrss / 1024, out.read(), err.read())


@contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=f"bench-{prefix}-") as directory:
        yield Path(directory)


# ---- figures -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One measured figure. `limit` and `at_most` make it a goal; `gate` marks the goals CI
    enforces (ratios and counts, never seconds, which depend on the machine)."""

    goal: str
    name: str
    value: float
    unit: str = ""
    limit: float | None = None
    at_most: bool = True
    exact: bool = False  # the value must equal the limit (a ratio of 1.00, zero writes)
    gate: bool = False
    note: str = ""

    @property
    def met(self) -> bool | None:
        if self.limit is None:
            return None
        if self.exact:
            return abs(self.value - self.limit) < 1e-9
        return self.value <= self.limit + 1e-9 if self.at_most else self.value >= self.limit - 1e-9

    def shown(self) -> str:
        number = f"{self.value:,.0f}" if float(self.value).is_integer() and abs(self.value) >= 100 else f"{self.value:,.3g}"
        if self.unit == "ratio":
            number = f"{self.value:.2f}"
        elif self.unit == "x":
            number = f"{self.value:,.0f}x"
        elif self.unit in ("s", "MB"):
            number = f"{self.value:,.2f} {self.unit}" if self.value < 100 else f"{self.value:,.0f} {self.unit}"
        elif self.unit:
            number = f"{number} {self.unit}"
        return number

    def target(self) -> str:
        if self.limit is None:
            return ""
        sign = "=" if self.exact else ("≤" if self.at_most else "≥")
        if self.unit == "ratio":
            limit = f"{self.limit:.2f}"
        elif float(self.limit).is_integer():
            limit = f"{self.limit:,.0f}"
        else:
            limit = f"{self.limit:,.3g}"
        return f"{sign} {limit}{' ' + self.unit if self.unit not in ('ratio', '') else ''}"

    def as_json(self) -> dict[str, Any]:
        return {"goal": self.goal, "name": self.name, "value": self.value, "unit": self.unit, "limit": self.limit,
                "at_most": self.at_most, "exact": self.exact, "gate": self.gate, "met": self.met, "note": self.note}


@dataclass
class Report:
    figures: list[Figure] = field(default_factory=list)

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        print(f"  {figure.goal} {figure.name}: {figure.shown()} {figure.target()}"
              f"{'' if figure.met is None else (' ok' if figure.met else ' MISSED')}", flush=True)
        return figure

    def missed(self, *, gated_only: bool) -> list[Figure]:
        return [f for f in self.figures if f.met is False and (f.gate or not gated_only)]

    def markdown(self) -> str:
        lines = ["| goal | figure | value | target | met |", "|---|---|---|---|---|"]
        for f in self.figures:
            met = "" if f.met is None else ("yes" if f.met else "**no**")
            name = f.name + (f" ({f.note})" if f.note else "")
            lines.append(f"| {f.goal} | {name} | {f.shown()} | {f.target()}{' (CI gate)' if f.gate else ''} | {met} |")
        return "\n".join(lines)


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    def run(*command: str) -> str:
        try:
            return subprocess.run(command, capture_output=True, text=True, check=False).stdout.strip()
        except OSError:
            return "unknown"

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown") if Path("/proc/cpuinfo").exists() else platform.processor()
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": run("nproc"),
        "cpu": cpu,
        "memory": run("free", "-h").splitlines()[1] if run("free", "-h") else "unknown",
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


def dump_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")

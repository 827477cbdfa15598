"""Shared fixtures: a real sandbox over HTTP on loopback, and a way to run the CLI against it."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from reconciler.cli import cli
from reconciler.sandbox import DEMO_ALIMAMA_APP_KEY, DEMO_ALIMAMA_APP_SECRET, DEMO_APP_KEY, DEMO_APP_SECRET, DEMO_SESSION, SandboxServer
from reconciler.top import is_write
from tests.pinned_clock import pinned, under_faketime
from tests.postgres_server import postgres_server, postgres_url  # noqa: F401  (fixtures)

REPO = Path(__file__).resolve().parents[1]

# The suite reads English whatever the machine's locale (LANG=zh_CN.* speaks Chinese, issue 21.3),
# in this process and every child it starts; a test of the Chinese output asks for it itself.
for _name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "RECONCILER_LANG"):
    os.environ.pop(_name, None)
os.environ["LANG"] = "C.UTF-8"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "real_clock: run on the machine's clock, not the pinned one (a test whose processes all "
        "read the real clock and whose dates are relative to it)")
    config.addinivalue_line(
        "markers", "pinned_moment: holds only at tests/pinned_clock.MOMENT (fixed dates that a later calendar "
        "passes): skipped under test_future_dates' libfaketime, where no clock is pinned")


@pytest.fixture(autouse=True)
def pinned_clock(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test runs at tests/pinned_clock.MOMENT, whatever the machine's date: fixtures carry
    fixed 2027 dates that the real calendar will pass (see tests/pinned_clock.py)."""
    if request.node.get_closest_marker("real_clock"):
        yield
        return
    if under_faketime() and request.node.get_closest_marker("pinned_moment"):
        pytest.skip("holds only at the pinned moment; under libfaketime no clock is pinned (tests/pinned_clock.py)")
    with pinned():
        yield


@dataclass
class Sandbox:
    server: SandboxServer

    @property
    def gateway(self) -> str:
        return self.server.gateway

    def calls(self) -> list[dict[str, Any]]:
        return httpx.get(f"{self.server.url}/_sandbox/calls").json()["calls"]

    def writes(self) -> list[dict[str, Any]]:
        return [call for call in self.calls() if is_write(call["method"])]

    def clear_calls(self) -> None:
        httpx.post(f"{self.server.url}/_sandbox/calls/clear").raise_for_status()

    def state(self) -> dict[str, Any]:
        return httpx.get(f"{self.server.url}/_sandbox/state").json()


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    server = SandboxServer(port=0)
    server.start()
    try:
        yield Sandbox(server)
    finally:
        server.stop()


@dataclass
class Workspace:
    """A campaigns directory, a state file and the environment a user would have."""

    root: Path
    env: dict[str, str]

    @property
    def campaigns(self) -> Path:
        return self.root / "campaigns"

    def write(self, name: str, text: str) -> Path:
        path = self.campaigns / name
        path.write_text(text, encoding="utf-8")
        return path

    def run(self, *args: str) -> Result:
        runner = CliRunner()
        return runner.invoke(cli, list(args), env=self.env, catch_exceptions=False)


@pytest.fixture
def workspace(tmp_path: Path, sandbox: Sandbox) -> Workspace:
    campaigns = tmp_path / "campaigns"
    campaigns.mkdir()
    # The workspace is a project (reconciler/project.py); RECONCILER_STATE below still wins.
    (tmp_path / "reconciler.toml").write_text("# a test workspace\n", encoding="utf-8")
    shutil.copy(REPO / "campaigns" / "shops.yaml", campaigns / "shops.yaml")
    env = {
        "TOP_GATEWAY": sandbox.gateway,
        "TOP_APP_KEY": DEMO_APP_KEY,
        "TOP_APP_SECRET": DEMO_APP_SECRET,
        "TOP_SESSION": DEMO_SESSION,
        "ALIMAMA_APP_KEY": DEMO_ALIMAMA_APP_KEY,  # the shop's Taoke app (shops.yaml spec.taoke)
        "ALIMAMA_APP_SECRET": DEMO_ALIMAMA_APP_SECRET,
        # The sandbox has no quota; the default budget (10 calls/s, real TOP's common tier) would
        # only make every end-to-end test slow. Tests of the budget itself set their own.
        "TOP_QPS": "1000",
        "RECONCILER_STATE": str(tmp_path / "state.db"),
    }
    return Workspace(tmp_path, env)

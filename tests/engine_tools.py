"""Helpers for the engine's unit tests (tests/test_engine_*.py): manifests from text, a state
store in a temporary directory, our real TOP client against the sandbox over real HTTP, and the
sandbox's business clock pinned to the moment the engine is given — no CLI in between."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import httpx

from reconciler.engine import PlanOptions, desired_resources, make_plan
from reconciler.kinds import Caller
from reconciler.manifest.loader import load_manifest_texts
from reconciler.model import Plan, Resource
from reconciler.sandbox import DEMO_APP_KEY, DEMO_APP_SECRET, DEMO_SESSION
from reconciler.state import StateStore, open_store
from reconciler.top import Credentials, TopClient
from tests.conftest import Sandbox
from tests.pinned_clock import MOMENT

REPO = Path(__file__).resolve().parents[1]
# The suite's moment (before every dated object of the demo manifests): the engine is handed it
# and the sandbox's business rules run at it (pin_clock), so these tests mean the same whatever
# the calendar says, also apart from conftest's pinned clocks.
NOW = MOMENT
SHOPS = (REPO / "campaigns" / "shops.yaml").read_text(encoding="utf-8")


def pin_clock(sandbox: Sandbox, moment: datetime = NOW) -> None:
    httpx.post(f"{sandbox.server.url}/_sandbox/clock", json={"at": moment.isoformat()}).raise_for_status()


def stock_items(sandbox: Sandbox, items: Sequence[dict[str, object]], shop: str = "demo-shop") -> None:
    """Replace the shop's item catalogue (the list prices the price check reads)."""
    body = {"shop": shop, "replace": True, "items": list(items)}
    httpx.post(f"{sandbox.server.url}/_sandbox/items", json=body).raise_for_status()


def set_faults(sandbox: Sandbox, faults: dict[str, object]) -> None:
    httpx.post(f"{sandbox.server.url}/_sandbox/faults", json=faults).raise_for_status()


def desired(*manifests: str, now: datetime = NOW) -> list[Resource]:
    """The normalised resources of manifest texts (campaigns/shops.yaml's demo-shop comes along)."""
    sources = [("campaigns/shops.yaml", SHOPS)] + [(f"campaigns/m{n}.yaml", text) for n, text in enumerate(manifests)]
    return desired_resources(load_manifest_texts(sources), now)


def demo_manifest(name: str) -> str:
    """A manifest file of the repository's demo (campaigns/NAME), minus references to other files."""
    text = (REPO / "campaigns" / name).read_text(encoding="utf-8")
    return "\n".join(line for line in text.splitlines() if "nicks_file:" not in line) + "\n"


@contextmanager
def top_client(sandbox: Sandbox) -> Iterator[TopClient]:
    with TopClient(Credentials(DEMO_APP_KEY, DEMO_APP_SECRET, DEMO_SESSION, sandbox.gateway)) as client:
        yield client


@contextmanager
def state_store(root: Path) -> Iterator[StateStore]:
    with open_store({"RECONCILER_STATE": str(root / "state.db")}) as store:
        yield store


def one_client(client: Caller) -> Callable[[str], Caller]:
    """client_for of a single shop's client (every test shop is the sandbox's demo-shop)."""
    return lambda shop: client


def plan_of(resources: Sequence[Resource], store: StateStore, client: Caller) -> Plan:
    return make_plan(resources, store, one_client(client), PlanOptions(now=NOW))

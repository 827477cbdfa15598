"""A fleet of shops (issue 20 points 1-2), end to end through the sandbox over real HTTP:
--shop and --shard on plan, apply, drift and price; `reconciler shops`; journal recovery and
locks limited to the shops in scope; several repositories sharing one state store (SQLite file
and PostgreSQL), each in its own namespace (reconciler.toml's id); a shop of this project whose
Shop profile was removed."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import Result

from reconciler.model import ResourceKey
from reconciler.sandbox.server import DEMO_APP_KEY, DEMO_APP_SECRET, DEMO_SESSION, OTHER_SESSION
from reconciler.settings import Scope, Shard
from reconciler.state import open_store
from tests.conftest import Sandbox, Workspace

SHOPS = ("demo-shop", "other-shop")
ADD = "taobao.promotion.coupon.add"
WINDOW = '{start: "2026-12-10T00:00:00+08:00", end: "2027-01-31T23:59:59+08:00"}'


def profile(shop: str) -> str:
    session = "TOP_SESSION" if shop == "demo-shop" else "TOP_OTHER_SESSION"
    return f"""\
apiVersion: campaigns/v1
kind: Shop
metadata: {{name: {shop}}}
spec:
  sign_method: hmac-sha256
  env: {{app_key: TOP_APP_KEY, app_secret: TOP_APP_SECRET, session: {session}, gateway: TOP_GATEWAY}}
"""


def coupon(shop: str, name: str = "welcome", denomination: str = "5.00") -> str:
    return f"""\
apiVersion: campaigns/v1
kind: ShopCoupon
metadata: {{name: {name}, shop: {shop}}}
spec:
  denomination: "{denomination}"
  order_at_least: "49.00"
  window: {WINDOW}
"""


def repository(root: Path, sandbox: Sandbox, state: str, shops: tuple[str, ...] = SHOPS,
               project_id: str | None = None) -> Workspace:
    """A repository with a Shop profile and one coupon per shop (other content per shop, so the
    duplicate guard never mistakes one shop's coupon for another's)."""
    campaigns = root / "campaigns"
    campaigns.mkdir(parents=True)
    (root / "reconciler.toml").write_text(f'id = "{project_id}"\n' if project_id else "# no id\n", encoding="utf-8")
    for index, shop in enumerate(shops):
        (campaigns / f"{shop}.yaml").write_text(
            profile(shop) + "---\n" + coupon(shop, denomination=("5.00", "10.00", "20.00")[index % 3]), encoding="utf-8")
    env = {
        "TOP_GATEWAY": sandbox.gateway, "TOP_APP_KEY": DEMO_APP_KEY, "TOP_APP_SECRET": DEMO_APP_SECRET,
        "TOP_SESSION": DEMO_SESSION, "TOP_OTHER_SESSION": OTHER_SESSION, "TOP_QPS": "1000",
        "RECONCILER_STATE": state,
    }
    return Workspace(root, env)


@pytest.fixture
def fleet(workspace: Workspace, sandbox: Sandbox, tmp_path: Path) -> Workspace:
    return repository(tmp_path / "repo", sandbox, str(tmp_path / "state.db"), project_id="fleet-a")


def written_shops(sandbox: Sandbox) -> set[str]:
    return {call["session"] for call in sandbox.writes()}


def run(repo: Workspace, *args: str) -> Result:
    return repo.run(*args[:1], str(repo.campaigns), *args[1:])


def ok(result: Result, code: int = 0) -> Result:
    assert result.exit_code == code, result.output
    return result


def planned(repo: Workspace, *flags: str) -> set[str]:
    """The addresses `plan --json` would change (stdout alone is the document)."""
    data = json.loads(ok(run(repo, "plan", "--json", *flags)).stdout)
    return {f"{c['shop']}/{c['kind']}/{c['name']}" for c in data["changes"]}


# ---- --shop ----------------------------------------------------------------------------------


def test_plan_and_apply_one_shop_at_a_time(fleet: Workspace, sandbox: Sandbox) -> None:
    assert planned(fleet, "--shop", "other-shop") == {"other-shop/ShopCoupon/welcome"}
    assert "demo-shop" not in ok(run(fleet, "plan", "--shop", "other-shop")).output  # nor named in the header
    assert planned(fleet) == {"demo-shop/ShopCoupon/welcome", "other-shop/ShopCoupon/welcome"}
    ok(run(fleet, "apply", "--shop", "demo-shop", "--auto-approve"))
    assert written_shops(sandbox) == {"demo-shop"}
    assert planned(fleet) == {"other-shop/ShopCoupon/welcome"}
    sandbox.clear_calls()
    ok(run(fleet, "apply", "--shop", "other-shop", "--auto-approve"))
    assert written_shops(sandbox) == {"other-shop"}
    ok(run(fleet, "plan", "--detailed-exitcode"))  # converged: exit 0
    for shop in SHOPS:  # drift and price take the same scope
        drift = ok(run(fleet, "drift", "--shop", shop, "--json"))
        assert [entry["shop"] for entry in json.loads(drift.stdout)["where"]["shops"]] == [shop]
        priced = ok(run(fleet, "price", "--shop", shop, "--json"))
        assert [entry["shop"] for entry in json.loads(priced.stdout)["where"]["shops"]] == [shop]


def test_a_shop_no_profile_names_is_refused(fleet: Workspace) -> None:
    result = ok(run(fleet, "plan", "--shop", "demo-shp"), 1)
    assert "--shop demo-shp: no Shop profile of that name in the manifests; known: demo-shop, other-shop" in result.output


def test_a_saved_plan_of_one_shop_applies_only_that_shop(fleet: Workspace, sandbox: Sandbox) -> None:
    saved = str(fleet.root / "plan.json")
    ok(run(fleet, "plan", "--shop", "other-shop", "--out", saved))
    with open_store(fleet_env(fleet)) as other_apply:  # another apply holds demo-shop meanwhile
        with other_apply.lock("demo-shop", timeout=1):
            ok(fleet.run("apply", saved, "--lock-timeout", "0.3"))
    assert written_shops(sandbox) == {"other-shop"}
    assert planned(fleet) == {"demo-shop/ShopCoupon/welcome"}


def fleet_env(repo: Workspace) -> dict[str, str]:
    """The store as the repository's runs open it (its namespace included)."""
    return {**repo.env, "RECONCILER_PROJECT_ID": (repo.root / "reconciler.toml").read_text().split('"')[1]}


# ---- --shard and `reconciler shops` ------------------------------------------------------------


def test_shards_partition_the_shops_and_apply_each_once(sandbox: Sandbox, tmp_path: Path, workspace: Workspace) -> None:
    shops = ("demo-shop", "other-shop")
    repo = repository(tmp_path / "repo", sandbox, str(tmp_path / "state.db"), shops)
    listed = json.loads(ok(repo.run("shops", str(repo.campaigns), "--json")).stdout)
    assert listed == {"format_version": 1, "shard": None, "shops": list(shops)}
    schema = Path(__file__).resolve().parent.parent / "reconciler" / "schemas" / "output" / "shops.schema.json"
    jsonschema.validate(listed, json.loads(schema.read_text(encoding="utf-8")))
    for count in (1, 2, 3):
        shards = [json.loads(ok(repo.run("shops", str(repo.campaigns), "--json", "--shard", f"{i}/{count}")).stdout)
                  for i in range(count)]
        assert [shard["shard"] for shard in shards] == [f"{i}/{count}" for i in range(count)]
        members = [shop for shard in shards for shop in shard["shops"]]
        assert sorted(members) == list(shops)  # each shop in exactly one shard; together all of them
    count = 2
    for index in range(count):
        sandbox.clear_calls()
        shard = ok(repo.run("shops", str(repo.campaigns), "--json", "--shard", f"{index}/{count}"))
        members = set(json.loads(shard.stdout)["shops"])
        assert len(members) == 1  # demo-shop in 0/2, other-shop in 1/2 (pinned below)
        ok(run(repo, "apply", "--shard", f"{index}/{count}", "--auto-approve"))
        assert written_shops(sandbox) == members
    sandbox.clear_calls()
    ok(run(repo, "plan", "--detailed-exitcode"))
    text = ok(repo.run("shops", str(repo.campaigns))).output
    assert text == "demo-shop\nother-shop\n"


def test_a_malformed_shard_is_refused(fleet: Workspace) -> None:
    for text in ("2/2", "1", "-1/2", "a/b", "0/0"):
        result = ok(run(fleet, "plan", "--shard", text), 1)
        assert f"--shard '{text}' is not I/N with 0 ≤ I < N" in result.output


def test_shard_assignment_is_stable_and_spread() -> None:
    """A shop's shard is SHA-256 of its name mod N: the same on every machine and run, and a shop
    never moves when others are added. Pinned values, so a change of the function is noticed."""
    assert [Shard(i, 4).covers("demo-shop") for i in range(4)].count(True) == 1
    assert [i for i in range(4) if Shard(i, 4).covers("demo-shop")] == [0]  # sha256("demo-shop")[:8] mod 4
    assert Shard(1, 2).covers("other-shop") and Shard(0, 2).covers("demo-shop")  # the e2e test's two shards
    names = [f"shop-{n:04d}" for n in range(1000)]
    sizes = [sum(Shard(i, 8).covers(name) for name in names) for i in range(8)]
    assert sum(sizes) == 1000 and min(sizes) > 90  # about 125 each
    both = Scope.parse(shops=["demo-shop", "other-shop"], shard="0/4")
    assert both.covers_shop("demo-shop") and not both.covers_shop("third-shop")


# ---- scope covers journal recovery and locks ---------------------------------------------------


def test_recovery_and_locks_leave_shops_out_of_scope_alone(fleet: Workspace, sandbox: Sandbox) -> None:
    ok(run(fleet, "apply", "--auto-approve"))
    other = ResourceKey("other-shop", "ShopCoupon", "welcome")
    with open_store(fleet_env(fleet)) as store:  # an apply of other-shop that crashed mid-write
        entry = store.journal_sent("crashed-run", other, ADD, {"denominations": "10"}, {})
    sandbox.clear_calls()
    with open_store(fleet_env(fleet)) as store, store.lock("other-shop", timeout=1):  # and its lock still held
        result = ok(run(fleet, "apply", "--shop", "demo-shop", "--auto-approve", "--lock-timeout", "0.3"))
        assert "recovered" not in result.output
        planned = ok(run(fleet, "plan", "--shop", "demo-shop"))
        assert "interrupted apply" not in planned.output
        waited = ok(run(fleet, "apply", "--auto-approve", "--lock-timeout", "0.3"), 1)
        assert "shop other-shop is locked by another apply" in waited.output  # unscoped: it needs other-shop
    with open_store(fleet_env(fleet)) as store:
        assert [e.id for e in store.journal(status="sent")] == [entry]  # left for other-shop's own apply


# ---- a shop of this project whose Shop profile was removed ---------------------------------------


def test_a_removed_shop_profile_is_an_error_naming_the_shop(fleet: Workspace) -> None:
    ok(run(fleet, "apply", "--auto-approve"))
    (fleet.campaigns / "other-shop.yaml").unlink()
    result = ok(run(fleet, "plan"), 1)
    assert "shop 'other-shop' has 1 managed object(s) in this project's state store (project id 'fleet-a') but no Shop profile" in result.output
    assert "--prune" in result.output and "reconciler state rm other-shop/KIND/NAME" in result.output
    ok(run(fleet, "plan", "--shop", "demo-shop", "--detailed-exitcode"))  # the other shops still run
    forgot = ok(_in(fleet.root, fleet, "state", "rm", "other-shop/ShopCoupon/welcome"))
    assert "forgot" in forgot.output
    ok(run(fleet, "plan", "--detailed-exitcode"))


def _in(directory: Path, repo: Workspace, *args: str) -> Result:
    """A command given no manifests finds its project from the working directory."""
    import os

    before = os.getcwd()
    os.chdir(directory)
    try:
        return repo.run(*args)
    finally:
        os.chdir(before)


# ---- two repositories, one store --------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_repositories_share_one_store_without_seeing_each_other(
    backend: str, sandbox: Sandbox, tmp_path: Path, request: pytest.FixtureRequest, workspace: Workspace,
) -> None:
    state = str(tmp_path / "shared.db") if backend == "sqlite" else request.getfixturevalue("postgres_url")
    alpha = repository(tmp_path / "alpha", sandbox, state, ("demo-shop",), project_id="alpha")
    beta = repository(tmp_path / "beta", sandbox, state, ("other-shop",), project_id="beta")
    ok(run(alpha, "apply", "--auto-approve"))
    assert written_shops(sandbox) == {"demo-shop"}
    sandbox.clear_calls()
    ok(run(beta, "plan"))  # alpha's demo-shop rows are not beta's: no "no Shop profile" error
    ok(run(beta, "apply", "--auto-approve"))
    assert written_shops(sandbox) == {"other-shop"}
    for repo, shop in ((alpha, "demo-shop"), (beta, "other-shop")):
        ok(run(repo, "plan", "--detailed-exitcode"))
        listed = json.loads(ok(_in(repo.root, repo, "state", "list", "--json")).stdout)
        assert {obj["shop"] for obj in listed["objects"]} == {shop}
        header = ok(run(repo, "plan")).output
        assert f"(found by reconciler.toml, id {repo.root.name})" in header
    # Lock names carry the namespace: each project's shop is its own.
    with open_store(fleet_env(alpha)) as a, open_store(fleet_env(beta)) as b, open_store(fleet_env(alpha)) as a2:
        with a.lock("demo-shop", timeout=1), b.lock("demo-shop", timeout=0):
            pass
        with a.lock("demo-shop", timeout=1), pytest.raises(Exception, match="locked by another apply"):
            with a2.lock("demo-shop", timeout=0):
                pass


def test_project_id_is_checked_and_written_by_init(tmp_path: Path, workspace: Workspace) -> None:
    bad = tmp_path / "bad"
    (bad / "campaigns").mkdir(parents=True)
    (bad / "reconciler.toml").write_text('id = "two words"\n', encoding="utf-8")
    result = workspace.run("validate", str(bad / "campaigns"))
    assert result.exit_code == 0  # validate needs no project
    planned = workspace.run("plan", str(bad / "campaigns"))
    assert planned.exit_code == 1 and "id 'two words' is not a project id" in planned.output
    made = workspace.run("init", str(tmp_path / "My Shops"))
    assert made.exit_code == 0, made.output
    text = (tmp_path / "My Shops" / "reconciler.toml").read_text(encoding="utf-8")
    line = next(line for line in text.splitlines() if line.startswith("id = "))
    assert line.startswith('id = "My-Shops-') and len(line) == len('id = "My-Shops-12345678"')


def test_import_from_one_shops_files_is_not_an_orphan(fleet: Workspace) -> None:
    """`import` PATHS may be one shop's files ("narrow PATHS to one shop's files"): the other
    shops the store manages are not missing their profiles then."""
    ok(run(fleet, "apply", "--auto-approve"))
    listed = json.loads(ok(_in(fleet.root, fleet, "state", "list", "--json")).stdout)
    remote_id = next(obj["remote_id"] for obj in listed["objects"] if obj["shop"] == "demo-shop")
    ok(_in(fleet.root, fleet, "state", "rm", "demo-shop/ShopCoupon/welcome"))
    ok(fleet.run("import", "ShopCoupon", "welcome", remote_id, str(fleet.campaigns / "demo-shop.yaml")))
    ok(run(fleet, "plan", "--detailed-exitcode"))


def test_a_saved_plan_takes_no_shop_scope_of_its_own(fleet: Workspace) -> None:
    saved = str(fleet.root / "plan.json")
    ok(run(fleet, "plan", "--out", saved))
    refused = fleet.run("apply", saved, "--shard", "0/2", "--auto-approve")
    assert refused.exit_code == 2 and "give --shop or --shard to `plan --out` instead" in refused.output

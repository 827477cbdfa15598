"""The project root (reconciler/project.py), the header every run prints (reconciler/where.py)
and `reconciler init` (reconciler/starter): one store whatever the working directory."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from reconciler.project import ProjectError, describe_state, find_project
from reconciler.sandbox.server import DEMO_ALIMAMA_APP_SECRET
from reconciler.sandbox.families.tbk import DEMO_ALIMAMA_APP_KEY
from reconciler.top.gateways import public_url
from tests.conftest import REPO, Sandbox, Workspace
from tests.test_e2e_coupons import coupon
from tests.test_e2e_discounts import item_discount
from tests.test_e2e_discounts import known_items  # noqa: F401  (an autouse fixture: the ids item_discount names)

PLAN_SCHEMA = REPO / "reconciler" / "schemas" / "output" / "plan.schema.json"


def _own_store(workspace: Workspace) -> Path:
    """Let the project decide where the store is, as a user's run does (the fixture sets one)."""
    del workspace.env["RECONCILER_STATE"]
    return workspace.root.resolve() / ".reconciler" / "state.db"


def test_three_working_directories_use_one_store(
    workspace: Workspace, sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _own_store(workspace)
    root = workspace.root.resolve()
    workspace.write("coupons.yaml", coupon("welcome-10"))
    workspace.write("discounts.yaml", item_discount("tea"))
    monkeypatch.chdir(workspace.root)
    applied = workspace.run("apply", "campaigns", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert store.is_file()

    elsewhere = tmp_path_factory.mktemp("elsewhere")
    for cwd, path in ((workspace.root, "campaigns"), (workspace.campaigns, "."), (elsewhere, str(workspace.campaigns))):
        monkeypatch.chdir(cwd)
        sandbox.clear_calls()
        planned = workspace.run("plan", path, "--detailed-exitcode")
        assert planned.exit_code == 0, f"from {cwd}: {planned.output}"
        assert "No changes" in planned.output
        assert f"project: {root} (found by reconciler.toml)" in planned.stdout
        assert f"state:   sqlite {store}" in planned.stdout
        assert sandbox.writes() == []
    # Commands given no manifests find the project from the working directory, upwards.
    monkeypatch.chdir(workspace.campaigns)
    assert "demo-shop/ShopCoupon/welcome-10" in workspace.run("state", "list").output
    assert [p for p in (*root.rglob(".reconciler"), *elsewhere.rglob(".reconciler"))] == [root / ".reconciler"]


def test_the_header_names_root_store_and_gateways_and_json_carries_them(
    workspace: Workspace, sandbox: Sandbox
) -> None:
    store = _own_store(workspace)
    workspace.write("coupons.yaml", coupon("welcome-10"))
    planned = workspace.run("plan", str(workspace.campaigns), "--json")
    assert planned.exit_code == 0, planned.output
    data = json.loads(planned.stdout)  # the header went to stderr: stdout is pure JSON
    jsonschema.validate(data, json.loads(PLAN_SCHEMA.read_text(encoding="utf-8")))
    assert data["where"] == {
        "project_root": str(workspace.root.resolve()),
        "found_by": "reconciler.toml",
        "state_store": f"sqlite {store}",
        "shops": [{"shop": "demo-shop", "gateway": sandbox.gateway}],
    }
    assert f"shop demo-shop: gateway {sandbox.gateway}" in planned.stderr

    drift = workspace.run("drift", str(workspace.campaigns), "--json")
    assert json.loads(drift.stdout)["where"] == data["where"]
    for command in (("apply", str(workspace.campaigns), "--auto-approve"), ("price", str(workspace.campaigns))):
        ran = workspace.run(*command)
        assert ran.exit_code == 0, ran.output
        assert ran.stdout.startswith(f"project: {workspace.root.resolve()} (found by reconciler.toml)\n"), ran.stdout


def test_root_is_the_project_file_else_git_else_the_manifests_directory(tmp_path: Path) -> None:
    campaigns = tmp_path / "repo" / "shop" / "campaigns"
    campaigns.mkdir(parents=True)
    alone = find_project([str(campaigns)], {}, cwd=tmp_path)
    assert (alone.root, alone.found_by) == (campaigns, "manifests' directory")
    assert alone.warning and "reconciler init" in alone.warning
    (tmp_path / "repo" / ".git").mkdir()
    in_git = find_project([str(campaigns / "x.yaml")], {}, cwd=campaigns)
    assert (in_git.root, in_git.found_by) == (tmp_path / "repo", "git")
    assert in_git.state == str(tmp_path / "repo" / ".reconciler" / "state.db") and in_git.warning is None
    (tmp_path / "repo" / "shop" / "reconciler.toml").write_text('state = "db/s.db"\ntoken_file = "t.json"\n')
    marked = find_project(["campaigns"], {}, cwd=tmp_path / "repo" / "shop")
    assert (marked.root, marked.found_by) == (tmp_path / "repo" / "shop", "reconciler.toml")
    assert marked.state == str(marked.root / "db" / "s.db") and marked.token_file == marked.root / "t.json"


def test_explicit_locations_win_and_relative_ones_are_relative_to_the_root(tmp_path: Path) -> None:
    (tmp_path / "reconciler.toml").write_text("")
    (tmp_path / "campaigns").mkdir()
    cwd = tmp_path / "campaigns"
    given = {"RECONCILER_STATE": "stores/s.db", "TOP_TOKEN_FILE": "secret/t.json"}
    project = find_project(["."], given, cwd=cwd)
    assert project.state == str(tmp_path / "stores" / "s.db")
    assert project.token_file == tmp_path / "secret" / "t.json"
    assert find_project(["."], {"RECONCILER_STATE": "/abs/s.db"}, cwd=cwd).state == "/abs/s.db"
    assert find_project(["."], {"RECONCILER_STATE": "sqlite:///rel.db"}, cwd=cwd).state == str(tmp_path / "rel.db")
    url = "postgresql://reconciler:pw@db.example:5433/shops?sslmode=require"
    assert find_project(["."], {"RECONCILER_STATE": url}, cwd=cwd).state == url
    assert describe_state(url) == "postgresql db.example:5433/shops"
    # A gateway is named without what its URL may hold besides the place: user, password, query.
    assert public_url("https://u:p@gw.api.taobao.com/router/rest?x=1") == "https://gw.api.taobao.com/router/rest"
    assert public_url("https://gw.api.taobao.com:notaport/") == "(not a URL)"


def test_project_file_mistakes_are_errors(tmp_path: Path) -> None:
    (tmp_path / "reconciler.toml").write_text('stat = ".reconciler/state.db"\n')
    with pytest.raises(ProjectError, match="unknown setting"):
        find_project([], {}, cwd=tmp_path)
    (tmp_path / "reconciler.toml").write_text('state = "postgresql://u:secret@db/shops"\n')
    with pytest.raises(ProjectError, match="holds a password") as raised:
        find_project([], {}, cwd=tmp_path)
    assert "secret" not in str(raised.value)
    one, two = tmp_path / "one", tmp_path / "two"
    for directory in (one, two):
        directory.mkdir()
        (directory / "reconciler.toml").write_text("")
    with pytest.raises(ProjectError, match="different projects"):
        find_project([str(one), str(two)], {}, cwd=tmp_path)


def test_init_writes_a_starter_that_validates_applies_and_converges(
    workspace: Workspace, sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path_factory.mktemp("new") / "my-project"
    del workspace.env["RECONCILER_STATE"]
    workspace.env.update(ALIMAMA_APP_KEY=DEMO_ALIMAMA_APP_KEY, ALIMAMA_APP_SECRET=DEMO_ALIMAMA_APP_SECRET)
    initialised = workspace.run("init", str(project))
    assert initialised.exit_code == 0, initialised.output
    kinds = {doc.split("kind: ")[1].split()[0] for f in (project / "campaigns").glob("*.yaml")
             for doc in f.read_text(encoding="utf-8").split("\n---\n")}
    assert kinds == {"Shop", "ShopCoupon", "CouponGrant", "ItemDiscount", "FullDiscount", "ItemPoolActivity",
                     "TaokeCashGift", "ListingWindow", "PriceFloor"}
    # Every manifest's editor comment points at a schema init wrote.
    for manifest in (project / "campaigns").glob("*.yaml"):
        comment = manifest.read_text(encoding="utf-8").splitlines()[0]
        assert (manifest.parent / comment.split("$schema=")[1]).resolve().is_file(), comment
    validated = workspace.run("validate", str(project / "campaigns"))
    assert validated.exit_code == 0 and "8 resource(s) in 1 shop(s): valid" in validated.output, validated.output

    monkeypatch.chdir(project / "campaigns")
    applied = workspace.run("apply", ".", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert (project / ".reconciler" / "state.db").is_file()
    sandbox.clear_calls()
    again = workspace.run("plan", ".", "--detailed-exitcode")
    assert again.exit_code == 0, again.output
    assert sandbox.writes() == []

    before = {p: p.read_bytes() for p in project.rglob("*") if p.is_file()}
    (project / "campaigns" / "taoke.yaml").unlink()
    refused = workspace.run("init", str(project))
    assert refused.exit_code == 1 and "refusing to overwrite" in refused.output
    assert not (project / "campaigns" / "taoke.yaml").exists()  # refused before writing anything
    assert {p: p.read_bytes() for p in project.rglob("*") if p.is_file()} == {
        p: b for p, b in before.items() if p.name != "taoke.yaml"}

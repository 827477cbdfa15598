"""Credentials providers (issue 20.4): the Shop profile's spec.credentials picks the environment
(today's), the operator's credentials file, or the PostgreSQL state store (seller tokens sealed
with RECONCILER_TOKEN_KEY, refreshed once however many workers need them). End-to-end runs go
through the sandbox over HTTP; the store tests use the suite's throwaway PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from reconciler.credential_providers import StoreTokens
from reconciler.errors import StateError
from reconciler.sandbox import DEMO_APP_KEY, DEMO_APP_SECRET, DEMO_SESSION
from reconciler.settings import ShopConnection
from reconciler.state.seller_tokens import Sealer, SealedTokens, new_key
from reconciler.top.credentials import CredentialsError
from reconciler.top.providers import CREDENTIALS_FILE_ENV, FileProvider
from reconciler.top.tokens import SellerSession, Token
from tests.conftest import REPO, Sandbox, Workspace
from tests.fault_tools import FAST_ENV, pool, set_faults
from tests.pinned_clock import python_command

SHOP_WITH = """\
apiVersion: campaigns/v1
kind: Shop
metadata: {{name: demo-shop}}
spec:
  credentials: {provider}
  taoke: {{env: {{app_key: ALIMAMA_APP_KEY, app_secret: ALIMAMA_APP_SECRET}}}}
"""
CODE = "sandbox-code-demo-shop"
REFRESH = "taobao.top.auth.token.refresh"


@pytest.fixture
def tables() -> Iterator[list[SealedTokens]]:
    """Sealed-token tables a test opens, each with a database connection closed at its end."""
    opened: list[SealedTokens] = []
    yield opened
    for table in opened:
        table.close()


def store_tokens(tables: list[SealedTokens], url: str, key: str, app_key: str) -> StoreTokens:
    tables.append(SealedTokens(url, Sealer(key)))
    return StoreTokens(tables[-1], app_key)


def use_provider(workspace: Workspace, provider: str) -> None:
    workspace.write("shops.yaml", SHOP_WITH.format(provider=provider))
    workspace.write("pools.yaml", pool("fresh"))
    for name in ("TOP_APP_KEY", "TOP_APP_SECRET", "TOP_SESSION"):
        workspace.env.pop(name)
    workspace.env.update(FAST_ENV)


# ---- the credentials file ------------------------------------------------------------------------


@pytest.mark.parametrize("suffix, text", [
    (".json", json.dumps({"defaults": {"app_key": "k", "app_secret": "s"}, "shops": {"a": {"session": "t"}}})),
    (".yaml", "defaults: {app_key: k, app_secret: s}\nshops:\n  a: {session: t}\n"),
    (".toml", 'defaults = {app_key = "k", app_secret = "s"}\n[shops.a]\nsession = "t"\n'),
])
def test_the_file_is_json_yaml_or_toml_and_a_shop_entry_overrides_the_defaults(
    tmp_path: Path, suffix: str, text: str
) -> None:
    path = tmp_path / f"credentials{suffix}"
    path.write_text(text, encoding="utf-8")
    provider = FileProvider(path)
    credentials = provider.secrets("a", {}).credentials
    assert (credentials.app_key, credentials.app_secret, credentials.session) == ("k", "s", "t")
    assert sorted(provider.secret_values()) == ["k", "s", "t"]  # all of it is masked in output


def test_file_errors_name_the_file_and_the_shop_never_a_value(tmp_path: Path) -> None:
    path = tmp_path / "credentials.yaml"
    path.write_text("shops:\n  a: {app_key: k}\n  b: {app_key: k, app_secret: SECRET-IN-FILE\n", encoding="utf-8")
    with pytest.raises(CredentialsError) as broken:
        FileProvider(path).secrets("a", {})
    assert "not valid yaml" in str(broken.value) and "SECRET-IN-FILE" not in str(broken.value)
    path.write_text("shops:\n  a: {app_key: k}\n", encoding="utf-8")
    with pytest.raises(CredentialsError, match=r"gives no app_secret \(in shops.a or defaults\)"):
        FileProvider(path).secrets("a", {})
    with pytest.raises(CredentialsError, match="has no entry shops.b"):
        FileProvider(path).secrets("b", {})
    with pytest.raises(CredentialsError, match=CREDENTIALS_FILE_ENV):
        FileProvider.from_env({})


def test_plan_with_the_credentials_file(workspace: Workspace, sandbox: Sandbox) -> None:
    use_provider(workspace, "file")
    missing = workspace.run("plan", str(workspace.campaigns))
    assert missing.exit_code == 1 and CREDENTIALS_FILE_ENV in missing.output, missing.output

    path = workspace.root / "private" / "credentials.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"shops": {"demo-shop": {
        "app_key": DEMO_APP_KEY, "app_secret": DEMO_APP_SECRET, "session": DEMO_SESSION}}}), encoding="utf-8")
    workspace.env[CREDENTIALS_FILE_ENV] = str(path)
    planned = workspace.run("plan", str(workspace.campaigns))
    assert planned.exit_code == 0 and "Plan: 1 to create" in planned.output, planned.output  # TOP read with the file's secrets
    assert DEMO_APP_SECRET not in planned.output and DEMO_SESSION not in planned.output


def test_the_profile_names_a_provider_not_a_path(workspace: Workspace) -> None:
    """The file's path is the operator's (environment); a manifest from a pull request cannot name one."""
    workspace.write("shops.yaml", SHOP_WITH.format(provider="/etc/passwd"))
    result = workspace.run("validate", str(workspace.campaigns))
    assert result.exit_code == 1 and "spec.credentials" in result.output, result.output


# ---- sealing -----------------------------------------------------------------------------------


def test_a_sealed_token_opens_only_with_its_key_for_its_own_app_and_shop() -> None:
    old, new = new_key(), new_key()
    # A canary long enough never to turn up by chance in the base64 of the ciphertext ("AT" did, ~1 % of runs).
    token = {"access_token": "CANARY-ACCESS-TOKEN-31337"}
    sealed = Sealer(old).seal(token, app_key="app", shop="a")
    assert "CANARY-ACCESS-TOKEN-31337" not in sealed
    assert Sealer(old).open(sealed, app_key="app", shop="a") == token
    assert Sealer(f"{new},{old}").open(sealed, app_key="app", shop="a") == token  # rotation
    for app, shop, keys in (("app", "b", old), ("other", "a", old), ("app", "a", new)):
        with pytest.raises(StateError, match="does not open"):
            Sealer(keys).open(sealed, app_key=app, shop=shop)
    with pytest.raises(StateError, match="not 32 bytes") as bad:
        Sealer("short-KEY-value")
    assert "short-KEY-value" not in str(bad.value)


# ---- the state store ---------------------------------------------------------------------------


def store_workspace(workspace: Workspace, postgres_url: str) -> str:
    use_provider(workspace, "store")
    key = new_key()
    workspace.env.update(TOP_APP_KEY=DEMO_APP_KEY, TOP_APP_SECRET=DEMO_APP_SECRET,
                         RECONCILER_STATE=postgres_url, RECONCILER_TOKEN_KEY=key)
    return key


def test_auth_seals_the_token_in_the_store_and_plan_refreshes_it_there(
    workspace: Workspace, sandbox: Sandbox, postgres_url: str, tables: list[SealedTokens]
) -> None:
    key = store_workspace(workspace, postgres_url)
    authorised = workspace.run("auth", "--shop", "demo-shop", "--code", CODE, str(workspace.campaigns))
    assert authorised.exit_code == 0, authorised.output
    assert "token saved to the state store postgresql://" in authorised.output
    assert not (workspace.root / ".reconciler" / "token.json").exists()  # not the token file

    tokens = store_tokens(tables, postgres_url, key, DEMO_APP_KEY)
    first = tokens.load("demo-shop")
    assert first is not None and first.refresh_token
    with psycopg.connect(postgres_url) as db:
        row = db.execute("SELECT sealed FROM seller_tokens").fetchone()
    assert row is not None and first.access_token not in row[0] and first.refresh_token not in row[0]

    # About to expire: the plan (a read-only run) refreshes it once, in the store.
    tokens.save("demo-shop", Token(first.access_token, first.refresh_token, expires_at=time.time() + 30,
                                   refresh_expires_at=first.refresh_expires_at, issued_at=time.time() - 86400))
    sandbox.clear_calls()
    planned = workspace.run("plan", str(workspace.campaigns))
    assert planned.exit_code == 0 and "Plan: 1 to create" in planned.output, planned.output
    assert [call["method"] for call in sandbox.calls()].count(REFRESH) == 1
    refreshed = tokens.load("demo-shop")
    assert refreshed is not None and refreshed.access_token != first.access_token
    for secret in (first.access_token, refreshed.access_token, key):
        assert secret not in planned.output + authorised.output


def test_the_store_provider_says_what_it_needs(workspace: Workspace, postgres_url: str) -> None:
    store_workspace(workspace, postgres_url)
    del workspace.env["RECONCILER_TOKEN_KEY"]
    result = workspace.run("plan", str(workspace.campaigns))
    assert result.exit_code == 1 and "RECONCILER_TOKEN_KEY" in result.output, result.output
    workspace.env["RECONCILER_STATE"] = str(workspace.root / "state.db")
    result = workspace.run("plan", str(workspace.campaigns))
    assert result.exit_code == 1 and "RECONCILER_STATE=postgresql://" in result.output, result.output


def test_many_workers_refresh_a_token_once(postgres_url: str, tables: list[SealedTokens]) -> None:
    """Eight workers, each with its own database session (as separate pods would be), find the
    same token dead at once: one refreshes it, the others wait on the lock and take its result."""
    key = new_key()
    seed = store_tokens(tables, postgres_url, key, "app")
    seed.save("a", Token("old-access", "old-refresh"))
    exchanged: list[str] = []

    def exchange(refresh_token: str) -> dict[str, Any]:
        exchanged.append(refresh_token)
        time.sleep(0.2)  # a slow TOP: the others arrive while the refresh is in flight
        return {"access_token": "new-access", "refresh_token": "new-refresh", "expires_in": 86400}

    workers = [store_tokens(tables, postgres_url, key, "app") for _ in range(8)]
    sessions = [SellerSession.from_file(tokens, "a") for tokens in workers]
    barrier = threading.Barrier(len(sessions))

    def work(session: SellerSession | None) -> None:
        assert session is not None
        barrier.wait()
        session.refresh("old-access", exchange, time.time)

    threads = [threading.Thread(target=work, args=(session,)) for session in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert exchanged == ["old-refresh"]
    assert {session.current for session in sessions if session} == {"new-access"}
    stored = seed.load("a")
    assert stored is not None and stored.refresh_token == "new-refresh"


def test_a_role_that_may_only_read_and_write_tokens_uses_the_table(postgres_url: str, tables: list[SealedTokens]) -> None:
    """The plan job's role may not create tables: an existing table is used as it is. It must be
    allowed to write the table though, since plan refreshes tokens too (README)."""
    key = new_key()
    store_tokens(tables, postgres_url, key, "app").save("a", Token("access"))  # creates the table
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute("CREATE ROLE token_reader LOGIN")
        admin.execute("GRANT SELECT ON seller_tokens TO token_reader")
    reader_url = postgres_url.replace("postgres@", "token_reader@", 1)
    try:
        reader = store_tokens(tables, reader_url, key, "app")
        token = reader.load("a")
        assert token is not None and token.access_token == "access"
        with pytest.raises(StateError, match="permission denied for table seller_tokens"):
            reader.save("a", Token("other"))
    finally:
        for table in tables:
            table.close()
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute("REVOKE ALL ON seller_tokens FROM token_reader")
            admin.execute("DROP ROLE token_reader")


def test_a_saved_plan_keeps_the_provider_and_plans_saved_before_it_read_as_env() -> None:
    store = ShopConnection("a", None, "hmac-sha256", {"app_key": "TOP_APP_KEY"}, None, "store")
    assert ShopConnection.from_data("a", store.to_data()) == store
    env = ShopConnection("a", None, "hmac-sha256", {"app_key": "TOP_APP_KEY"})
    assert "credentials" not in env.to_data()  # byte-identical to plans saved before providers
    assert ShopConnection.from_data("a", env.to_data()).credentials == "env"


def test_four_worker_processes_refresh_the_stored_token_once(
    workspace: Workspace, sandbox: Sandbox, postgres_url: str, tables: list[SealedTokens]
) -> None:
    """Four plans at once (pods of one Indexed Job), every one finding the shop's token about to
    expire: one refreshes it through TOP, the others wait on the store's lock and take the new one;
    every call of every worker is accepted."""
    key = store_workspace(workspace, postgres_url)
    assert workspace.run("auth", "--shop", "demo-shop", "--code", CODE, str(workspace.campaigns)).exit_code == 0
    tokens = store_tokens(tables, postgres_url, key, DEMO_APP_KEY)
    first = tokens.load("demo-shop")
    assert first is not None
    tokens.save("demo-shop", Token(first.access_token, first.refresh_token, expires_at=time.time() + 30,
                                   refresh_expires_at=first.refresh_expires_at, issued_at=time.time() - 86400))
    sandbox.clear_calls()
    set_faults(sandbox, latency=0.2)  # the refresh takes a moment, so the others arrive during it

    env = {**os.environ, **workspace.env, "PYTHONPATH": str(REPO)}
    runs = [subprocess.Popen(python_command("-m", "reconciler", "plan", str(workspace.campaigns)), env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(4)]
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    set_faults(sandbox)

    assert [run.returncode for run in runs] == [0, 0, 0, 0], outputs
    refreshes = [call for call in sandbox.calls() if call["method"] == REFRESH]
    assert [call["ok"] for call in refreshes] == [True]
    assert all(call["ok"] for call in sandbox.calls())

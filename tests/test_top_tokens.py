"""Seller tokens: `reconciler auth`, the token file, refresh before expiry and on code 27, and the
clear errors when no refresh can help."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.errors import TopSessionError
from reconciler.top import Credentials, TopClient
from reconciler.top.tokens import SellerSession, Token, TokenFile, token_result_of
from tests.conftest import REPO, Sandbox, Workspace
from tests.pinned_clock import python_command
from tests.fault_tools import FAST_ENV, FAST_RETRY, QUERY_ITEMS, client_for, pool, set_faults

DEMO_CODE = "sandbox-code-demo-shop"


def token_workspace(workspace: Workspace) -> Path:
    """The workspace without TOP_SESSION, so runs use the token file `reconciler auth` writes."""
    del workspace.env["TOP_SESSION"]
    token_path = workspace.root / "secrets" / "token.json"
    workspace.env.update(FAST_ENV, TOP_TOKEN_FILE=str(token_path))
    return token_path


def authorise(workspace: Workspace) -> Token:
    result = workspace.run("auth", "--shop", "demo-shop", "--code", DEMO_CODE, str(workspace.campaigns))
    assert result.exit_code == 0, result.output
    token = TokenFile(workspace.env["TOP_TOKEN_FILE"]).load("demo-shop")
    assert token is not None
    return token


# ---- token_result and the file ---------------------------------------------------------------


def test_token_result_is_a_json_string_decoded_twice() -> None:
    answer = {"token_result": json.dumps({
        "access_token": "AT", "refresh_token": "RT", "expires_in": 86400, "re_expires_in": 0,
        "expire_time": 1_800_000_000_000, "taobao_user_nick": "%E5%BA%97%E9%93%BA", "taobao_user_id": 42,
    })}
    token = Token.from_token_result(token_result_of("taobao.top.auth.token.create", answer), now=1_700_000_000)
    assert token.access_token == "AT" and token.expires_at == 1_800_000_000
    assert token.refresh_token is None  # re_expires_in 0: TOP says it cannot be refreshed
    assert token.user_nick == "店铺" and token.user_id == "42"
    assert "AT" not in repr(token) and "RT" not in repr(token)


def test_the_token_file_is_private_and_written_whole(tmp_path: Path) -> None:
    store = TokenFile(tmp_path / "deep" / "token.json")
    token = Token("AT-1", "RT-1", expires_at=2e9, issued_at=1e9)
    store.save("demo-shop", token)
    store.save("other-shop", Token("AT-2"))
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert store.load("demo-shop") == token and store.load("nobody") is None
    # no temporary left; the lock file that keeps two processes from refreshing at once stays, empty
    assert sorted(p.name for p in store.path.parent.iterdir()) == ["token.json", "token.json.lock"]


# ---- reconciler auth -------------------------------------------------------------------------


def test_auth_exchanges_a_code_and_later_runs_use_the_token(workspace: Workspace, sandbox: Sandbox) -> None:
    token_path = token_workspace(workspace)
    result = workspace.run("auth", "--shop", "demo-shop", "--code", DEMO_CODE, str(workspace.campaigns))
    assert result.exit_code == 0, result.output
    assert "authorised shop 'demo-shop' (seller demo-shop)" in result.output and "refreshable" in result.output
    token = TokenFile(token_path).load("demo-shop")
    assert token is not None and token.refresh_token
    assert token.access_token not in result.output and token.refresh_token not in result.output
    assert stat.S_IMODE(token_path.stat().st_mode) == 0o600
    assert sandbox.calls()[-1]["params"] == {"code": "***"}  # the sandbox's log masks the code

    workspace.write("pools.yaml", pool("fresh"))
    applied = workspace.run("apply", str(workspace.campaigns), "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert {call["session"] for call in sandbox.calls()[1:]} == {"demo-shop"}


def test_auth_with_a_bad_code_fails_clearly(workspace: Workspace, sandbox: Sandbox) -> None:
    token_path = token_workspace(workspace)
    result = workspace.run("auth", "--shop", "demo-shop", "--code", "wrong", str(workspace.campaigns))
    assert result.exit_code == 1
    assert "isv.invalid-code" in result.output
    assert not token_path.exists()


def test_without_any_session_the_error_says_how_to_get_one(workspace: Workspace, sandbox: Sandbox) -> None:
    token_workspace(workspace)
    workspace.write("pools.yaml", pool("fresh"))
    result = workspace.run("apply", str(workspace.campaigns), "--auto-approve")
    assert result.exit_code == 1
    assert "no session for shop 'demo-shop'" in result.output
    assert "reconciler auth --shop demo-shop" in result.output


# ---- refresh ---------------------------------------------------------------------------------


def test_a_token_about_to_expire_is_refreshed_first_even_by_plan(workspace: Workspace, sandbox: Sandbox) -> None:
    token_path = token_workspace(workspace)
    first = authorise(workspace)
    store = TokenFile(token_path)
    store.save("demo-shop", Token(first.access_token, first.refresh_token, expires_at=time.time() + 30,
                                  refresh_expires_at=first.refresh_expires_at, issued_at=time.time() - 86400))
    workspace.write("pools.yaml", pool("fresh"))
    sandbox.clear_calls()

    planned = workspace.run("plan", str(workspace.campaigns))  # a read-only run
    assert planned.exit_code == 0, planned.output
    refresh, *reads = sandbox.calls()
    assert refresh["method"] == "taobao.top.auth.token.refresh"  # before the first read
    assert all(call["ok"] for call in reads)
    refreshed = store.load("demo-shop")
    assert refreshed is not None and refreshed.access_token != first.access_token
    assert refreshed.refresh_token != first.refresh_token
    assert refreshed.expires_at is not None and refreshed.expires_at > time.time() + 3600


def test_code_27_refreshes_once_then_the_call_is_sent_again(sandbox: Sandbox, tmp_path: Path) -> None:
    store = TokenFile(tmp_path / "token.json")
    with client_for(sandbox, session=None) as client:
        store.save("demo-shop", client.exchange_code(DEMO_CODE))
    session = SellerSession.from_file(store, "demo-shop")
    before = store.load("demo-shop")
    set_faults(sandbox, expire_sessions_after=2)
    with client_for(sandbox, seller=session) as client:
        client.call("taobao.time.get")  # carries the session, counts towards expiry
        answer = client.call_many(QUERY_ITEMS, [{"param": {"activity_id": 1, "page": {"page_size": 1, "current": 1}}}],
                                  return_exceptions=True)[0]
    # A business answer, not code 27: the item-pool family refuses the unknown id in the body.
    assert answer["result"] == {"success": False, "error_code": "isv.activity-not-exist", "message": answer["result"]["message"]}
    methods = [(call["method"], call["ok"]) for call in sandbox.calls()[1:]]
    assert methods == [("taobao.time.get", True), (QUERY_ITEMS, False), ("taobao.top.auth.token.refresh", True),
                       (QUERY_ITEMS, False)]
    after = store.load("demo-shop")
    assert before is not None and after is not None and after.access_token != before.access_token


def scripted_refresh(tmp_path: Path, always_27: bool) -> tuple[TopClient, list[str], TokenFile]:
    """A client whose token file holds a refreshable token, against a TOP that refuses sessions."""
    sent: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        method = request.url.params["method"]
        sent.append(method)
        if method == "taobao.top.auth.token.refresh":
            result = {"access_token": f"AT-{len(sent)}", "refresh_token": f"RT-{len(sent)}", "expires_in": 3600}
            return httpx.Response(200, json={"top_auth_token_refresh_response": {"token_result": json.dumps(result)}})
        if always_27 or request.url.params.get("session") == "AT-old":
            return httpx.Response(200, json={"error_response": {"code": 27, "msg": "Invalid session", "sub_code": "invalid-sessionkey"}})
        return httpx.Response(200, json={"time_get_response": {"time": "2026-06-18 00:00:00"}})

    store = TokenFile(tmp_path / "token.json")
    store.save("demo-shop", Token("AT-old", "RT-old", expires_at=time.time() + 3600))
    session = SellerSession.from_file(store, "demo-shop")
    credentials = Credentials("12345678", "secret", None, "https://gw.example.test/router/rest")
    client = TopClient(credentials, transport=httpx.MockTransport(answer), retry=FAST_RETRY, session=session)
    return client, sent, store


def test_a_second_27_after_refreshing_tells_the_user_to_authorise_again(tmp_path: Path) -> None:
    client, sent, _ = scripted_refresh(tmp_path, always_27=True)
    with client, pytest.raises(TopSessionError) as info:
        client.call("taobao.time.get")
    assert sent == ["taobao.time.get", "taobao.top.auth.token.refresh", "taobao.time.get"]
    assert "even after refreshing it" in str(info.value)
    assert "reconciler auth --shop demo-shop --code CODE" in str(info.value)
    assert all(secret not in str(info.value) for secret in ("AT-old", "RT-old", "AT-2", "RT-2"))


def test_a_refreshed_token_is_used_by_every_later_call_and_kept(tmp_path: Path) -> None:
    client, sent, store = scripted_refresh(tmp_path, always_27=False)
    with client:
        client.call("taobao.time.get")
        client.call("taobao.time.get")
    assert sent == ["taobao.time.get", "taobao.top.auth.token.refresh", "taobao.time.get", "taobao.time.get"]
    kept = store.load("demo-shop")
    assert kept is not None and kept.access_token == "AT-2" and kept.refresh_token == "RT-2"
    assert {"AT-old", "RT-old", "AT-2", "RT-2"} <= set(client.secret_values())


def test_an_environment_session_is_never_refreshed(sandbox: Sandbox) -> None:
    with client_for(sandbox, session="expired-or-revoked") as client, pytest.raises(TopSessionError) as info:
        client.call(QUERY_ITEMS, {"param": {"activity_id": 1, "page": {"page_size": 1, "current": 1}}})
    assert "TOP_SESSION" in str(info.value) and "cannot be refreshed" in str(info.value)
    assert [call["method"] for call in sandbox.calls()] == [QUERY_ITEMS]
    assert "expired-or-revoked" not in str(info.value)


def test_an_unusable_refresh_token_says_to_authorise_again(sandbox: Sandbox, tmp_path: Path) -> None:
    store = TokenFile(tmp_path / "token.json")
    store.save("demo-shop", Token("AT-gone", "RT-unknown", expires_at=time.time() + 3600))
    with client_for(sandbox, seller=SellerSession.from_file(store, "demo-shop")) as client:
        with pytest.raises(TopSessionError) as info:
            client.call(QUERY_ITEMS, {"param": {"activity_id": 1, "page": {"page_size": 1, "current": 1}}})
    assert "could not refresh the access token of shop 'demo-shop' (isv.refresh-token-invalid)" in str(info.value)
    assert "RT-unknown" not in str(info.value)
    refresh_calls = [call for call in sandbox.calls() if call["method"] == "taobao.top.auth.token.refresh"]
    assert [call["params"] for call in refresh_calls] == [{"refresh_token": "***"}]


@pytest.mark.pinned_moment  # fixed dates: see tests/pinned_clock.py
def test_expired_session_is_refreshed_mid_apply(workspace: Workspace, sandbox: Sandbox) -> None:
    token_path = token_workspace(workspace)
    first = authorise(workspace)
    workspace.write("pools.yaml", pool("fresh", skus=[str(1000 + i) for i in range(6)]))
    sandbox.clear_calls()
    assert workspace.run("plan", str(workspace.campaigns)).exit_code == 0
    reads_to_plan = len(sandbox.calls())
    # apply plans with the same reads, then writes: the session dies after the create and two adds.
    set_faults(sandbox, expire_sessions_after=reads_to_plan + 3)
    sandbox.clear_calls()

    applied = workspace.run("apply", str(workspace.campaigns), "--auto-approve")
    assert applied.exit_code == 0, applied.output
    calls: list[dict[str, Any]] = sandbox.calls()
    refused = [call for call in calls if not call["ok"]]
    assert [call["method"] for call in refused] == ["alibaba.wdk.marketing.itempool.additem"]  # mid-apply
    after_refusal = calls[calls.index(refused[0]) + 1 :]
    assert after_refusal[0]["method"] == "taobao.top.auth.token.refresh"
    assert after_refusal[1]["method"] == refused[0]["method"] and after_refusal[1]["params"] == refused[0]["params"]
    added = [json.loads(call["params"]["param0"])["sku_code"] for call in calls if call["ok"] and call["method"].endswith("additem")]
    assert sorted(added) == [str(1000 + i) for i in range(6)]  # each exactly once
    refreshed = TokenFile(token_path).load("demo-shop")
    assert refreshed is not None and refreshed.access_token != first.access_token
    sandbox.clear_calls()
    assert workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode").exit_code == 0


def test_two_runs_refreshing_at_once_both_keep_working(workspace: Workspace, sandbox: Sandbox) -> None:
    """TOP rotates the refresh token: if a CI plan and a local apply both refreshed the same token,
    one would be left with a dead one. The second waits for the first and takes its new token."""
    token_path = token_workspace(workspace)
    first = authorise(workspace)
    TokenFile(token_path).save("demo-shop", Token(first.access_token, first.refresh_token, expires_at=time.time() + 30,
                                                  refresh_expires_at=first.refresh_expires_at, issued_at=time.time() - 86400))
    workspace.write("pools.yaml", pool("fresh"))
    sandbox.clear_calls()
    set_faults(sandbox, latency=0.2)  # the refresh takes a moment, so the second run arrives during it

    env = {**os.environ, **workspace.env, "PYTHONPATH": str(REPO)}
    runs = [subprocess.Popen(python_command("-m", "reconciler", "plan", str(workspace.campaigns)), env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=120)[0] for run in runs]

    assert [run.returncode for run in runs] == [0, 0], outputs
    refreshes = [call for call in sandbox.calls() if call["method"] == "taobao.top.auth.token.refresh"]
    assert [call["ok"] for call in refreshes] == [True]
    assert all(call["ok"] for call in sandbox.calls())

"""No secret ever reaches output: a whole session of a user — authorise, plan (saved, JSON,
markdown), apply through faults that force retries, lost answers and a token refresh, inspect the
state, and hit errors — then every byte it produced is searched for the app secret, the auth code,
every access token and every refresh token. Only the token file may hold tokens."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from click.testing import Result

from reconciler.sandbox.server import DEMO_ALIMAMA_APP_SECRET, DEMO_APP_KEY, DEMO_APP_SECRET, DEMO_SESSION
from reconciler.state.seller_tokens import new_key
from reconciler.top.tokens import TokenFile
from tests.conftest import Sandbox, Workspace
from tests.fault_tools import ADD, CREATE, FAST_ENV, pool, set_faults
from tests.test_e2e_taoke import gift

CODE = "sandbox-code-demo-shop"
BAD_SESSION = "bogus-session-VALUE-0451"


def test_no_secret_in_any_output(workspace: Workspace, sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    token_path = workspace.root / "private" / "token.json"
    del workspace.env["TOP_SESSION"]
    workspace.env.update(FAST_ENV, TOP_TOKEN_FILE=str(token_path), TOP_TIMEOUT="0.5")
    tokens = TokenFile(token_path)
    secrets = {DEMO_APP_SECRET, DEMO_ALIMAMA_APP_SECRET, CODE, BAD_SESSION}  # the Taoke app's secret too
    outputs: list[Result] = []

    def run(*args: str, expect: int = 0) -> Result:
        result = workspace.run("-vv", *args)
        assert result.exit_code == expect, result.output
        outputs.append(result)
        token = tokens.load("demo-shop")
        if token is not None:
            secrets.update(token.secret_values())  # every token the run held, old and new
        return result

    run("auth", "--shop", "demo-shop", "--code", CODE, str(workspace.campaigns))
    first_token = tokens.load("demo-shop")
    workspace.write("pools.yaml", pool("fresh", ["1001", "1002", "1003", "1004"]))
    workspace.write("gifts.yaml", gift())  # sent with the shop's Taoke (Alimama) app, a second secret
    plan_file = workspace.root / "plan.json"
    markdown_dir = workspace.root / "comments"
    run("plan", str(workspace.campaigns), "--out", str(plan_file), "--markdown", str(markdown_dir))
    run("plan", str(workspace.campaigns), "--json")

    # Faults that make the client retry, look up lost answers and refresh its token mid-apply.
    set_faults(
        sandbox, error_rate={"*": 0.1, CREATE: 0.0}, seed=2, expire_sessions_after=5,
        drop_answer={"methods": [ADD], "count": 1, "mode": "timeout"}, hang_seconds=0.8,
    )
    run("apply", str(plan_file), "--auto-approve")
    last_token = tokens.load("demo-shop")
    assert first_token is not None and last_token is not None
    assert last_token.access_token != first_token.access_token, "the run was meant to refresh its token"
    set_faults(sandbox)
    run("state", "list")
    run("state", "show", "demo-shop/ItemPoolActivity/fresh")

    # Errors print messages built from TOP's answers: still nothing secret.
    workspace.env["TOP_SESSION"] = BAD_SESSION
    failed = run("plan", str(workspace.campaigns), expect=1)
    assert "TOP refuses the session of shop 'demo-shop' from TOP_SESSION" in failed.output
    del workspace.env["TOP_SESSION"]
    run("auth", "--shop", "demo-shop", "--code", "not-a-code", str(workspace.campaigns), expect=1)

    texts = {f"run {i}": result.output + result.stderr for i, result in enumerate(outputs)}
    texts["logs"] = caplog.text
    assert "took" in texts["logs"] and "retrying" in texts["logs"], "debug logging was not captured"
    for path in _files(workspace.root, except_=token_path):
        texts[str(path)] = path.read_bytes().decode("utf-8", errors="replace")
    assert any(name.endswith("state.db") for name in texts) and any(name.endswith(".md") for name in texts)

    leaks = [_context(text, secret, where) for where, text in texts.items() for secret in secrets if secret in text]
    assert leaks == []

def _files(root: Path, except_: Path) -> list[Path]:
    """Everything the runs wrote: plan file, markdown comments, the state DB and its journal files."""
    return [path for path in root.rglob("*") if path.is_file() and path != except_ and "campaigns" not in path.parts]


def _context(text: str, secret: str, where: str) -> str:
    """Where a secret leaked, with the secret itself masked so the failure report does not leak it."""
    at = text.index(secret)
    return f"{where}: …{text[max(0, at - 80):at]}<SECRET>{text[at + len(secret):at + len(secret) + 20]}…"


FILE_SESSION_CANARY = "file-session-CANARY-7788-aa"


def test_no_secret_of_a_credentials_file_or_the_token_key_in_output(
    workspace: Workspace, sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    """Credentials providers (spec.credentials): the file's secrets, a session from it that TOP
    refuses, a file that does not parse, and the key that seals tokens in the state store."""
    caplog.set_level(logging.DEBUG)
    for name in ("TOP_APP_KEY", "TOP_APP_SECRET", "TOP_SESSION"):
        del workspace.env[name]
    shops = (workspace.campaigns / "shops.yaml").read_text(encoding="utf-8")
    workspace.write("shops.yaml", shops.replace("spec:\n", "spec:\n  credentials: file\n", 1))
    workspace.write("pools.yaml", pool("fresh", ["1001", "1002"]))
    token_key = new_key()
    credentials = workspace.root / "private" / "credentials.json"
    credentials.parent.mkdir()
    workspace.env.update(FAST_ENV, RECONCILER_CREDENTIALS_FILE=str(credentials), RECONCILER_TOKEN_KEY=token_key)
    secrets = {DEMO_APP_SECRET, DEMO_ALIMAMA_APP_SECRET, FILE_SESSION_CANARY, token_key}

    def write(session: str) -> None:
        credentials.write_text(json.dumps({"defaults": {"app_key": DEMO_APP_KEY, "app_secret": DEMO_APP_SECRET},
                                           "shops": {"demo-shop": {"session": session}}}), encoding="utf-8")

    write(DEMO_SESSION)
    results = [workspace.run("-vv", "plan", str(workspace.campaigns), "--json")]
    assert results[-1].exit_code == 0, results[-1].output
    results.append(workspace.run("-vv", "apply", str(workspace.campaigns), "--auto-approve"))
    assert results[-1].exit_code == 0, results[-1].output
    write(FILE_SESSION_CANARY)
    results.append(workspace.run("-vv", "plan", str(workspace.campaigns)))
    assert results[-1].exit_code == 1 and "TOP refuses the session" in results[-1].output, results[-1].output
    credentials.write_text('{"shops": {"demo-shop": {"session": "' + FILE_SESSION_CANARY + '"', encoding="utf-8")
    results.append(workspace.run("-vv", "plan", str(workspace.campaigns)))
    assert results[-1].exit_code == 1 and "is not valid json" in results[-1].output, results[-1].output

    texts = {f"run {i}": result.output + result.stderr for i, result in enumerate(results)}
    texts["logs"] = caplog.text
    for path in _files(workspace.root, except_=credentials):
        texts[str(path)] = path.read_bytes().decode("utf-8", errors="replace")
    leaks = [_context(text, secret, where) for where, text in texts.items() for secret in secrets if secret in text]
    assert leaks == []

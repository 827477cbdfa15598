"""The plan outputs a refactor must leave byte-identical (issue 18): plan text, plan JSON and the
pull-request markdown of the demo shop and of a small generated benchmark shop, at a fixed moment,
on an empty shop and after an edit (updates, replaces and deletes).

`python -m tests.golden_outputs` rewrites tests/golden/ — run it only when a change of output is
intended, and say so in the commit; tests/test_golden_outputs.py compares against the files.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
from click.testing import CliRunner

from bench.generate_shop import SIZES, generate, one_percent_edit, sandbox_items, write_manifests
from reconciler.cli import cli
from reconciler.sandbox import DEMO_ALIMAMA_APP_KEY, DEMO_ALIMAMA_APP_SECRET, DEMO_APP_KEY, DEMO_APP_SECRET, DEMO_SESSION, SandboxServer

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "tests" / "golden"
GMT8 = timezone(timedelta(hours=8))
# Before every dated object of the demo (2027) and of the generated shop (days after MOMENT).
MOMENT = datetime(2026, 12, 1, 10, 0, tzinfo=GMT8)


def _env(gateway: str, state: Path) -> dict[str, str]:
    return {
        "TOP_GATEWAY": gateway, "TOP_APP_KEY": DEMO_APP_KEY, "TOP_APP_SECRET": DEMO_APP_SECRET,
        "TOP_SESSION": DEMO_SESSION, "ALIMAMA_APP_KEY": DEMO_ALIMAMA_APP_KEY,
        "ALIMAMA_APP_SECRET": DEMO_ALIMAMA_APP_SECRET, "TOP_QPS": "1000", "RECONCILER_STATE": str(state),
        "NO_COLOR": "1", "RECONCILER_LANG": "en",  # English whatever the locale of who regenerates them
    }


def _normalised(text: str, root: Path, gateway: str) -> str:
    text = text.replace(gateway, "http://127.0.0.1:PORT/router/rest").replace(str(root), "ROOT")
    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text)
    # The checksum covers the fingerprints of live objects, which carry the sandbox's protocol
    # clock (creation times); the changes themselves are what must stay byte-identical.
    return re.sub(r"sha256:[0-9a-f]{64}", "sha256:CHECKSUM", text)


def _plan_outputs(name: str, campaigns: Path, root: Path, env: dict[str, str], gateway: str) -> Iterator[tuple[str, str]]:
    runner = CliRunner()
    at = MOMENT.isoformat()
    text = runner.invoke(cli, ["plan", str(campaigns), "--at", at], env=env, catch_exceptions=False)
    yield f"{name}.plan.txt", f"exit {text.exit_code}\n" + _normalised(text.output, root, gateway)
    machine = runner.invoke(cli, ["plan", str(campaigns), "--at", at, "--json"], env=env, catch_exceptions=False)
    document = json.loads(machine.stdout)
    document["fingerprints"] = sorted(document.get("fingerprints", {}))
    yield f"{name}.plan.json", _normalised(json.dumps(document, indent=1, ensure_ascii=False, sort_keys=True), root, gateway) + "\n"
    markdown = root / f"markdown-{name}"
    runner.invoke(cli, ["plan", str(campaigns), "--at", at, "--markdown", str(markdown)], env=env, catch_exceptions=False)
    for page in sorted(markdown.iterdir()):
        yield f"{name}.markdown.{page.name}", _normalised(page.read_text(encoding="utf-8"), root, gateway)


def _apply_saved(campaigns: Path, root: Path, env: dict[str, str]) -> None:
    runner = CliRunner()
    saved = root / "saved-plan.json"
    runner.invoke(cli, ["plan", str(campaigns), "--at", MOMENT.isoformat(), "--out", str(saved)], env=env, catch_exceptions=False)
    result = runner.invoke(cli, ["apply", str(saved), "--auto-approve", "--parallelism", "1"], env=env, catch_exceptions=False)
    if result.exit_code != 0:
        raise RuntimeError(f"apply failed:\n{result.output}")


def outputs() -> dict[str, str]:
    """Every golden file's name and text, made anew against a fresh in-process sandbox."""
    found: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        for name, make in (("demo", _demo), ("bench", _bench)):
            server = SandboxServer(port=0)
            server.start()
            try:
                httpx.post(f"{server.url}/_sandbox/clock", json={"at": MOMENT.isoformat()}).raise_for_status()
                env = _env(server.gateway, root / f"{name}-state.db")
                for file_name, text in make(root, server, env):
                    found[file_name] = text
            finally:
                server.stop()
    return found


def _demo(root: Path, server: SandboxServer, env: dict[str, str]) -> Iterator[tuple[str, str]]:
    campaigns = root / "demo" / "campaigns"
    shutil.copytree(REPO / "campaigns", campaigns)
    (root / "demo" / "reconciler.toml").write_text("# golden\n", encoding="utf-8")
    yield from _plan_outputs("demo-empty", campaigns, root, env, server.gateway)
    _apply_saved(campaigns, root, env)
    yield from _plan_outputs("demo-converged", campaigns, root, env, server.gateway)


def _bench(root: Path, server: SandboxServer, env: dict[str, str]) -> Iterator[tuple[str, str]]:
    shop = generate(SIZES["tiny"], now=MOMENT)
    (root / "bench").mkdir()
    (root / "bench" / "reconciler.toml").write_text("# golden\n", encoding="utf-8")
    httpx.post(f"{server.url}/_sandbox/items", json=sandbox_items(shop)).raise_for_status()
    campaigns = write_manifests(shop, root / "bench")
    yield from _plan_outputs("bench-empty", campaigns, root, env, server.gateway)
    _apply_saved(campaigns, root, env)
    write_manifests(one_percent_edit(shop), root / "bench")
    yield from _plan_outputs("bench-edited", campaigns, root, env, server.gateway)


def main() -> int:
    if GOLDEN.exists():
        shutil.rmtree(GOLDEN)
    GOLDEN.mkdir(parents=True)
    for name, text in outputs().items():
        (GOLDEN / name).write_text(text, encoding="utf-8")
    print(f"wrote {len(list(GOLDEN.iterdir()))} files to {GOLDEN}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Files a manifest names stay inside the manifests' root (reconciler/manifest/confine.py), and what
the CLI prints is masked (reconciler/redaction.py): issue 16, points 2."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from reconciler.errors import ManifestError
from reconciler.manifest import load_manifests
from reconciler.engine.plan import desired_resources
from reconciler.redaction import MASK, RedactingStream, environment_secrets, excerpt, redact
from tests.conftest import REPO, Sandbox, Workspace
from tests.test_trust_boundary import GRANT

NOW_ISO = "2027-01-15T00:00:00+08:00"


def _grant_problems(root: Path, file: str) -> list[str]:
    from datetime import datetime

    try:
        desired_resources(load_manifests([str(root)]), datetime.fromisoformat(NOW_ISO))
    except ManifestError as error:
        return [str(problem) for problem in error.problems]
    return []


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("/proc/self/environ", "'/proc/self/environ' is an absolute path"),
        ("../outside.txt", "goes up with '..'"),
        ("sub/../../outside.txt", "goes up with '..'"),
        (".git/config", "'.git/config' is a hidden file"),
        ("link-out.txt", "'link-out.txt' is a link to a place outside"),
        ("link-hidden.txt", "'link-hidden.txt' is a link to a hidden file"),
    ],
)
def test_a_buyers_file_outside_the_root_is_refused_before_it_is_read(tmp_path: Path, name: str, words: str) -> None:
    root = tmp_path / "campaigns"
    root.mkdir()
    (root / "shops.yaml").write_text((REPO / "campaigns" / "shops.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    secret_line = "TOP_SESSION=never-shown-1234567890"
    (tmp_path / "outside.txt").write_text(secret_line + "\n", encoding="utf-8")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text(secret_line + "\n", encoding="utf-8")
    (root / "link-out.txt").symlink_to(tmp_path / "outside.txt")
    (root / "link-hidden.txt").symlink_to(root / ".git" / "config")
    (root / "grant.yaml").write_text(GRANT.format(name="g", file=name), encoding="utf-8")

    problems = _grant_problems(root, name)

    assert any("spec.buyers.nicks_file" in p and "buyers file refused" in p and words in p for p in problems), problems
    assert "never-shown" not in "\n".join(problems)


def test_a_buyers_file_inside_the_root_is_read(tmp_path: Path) -> None:
    root = tmp_path / "campaigns"
    (root / "lists").mkdir(parents=True)
    (root / "shops.yaml").write_text((REPO / "campaigns" / "shops.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    (root / "lists" / "vip.txt").write_text("vip-chen\n", encoding="utf-8")
    (root / "vip-link.txt").symlink_to(root / "lists" / "vip.txt")  # a link that stays inside is fine
    (root / "grant.yaml").write_text(GRANT.format(name="g", file="vip-link.txt"), encoding="utf-8")
    assert _grant_problems(root, "vip-link.txt") == []


def test_a_line_that_is_not_a_buyer_is_quoted_short(tmp_path: Path) -> None:
    root = tmp_path / "campaigns"
    root.mkdir()
    (root / "shops.yaml").write_text((REPO / "campaigns" / "shops.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    (root / "buyers.txt").write_text("A=1\x00" + "x" * 500 + "\x00LAST_PART_OF_THE_LINE\n", encoding="utf-8")
    (root / "grant.yaml").write_text(GRANT.format(name="g", file="buyers.txt"), encoding="utf-8")
    [problem] = [p for p in _grant_problems(root, "buyers.txt") if "buyers.txt:1" in p]
    assert "control character" in problem and "LAST_PART" not in problem and len(problem) < 300


def test_short_secrets_are_masked_as_words_only() -> None:
    assert redact("the key abc was sent; abcdef is a word", ["abc"]) == f"the key {MASK} was sent; abcdef is a word"
    assert redact("session=abc&x=1", ["abc"]) == f"session={MASK}&x=1"
    long = "a-long-secret-value-123"
    assert redact(f"x{long}y and {long.replace('-', '%2D')}", [long]) == f"x{MASK}y and {long.replace('-', '%2D')}"
    assert redact("a%2Bb c", ["a+b"]) == f"{MASK} c"  # URL-encoded spellings too
    assert excerpt("x" * 100) == repr("x" * 39 + "…")


def test_environment_secrets_by_name_and_url_password() -> None:
    env = {"TOP_APP_SECRET": "s1", "TOP_SESSION": "s2", "GITHUB_TOKEN": "s3", "RECONCILER_WEBHOOK_URL": "https://h/x",
           "RECONCILER_STATE": "postgresql://u:pa55word@db/r", "TOP_APP_KEY": "12345678", "TOP_GATEWAY": "https://gw"}
    assert environment_secrets(env) == {"s1", "s2", "s3", "https://h/x", "pa55word"}


def test_the_stream_masks_every_write() -> None:
    sink = io.StringIO()
    stream = RedactingStream(sink, lambda: ["hunter2"])
    stream.write("password hunter2 and hunter22\n")
    assert sink.getvalue() == f"password {MASK} and hunter22\n"
    with pytest.raises(TypeError):
        stream.write(b"bytes")  # type: ignore[arg-type]


def test_every_cli_message_is_masked(workspace: Workspace, sandbox: Sandbox) -> None:
    """A secret that reaches an error message through a manifest's own text is masked too."""
    workspace.env["TOP_SESSION"] = "sess-XYZ"  # short: masked only as a word
    workspace.write("pools.yaml", "apiVersion: campaigns/v1\nkind: ItemPoolActivity\n"
                    "metadata: {name: sess-XYZ, shop: demo-shop}\nspec: {title: sess-XYZs}\n")
    result = workspace.run("validate", str(workspace.campaigns))
    assert result.exit_code == 1
    assert "sess-XYZ " not in result.output and "sess-XYZ\n" not in result.output and MASK in result.output
    assert os.environ.get("TOP_SESSION") != "sess-XYZ"

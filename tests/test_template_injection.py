"""Templates arrive in pull requests and are rendered by the plan job, which holds a shop's
credentials. The known server-side template injection tricks must each fail with a clear error
naming the template line: no traceback, no secret or environment value, no file from outside
campaigns/, and nothing sent to TOP."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.errors import ManifestError
from reconciler.manifest import load_manifests
from reconciler.manifest.templates import RenderLimits
from reconciler.sandbox.server import DEMO_APP_SECRET, DEMO_SESSION
from tests.conftest import Sandbox, Workspace

CANARY = "canary-7f3a9c-not-for-templates"
OUTSIDE_TEXT = "leaked: outside-file-content-5d1e"

# (label, template line, words the error must contain)
TRICKS = [
    ("mro walk", "{{ ''.__class__.__mro__[1].__subclasses__() }}", ["'__class__'", "unsafe"]),
    ("globals via cycler", "{{ cycler.__init__.__globals__.os.environ }}", ["'__init__'", "unsafe"]),
    ("template reference context", "{{ self._TemplateReference__context }}", ["'_TemplateReference__context'", "unsafe"]),
    ("lipsum globals", "{{ lipsum.__globals__['os'].environ }}", ["'lipsum' is undefined"]),
    ("namespace globals", "{{ namespace.__init__.__globals__ }}", ["'__init__'", "unsafe"]),
    ("flask config", "{{ config.items() }}", ["'config' is undefined"]),
    ("flask request", "{{ request.application.__globals__.__builtins__ }}", ["'request' is undefined"]),
    ("environ by name", "{{ environ }}", ["'environ' is undefined"]),
    ("os module", "{{ os.environ['TOP_APP_SECRET'] }}", ["'os' is undefined"]),
    ("attr filter", "{{ ''|attr('__class__') }}", ["'__class__'", "unsafe"]),
    ("format string", "{{ '{0.__class__.__init__.__globals__}'.format('') }}", ["not allowed in a template", "unsafe"]),
    ("type mro", "{{ dict.mro() }}", ["'mro'", "unsafe"]),
    ("bound method self", "{{ range.__self__ }}", ["'__self__'", "unsafe"]),
    ("mutating shared vars", "{{ shops.update({'x': {}}) }}", ["'update'", "unsafe"]),
    ("include absolute path", "{% include '/etc/passwd' %}", ["'/etc/passwd' is an absolute path"]),
    ("include going up", "{% include '../../x' %}", ["'../../x' goes up with '..'"]),
    ("import going up", "{% import '../outside/secret.j2' as s %}", ["goes up with '..'"]),
    ("extends absolute path", "{% extends '/etc/hostname' %}", ["is an absolute path"]),
    ("include hidden up", "{% include 'sub/../../outside/secret.j2' %}", ["goes up with '..'"]),
    ("include git config", "{% include '.git/config' %}", ["'.git/config' is a hidden file"]),
    ("huge range", "{{ range(10**9)|list }}", ["range() of 1,000,000,000 numbers", "limit"]),
    ("huge string", "{{ 'x' * 10**9 }}", ["would build a value of 1,000,000,000 items"]),
    ("huge number", "{{ 10 ** 100000 }}", ["too large a number"]),
    ("endless recursion", "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", ["RecursionError"]),
    ("huge output", "{% for i in range(10000) %}{{ 'x' * 100000 }}{% endfor %}", ["rendered output is over"]),
]


@pytest.fixture
def outside(workspace: Workspace) -> Path:
    """A directory next to campaigns/ holding what no template may read."""
    directory = workspace.root / "outside"
    directory.mkdir()
    (directory / "secret.j2").write_text(OUTSIDE_TEXT + "\n", encoding="utf-8")
    (directory / "secret.yaml").write_text(OUTSIDE_TEXT + "\n", encoding="utf-8")
    workspace.env["CANARY_TOKEN"] = CANARY
    return directory


def template_with(line: str) -> str:
    return f"# a template\n{line}\napiVersion: campaigns/v1\n"


def assert_refused_cleanly(workspace: Workspace, sandbox: Sandbox, words: list[str], where: str) -> None:
    for command in (["validate"], ["render"], ["plan"]):
        result = workspace.run(*command, str(workspace.campaigns))
        output = result.output
        assert result.exit_code == 1, (command, output)
        assert "Traceback" not in output
        assert where in output, output
        for word in words:
            assert word in output, (word, output)
        for secret in (CANARY, DEMO_APP_SECRET, DEMO_SESSION, OUTSIDE_TEXT, "root:x:0", os.environ.get("HOME", "~~")):
            assert secret not in output, secret
    assert sandbox.calls() == []  # nothing reached TOP


@pytest.mark.parametrize(("label", "line", "words"), TRICKS, ids=[t[0] for t in TRICKS])
def test_injection_trick_fails_with_a_clear_error(
    workspace: Workspace, sandbox: Sandbox, outside: Path, label: str, line: str, words: list[str]
) -> None:
    workspace.write("evil.yaml.j2", template_with(line))
    where = f"{workspace.campaigns / 'evil.yaml.j2'}:2"
    if label == "huge output":
        where = f"{workspace.campaigns / 'evil.yaml.j2'}:"  # the whole file is too large, no one line
    assert_refused_cleanly(workspace, sandbox, words, where)


def test_include_through_a_symlinked_file_is_refused(workspace: Workspace, sandbox: Sandbox, outside: Path) -> None:
    (workspace.campaigns / "stairs.j2").symlink_to(outside / "secret.j2")
    workspace.write("evil.yaml.j2", template_with("{% include 'stairs.j2' %}"))
    words = ["'stairs.j2' is a link to a place outside"]
    assert_refused_cleanly(workspace, sandbox, words, f"{workspace.campaigns / 'evil.yaml.j2'}:2")


def test_include_through_a_symlinked_directory_is_refused(workspace: Workspace, sandbox: Sandbox, outside: Path) -> None:
    (workspace.campaigns / "shared").symlink_to(outside, target_is_directory=True)
    workspace.write("evil.yaml.j2", template_with("{% include 'shared/secret.j2' %}"))
    words = ["'shared/secret.j2' is a link to a place outside"]
    assert_refused_cleanly(workspace, sandbox, words, f"{workspace.campaigns / 'evil.yaml.j2'}:2")


def test_a_template_that_is_itself_a_link_out_is_refused(workspace: Workspace, sandbox: Sandbox, outside: Path) -> None:
    (outside / "evil.yaml.j2").write_text(OUTSIDE_TEXT + "\n", encoding="utf-8")
    (workspace.campaigns / "evil.yaml.j2").symlink_to(outside / "evil.yaml.j2")
    assert_refused_cleanly(workspace, sandbox, ["is a link to a place outside"], str(workspace.campaigns / "evil.yaml.j2"))


def test_include_through_a_link_to_a_hidden_file_is_refused(workspace: Workspace, sandbox: Sandbox) -> None:
    hidden = workspace.campaigns / ".git"
    hidden.mkdir()
    (hidden / "config").write_text(f"[http]\n  extraheader = AUTHORIZATION: basic {CANARY}\n", encoding="utf-8")
    (workspace.campaigns / "config.j2").symlink_to(hidden / "config")
    workspace.write("evil.yaml.j2", template_with("{% include 'config.j2' %}"))
    words = ["'config.j2' is a link to a hidden file"]
    assert_refused_cleanly(workspace, sandbox, words, f"{workspace.campaigns / 'evil.yaml.j2'}:2")


def test_vars_file_that_links_out_is_refused(workspace: Workspace, sandbox: Sandbox, outside: Path) -> None:
    (workspace.campaigns / "vars.yaml").symlink_to(outside / "secret.yaml")
    workspace.write("pools.yaml.j2", template_with("{{ leaked }}"))
    assert_refused_cleanly(workspace, sandbox, ["vars.yaml must be a file inside"], str(workspace.campaigns / "vars.yaml"))


def test_a_plain_manifest_that_links_out_is_refused(workspace: Workspace, sandbox: Sandbox, outside: Path) -> None:
    """Not a template, but the same trick: a committed link would show a CI file in YAML errors."""
    (workspace.campaigns / "leak.yaml").symlink_to(outside / "secret.yaml")
    assert_refused_cleanly(workspace, sandbox, ["is a link to a place outside"], str(workspace.campaigns / "leak.yaml"))


def test_a_runaway_loop_is_stopped_by_the_time_limit(tmp_path: Path) -> None:
    campaigns = tmp_path / "campaigns"
    campaigns.mkdir()
    loops = "{% for a in range(10000) %}{% for b in range(10000) %}{% endfor %}{% endfor %}"
    (campaigns / "spin.yaml.j2").write_text(template_with(loops), encoding="utf-8")
    with pytest.raises(ManifestError) as caught:
        load_manifests([str(campaigns)], RenderLimits(max_seconds=0.3))
    [problem] = caught.value.problems
    assert problem.file == str(campaigns / "spin.yaml.j2")
    assert "rendering took longer than 0.3 s" in problem.message


def test_templates_render_normally_next_to_the_limits(tmp_path: Path) -> None:
    """The limits leave room for real templates: loops over ranges, repeated strings, powers."""
    campaigns = tmp_path / "campaigns"
    campaigns.mkdir()
    text = "a: {{ range(10000)|list|length }}\nb: {{ ('ab' * 1000)|length }}\nc: {{ 2 ** 64 }}\nd: {{ [1] + [2] }}\n"
    (campaigns / "ok.yaml.j2").write_text(text, encoding="utf-8")
    from reconciler.manifest import render_manifests

    [source] = render_manifests([str(campaigns)])
    assert source.text == "a: 10000\nb: 2000\nc: 18446744073709551616\nd: [1, 2]\n"

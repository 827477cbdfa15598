"""The campaign calendar in a real browser (issue 21.2): Debian's `chromium`, headless, renders the
demo shop's page (`reconciler calendar --prices` against the sandbox), dumps the DOM after its
script ran and takes a screenshot; the pull-request comment's Mermaid gantt blocks go through the
real Mermaid parser (`mermaid.parse` of the npm package `mermaid`, pinned in
tools/mermaid/package-lock.json, loaded from file:// into the same headless Chromium, since Mermaid
needs a DOM). Skipped, with the reason, where chromium (or Node.js/npm for the first install of
the parser) is missing; `.ci/run` installs chromium when missing."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.engine.plan import desired_resources
from reconciler.engine.timeline import gantt_markdown
from reconciler.manifest import load_manifests
from reconciler.model import Action, Change
from tests.conftest import Workspace
from tests.test_calendar_page import BEFORE_2027, _item_discount

REPO = Path(__file__).resolve().parents[1]
MERMAID_DIR = REPO / "tools" / "mermaid"
MERMAID_JS = MERMAID_DIR / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"
HEADLESS = ["--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars", "--allow-file-access-from-files",
            "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000"]


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)")
    return found


@pytest.fixture(scope="module")
def mermaid_js(chromium: str) -> Path:
    npm = shutil.which("npm")
    if not MERMAID_JS.is_file():
        if npm is None or shutil.which("node") is None:
            pytest.skip("Node.js/npm are not installed: the Mermaid parser is installed with npm ci")
        installed = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=MERMAID_DIR,
                                   capture_output=True, text=True, check=False, timeout=300)
        assert installed.returncode == 0, f"npm ci failed in {MERMAID_DIR}:\n{installed.stdout}{installed.stderr}"
    return MERMAID_JS


def _browse(chromium: str, page: Path, *extra: str) -> tuple[str, str]:
    """The DOM after the page's scripts ran, and the browser's log (console messages included)."""
    result = subprocess.run([chromium, *HEADLESS, *extra, page.as_uri()], capture_output=True, text=True,
                            check=False, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout, result.stderr


def _console(log: str, page: Path) -> list[str]:
    """Every console message of the page (Chromium logs them as CONSOLE lines naming their source)."""
    return [line for line in log.splitlines() if "CONSOLE" in line and page.name in line]


class _Dom(HTMLParser):
    """The bars, price charts and error box of a dumped calendar page."""

    def __init__(self) -> None:
        super().__init__()
        self.body: dict[str, str] = {}
        self.bars: list[dict[str, str]] = []
        self.charts: list[dict[str, str]] = []
        self.errors = ""
        self._in_errors = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        classes = values.get("class", "").split()
        if tag == "body":
            self.body = values
        elif tag == "g" and "bar" in classes:
            self.bars.append(values)
        elif tag == "figure" and "price-chart" in classes:
            self.charts.append(values)
        self._in_errors = values.get("id") == "page-errors"

    def handle_data(self, data: str) -> None:
        if self._in_errors:
            self.errors += data

    def handle_endtag(self, tag: str) -> None:
        self._in_errors = False


def test_the_demo_calendar_renders_every_promotion_in_order_without_errors(chromium: str, workspace: Workspace) -> None:
    shutil.copytree(REPO / "campaigns", workspace.campaigns, dirs_exist_ok=True)
    page = workspace.root / "calendar.html"
    made = workspace.run("calendar", str(workspace.campaigns), "--prices", "--at", "2027-06-19T12:00:00+08:00",
                         "--html", str(page))
    assert made.exit_code == 0, made.output
    dom_text, log = _browse(chromium, page, "--dump-dom")
    dom = _Dom()
    dom.feed(dom_text)
    assert dom.body.get("data-ready") == "yes", "the page's script did not run to its end"
    assert dom.errors.strip() == "" and _console(log, page) == []
    declared = load_manifests([str(workspace.campaigns)])
    windowed = {str(r.key) for r in desired_resources(declared, BEFORE_2027) if r.key.kind not in ("CouponGrant", "PriceFloor")}
    keys = [bar["data-key"] for bar in dom.bars]
    assert set(keys) == windowed and dom.body["data-bars"] == str(len(keys))
    starts = [bar["data-start"] for bar in dom.bars]
    assert starts == sorted(starts)  # ISO 8601 in one offset sorts as time; the open start ("") first
    assert len({bar["data-lane"] for bar in dom.bars}) >= 4  # overlaps side by side
    assert len(dom.charts) > 0 and all(chart["data-floor"] for chart in dom.charts)
    screenshot = workspace.root / "calendar.png"
    _browse(chromium, page, f"--screenshot={screenshot}", "--window-size=1440,900")
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 20_000


def test_a_script_error_in_a_page_is_seen(chromium: str, tmp_path: Path) -> None:
    """The check above would notice: a console message and an unfinished script show up."""
    page = tmp_path / "broken.html"
    page.write_text('<!doctype html><body><script>console.error("boom"); undefinedCall();</script></body>', encoding="utf-8")
    dom_text, log = _browse(chromium, page, "--dump-dom")
    assert 'data-ready="yes"' not in dom_text
    assert any("boom" in line for line in _console(log, page))


def _parse_all(chromium: str, mermaid: Path, blocks: list[str], directory: Path) -> list[str]:
    """mermaid.parse() of each block in headless Chromium: "ok" or the parser's error."""
    harness = directory / "mermaid-parse.html"
    harness.write_text(f"""<!doctype html><html><head><meta charset="utf-8">
<script src="{mermaid.as_uri()}"></script></head><body><pre id="out"></pre><script>
var blocks = {json.dumps(blocks, ensure_ascii=False)};
Promise.all(blocks.map(function (text) {{
  // parse() checks the grammar; render() also reads every date and draws a bar per task.
  return mermaid.parse(text).then(function (found) {{
    return mermaid.render("chart" + Math.random().toString(36).slice(2), text).then(function (drawn) {{
      var bars = (drawn.svg.match(/<rect[^>]*class="task /g) || []).length;
      return "ok " + found.diagramType + " " + bars + " bars";
    }});
  }}).catch(function (error) {{ return "error " + error.message; }});
}})).then(function (results) {{ document.getElementById("out").textContent = JSON.stringify(results); }});
</script></body></html>""", encoding="utf-8")
    dom_text, log = _browse(chromium, harness, "--dump-dom")
    assert _console(log, harness) == []
    found = re.search(r'<pre id="out">(.*?)</pre>', dom_text, re.S)
    assert found and found.group(1), f"mermaid did not answer:\n{dom_text[-2000:]}"
    from html import unescape

    results: list[str] = json.loads(unescape(found.group(1)))
    return results


def _blocks(markdown: str) -> list[str]:
    return re.findall(r"```mermaid\n(.*?)```", markdown, re.S)


def test_the_pr_comment_gantt_blocks_pass_the_mermaid_parser(chromium: str, mermaid_js: Path, tmp_path: Path) -> None:
    # The demo shop planned from empty (every promotion a create), as the golden markdown shows it,
    # and a moved window, a new and a deleted promotion.
    golden = (REPO / "tests" / "golden" / "demo-empty.markdown.plan-1.md").read_text(encoding="utf-8")
    edited = (REPO / "tests" / "golden" / "bench-edited.markdown.plan-1.md").read_text(encoding="utf-8")
    old = _item_discount("tea", "2027-11-01T00:00:00+08:00", "2027-11-11T00:00:00+08:00")
    moved = _item_discount("tea", "2027-11-01T00:00:00+08:00", "2027-11-12T00:00:00+08:00", rate="0.8")
    gone = _item_discount("old", "2027-05-01T00:00:00+08:00", "2027-05-04T00:00:00+08:00")
    changes = [Change(moved.key, Action.UPDATE, ()), Change(gone.key, Action.DELETE, ())]
    made = gantt_markdown(changes, [moved], {old.key: old, gone.key: gone}, BEFORE_2027)
    blocks = _blocks(golden) + _blocks(edited) + _blocks(made)
    assert len(blocks) == 3
    tasks = [sum(1 for line in block.splitlines() if re.match(r"    (before|after|deleted) ", line)) for block in blocks]
    assert _parse_all(chromium, mermaid_js, blocks, tmp_path) == [f"ok gantt {count} bars" for count in tasks]


def test_the_mermaid_parser_really_refuses_a_broken_gantt(chromium: str, mermaid_js: Path, tmp_path: Path) -> None:
    broken = "gantt\n    dateFormat YYYY-MM-DD HH:mm\n    section a\n    : : :\n"
    [result] = _parse_all(chromium, mermaid_js, [broken], tmp_path)
    assert result.startswith("error Parse error")


def test_the_cli_writes_markdown_with_the_gantt(workspace: Workspace) -> None:
    """plan --markdown carries the timeline block (the golden files pin its text)."""
    shutil.copytree(REPO / "campaigns", workspace.campaigns, dirs_exist_ok=True)
    out = workspace.root / "md"
    result = CliRunner().invoke(cli, ["plan", str(workspace.campaigns), "--at", "2026-12-01T10:00:00+08:00",
                                      "--markdown", str(out)], env=workspace.env, catch_exceptions=False)
    assert result.exit_code in (0, 2), result.output
    comment = (out / "plan-1.md").read_text(encoding="utf-8")
    assert "**Timeline of the changed promotions**" in comment and len(_blocks(comment)) == 1

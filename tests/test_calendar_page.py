"""The campaign calendar (issue 21.2) without a browser: bars from the manifests (engine/timeline.py),
lanes for overlaps, the pull-request comment's Mermaid gantt of the changed promotions (before →
after), and `reconciler calendar` writing one self-contained page — from the manifests alone, and
with --prices each touched item's worst-case price over time against its floor, read read-only
from the sandbox. tests/test_calendar_browser.py renders the page in headless Chromium."""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.engine.calendar import Page, change_moments, render_page
from reconciler.engine.plan import desired_resources
from reconciler.engine.timeline import bars_of, gantt_markdown, lanes
from reconciler.kinds import KINDS
from reconciler.manifest import ManifestSet, load_manifests
from reconciler.model import Action, Change, Resource, ResourceKey
from reconciler.pricing.rules import promotions
from tests.conftest import Sandbox, Workspace

REPO = Path(__file__).resolve().parents[1]
GMT8 = timezone(timedelta(hours=8))
MOMENT = datetime(2027, 6, 19, 12, 0, tzinfo=GMT8)
BEFORE_2027 = datetime(2026, 12, 1, 10, 0, tzinfo=GMT8)


def _demo() -> list[Resource]:
    return desired_resources(load_manifests([str(REPO / "campaigns")]), BEFORE_2027)


def _windowed(resources: list[Resource]) -> set[str]:
    """The demo's resources that have a time on the calendar: every kind but grants and floors."""
    return {str(r.key) for r in resources if r.key.kind not in ("CouponGrant", "PriceFloor")}


def test_every_promotion_and_listing_window_is_a_bar_in_order_of_start_with_its_terms() -> None:
    resources = _demo()
    bars = bars_of(resources)
    assert {str(bar.key) for bar in bars} == _windowed(resources)
    starts = [bar.start for bar in bars if bar.start is not None]
    assert starts == sorted(starts) and bars[0].start is None  # the always-on listing window first
    terms = {bar.key.name: bar.terms for bar in bars}
    # The kinds' own words (kinds/price_terms.py), in 元 and 折, never re-derived.
    assert terms["double11-tea-85"] == "8.5折"
    assert terms["double11-199-minus-20"] == "满199.00元减20.00元，上不封顶"
    assert terms["welcome-5-off-49"] == "5.00元券，满49.00元可用"
    assert terms["fresh-618-30-12"] == "618商品池满30减12：满30.00元减12.00元；满60.00元减30.00元"
    weekly = {bar.key.name: bar.period for bar in bars}
    assert weekly["breakfast-weekday-mornings"] == "Mon,Tue,Wed,Thu,Fri 07:00-09:00"
    assert weekly["beauty-weekends-nov-2027"] == "Sat,Sun 10:00-22:00; Fri 20:00-02:00"
    presale = next(bar for bar in bars if bar.key.name == "double11-presale")
    assert (presale.start, presale.end) == (datetime(2027, 11, 11, tzinfo=GMT8), datetime(2027, 11, 12, tzinfo=GMT8))


def test_overlapping_spans_get_lanes_of_their_own_and_a_freed_lane_is_reused() -> None:
    assert lanes([(0, 10), (5, 15), (10, 20), (12, 30), (16, 22)]) == [0, 1, 0, 2, 1]
    assert lanes([]) == []


def _item_discount(name: str, start: str, end: str, rate: str = "0.85") -> Resource:
    [resource] = desired_resources(_manifests_of(f"""\
apiVersion: campaigns/v1
kind: ItemDiscount
metadata: {{name: {name}, shop: demo-shop}}
spec:
  title: 茶叶折扣
  window: {{start: "{start}", end: "{end}"}}
  discount: {{rate: {rate}}}
  items: ["1001"]
"""), BEFORE_2027)
    return resource


def _manifests_of(text: str) -> ManifestSet:
    directory = Path(tempfile.mkdtemp())
    (directory / "shops.yaml").write_text((REPO / "campaigns" / "shops.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    (directory / "x.yaml").write_text(text, encoding="utf-8")
    return load_manifests([str(directory)])


def _change(resource: Resource, action: Action) -> Change:
    return Change(key=resource.key, action=action, calls=())


def test_the_gantt_shows_a_moved_window_before_and_after_a_new_one_after_and_a_deleted_one_struck() -> None:
    old = _item_discount("tea", "2027-11-01T00:00:00+08:00", "2027-11-11T00:00:00+08:00")
    moved = _item_discount("tea", "2027-11-01T00:00:00+08:00", "2027-11-12T00:00:00+08:00", rate="0.8")
    new = _item_discount("snack", "2027-06-18T00:00:00+08:00", "2027-06-21T00:00:00+08:00")
    gone = _item_discount("old", "2027-05-01T00:00:00+08:00", "2027-05-04T00:00:00+08:00")
    changes = [_change(moved, Action.UPDATE), _change(new, Action.CREATE), _change(gone, Action.DELETE)]
    text = gantt_markdown(changes, [moved, new], {old.key: old, gone.key: gone}, BEFORE_2027)
    [block] = re.findall(r"```mermaid\n(.*?)```", text, re.S)
    assert block.splitlines()[:4] == ["gantt", "    title demo-shop", "    dateFormat YYYY-MM-DD HH:mm", "    axisFormat %m-%d"]
    assert "    section ItemDiscount/tea\n    before 8.5折 :done, 2027-11-01 00:00, 2027-11-11 00:00\n" \
           "    after 8折 :active, 2027-11-01 00:00, 2027-11-12 00:00\n" in block
    assert "    section ItemDiscount/snack\n    after 8.5折 :active, 2027-06-18 00:00, 2027-06-21 00:00\n" in block
    assert "    section ItemDiscount/old\n    deleted 8.5折 :crit, 2027-05-01 00:00, 2027-05-04 00:00\n" in block
    # A window that does not move is drawn once, after the plan.
    same = gantt_markdown([_change(old, Action.UPDATE)], [old], {old.key: old}, BEFORE_2027)
    assert "    before" not in same and "    after 8.5折 :active" in same


def test_the_gantt_says_what_has_no_window_and_is_empty_without_windowed_changes() -> None:
    resources = _demo()
    by_name = {r.key.name: r for r in resources}
    always = by_name["digital-in-stock"]
    text = gantt_markdown([_change(always, Action.CREATE)], resources, {}, BEFORE_2027)
    assert "```mermaid" not in text and "In effect at all times (no window, not drawn): ListingWindow/digital-in-stock" in text
    grant = by_name["vip-spring"]
    assert gantt_markdown([_change(grant, Action.CREATE)], resources, {}, BEFORE_2027) == ""


def test_task_names_never_carry_gantt_syntax() -> None:
    resource = _item_discount("x", "2027-11-01T00:00:00+08:00", "2027-11-12T00:00:00+08:00")
    weird = replace(resource, key=ResourceKey("demo-shop", "ItemDiscount", "a:b#c;d"))
    text = gantt_markdown([_change(weird, Action.CREATE)], [weird], {}, BEFORE_2027)
    assert "    section ItemDiscount/a：b＃c；d\n" in text
    task = next(line for line in text.splitlines() if line.startswith("    after"))
    assert task.split(" :", 1)[1] == "active, 2027-11-01 00:00, 2027-11-12 00:00"


def test_the_page_is_self_contained_and_holds_every_bar_the_now_marker_and_a_legend() -> None:
    resources = _demo()
    html = render_page(Page(resources, MOMENT))
    assert "http://" not in html and "https://" not in html and "src=" not in html  # nothing fetched
    keys = re.findall(r'<g class="bar[^"]*" data-key="([^"]+)"', html)
    assert sorted(keys) == sorted(_windowed(resources)) and len(keys) == len(set(keys))
    assert '<g class="now" data-now="2027-06-19T12:00:00+08:00">' in html
    assert "<td>满199.00元减20.00元，上不封顶</td>" in html and "<td>8.5折</td>" in html
    lanes_used = {int(lane) for lane in re.findall(r'data-lane="(\d+)"', html)}
    assert len(lanes_used) >= 4  # 618: three pool activities and a gift overlap


def test_from_and_to_keep_only_the_bars_in_range(tmp_path: Path) -> None:
    page = tmp_path / "november.html"
    result = CliRunner().invoke(cli, ["calendar", str(REPO / "campaigns"), "--from", "2027-11-01", "--to", "2027-11-30",
                                      "--at", "2027-11-11T20:00:00+08:00", "--html", str(page)])
    assert result.exit_code == 0, result.output
    html = page.read_text(encoding="utf-8")
    names = {key.rsplit("/", 1)[1] for key in re.findall(r'<g class="bar[^"]*" data-key="([^"]+)"', html)}
    assert names == {"digital-in-stock", "double11-tea-85", "double11-199-minus-20", "beauty-weekends-nov-2027",
                     "double11-presale", "double11-snack-gift"}
    assert 'data-from="2027-11-01T00:00:00+08:00" data-to="2027-12-01T00:00:00+08:00"' in html
    assert "List prices were not read" in html and "price-chart" not in html


def test_a_bad_day_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["calendar", str(REPO / "campaigns"), "--from", "11/01/2027", "--html",
                                      str(tmp_path / "x.html")])
    assert result.exit_code == 1
    assert "--from '11/01/2027' is not a day like 2027-11-01" in result.output


def test_change_moments_follow_windows_and_weekly_hours() -> None:
    resources = [r for r in _demo() if r.key.name == "breakfast-weekday-mornings"]
    offers = [rule for r in resources for rule in promotions(KINDS[r.key.kind].price_rules(r))]
    start, end = datetime(2027, 6, 7, tzinfo=GMT8), datetime(2027, 6, 9, tzinfo=GMT8)  # Monday and Tuesday
    hours = [moment.strftime("%d %H:%M") for moment in change_moments(offers, start, end)]
    assert hours == ["07 00:00", "07 07:00", "07 09:00", "08 00:00", "08 07:00", "08 09:00"]


def test_prices_chart_each_touched_item_against_its_floor(workspace: Workspace) -> None:
    shutil.copytree(REPO / "campaigns", workspace.campaigns, dirs_exist_ok=True)
    page = workspace.root / "calendar.html"
    result = workspace.run("calendar", str(workspace.campaigns), "--prices", "--from", "2027-11-01", "--to", "2027-11-13",
                           "--at", "2027-11-05T00:00:00+08:00", "--html", str(page))
    assert result.exit_code == 0, result.output
    html = page.read_text(encoding="utf-8")
    assert "List prices read from TOP (read-only)." in html
    charts = dict(re.findall(r'<figure class="price-chart[^"]*" data-item="(\d+)" data-lowest="(\d+)"', html))
    assert {"220000000101", "220000000102", "220000000103"} <= set(charts)  # the tea discount's items
    tea = html[html.index('data-item="220000000101"'):]
    tea = tea[: tea.index("</figure>")]
    steps = re.findall(r'<line class="step[^"]*" data-start="([^"]+)" data-price="(\d+)"', tea)
    assert steps[0][0] == "2027-11-01T00:00:00+08:00"
    prices = [int(price) for _, price in steps]
    assert min(prices) < max(prices)  # the discount ends inside the range: the price steps back up
    assert 'class="floor"' in tea


def test_without_prices_no_call_reaches_top_and_with_prices_only_reads(workspace: Workspace, sandbox: Sandbox) -> None:
    shutil.copytree(REPO / "campaigns", workspace.campaigns, dirs_exist_ok=True)
    page = str(workspace.root / "calendar.html")
    assert workspace.run("calendar", str(workspace.campaigns), "--html", page).exit_code == 0
    assert sandbox.calls() == []  # the manifests alone
    assert workspace.run("calendar", str(workspace.campaigns), "--prices", "--html", page).exit_code == 0
    assert sandbox.calls() != [] and sandbox.writes() == []

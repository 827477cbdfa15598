"""engine.render.render_markdown on its own (issue 18.5): the plan as pull-request comments, from
plain Plan values — counts first, warnings next, a collapsible section per shop with the exact
calls, and a plan too long for one comment split into parts that each stay under the limit."""

from __future__ import annotations

from reconciler.engine import render_markdown
from reconciler.model import Action, Call, Change, Plan, ResourceKey, SourceRef

CHECKSUM = "sha256:" + "0" * 64
GITHUB_LIMIT = 65_535  # characters in one pull-request comment, GitHub's limit


def _coupon(shop: str, name: str, *, amount: int = 5) -> Change:
    return Change(
        key=ResourceKey(shop, "ShopCoupon", name),
        action=Action.CREATE,
        calls=(Call("taobao.promotion.coupon.add", {"denominations": amount, "condition": 49}),),
        reason="new in the manifests",
        details=(f"denomination {amount}.00 yuan",),
        source=SourceRef("campaigns/coupons.yaml", 7),
    )


def test_one_comment_holds_summary_checksum_warnings_notes_and_each_shops_calls() -> None:
    plan = Plan(
        changes=(_coupon("demo-shop", "welcome-5"),),
        warnings=("coupon <b> is big",),
        notes=("gift claimed 3 times",),
        unmanaged=("ShopCoupon 9001 (made in the seller console)",),
        read_calls=4,
    )
    [comment] = render_markdown(plan, checksum=CHECKSUM, extra_warnings=("price drop allowed: launch",), price_impact="PRICES\n")
    assert comment.startswith("### campaign-reconciler plan\n\n**1 to create, 0 to update, 0 to replace, 0 to delete**")
    assert "· 1 write calls · 4 read calls" in comment
    assert f"Plan checksum: `{CHECKSUM}`" in comment
    # The run's own warnings (e.g. price guardrails) come before the plan's; text is escaped for HTML.
    assert "> [!WARNING]\n> - price drop allowed: launch\n> - coupon &lt;b&gt; is big\n" in comment
    assert "<details><summary>1 note(s)</summary>" in comment and "- gift claimed 3 times" in comment
    assert "1 unmanaged object(s) on TOP, left alone" in comment
    assert comment.index("unmanaged") < comment.index("PRICES") < comment.index("<b>demo-shop</b>: 1 change(s)")
    assert "#### `+` ShopCoupon/welcome-5: create — `campaigns/coupons.yaml:7`" in comment
    assert "- denomination 5.00 yuan" in comment
    assert "```\ntaobao.promotion.coupon.add {\"condition\":49,\"denominations\":5}\n```" in comment  # keys sorted


def test_sources_link_to_the_repository_when_a_link_base_is_given() -> None:
    plan = Plan(changes=(_coupon("demo-shop", "welcome-5"),))
    [comment] = render_markdown(plan, checksum=CHECKSUM, link_base="https://git.example/shop/blob/abc/")
    assert "— [campaigns/coupons.yaml:7](https://git.example/shop/blob/abc/campaigns/coupons.yaml#L7)" in comment


def test_an_empty_plan_says_so() -> None:
    [comment] = render_markdown(Plan(changes=(), read_calls=2), checksum=CHECKSUM)
    assert "**0 to create, 0 to update, 0 to replace, 0 to delete** · 0 write calls · 2 read calls" in comment
    assert comment.endswith("No changes: TOP matches the manifests.\n")
    assert "[!WARNING]" not in comment


def test_a_long_plan_is_split_into_numbered_parts_each_under_the_limit() -> None:
    changes = tuple(_coupon(shop, f"coupon-{n:03}") for shop in ("shop-a", "shop-b") for n in range(60))
    plan = Plan(changes=changes, warnings=("read me first",))
    limit = 6000
    comments = render_markdown(plan, checksum=CHECKSUM, limit=limit)
    assert len(comments) > 2
    for index, comment in enumerate(comments, start=1):
        assert len(comment) < limit
        assert comment.startswith("### campaign-reconciler plan")  # each part readable on its own
        assert f"_Part {index} of {len(comments)}._" in comment
        assert ("read me first" in comment) == (index == 1)  # warnings once, in the first part
        # A shop section cut in pieces re-opens with the shop's name in every part.
        assert "<summary><b>shop-a</b>: 60 change(s)</summary> (continued)" in comment or "<b>shop-b</b>" in comment
    # Every change is in exactly one part, in plan order.
    headings = [line for line in "".join(comments).splitlines() if line.startswith("#### ")]
    assert headings == [f"#### `+` ShopCoupon/{c.key.name}: create — `campaigns/coupons.yaml:7`" for c in changes]


def test_the_default_limit_is_githubs() -> None:
    changes = tuple(_coupon("demo-shop", f"coupon-{n:04}") for n in range(400))
    comments = render_markdown(Plan(changes=changes), checksum=CHECKSUM)
    assert len(comments) > 1 and all(len(comment) <= GITHUB_LIMIT for comment in comments)

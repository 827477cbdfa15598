"""TOP's business refusals as TOP sends them, read through the sandbox over real HTTP.

- The item-pool family refuses inside a successful envelope (`result.success=false`,
  `error_code`, `message`: MarketResult / MarketPageResult in ../shared/top-api/shapes/): each read
  and write checks that verdict and raises a typed error with TOP's code and message.
- Sub codes carry details (`isv.activity-not-exist:activityId`, promotionmisc pages) and match by
  prefix; TOP sends business refusals as code 50 + isv.* too, which must read like code 15.
"""

from __future__ import annotations

import pytest

from reconciler.errors import TopPermanentError
from reconciler.kinds.item_pool import ItemPoolActivity
from reconciler.kinds.item_pool.read import market_result
from reconciler.kinds.item_pool.wire import ADD_ITEM, QUERY_ITEMS
from reconciler.top import Credentials, TopClient
from tests.conftest import Sandbox, Workspace
from tests.fault_tools import set_faults
from tests.test_drift import _activity_id
from tests.test_e2e_discounts import ITEM_DELETE, direct_call, item_discount, remote_id
from tests.test_e2e_discounts import known_items  # noqa: F401  (an autouse fixture: the ids item_discount names)
from tests.test_e2e_item_pool import pool

ITEM_GET = "taobao.promotionmisc.item.activity.get"


def _client(workspace: Workspace, simplify: bool) -> TopClient:
    env = workspace.env
    credentials = Credentials(env["TOP_APP_KEY"], env["TOP_APP_SECRET"], env["TOP_SESSION"], env["TOP_GATEWAY"])
    return TopClient(credentials, simplify=simplify)


@pytest.mark.parametrize("simplify", [True, False], ids=["simplified", "wrapped"])
def test_an_item_pool_refusal_in_the_body_is_a_typed_error_with_tops_words(
    workspace: Workspace, sandbox: Sandbox, simplify: bool
) -> None:
    workspace.write("pools.yaml", pool("fresh", skus=["1001"]))
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    activity_id = _activity_id(workspace, "fresh")
    kind = ItemPoolActivity()
    with _client(workspace, simplify) as client:
        # The envelope is a success: the client returns it; the kind reads the verdict inside.
        answer = client.call(ADD_ITEM, {"param0": {"sku_code": "1001"}, "param1": {"activity_id": activity_id}})
        with pytest.raises(TopPermanentError) as refused:
            kind.check_response(ADD_ITEM, answer)
        assert refused.value.sub_code == "isv.item-already-in-pool"
        assert "1001" in refused.value.msg  # TOP's message, not ours

        unknown = client.call(QUERY_ITEMS, {"param": {"activity_id": 999999, "page": {"page_size": 10, "current": 1}}})
        with pytest.raises(TopPermanentError) as gone:
            market_result(QUERY_ITEMS, unknown)
        assert gone.value.sub_code == "isv.activity-not-exist"


def test_a_business_refusal_sent_as_code_50_reads_like_code_15(workspace: Workspace, sandbox: Sandbox) -> None:
    """An item discount deleted in the console, and TOP answering its get with code 50 +
    isv.activity-not-exist:activityId: importing it says it does not exist, as with code 15 —
    not a retried platform fault, not a traceback."""
    workspace.write("discounts.yaml", item_discount())
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    activity_id = remote_id(workspace, "demo-shop/ItemDiscount/tea")
    direct_call(workspace, ITEM_DELETE, {"activity_id": activity_id})
    assert workspace.run("state", "rm", "demo-shop/ItemDiscount/tea").exit_code == 0
    set_faults(sandbox, refusal_code_50={"methods": [ITEM_GET]})
    sandbox.clear_calls()

    imported = workspace.run("import", "ItemDiscount", "tea", str(activity_id), str(workspace.campaigns))
    assert imported.exit_code == 1, imported.output
    assert "has no item discount" in imported.output and "Traceback" not in imported.output
    gets = [call for call in sandbox.calls() if call["method"] == ITEM_GET]
    assert len(gets) == 1  # a business refusal: not retried like a platform fault

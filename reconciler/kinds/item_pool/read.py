"""ItemPoolActivity, reading TOP: activities by id (queryactivity) with their pools' skus
(queryitems, paged), concurrently; "gone" only on queryactivity's own refusal."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.errors import TopPermanentError, TopShapeError
from reconciler.kinds.base import Caller, ensure_success
from reconciler.kinds.item_pool.wire import QUERY, QUERY_ITEMS
from reconciler.top.answers import sub_code_is, top_rows


ITEMS_PAGE_SIZE = 100  # the largest page queryitems serves
# How queryactivity says an activity id is unknown. No public page shows the item-pool family's
# code (the sandbox's is its own choice), so both spellings are accepted; any other refusal stops
# the plan rather than being read as "gone", which would create the activity a second time.
ACTIVITY_NOT_EXIST_CODES = ("isv.activity-not-exist", "activity-not-exist")


def read_one(client: Caller, activity_id: int) -> dict[str, Any] | None:
    return read_activities(client, [activity_id])[activity_id]


def read_activities(
    client: Caller, activity_ids: Sequence[int], *, with_items: bool = True
) -> dict[int, dict[str, Any] | None]:
    """Each activity with its pool's skus, None when it is gone on TOP: one round of concurrent
    reads per step (the activities, then each page of items), not one activity after another."""
    answers = client.call_many(QUERY, [{"param0": {"activity_id": i}} for i in activity_ids], return_exceptions=True)
    activities: dict[int, dict[str, Any] | None] = {}
    for activity_id, answer in zip(activity_ids, answers, strict=True):
        try:
            if isinstance(answer, Exception):
                raise answer
            activities[activity_id] = {"activity": _activity_data(answer)}
        except TopPermanentError as exc:
            if not _is_activity_gone(exc):
                raise
            activities[activity_id] = None
    if with_items:
        present = [i for i, activity in activities.items() if activity is not None]
        for activity_id, skus in _read_skus(client, present).items():
            activity = activities[activity_id]
            assert activity is not None
            activity["skus"] = skus
    return activities


def market_result(method: str, answer: Mapping[str, Any]) -> Mapping[str, Any]:
    """The `result` of an item-pool answer, after its in-body verdict.

    The alibaba.wdk.marketing.itempool.* methods answer a business refusal inside a successful
    envelope: `result.success=false` with `error_code`/`message` (MarketResult and MarketPageResult
    in ../shared/top-api/shapes/), or `is_success=false` with `fail_code` (activity.create's page).
    Either is a TopPermanentError carrying TOP's code as sub_code, never data to read.
    """
    ensure_success(method, answer)
    result = answer.get("result")
    if not isinstance(result, Mapping):
        raise TopShapeError(method, msg="the answer has no result object")
    return result


def _activity_data(answer: Mapping[str, Any]) -> Mapping[str, Any]:
    data = market_result(QUERY, answer).get("data")
    if not isinstance(data, Mapping):
        # Not read as "gone": an activity that exists but came back without data would be created
        # a second time. The method page (../shared/top-api/methods/) types data as ItemPoolActivity.
        raise TopShapeError(QUERY, msg="result.data is not an activity object; cannot tell whether the activity exists")
    return data


def _is_activity_gone(error: TopPermanentError) -> bool:
    """queryactivity's refusal for an unknown activity id, whether TOP sends it as error_response
    (sub_code) or in the body (error_code), with or without the `isv.` prefix and a `:detail`.
    No public page shows the item-pool family's code, so only this read decides "gone": a delete
    refused this way is confirmed by reading (recover, plan), never taken as done on its word."""
    return any(sub_code_is(error.sub_code, code) for code in ACTIVITY_NOT_EXIST_CODES)


def _items_query(activity_id: int, page: int, **extra: Any) -> dict[str, Any]:
    return {"param": {"activity_id": activity_id, "page": {"page_size": ITEMS_PAGE_SIZE, "current": page}, **extra}}


def _pool_rows(answer: Mapping[str, Any]) -> tuple[list[Mapping[str, Any]], int]:
    """One queryitems page: its sku rows (either shape) and the number of pages."""
    result = market_result(QUERY_ITEMS, answer)
    rows = top_rows(result.get("item_pool_sku_list"), "item_pool_sku", where=QUERY_ITEMS)
    return rows, int(result.get("total_page") or 0)


def _page_skus(answer: Mapping[str, Any]) -> tuple[list[str], int]:
    """One queryitems page as what the plan keeps of it: its sku codes, and the number of pages."""
    rows, pages = _pool_rows(answer)
    return [str(row["sku_code"]) for row in rows], pages


def _read_skus(client: Caller, activity_ids: Sequence[int]) -> dict[int, list[str]]:
    skus: dict[int, list[str]] = {i: [] for i in activity_ids}
    page = 1
    pending = list(activity_ids)
    while pending:
        # Each page is cut down to its sku codes as it arrives: a round is a page of every pool
        # (1,000 pages of 100 rows for the bench shop, ~75 MB as parsed rows; issue 20.6).
        answers = client.call_many(QUERY_ITEMS, [_items_query(i, page) for i in pending], each=_page_skus)
        more: list[int] = []
        for activity_id, (codes, pages) in zip(pending, answers, strict=True):
            skus[activity_id].extend(codes)
            if page < pages:
                more.append(activity_id)
        pending = more
        page += 1
    return skus


def sku_in_pool(client: Caller, activity_id: int, sku: str) -> bool:
    rows, _ = _pool_rows(client.call(QUERY_ITEMS, _items_query(activity_id, 1, sku_codes=[sku])))
    return any(str(row.get("sku_code")) == sku for row in rows)

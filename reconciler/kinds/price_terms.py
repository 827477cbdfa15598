"""How kinds name their price rules (reconciler.pricing) in the words sellers use: 满30.00元减12.00元,
8.5折, 一口价9.90元. Only for explanations (`reconciler price`, the plan's price checks); the
numbers themselves travel in the rules."""

from __future__ import annotations

from reconciler.kinds.units import fen_to_yuan, permille_to_rate
from reconciler.pricing.rules import Form, Reward, Scope, Threshold, UnitPrice


def yuan(fen: int) -> str:
    return f"{fen_to_yuan(int(fen))}元"


def rate_text(permille: int) -> str:
    """800 → 8折, 850 → 8.5折, 955 → 9.55折."""
    return f"{(permille_to_rate(int(permille)) * 10).normalize():f}折"


def threshold_text(threshold: Threshold) -> str:
    if threshold.amount is not None:
        return f"满{yuan(threshold.amount)}"
    if threshold.count is not None:
        return f"满{threshold.count}件"
    return ""


def reward_text(reward: Reward, threshold: Threshold = Threshold()) -> str:
    words = {
        Form.DECREASE: f"减{yuan(reward.value)}",
        Form.RATE: rate_text(reward.value),
        Form.FIX_PRICE: f"每件{yuan(reward.value)}",
        Form.FIX_TOTAL: f"一口价{yuan(reward.value)}",
    }[reward.form]
    if reward.scope is Scope.NTH and threshold.count:
        return f"第{threshold.count}件{words}"
    if reward.scope is Scope.THRESHOLD_UNITS:
        return f"指定件数{words}"
    return words


def stair_text(threshold: Threshold, reward: Reward, repeat: bool = False) -> str:
    text = threshold_text(threshold) + reward_text(reward, threshold)
    return text + ("，上不封顶" if repeat and threshold != Threshold() else "")


def unit_price(form: Form, value: int) -> UnitPrice:
    """An item-level price with its words: a rate, an amount off each unit, or a fixed price."""
    words = {
        Form.RATE: rate_text(value),
        Form.DECREASE: f"每件减{yuan(value)}",
        Form.FIX_PRICE: f"一口价{yuan(value)}",
    }[form]
    return UnitPrice(form, int(value), words)

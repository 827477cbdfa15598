"""Plan renderings: terminal text (colour optional), JSON, and markdown for pull-request comments.
Pure functions from a Plan to strings."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from reconciler.engine.codec import dumps, plan_to_data, value_to_data
from reconciler.i18n import N_, _, ngettext
from reconciler.model import Action, Change, Link, Plan

# GitHub refuses comments longer than this many characters.
GITHUB_COMMENT_LIMIT = 65_535

_COLOURS = {Action.CREATE: "green", Action.UPDATE: "yellow", Action.REPLACE: "magenta", Action.DELETE: "red"}
# The change verbs people read (the JSON keeps Action.value, always English).
_VERBS = {Action.CREATE: N_("create"), Action.UPDATE: N_("update"), Action.REPLACE: N_("replace"),
          Action.DELETE: N_("delete")}
Styler = Callable[..., str]


def _plain(text: str, **_styles: Any) -> str:
    return text


def verb(action: Action) -> str:
    """The change's verb in the run's language ("create", "创建")."""
    return _(_VERBS[action])


def render_json(plan: Plan, extra: Mapping[str, Any] | None = None) -> str:
    """`extra`: fields about the run rather than the plan (e.g. "where"), after the plan's own."""
    return dumps({**plan_to_data(plan), **(extra or {})}, indent=2)


_CHANGES_SLOT = "\x00changes\x00"  # stands for the changes in the JSON around them


def json_pieces(plan: Plan, extra: Mapping[str, Any] | None = None) -> Iterator[str]:
    """render_json in pieces, a change at a time: a plan from empty of a big shop is hundreds of MB
    as JSON, which need never be in memory at once. "".join gives exactly render_json's text."""
    if not plan.changes:
        yield render_json(plan, extra)
        return
    data = {**plan_to_data(plan, lazy_changes=True), **(extra or {})}
    changes = data["changes"]
    data["changes"] = [_CHANGES_SLOT]
    # "changes" comes before every field holding free text, so the first match is the slot.
    before, after = dumps(data, indent=2).split(dumps(_CHANGES_SLOT), 1)
    yield before
    for index, change in enumerate(changes):
        # A change is nested two levels deep: its lines are indented by two more steps of 2.
        yield ("" if index == 0 else ",\n    ") + dumps(change, indent=2).replace("\n", "\n    ")
    yield after


def _compact(value: Any) -> str:
    return dumps(value_to_data(value))


def render_text(plan: Plan, style: Styler = _plain) -> str:
    """The terminal plan. `style` is click.style on a colour terminal, a no-op otherwise."""
    return "\n".join(text_lines(plan, style))


def text_lines(plan: Plan, style: Styler = _plain) -> Iterator[str]:
    """render_text line by line, so a plan of 200,000 calls can be printed without its whole text in memory."""
    step = 0
    for shop, changes in groupby(plan.changes, key=lambda change: change.key.shop):
        yield style(_("shop {shop}:").format(shop=shop), bold=True)
        for change in changes:
            step += 1
            yield from _change_lines(step, change, style)
        yield ""
    for warning in plan.warnings:
        yield style(_("warning: {warning}").format(warning=warning), fg="yellow")
    for note in plan.notes:
        yield _("note: {note}").format(note=note)
    for unmanaged in plan.unmanaged:
        yield _("unmanaged (left alone): {object}").format(object=unmanaged)
    yield style(summary_line(plan), bold=True)


def _change_lines(step: int, change: Change, style: Styler) -> list[str]:
    where = f"  ({change.source})" if change.source else ""
    head = f"{step:>3}. {change.action.symbol} {change.key.kind}/{change.key.name}: {verb(change.action)}"
    lines = [style(head, fg=_COLOURS[change.action]) + where]
    if change.reason:
        lines.append("       " + _("why: {reason}").format(reason=change.reason))
    lines.extend(f"       {detail}" for detail in change.details)
    for number, call in enumerate(change.calls, start=1):
        lines.append(f"       {number}) {call.method} {_compact(call.params)}")
    return lines


def summary_line(plan: Plan) -> str:
    if plan.empty:
        return _("No changes. TOP matches the manifests ({reads} read calls, 0 writes).").format(reads=plan.read_calls)
    return _("Plan: {create} to create, {update} to update, {replace} to replace, {delete} to delete; "
             "{writes} write calls ({reads} read calls to plan).").format(
        **plan.counts(), writes=plan.write_calls, reads=plan.read_calls)


def render_record(link: Link) -> str:
    """What the state store holds for one object, as readable JSON."""
    return dumps({"address": str(link.key), "remote_id": link.remote_id, "record": value_to_data(link.record)}, indent=2)


# ---- markdown ---------------------------------------------------------------------------------


def render_markdown(
    plan: Plan,
    *,
    checksum: str,
    link_base: str | None = None,
    limit: int = GITHUB_COMMENT_LIMIT,
    extra_warnings: tuple[str, ...] = (),
    price_impact: str = "",
    timeline: str = "",
) -> list[str]:
    """The plan as one or more pull-request comments, each under `limit` characters and readable
    on its own: summary counts first, warnings next, then one collapsible section per shop with
    the exact calls inside. A plan too long for one comment is split into numbered parts.
    `price_impact` (engine.price_report.impact_markdown) follows the warnings in the first comment,
    then `timeline` (engine.timeline.gantt_markdown: the changed promotions as a Mermaid gantt)."""
    header = _markdown_header(plan, checksum)
    warnings = _markdown_warnings(tuple(extra_warnings) + plan.warnings, plan.unmanaged, plan.notes) + price_impact + timeline
    sections = [_shop_section(shop, list(changes), link_base)
                for shop, changes in groupby(plan.changes, key=lambda c: c.key.shop)]
    body_budget = limit - len(header) - len(warnings) - 200  # room for the "part i of n" line
    blocks = _fitted(sections, body_budget) if sections else [_("No changes: TOP matches the manifests.") + "\n"]
    parts: list[list[str]] = [[]]
    size = 0
    for block in blocks:
        if parts[-1] and size + len(block) > body_budget:
            parts.append([])
            size = 0
        parts[-1].append(block)
        size += len(block)
    total = len(parts)
    comments = []
    for index, part in enumerate(parts, start=1):
        label = "_" + _("Part {index} of {total}.").format(index=index, total=total) + "_\n\n" if total > 1 else ""
        comments.append(header + label + (warnings if index == 1 else "") + "".join(part))
    return comments


def _markdown_header(plan: Plan, checksum: str) -> str:
    summary = _("**{create} to create, {update} to update, {replace} to replace, {delete} to delete** · "
                "{writes} write calls · {reads} read calls").format(
        **plan.counts(), writes=plan.write_calls, reads=plan.read_calls)
    title = _("campaign-reconciler plan")
    checksum_line = _("Plan checksum: {checksum}").format(checksum=f"`{checksum}`")
    return f"### {title}\n\n{summary}\n\n{checksum_line}\n\n"


def _markdown_warnings(warnings: tuple[str, ...], unmanaged: tuple[str, ...], notes: tuple[str, ...] = ()) -> str:
    lines = []
    if warnings:
        lines.append("> [!WARNING]")
        lines.extend(f"> - {_escape(w)}" for w in warnings)
        lines.append("")
    if notes:
        lines.append("<details><summary>" + ngettext("{count} note(s)", "{count} note(s)", len(notes)).format(count=len(notes)) + "</summary>\n")
        lines.extend(f"- {_escape(n)}" for n in notes)
        lines.append("\n</details>\n")
    if unmanaged:
        left_alone = ngettext("{count} unmanaged object(s) on TOP, left alone",
                              "{count} unmanaged object(s) on TOP, left alone", len(unmanaged))
        lines.append("<details><summary>" + left_alone.format(count=len(unmanaged)) + "</summary>\n")
        lines.extend(f"- {_escape(u)}" for u in unmanaged)
        lines.append("\n</details>\n")
    return "\n".join(lines) + ("\n" if lines else "")


@dataclass(frozen=True)
class _ShopSection:
    """One shop's collapsible section, kept as its pieces (the summary line and each change's
    markdown) so a section too long for one comment is cut between changes, never by re-reading text."""

    head: str
    changes: tuple[str, ...]

    def text(self, head: str | None = None, changes: Sequence[str] | None = None) -> str:
        inner = "".join(self.changes if changes is None else changes)
        return f"{self.head if head is None else head}\n\n{inner}</details>\n\n"


def _shop_section(shop: str, changes: list[Change], link_base: str | None) -> _ShopSection:
    count = ngettext("{count} change(s)", "{count} change(s)", len(changes)).format(count=len(changes))
    head = f"<details><summary><b>{_escape(shop)}</b>: {count}</summary>"
    return _ShopSection(head, tuple(_markdown_change(change, link_base) for change in changes))


def _markdown_change(change: Change, link_base: str | None) -> str:
    source = ""
    if change.source:
        target = f"{link_base.rstrip('/')}/{change.source.file}#L{change.source.line}" if link_base else None
        source = f" — [{change.source}]({target})" if target else f" — `{change.source}`"
    lines = [f"#### `{change.action.symbol}` {change.key.kind}/{_escape(change.key.name)}: {verb(change.action)}{source}\n"]
    if change.reason:
        lines.append(f"{_escape(change.reason)}\n")
    lines.extend(f"- {_escape(detail)}" for detail in change.details)
    if change.details:
        lines.append("")
    if change.calls:
        calls = "\n".join(f"{call.method} {_compact(call.params)}" for call in change.calls)
        lines.append(f"```\n{calls}\n```\n")
    return "\n".join(lines) + "\n"


def _fitted(sections: Sequence[_ShopSection], budget: int) -> list[str]:
    """Each shop's section as one block; one longer than a comment is cut at change boundaries,
    each piece re-opened with the shop's name so every comment still says which shop it is about."""
    result = []
    for section in sections:
        whole = section.text()
        if len(whole) <= budget:
            result.append(whole)
            continue
        head = _("{heading} (continued)").format(heading=section.head)
        current = ""
        for piece in section.changes:
            if len(piece) > budget - len(section.head) - 40:
                cut = _("(cut: the full calls are in the plan file)")
                piece = piece[: budget - len(section.head) - 200] + f"\n```\n\n_{cut}_\n\n"
            if current and len(section.head) + len(current) + len(piece) + 30 > budget:
                result.append(section.text(head, [current]))
                current = ""
            current += piece
        if current:
            result.append(section.text(head, [current]))
    return result


def _escape(text: str) -> str:
    return text.replace("<", "&lt;").replace(">", "&gt;")

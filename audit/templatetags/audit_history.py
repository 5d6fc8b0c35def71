"""The History tab of post, conversation, channel and member pages, and how audit events read on screen.

    {% load audit_history %}
    {% audit_history_link post current_membership %}

renders, on the object's own page, the link to its History tab (audit/history.py: /posts/<id>/history/ and the
like), for members with Capability.VIEW_AUDIT only; for others it renders nothing. The tab shows
`history_context()`: the object's newest events (at most HISTORY_LIMIT, one query) from
`AuditEvent.objects.visible_to(membership).for_target(...)`, with a link to the whole list on /audit/.

The object's page itself shows no events, so opening it reads nothing of the trail; opening the History tab is a
read of the trail and is recorded (one AUDIT_VIEWED event), like every page of /audit/ and the API (issue 6:
"Reading and exporting the audit log are themselves audited").
"""

from __future__ import annotations

import json
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import template
from django.urls import NoReverseMatch, reverse

from accounts.roles import Capability
from audit.models import AuditEvent, EventType

register = template.Library()

HISTORY_LIMIT = 50

# Object kinds with a page of their own: the audit pages link an event's target there. The capability is
# what that page needs beyond seeing the object (None: seeing it is enough).
TARGET_PAGES: dict[str, tuple[str, Capability | None]] = {
    "approvals.post": ("approvals:post_detail", None),
    "inbox.conversation": ("inbox:conversation", None),
    "channels_app.channel": ("channels_app:channel_grants", Capability.MANAGE_CHANNELS),
    "accounts.membership": ("accounts:member_edit", Capability.MANAGE_MEMBERS),
}

# Object kinds with a History tab: the route that shows it (audit/history.py), and what the link calls the object.
HISTORY_PAGES: dict[str, tuple[str, str]] = {
    "approvals.post": ("approvals:post_history", "post"),
    "inbox.conversation": ("inbox:conversation_history", "conversation"),
    "channels_app.channel": ("channels_app:channel_history", "channel"),
    "accounts.membership": ("accounts:member_history", "member"),
}

# How the event type select groups the types: by the part before the dot.
GROUP_LABELS = {
    "auth": "Sign-in and security",
    "member": "Members and invitations",
    "department": "Departments",
    "channel": "Channels",
    "conversation": "Conversations",
    "reply": "Replies",
    "inbox": "Inbox",
    "post": "Posts",
    "publishing": "Publishing",
    "audit": "Audit trail",
    "retention": "Retention",
    "contact": "Contacts",
    "legal_hold": "Legal holds",
    "records": "Records requests",
    "organisation": "Organisation",
}


def org_zone(membership) -> ZoneInfo:
    try:
        return ZoneInfo(membership.organisation.timezone)
    except (ZoneInfoNotFoundError, ValueError, AttributeError):
        return ZoneInfo("Europe/London")


def event_type_label(value: str) -> str:
    try:
        return EventType(value).label
    except ValueError:
        return value


def event_type_groups() -> list[tuple[str, list[tuple[str, str]]]]:
    groups: dict[str, list[tuple[str, str]]] = {}
    for value, label in EventType.choices:
        prefix = value.split(".", 1)[0]
        groups.setdefault(GROUP_LABELS.get(prefix, prefix.replace("_", " ").capitalize()), []).append((value, label))
    return list(groups.items())


def _text(value) -> str:
    if value is None or value == "":
        return "(none)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return ", ".join(str(v) for v in value) or "(none)"
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def change_lines(changes) -> list[dict]:
    """An event's changes as lines: {"key", "from", "to"} for a before/after pair, else {"key", "value"}."""
    if not isinstance(changes, dict):
        return [{"key": "changes", "value": _text(changes)}] if changes else []
    lines = []
    for key, value in changes.items():
        if isinstance(value, dict) and set(value) == {"from", "to"}:
            lines.append({"key": str(key), "from": _text(value["from"]), "to": _text(value["to"]), "pair": True})
        else:
            lines.append({"key": str(key), "value": _text(value), "pair": False})
    return lines


def target_url(target_type: str, target_id: str, membership) -> str:
    """The target's own page, when it has one the member may open; else ""."""
    page = TARGET_PAGES.get(target_type)
    if page is None or not (target_id.isascii() and target_id.isdigit()) or int(target_id) > 2**63 - 1:
        return ""
    name, capability = page
    if capability is not None and (membership is None or not membership.can(capability)):
        return ""
    try:
        return reverse(name, args=[int(target_id)])
    except NoReverseMatch:
        return ""


def decorate(events, membership) -> None:
    """What each event row shows, computed once so the templates only print."""
    for event in events:
        event.type_label = event_type_label(event.event_type)
        event.change_lines = change_lines(event.changes)
        event.target_url = target_url(event.target_type, event.target_id, membership)


def list_url_for(target_type: str, target_id) -> str:
    return reverse("audit:list") + "?" + urlencode({"target_type": target_type, "target_id": str(target_id)})


def history_context(label: str, pk: int, membership) -> dict:
    """What the History tab lists for one object: its newest events the member may read (one query)."""
    rows = list(
        AuditEvent.objects.visible_to(membership).for_target(label, pk).order_by("-occurred_at", "-id")[
            : HISTORY_LIMIT + 1
        ]
    )
    events = rows[:HISTORY_LIMIT]
    decorate(events, membership)
    return {
        "events": events,
        "more": len(rows) > HISTORY_LIMIT,
        "limit": HISTORY_LIMIT,
        "all_url": list_url_for(label, pk),
        "zone": org_zone(membership),
        "heading_id": f"history-heading-{label.replace('.', '-')}-{pk}",
    }


def history_url(label: str, pk) -> str:
    page = HISTORY_PAGES.get(label)
    if page is None:
        return ""
    try:
        return reverse(page[0], args=[pk])
    except NoReverseMatch:
        return ""


@register.inclusion_tag("audit/_history_link.html")
def audit_history_link(target, membership):
    """The link from an object's page to its History tab, for members who may read the audit trail."""
    if target is None or getattr(target, "pk", None) is None or membership is None:
        return {"show": False}
    if not membership.can(Capability.VIEW_AUDIT):
        return {"show": False}
    label = target._meta.label_lower
    url = history_url(label, target.pk)
    return {
        "show": bool(url),
        "url": url,
        "noun": HISTORY_PAGES.get(label, ("", "item"))[1],
        "heading_id": f"history-link-heading-{label.replace('.', '-')}-{target.pk}",
    }

"""The History section of post, conversation, channel and member pages, and how audit events read on screen.

    {% load audit_history %}
    {% audit_history post current_membership %}

renders the object's newest events (at most HISTORY_LIMIT, one query) from
`AuditEvent.objects.visible_to(membership).for_target(...)`, with a link to the whole list on /audit/.
Only members with Capability.VIEW_AUDIT see it; for others it renders nothing.

Viewing the History section is NOT recorded as AUDIT_VIEWED: it is part of the object's own page (which a
member opens many times a day while working), shows only that object's trail, and every event in it links to
/audit/, where each page view and each API list call is recorded. Recording every post or conversation page
view would bury the trail in reads; the full audit page and the API are where the trail is searched.
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


@register.inclusion_tag("audit/_history.html")
def audit_history(target, membership):
    if target is None or getattr(target, "pk", None) is None or membership is None:
        return {"show": False}
    if not membership.can(Capability.VIEW_AUDIT):
        return {"show": False}
    label = target._meta.label_lower
    rows = list(
        AuditEvent.objects.visible_to(membership).for_target(label, target.pk).order_by("-occurred_at", "-id")[
            : HISTORY_LIMIT + 1
        ]
    )
    events = rows[:HISTORY_LIMIT]
    decorate(events, membership)
    return {
        "show": True,
        "events": events,
        "more": len(rows) > HISTORY_LIMIT,
        "limit": HISTORY_LIMIT,
        "all_url": list_url_for(label, target.pk),
        "zone": org_zone(membership),
        "heading_id": f"history-heading-{label.replace('.', '-')}-{target.pk}",
    }

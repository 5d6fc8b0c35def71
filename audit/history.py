"""The History tab of post, conversation, channel and member pages: one view for the four kinds of object.

Each app routes its own URL here (e.g. approvals: `posts/<pk>/history/` with kind "approvals.post"). The object
comes from its model's scoped queryset, found by name (apps.get_model) so that audit imports no other app
(DESIGN.md): another organisation's object, or one outside the member's departments, is a 404; a member whose
role cannot read the audit trail (Capability.VIEW_AUDIT: admins, and managers for their departments) gets a 403.
The events are those the audit viewer would show that member for the object (audit_history.history_context),
and each opening of the tab is recorded as one AUDIT_VIEWED event, after the rows are read (so the tab never
lists its own read) and with no target (so reads do not fill the object's own history).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.roles import Capability
from audit.queries import MAX_ID
from audit.templatetags.audit_history import HISTORY_PAGES, history_context, history_url, target_url
from audit.views import record_audit_read
from smm.scoping import get_visible_or_404, member_required


@dataclass(frozen=True)
class HistoryKind:
    model: str  # "app_label.ModelName"
    # The object's own page's tab: its label, and the page's heading (the same <h1>) and line under it.
    page_label: str
    heading: Callable[[Any], str]
    subheading: Callable[[Any], str] = lambda obj: ""
    select_related: tuple[str, ...] = ()


KINDS: dict[str, HistoryKind] = {
    "approvals.post": HistoryKind("approvals.Post", "Post", lambda post: post.title),
    "inbox.conversation": HistoryKind(
        "inbox.Conversation", "Conversation", lambda c: f"Conversation with {c.contact}",
        lambda c: f"{c.channel} · {c.department.name}", ("contact", "channel", "department"),
    ),
    "channels_app.channel": HistoryKind(
        "channels_app.Channel", "Grants", lambda channel: f"Grants for {channel}",
        lambda channel: channel.department.name, ("department",),
    ),
    "accounts.membership": HistoryKind(
        "accounts.Membership", "Member", lambda m: m.user.full_name or m.user.email, lambda m: m.user.email, ("user",),
    ),
}


@member_required()
@require_GET
def object_history(request: HttpRequest, pk: int, *, kind: str) -> HttpResponse:
    membership = request.membership
    spec = KINDS[kind]
    if not 0 < pk <= MAX_ID:
        raise Http404("Not found.")
    queryset = apps.get_model(spec.model).objects.select_related(*spec.select_related)
    target = get_visible_or_404(queryset, membership, Capability.VIEW_AUDIT, pk=pk)
    context = history_context(kind, target.pk, membership)
    record_audit_read(
        membership, view="history", filters={"target_type": kind, "target_id": str(target.pk)},
        shown=len(context["events"]),
    )
    context.update(
        {
            "target": target,
            "heading": spec.heading(target),
            "subheading": spec.subheading(target),
            "page_label": spec.page_label,
            # "" when the member's role may not open the object's own page (a manager and a member's settings).
            "page_url": target_url(kind, str(target.pk), membership),
            "history_url": history_url(kind, target.pk),
            "noun": HISTORY_PAGES[kind][1],
        }
    )
    return render(request, "audit/object_history.html", context)

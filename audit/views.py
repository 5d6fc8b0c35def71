"""The audit trail pages: /audit/ (filters, keyset pages newest first) and /audit/<id>/ (one event, chain fields).

Reads start from `AuditEvent.objects.visible_to(membership)`: admins read the whole organisation's trail,
managers the events of their own departments (organisation-wide events, department null, are for admins).
Filtering and paging are audit.queries.AuditFilter, shared with the API and the export.

Reading the trail is itself recorded: each page view writes one AUDIT_VIEWED event with the filters used,
after the rows are read (so a page never lists its own read). A page whose filters are refused (400) read
nothing and records nothing. The History tab of posts, conversations, channels and members (audit/history.py)
records its reads the same way.
"""

from __future__ import annotations

from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_GET

from accounts.models import Department, Membership
from accounts.roles import Capability
from audit.models import AuditEvent, EventType
from audit.queries import MAX_ID, NO_DEPARTMENT, SYSTEM, AuditFilter, FilterError
from audit.services import record
from audit.templatetags.audit_history import decorate, event_type_groups, list_url_for, org_zone
from smm.scoping import get_visible_or_404, member_required

# The object kinds offered in the filter's select (any other kind can still be given in the URL).
TARGET_TYPES = [
    ("approvals.post", "Post"),
    ("inbox.conversation", "Conversation"),
    ("inbox.reply", "Reply"),
    ("channels_app.channel", "Channel"),
    ("accounts.membership", "Member"),
    ("accounts.user", "Person (sign-in and security)"),
    ("accounts.invitation", "Invitation"),
    ("accounts.department", "Department"),
    ("accounts.organisation", "Organisation"),
    ("accounts.apitoken", "API token"),
    ("audit.auditevent", "Audit event"),
]


def record_audit_read(membership: Membership, *, view: str, filters: dict | None = None, shown: int | None = None,
                      event: AuditEvent | None = None) -> AuditEvent:
    """One AUDIT_VIEWED event for one read of the trail (a page, an API list or detail call)."""
    changes: dict = {"view": view, "filters": filters or {}}
    if shown is not None:
        changes["shown"] = shown
    with transaction.atomic():
        return record(
            organisation=membership.organisation_id,
            event_type=EventType.AUDIT_VIEWED,
            actor=membership.user,
            target=event,
            target_repr=f"Audit event {event.pk}: {event.event_type}" if event is not None else "",
            changes=changes,
        )


def _query(params: QueryDict, **changes) -> str:
    q = params.copy()
    for name, value in changes.items():
        q.pop(name, None)
        if value is not None:
            q[name] = value
    return q.urlencode()


def _choices(membership: Membership, params: QueryDict) -> dict:
    """The filter form's options, narrowed to what the member can see (one query each)."""
    members = Membership.objects.visible_to(membership).select_related("user").order_by("user__full_name", "user__email")
    departments = Department.objects.for_organisation(membership.organisation_id)
    if not membership.sees_all_departments:
        departments = departments.filter(pk__in=membership.department_ids)
    target_types = list(TARGET_TYPES)
    wanted = params.get("target_type", "")
    if wanted and wanted not in dict(target_types):
        target_types.append((wanted, wanted))
    return {
        "members": [(str(m.user_id), m.user.label + ("" if m.is_active else " (deactivated)")) for m in members],
        "departments": [(str(d.pk), d.name) for d in departments.order_by("name")],
        "no_department": membership.sees_all_departments,
        "event_types": event_type_groups(),
        "target_types": target_types,
        "selected_types": set(p for v in params.getlist("event_type") for p in v.split(",")),
        "selected_departments": set(p for v in params.getlist("department") for p in v.split(",")),
    }


@member_required(Capability.VIEW_AUDIT)
@require_GET
def audit_list(request: HttpRequest) -> HttpResponse:
    membership = request.membership
    zone = org_zone(membership)
    context = {
        "choices": _choices(membership, request.GET),
        "params": request.GET,
        "zone": zone,
        "zone_name": str(zone),
        "SYSTEM": SYSTEM,
        "NO_DEPARTMENT": NO_DEPARTMENT,
    }
    try:
        wanted = AuditFilter.from_params(request.GET, zone=zone)
    except FilterError as exc:
        context["filter_errors"] = exc.errors
        return render(request, "audit/list.html", context, status=400)
    scoped = AuditEvent.objects.visible_to(membership).select_related("department")
    rows, next_cursor = wanted.page(wanted.apply(scoped))
    decorate(rows, membership)
    record_audit_read(membership, view="list", filters=wanted.used(), shown=len(rows))
    used = wanted.used()
    used.pop("cursor", None)
    context.update(
        {
            "rows": rows,
            "filtered": bool(used),
            "later_page": bool(wanted.cursor),
            "next_url": ("?" + _query(request.GET, cursor=next_cursor)) if next_cursor else "",
            "first_url": ("?" + _query(request.GET, cursor=None)) if wanted.cursor else "",
            # The export takes the same filters (audit/export_views.py), all pages at once.
            "export_query": _query(request.GET, cursor=None, page_size=None),
        }
    )
    return render(request, "audit/list.html", context)


@member_required(Capability.VIEW_AUDIT)
@require_GET
def audit_detail(request: HttpRequest, pk: int) -> HttpResponse:
    membership = request.membership
    if not 0 < pk <= MAX_ID:
        raise Http404("Not found.")
    event = get_visible_or_404(AuditEvent.objects.select_related("department"), membership, pk=pk)
    decorate([event], membership)
    record_audit_read(membership, view="detail", filters={"id": event.pk}, event=event)
    zone = org_zone(membership)
    return render(
        request,
        "audit/detail.html",
        {
            "event": event,
            "zone": zone,
            "zone_name": str(zone),
            "target_history_url": list_url_for(event.target_type, event.target_id) if event.target_type else "",
        },
    )


urls = [
    path("audit/", audit_list, name="list"),
    path("audit/<int:pk>/", audit_detail, name="detail"),
]

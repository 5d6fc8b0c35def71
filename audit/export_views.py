"""Download the audit trail: GET /audit/export.csv and /audit/export.jsonl with the audit page's filters.

Admins export their whole organisation, managers their departments' events (AuditEvent.objects.visible_to).
The export is itself audited (AUDIT_EXPORTED with the format and the filters), committed before the first
byte is streamed, so a download that fails half-way is still on the record. Bad filters are a 400 that
names the field. The streaming and the file format live in audit/export.py.
"""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.roles import Capability
from audit.export import CONTENT_TYPES, AuditExport
from audit.models import EventType
from audit.queries import AuditFilter, FilterError
from audit.services import record
from smm.scoping import member_required


def _export(request: HttpRequest, fmt: str) -> HttpResponse:
    membership = request.membership
    try:
        flt = AuditFilter.from_params(request.GET, zone=membership.organisation.timezone)
    except FilterError as exc:
        text = "The audit trail was not exported; check these filters:\n" + "".join(
            f"- {name}: {message}\n" for name, message in exc.errors.items()
        )
        return HttpResponse(text, status=400, content_type="text/plain; charset=utf-8")
    export = AuditExport(
        membership=membership, flt=flt, fmt=fmt, exported_by=request.user.label, exported_at=timezone.now()
    )
    with transaction.atomic():
        changes = {"format": fmt, "filters": export.filters}
        if not membership.sees_all_departments:
            changes["departments"] = sorted(membership.department_ids)
        record(
            organisation=membership.organisation,
            event_type=EventType.AUDIT_EXPORTED,
            actor=request.user,
            changes=changes,
        )
    response = StreamingHttpResponse(export.stream(), content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{export.filename()}"'
    response["Cache-Control"] = "no-store"
    return response


@member_required(Capability.VIEW_AUDIT)
@require_GET
def export_csv(request: HttpRequest) -> HttpResponse:
    return _export(request, "csv")


@member_required(Capability.VIEW_AUDIT)
@require_GET
def export_jsonl(request: HttpRequest) -> HttpResponse:
    return _export(request, "jsonl")


urls = [
    path("audit/export.csv", export_csv, name="export_csv"),
    path("audit/export.jsonl", export_jsonl, name="export_jsonl"),
]

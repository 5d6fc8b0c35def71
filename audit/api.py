"""The audit API under /api/v1/audit-events/: read only, with the audit page's filters and keyset paging.

Reads go through OrgScopedViewSet (AuditEvent.objects.visible_to: admins the whole organisation, managers
their departments); both actions need Capability.VIEW_AUDIT. Each successful list or detail call records
one AUDIT_VIEWED event with the filters used, like the audit page.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions
from rest_framework.response import Response

from accounts.roles import Capability
from audit.models import AuditEvent
from audit.queries import MAX_ID, MAX_PAGE_SIZE, PAGE_SIZE, AuditFilter, FilterError
from audit.serializers import AuditEventPageSerializer, AuditEventSerializer
from audit.templatetags.audit_history import org_zone
from audit.views import record_audit_read
from smm.api import OrgScopedViewSet
from smm.pagination import _replace_query

LIST_PARAMETERS = [
    OpenApiParameter("actor", str, description='A member\'s user id, or "system" for background tasks.'),
    OpenApiParameter("event_type", str, many=True, description="Event types, e.g. post.approved (repeat or comma-separate)."),
    OpenApiParameter("target_type", str, description="The object's kind, e.g. approvals.post."),
    OpenApiParameter("target_id", str, description="The object's id; needs target_type."),
    OpenApiParameter("department", str, many=True, description='Department ids, or "none" for organisation-wide events.'),
    OpenApiParameter("from", str, description="First day (YYYY-MM-DD, the organisation's time zone), inclusive."),
    OpenApiParameter("to", str, description="Last day (YYYY-MM-DD, the organisation's time zone), inclusive."),
    OpenApiParameter("cursor", str, description="The `next` link's cursor; leave out for the first page."),
    OpenApiParameter("page_size", int, description=f"1 to {MAX_PAGE_SIZE}; default {PAGE_SIZE}."),
]


@extend_schema_view(
    list=extend_schema(
        summary="Audit events, newest first, with the audit page's filters and keyset paging.",
        description="Admins read the whole organisation's trail, managers their departments'. Each call is "
        "itself recorded (audit.viewed).",
        parameters=LIST_PARAMETERS,
        responses=AuditEventPageSerializer,
    ),
    retrieve=extend_schema(summary="One audit event with its hash chain fields."),
)
class AuditEventViewSet(OrgScopedViewSet):
    model = AuditEvent
    serializer_class = AuditEventSerializer
    # Paged by AuditFilter's keyset (the same cursors as the page).
    pagination_class = None
    capabilities = {"list": Capability.VIEW_AUDIT, "retrieve": Capability.VIEW_AUDIT}

    def get_queryset(self):
        return super().get_queryset().select_related("department")

    def get_object(self):
        pk = str(self.kwargs.get("pk", ""))
        # Not a number, or one past bigint: the same 404 as an unknown id.
        if not (pk.isascii() and pk.isdigit()) or not 0 < int(pk) <= MAX_ID:
            raise exceptions.NotFound("Not found.")
        return super().get_object()

    def list(self, request):
        try:
            wanted = AuditFilter.from_params(request.query_params, zone=org_zone(self.membership))
        except FilterError as error:
            raise exceptions.ValidationError(error.errors) from None
        rows, next_cursor = wanted.page(wanted.apply(self.get_queryset()))
        record_audit_read(self.membership, view="api list", filters=wanted.used(), shown=len(rows))
        next_url = None
        if next_cursor:
            next_url = request.build_absolute_uri(request.path + "?" + _replace_query(request.query_params, cursor=next_cursor))
        return Response({"next": next_url, "results": AuditEventSerializer(rows, many=True).data})

    def retrieve(self, request, pk=None):
        event = self.get_object()
        record_audit_read(self.membership, view="api detail", filters={"id": event.pk}, event=event)
        return Response(self.get_serializer(event).data)

"""The audit API's read shape: every stored field of an event, the chain fields included. Nothing here saves."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from audit.models import AuditEvent, EventType


class AuditEventSerializer(serializers.ModelSerializer):
    event_type = serializers.ChoiceField(choices=EventType.choices, read_only=True)
    event_type_label = serializers.SerializerMethodField(help_text="The event type in words.")
    department_name = serializers.CharField(source="department.name", read_only=True, allow_null=True, default=None)
    changes = serializers.SerializerMethodField(
        help_text='What changed: usually {"field": {"from": old, "to": new}}; some events record other facts.'
    )

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "occurred_at",
            "actor",
            "actor_label",
            "event_type",
            "event_type_label",
            "target_type",
            "target_id",
            "target_repr",
            "department",
            "department_name",
            "changes",
            "request_id",
            "ip",
            "user_agent",
            "sequence",
            "prev_hash",
            "hash",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "actor": {"help_text": "The user id of the person who acted; null for the system or nobody signed in."},
            "actor_label": {"help_text": 'Frozen at the time: "Name <e-mail>", or "system: <task>".'},
            "target_type": {"help_text": "The object's kind, e.g. approvals.post; empty when the event has no object."},
            "department": {"help_text": "Null for organisation-wide events."},
            "sequence": {"help_text": "Position in the organisation's hash chain."},
            "prev_hash": {"help_text": "The previous event's hash (sha256 hex)."},
            "hash": {"help_text": "This event's hash over its canonical form (sha256 hex)."},
        }

    def get_event_type_label(self, event: AuditEvent) -> str:
        try:
            return EventType(event.event_type).label
        except ValueError:
            return event.event_type

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_changes(self, event: AuditEvent):
        return event.changes


@extend_schema_serializer(many=False)
class AuditEventPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True, help_text="The next (older) page, or null on the last one.")
    results = AuditEventSerializer(many=True)

"""API for channels: list and detail. Credentials are never serialised."""

from __future__ import annotations

from rest_framework import mixins, serializers

from channels_app.models import Channel
from smm.api import OrgScopedViewSet


class ChannelSerializer(serializers.ModelSerializer):
    department = serializers.PrimaryKeyRelatedField(read_only=True)
    department_name = serializers.CharField(source="department.name", read_only=True)
    status_label = serializers.CharField(source="get_status_display", read_only=True)

    class Meta:
        model = Channel
        # An explicit list: credentials_encrypted must never appear here.
        fields = [
            "id",
            "platform",
            "account_id",
            "handle",
            "display_name",
            "avatar_url",
            "instance_url",
            "department",
            "department_name",
            "status",
            "status_label",
            "last_error",
            "last_error_at",
            "rate_limit_reset_at",
            "connected_at",
        ]
        read_only_fields = fields


class ChannelViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrgScopedViewSet):
    model = Channel
    serializer_class = ChannelSerializer
    keyset_field = "connected_at"

    def get_queryset(self):
        return super().get_queryset().connected().select_related("department")

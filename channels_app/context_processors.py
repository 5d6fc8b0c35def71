from __future__ import annotations

from django.utils.functional import SimpleLazyObject

from accounts.roles import Capability
from channels_app.models import Channel, ChannelStatus


def channel_alerts(request) -> dict:
    """Channels that need reconnecting, for the people who can reconnect them (shown on every page)."""
    membership = getattr(request, "membership", None)
    if membership is None or not membership.can(Capability.MANAGE_CHANNELS):
        return {"channel_alerts": []}

    def load():
        channels = Channel.objects.visible_to(membership).connected().filter(status=ChannelStatus.NEEDS_REAUTH)
        if not membership.sees_all_departments:
            channels = channels.filter(department_id__in=membership.department_ids)
        return list(channels.select_related("department")[:10])

    return {"channel_alerts": SimpleLazyObject(load)}

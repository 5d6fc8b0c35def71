"""Writes to channels: connect (or reconnect), disconnect, re-encrypt. Each audited in its transaction.

Connect flows (OAuth, app passwords) end here with the account's normalised details and its
credentials; the credentials never reach the audit trail, a log line or an error message.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import Department, Membership
from accounts.roles import Capability
from audit.models import EventType
from audit.services import record
from channels_app.models import Channel, ChannelStatus, Platform
from smm import crypto


def _require_manage(actor: Membership, department: Department) -> None:
    if actor is None or not actor.can(Capability.MANAGE_CHANNELS):
        raise PermissionDenied("Your role does not allow this.")
    if department.organisation_id != actor.organisation_id:
        raise PermissionDenied("That belongs to another organisation.")
    # Admins manage channels for any department, managers for their own.
    if not actor.sees_all_departments and department.pk not in actor.department_ids:
        raise PermissionDenied("You can manage channels only for your own departments.")


def channel_connect(
    *,
    actor: Membership,
    department: Department,
    platform: str,
    account_id: str,
    handle: str,
    credentials: dict,
    display_name: str = "",
    avatar_url: str = "",
    instance_url: str = "",
) -> Channel:
    _require_manage(actor, department)
    if platform not in Platform.values:
        raise ValidationError({"platform": "Choose a supported platform."})
    if department.is_archived:
        raise ValidationError({"department": "Choose a department that is not archived."})
    if not account_id or not handle or not credentials:
        raise ValidationError("The platform did not return the account's id, handle and credentials.")
    with transaction.atomic():
        channel = (
            Channel.objects.select_for_update()
            .filter(organisation_id=actor.organisation_id, platform=platform, account_id=account_id)
            .connected()
            .first()
        )
        reconnect = channel is not None
        if channel is None:
            channel = Channel(organisation_id=actor.organisation_id, platform=platform, account_id=account_id)
        before_department = channel.department_id if reconnect else None
        channel.department = department
        channel.handle = handle
        channel.display_name = display_name
        channel.avatar_url = avatar_url
        channel.instance_url = instance_url
        channel.credentials = credentials
        channel.status = ChannelStatus.ACTIVE
        channel.last_error = ""
        channel.last_error_at = None
        channel.connected_by = actor.user
        channel.connected_at = timezone.now()
        channel.save()
        changes = {"platform": platform, "handle": handle, "department": department.name}
        if reconnect and before_department != department.pk:
            changes["department_changed"] = True
        record(
            organisation=actor.organisation,
            department=department,
            event_type=EventType.CHANNEL_RECONNECTED if reconnect else EventType.CHANNEL_CONNECTED,
            actor=actor.user,
            target=channel,
            changes=changes,
        )
    return channel


def channel_disconnect(*, actor: Membership, channel: Channel) -> Channel:
    _require_manage(actor, channel.department)
    with transaction.atomic():
        # Compare-and-set: a channel is disconnected once; its credentials go with it.
        rows = Channel.objects.filter(pk=channel.pk, disconnected_at__isnull=True).update(
            disconnected_at=timezone.now(), credentials_encrypted="", status=ChannelStatus.PAUSED
        )
        channel.refresh_from_db()
        if rows == 1:
            record(
                organisation=actor.organisation,
                department=channel.department,
                event_type=EventType.CHANNEL_DISCONNECTED,
                actor=actor.user,
                target=channel,
                changes={"platform": channel.platform, "handle": channel.handle},
            )
    return channel


def credentials_reencrypt() -> int:
    """Re-encrypts every channel's credentials under the newest key (after a new key is put first)."""
    done = 0
    ids = list(Channel.objects.exclude(credentials_encrypted="").values_list("pk", flat=True))
    for channel_id in ids:
        with transaction.atomic():
            channel = Channel.objects.select_for_update().select_related("organisation").filter(pk=channel_id).first()
            if channel is None or not channel.credentials_encrypted:
                continue
            rotated = crypto.rotate(channel.credentials_encrypted)
            Channel.objects.filter(pk=channel.pk).update(credentials_encrypted=rotated)
            record(
                organisation=channel.organisation,
                department=channel.department,
                event_type=EventType.CHANNEL_CREDENTIALS_REENCRYPTED,
                target=channel,
            )
            done += 1
    return done

"""Writes to channels: connect (or reconnect), disconnect, re-encrypt. Each audited in its transaction.

Connect flows (OAuth, app passwords) end here with the account's normalised details and its
credentials; the credentials never reach the audit trail, a log line or an error message.
"""

from __future__ import annotations

from contextlib import contextmanager

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import Department, Membership
from accounts.roles import Capability
from audit.models import EventType
from audit.services import record
from channels_app.models import Channel, ChannelStatus, MastodonApp, Platform
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
    actor: Membership | None,
    department: Department,
    platform: str,
    account_id: str,
    handle: str,
    credentials: dict,
    display_name: str = "",
    avatar_url: str = "",
    instance_url: str = "",
) -> Channel:
    # actor None: the system connects (seed_demo, operators' commands); everyone else needs the role.
    if actor is not None:
        _require_manage(actor, department)
    organisation = department.organisation
    if platform not in Platform.values:
        raise ValidationError({"platform": "Choose a supported platform."})
    if department.is_archived:
        raise ValidationError({"department": "Choose a department that is not archived."})
    if not account_id or not handle or not credentials:
        raise ValidationError("The platform did not return the account's id, handle and credentials.")
    with transaction.atomic():
        channel = (
            Channel.objects.select_for_update()
            .filter(organisation=organisation, platform=platform, account_id=account_id)
            .connected()
            .first()
        )
        reconnect = channel is not None
        if channel is None:
            channel = Channel(organisation=organisation, platform=platform, account_id=account_id)
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
        channel.connected_by = actor.user if actor is not None else None
        channel.connected_at = timezone.now()
        channel.save()
        changes = {"platform": platform, "handle": handle, "department": department.name}
        if reconnect and before_department != department.pk:
            changes["department_changed"] = True
        record(
            organisation=organisation,
            department=department,
            event_type=EventType.CHANNEL_RECONNECTED if reconnect else EventType.CHANNEL_CONNECTED,
            actor=actor.user if actor is not None else None,
            target=channel,
            changes=changes,
        )
    return channel


def _revoke_at_platform(channel: Channel) -> str:
    """Best effort: the platform may already have revoked it, or be down; disconnecting goes on."""
    from channels_app.connectors import get_connector
    from channels_app.connectors.base import ConnectorError

    if not channel.credentials_encrypted:
        return "nothing to revoke"
    try:
        return "revoked" if get_connector(channel).revoke() else "not offered by the platform"
    except ConnectorError as exc:
        return f"not revoked: {exc.message}"
    except crypto.CredentialsUnreadable:
        return "not revoked: credentials unreadable"


def channel_disconnect(*, actor: Membership, channel: Channel) -> Channel:
    _require_manage(actor, channel.department)
    revocation = _revoke_at_platform(channel) if channel.disconnected_at is None else ""
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
                changes={"platform": channel.platform, "handle": channel.handle, "token_at_platform": revocation},
            )
    return channel


def credentials_reencrypt() -> int:
    """Re-encrypts every stored secret under the newest key (after a new key is put first): channel
    credentials, Mastodon app secrets and the links of open invitations."""
    from accounts.models import Invitation

    for model, field in ((Invitation, "token_encrypted"), (MastodonApp, "client_secret_encrypted")):
        for pk, token in model.objects.exclude(**{field: ""}).values_list("pk", field):
            model.objects.filter(pk=pk, **{field: token}).update(**{field: crypto.rotate(token)})
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


def channel_grant_set(*, actor: Membership, channel: Channel, member: Membership, grant: str, allowed: bool) -> None:
    """Gives or takes one explicit grant (beyond the role's defaults) for one person on one channel."""
    from guardian.shortcuts import assign_perm, remove_perm

    from channels_app.grants import GRANTS, explicit_grants

    _require_manage(actor, channel.department)
    if grant not in GRANTS:
        raise ValidationError({"grant": "Choose view, reply or publish."})
    if member.organisation_id != actor.organisation_id or channel.organisation_id != actor.organisation_id:
        raise PermissionDenied("That belongs to another organisation.")
    with transaction.atomic():
        had = grant in explicit_grants(member.user_id, channel)
        if had == allowed:
            return
        (assign_perm if allowed else remove_perm)(f"channels_app.{grant}", member.user, channel)
        record(
            organisation=actor.organisation,
            department=channel.department,
            event_type=EventType.CHANNEL_GRANT_CHANGED,
            actor=actor.user,
            target=channel,
            changes={"member": member.user.label, "grant": grant, "allowed": {"from": had, "to": allowed}},
        )


def credentials_refresh(*, channel_id: int, refresh, still_fresh) -> Channel:
    """Refreshes a channel's credentials exactly once however many workers ask at the same moment.

    X refresh tokens are single use: two refreshes in parallel would burn the chain. The row lock
    serialises them; whoever comes second sees fresh credentials (still_fresh) and does not call.
    `refresh(credentials) -> credentials` talks to the platform; `still_fresh(credentials) -> bool`.
    """
    with transaction.atomic():
        channel = Channel.objects.select_for_update().get(pk=channel_id)
        current = channel.credentials
        if still_fresh(current):
            return channel
        channel.credentials = refresh(current)
        channel.save(update_fields=["credentials_encrypted"])
    return channel


def connector_for(channel: Channel):
    """The channel's connector, refusing up front while the channel cannot be used.

    A channel that needs reconnecting is not retried; a rate-limited one waits for its reset time,
    so the quota is respected before calling rather than discovered by hammering.
    """
    from channels_app.connectors import get_connector
    from channels_app.connectors.base import AuthExpired, RateLimited

    if channel.status == ChannelStatus.NEEDS_REAUTH or channel.disconnected_at is not None:
        raise AuthExpired("The channel needs reconnecting.")
    if channel.status == ChannelStatus.RATE_LIMITED and channel.rate_limit_reset_at:
        if channel.rate_limit_reset_at > timezone.now():
            raise RateLimited("The channel is rate limited.", reset_at=channel.rate_limit_reset_at)
    return get_connector(channel)


def channel_record_failure(*, channel_id: int, error) -> Channel | None:
    """Moves a channel to the state a connector error calls for, audited, and tells people when it must."""
    from channels_app.connectors.base import AuthExpired, RateLimited
    from channels_app.tasks import send_needs_reauth_email

    with transaction.atomic():
        channel = Channel.objects.select_for_update().select_related("organisation", "department").filter(pk=channel_id).first()
        if channel is None:
            return None
        now = timezone.now()
        if isinstance(error, AuthExpired):
            if channel.status == ChannelStatus.NEEDS_REAUTH:
                return channel
            channel.status = ChannelStatus.NEEDS_REAUTH
            event = EventType.CHANNEL_NEEDS_REAUTH
        elif isinstance(error, RateLimited):
            channel.status = ChannelStatus.RATE_LIMITED
            channel.rate_limit_reset_at = error.reset_at
            event = EventType.CHANNEL_RATE_LIMITED
        else:
            channel.last_error = error.message[:500]
            channel.last_error_at = now
            channel.save(update_fields=["last_error", "last_error_at"])
            return channel
        channel.last_error = error.message[:500]
        channel.last_error_at = now
        channel.save(update_fields=["status", "rate_limit_reset_at", "last_error", "last_error_at"])
        record(
            organisation=channel.organisation,
            department=channel.department,
            event_type=event,
            target=channel,
            changes={"status": channel.status, "reason": channel.last_error,
                     **({"reset_at": channel.rate_limit_reset_at.isoformat()} if event == EventType.CHANNEL_RATE_LIMITED else {})},
        )
        if event == EventType.CHANNEL_NEEDS_REAUTH:
            transaction.on_commit(lambda: send_needs_reauth_email.delay(channel.pk, channel.organisation_id))
    return channel


@contextmanager
def connector_session(channel: Channel):
    """Use a channel's connector: failures update the channel's health, refreshed credentials are kept.

    Credentials a connector refreshed on its own (Bluesky sessions) are saved even when the call then
    failed, because the old refresh token is already spent.
    """
    from channels_app.connectors.base import ConnectorError

    connector = connector_for(channel)
    try:
        yield connector
    except ConnectorError as exc:
        channel_record_failure(channel_id=channel.pk, error=exc)
        raise
    finally:
        updated = getattr(connector, "updated_credentials", None)
        if updated:
            Channel.objects.filter(pk=channel.pk).update(credentials_encrypted=crypto.encrypt(updated))


def x_refresh_if_needed(channel: Channel) -> Channel:
    """Refreshes an X channel's access token when it is (nearly) expired, once across all workers."""
    import time as _time

    from channels_app.connectors import x

    def still_fresh(credentials: dict) -> bool:
        return float(credentials.get("expires_at") or 0) > _time.time() + 60

    if still_fresh(channel.credentials):
        return channel
    return credentials_refresh(channel_id=channel.pk, refresh=x.refresh, still_fresh=still_fresh)

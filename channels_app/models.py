"""Channels: an organisation's connected social accounts, with encrypted credentials and polling state."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.timezone import now
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from smm import crypto
from smm.scoping import OrgScopedQuerySet


class Platform(models.TextChoices):
    X = "x", "X"
    FACEBOOK = "facebook", "Facebook"
    INSTAGRAM = "instagram", "Instagram"
    MASTODON = "mastodon", "Mastodon"
    BLUESKY = "bluesky", "Bluesky"


class ChannelStatus(models.TextChoices):
    ACTIVE = "active", "Healthy"
    NEEDS_REAUTH = "needs_reauth", "Needs reconnecting"
    RATE_LIMITED = "rate_limited", "Rate limited"
    ERROR = "error", "Error"
    PAUSED = "paused", "Paused"


class ChannelQuerySet(OrgScopedQuerySet):
    # Members who are not admins see the channels of their own departments.
    department_path = "department"

    def visible_to(self, membership) -> ChannelQuerySet:
        qs = super().visible_to(membership)
        if membership is None or membership.sees_all_departments or not membership.is_active:
            return qs
        # Plus the channels of other departments this person was explicitly granted (django-guardian).
        granted = ChannelUserObjectPermission.objects.filter(
            content_object=models.OuterRef("pk"), user_id=membership.user_id, permission__codename="view_channel"
        )
        in_scope = self.for_organisation(membership.organisation_id).filter(
            models.Q(department__in=membership.department_ids) | models.Exists(granted)
        )
        return in_scope

    def connected(self) -> ChannelQuerySet:
        return self.filter(disconnected_at__isnull=True)

    def for_list(self) -> ChannelQuerySet:
        return self.select_related("department", "connected_by").order_by("department__name", "platform", "handle")


class Channel(models.Model):
    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE, related_name="channels")
    department = models.ForeignKey("accounts.Department", on_delete=models.PROTECT, related_name="channels")
    platform = models.CharField(max_length=20, choices=Platform.choices)
    # The platform's own id of the account (X user id, Page id, Mastodon account id, Bluesky DID).
    account_id = models.CharField(max_length=255)
    handle = models.CharField(max_length=255)
    display_name = models.CharField(max_length=255, blank=True)
    avatar_url = models.URLField(max_length=1000, blank=True)
    # Base URL of the account's server where the platform has many (Mastodon instance, Bluesky PDS).
    instance_url = models.URLField(max_length=500, blank=True)

    status = models.CharField(max_length=20, choices=ChannelStatus.choices, default=ChannelStatus.ACTIVE)
    last_error = models.CharField(max_length=500, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    # Polling state: one cursor per stream ("mentions", "comments", "dms"), the next poll, the reset time.
    cursors = models.JSONField(default=dict, blank=True)
    poll_interval_seconds = models.PositiveIntegerField(default=30)
    next_poll_at = models.DateTimeField(null=True, blank=True)
    rate_limit_reset_at = models.DateTimeField(null=True, blank=True)
    # One poll per channel at a time: a lease taken by compare-and-set, expiring if a worker dies.
    poll_lease_until = models.DateTimeField(null=True, blank=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)

    # Fernet token of a JSON object; read and written only through `credentials` below.
    credentials_encrypted = models.TextField(blank=True, editable=False)

    connected_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    connected_at = models.DateTimeField(default=now)
    disconnected_at = models.DateTimeField(null=True, blank=True)

    objects = ChannelQuerySet.as_manager()

    class Meta:
        permissions = [
            ("publish_channel", "Publish posts to this channel"),
            ("reply_channel", "Reply to the public from this channel"),
        ]
        constraints = [
            # One live connection per account per organisation; a reconnect updates the same row.
            models.UniqueConstraint(
                fields=["organisation", "platform", "account_id"],
                condition=Q(disconnected_at__isnull=True),
                name="channel_unique_live_account_per_org",
            ),
            models.CheckConstraint(name="channel_poll_interval_min", condition=Q(poll_interval_seconds__gte=10)),
        ]
        indexes = [
            # The poll scheduler: active channels whose next poll is due.
            models.Index(fields=["status", "next_poll_at"], name="channel_due_poll_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_platform_display()} {self.handle}"

    def __repr__(self) -> str:
        # Never the credentials, even in a traceback.
        return f"<Channel {self.pk} {self.platform} {self.handle}>"

    @property
    def credentials(self) -> dict:
        return crypto.decrypt(self.credentials_encrypted)

    @credentials.setter
    def credentials(self, value: dict) -> None:
        self.credentials_encrypted = crypto.encrypt(value) if value else ""


class MastodonApp(models.Model):
    """Our OAuth app on one Mastodon instance, registered once and reused (not tenant data)."""

    instance_url = models.URLField(max_length=500)
    redirect_uri = models.URLField(max_length=500)
    client_id = models.CharField(max_length=255)
    client_secret_encrypted = models.TextField()
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["instance_url", "redirect_uri"], name="mastodon_app_unique_instance_redirect"),
        ]

    def __str__(self) -> str:
        return f"Mastodon app on {self.instance_url}"

    @property
    def client_secret(self) -> str:
        return crypto.decrypt(self.client_secret_encrypted).get("client_secret", "")


class ChannelUserObjectPermission(UserObjectPermissionBase):
    """Direct foreign-key table for per-person channel grants (django-guardian's fast path)."""

    content_object = models.ForeignKey(Channel, on_delete=models.CASCADE)


class ChannelGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Channel, on_delete=models.CASCADE)

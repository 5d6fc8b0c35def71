"""KPI data: what the platforms report (snapshots, post metrics), the daily rollups the dashboards read,
and what an organisation records by hand (offline contact volumes, cost per contact).

Dashboards read only these tables, never raw messages (docs/kpis.md). The rollups are rebuilt for the days
and conversations that changed (metrics.rollups), so a rerun gives the same rows: idempotent, not additive.
Reads go through the named QuerySet methods; writes through metrics.services, metrics.rollups and
metrics.collection.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.timezone import now

from smm.scoping import OrgScopedQuerySet

# The rollup tables (ContactDaily, AgentDaily, ResponseFact) are derived data, rebuilt from the messages and
# conversations by metrics.rollups: their foreign keys carry no database constraint, because checking tens of
# thousands of new rows at COMMIT cost more than the rest of a refresh (bench/kpis.py, docs/kpis.md).
# Django's on_delete still removes them with what they point to.
DERIVED = {"related_name": "+", "db_constraint": False}


class KpiQuerySet(OrgScopedQuerySet):
    """Rows that belong to one department: managers see their departments' rows, admins all."""

    department_path = "department"

    def between(self, field: str, start, end) -> KpiQuerySet:
        return self.filter(**{f"{field}__gte": start, f"{field}__lte": end})


# ------------------------------------------------------------------------------ what platforms report
class ChannelSnapshot(models.Model):
    """One channel's account figures on one day (the organisation's local date); the daily collection."""

    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE, related_name="+")
    channel = models.ForeignKey("channels_app.Channel", on_delete=models.CASCADE, related_name="+")
    department = models.ForeignKey("accounts.Department", on_delete=models.CASCADE, related_name="+")
    platform = models.CharField(max_length=20)
    day = models.DateField()
    followers = models.PositiveIntegerField()
    following = models.PositiveIntegerField(null=True, blank=True)
    posts = models.PositiveIntegerField(null=True, blank=True)
    # Only where the platform gives them (Graph API insights); None means "not offered", never zero.
    impressions = models.PositiveBigIntegerField(null=True, blank=True)
    reach = models.PositiveBigIntegerField(null=True, blank=True)
    collected_at = models.DateTimeField(default=now)

    objects = KpiQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["channel", "day"], name="channel_snapshot_one_per_day")]
        indexes = [models.Index(fields=["organisation", "day"], name="channel_snapshot_org_day_idx")]

    def __str__(self) -> str:
        return f"{self.platform} {self.channel_id} on {self.day}: {self.followers} followers"


class PostPerformance(models.Model):
    """The latest metrics of one published post on one channel, and when to collect them next.

    One row per PublishTarget that reached the platform. Collection follows a decaying schedule for 30 days
    after publishing (metrics.collection.SCHEDULE), then next_collect_at is cleared.
    """

    target = models.OneToOneField("approvals.PublishTarget", on_delete=models.CASCADE, primary_key=True,
                                  related_name="performance")
    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE, related_name="+")
    post = models.ForeignKey("approvals.Post", on_delete=models.CASCADE, related_name="+")
    channel = models.ForeignKey("channels_app.Channel", on_delete=models.CASCADE, related_name="+")
    department = models.ForeignKey("accounts.Department", on_delete=models.CASCADE, related_name="+")
    platform = models.CharField(max_length=20)
    platform_id = models.CharField(max_length=255)
    published_at = models.DateTimeField()
    # The organisation's local publishing hour (0-23) and weekday (0 = Monday), for "best hours".
    published_hour = models.PositiveSmallIntegerField()
    published_weekday = models.PositiveSmallIntegerField()
    likes = models.PositiveIntegerField(default=0)
    replies = models.PositiveIntegerField(default=0)
    reposts = models.PositiveIntegerField(default=0)
    quotes = models.PositiveIntegerField(default=0)
    impressions = models.PositiveBigIntegerField(null=True, blank=True)
    link_clicks = models.PositiveIntegerField(null=True, blank=True)
    engagements = models.PositiveIntegerField(default=0)
    # The channel's followers when the post was published (the nearest snapshot); the denominator when the
    # platform gives no impressions.
    followers = models.PositiveIntegerField(null=True, blank=True)
    engagement_rate = models.FloatField(null=True, blank=True)
    rate_method = models.CharField(max_length=12, blank=True)  # "impressions", "followers" or "" (no denominator)
    collections = models.PositiveSmallIntegerField(default=0)
    last_collected_at = models.DateTimeField(null=True, blank=True)
    next_collect_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    objects = KpiQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["organisation", "published_at"], name="post_performance_org_time_idx"),
            models.Index(fields=["next_collect_at"], condition=Q(next_collect_at__isnull=False),
                         name="post_performance_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.platform} post {self.platform_id}"


class PostMetricSample(models.Model):
    """Every collection of a post's metrics: the time series behind PostPerformance."""

    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE, related_name="+")
    target = models.ForeignKey("approvals.PublishTarget", on_delete=models.CASCADE, related_name="+")
    collected_at = models.DateTimeField(default=now)
    likes = models.PositiveIntegerField(default=0)
    replies = models.PositiveIntegerField(default=0)
    reposts = models.PositiveIntegerField(default=0)
    quotes = models.PositiveIntegerField(default=0)
    impressions = models.PositiveBigIntegerField(null=True, blank=True)
    link_clicks = models.PositiveIntegerField(null=True, blank=True)

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["target", "collected_at"], name="post_metric_sample_time_idx")]

    def __str__(self) -> str:
        return f"target {self.target_id} at {self.collected_at:%Y-%m-%d %H:%M}"


# ------------------------------------------------------------------------------------- daily rollups
class ContactDaily(models.Model):
    """Per organisation-local day, channel and department: messages in and out, conversations opened/closed."""

    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE, **DERIVED)
    day = models.DateField()
    channel = models.ForeignKey("channels_app.Channel", on_delete=models.CASCADE, **DERIVED)
    department = models.ForeignKey("accounts.Department", on_delete=models.CASCADE, **DERIVED)
    platform = models.CharField(max_length=20)
    inbound_messages = models.PositiveIntegerField(default=0)
    outbound_messages = models.PositiveIntegerField(default=0)  # our replies that reached the platform
    automatic_replies = models.PositiveIntegerField(default=0)
    conversations_opened = models.PositiveIntegerField(default=0)
    conversations_closed = models.PositiveIntegerField(default=0)

    objects = KpiQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "day", "channel", "department"],
                                    name="contact_daily_one_row_per_key"),
        ]
        indexes = [models.Index(fields=["organisation", "day"], name="contact_daily_org_day_idx")]

    def __str__(self) -> str:
        return f"{self.day} channel {self.channel_id}: {self.inbound_messages} in"


class AgentDaily(models.Model):
    """Per organisation-local day, department and agent: the replies they sent and conversations they answered."""

    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE, **DERIVED)
    day = models.DateField()
    department = models.ForeignKey("accounts.Department", on_delete=models.CASCADE, **DERIVED)
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, **DERIVED)
    replies_sent = models.PositiveIntegerField(default=0)
    conversations_replied = models.PositiveIntegerField(default=0)

    objects = KpiQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "day", "department", "agent"],
                                    name="agent_daily_one_row_per_key"),
        ]
        indexes = [models.Index(fields=["organisation", "day"], name="agent_daily_org_day_idx")]

    def __str__(self) -> str:
        return f"{self.day} agent {self.agent_id}: {self.replies_sent} replies"


class ResponseFact(models.Model):
    """One row per conversation: its response and resolution times, in clock and in office hours.

    Medians and percentiles cannot be added up day by day, so they are computed over these rows (numbers
    only, a fifth of the messages' count), selected by the day the conversation opened.
    """

    conversation = models.OneToOneField("inbox.Conversation", on_delete=models.CASCADE, primary_key=True,
                                        **DERIVED)
    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE, **DERIVED)
    channel = models.ForeignKey("channels_app.Channel", on_delete=models.CASCADE, **DERIVED)
    department = models.ForeignKey("accounts.Department", on_delete=models.CASCADE, **DERIVED)
    platform = models.CharField(max_length=20)
    opened_day = models.DateField()
    first_inbound_at = models.DateTimeField()
    first_response_at = models.DateTimeField(null=True, blank=True)
    responder = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  **DERIVED)
    first_response_seconds = models.PositiveIntegerField(null=True, blank=True)
    first_response_office_seconds = models.PositiveIntegerField(null=True, blank=True)
    first_response_due_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_day = models.DateField(null=True, blank=True)  # set only while the conversation is closed
    resolution_seconds = models.PositiveIntegerField(null=True, blank=True)
    resolution_office_seconds = models.PositiveIntegerField(null=True, blank=True)
    resolution_due_at = models.DateTimeField(null=True, blank=True)
    refreshed_at = models.DateTimeField(default=now)

    objects = KpiQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(
                fields=["organisation", "opened_day"],
                # Everything the period's response times and service levels read (kpis._times), so the
                # overview reads only this index (an index-only scan), never the table.
                include=["department", "channel", "first_response_seconds", "first_response_office_seconds",
                         "resolution_seconds", "resolution_office_seconds", "first_response_at",
                         "first_response_due_at", "closed_at", "resolution_due_at"],
                name="response_fact_org_day_idx",
            ),
            models.Index(fields=["organisation", "closed_day"], condition=Q(closed_day__isnull=False),
                         name="response_fact_org_closed_idx"),
        ]

    def __str__(self) -> str:
        return f"conversation {self.conversation_id}"


class RollupCursor(models.Model):
    """How far an organisation's rollups have been brought up to date (metrics.rollups.refresh)."""

    organisation = models.OneToOneField("accounts.Organisation", on_delete=models.CASCADE, primary_key=True,
                                        related_name="+")
    refreshed_to = models.DateTimeField()
    # Goes up by one with every run: the KPI cache keys on it (metrics.kpis.response_times), so figures cached
    # before a run are never served after it, even by a run given the same `now`.
    version = models.PositiveBigIntegerField(default=0)

    objects = OrgScopedQuerySet.as_manager()

    def __str__(self) -> str:
        return f"organisation {self.organisation_id} to {self.refreshed_to:%Y-%m-%d %H:%M}"


# ------------------------------------------------------------------------------------ channel shift


class ContactChannel(models.TextChoices):
    PHONE = "phone", "Phone"
    EMAIL = "email", "E-mail"
    FACE_TO_FACE = "face_to_face", "Face to face"
    WEB_FORM = "web_form", "Web forms"
    SOCIAL = "social", "Social media (Civic Desk)"


OFFLINE_CHANNELS = (ContactChannel.PHONE, ContactChannel.EMAIL, ContactChannel.FACE_TO_FACE, ContactChannel.WEB_FORM)

# Defaults an organisation sees until it sets its own (editable, with their source shown beside them).
SOCITM = "Socitm Insight, channel value benchmarking (2012): average cost per transaction in UK councils"
DEFAULT_COSTS: dict[str, tuple[Decimal, str]] = {
    ContactChannel.FACE_TO_FACE: (Decimal("8.62"), SOCITM),
    ContactChannel.PHONE: (Decimal("2.83"), SOCITM),
    ContactChannel.WEB_FORM: (Decimal("0.15"), SOCITM),
    ContactChannel.EMAIL: (Decimal("2.83"), "Civic Desk default: assumed equal to phone (Socitm gives no e-mail "
                                             "figure); replace with your own"),
    ContactChannel.SOCIAL: (Decimal("0.15"), "Civic Desk default: assumed equal to web (Socitm's online figure); "
                                             "replace with your own"),
}


class OfflineContactVolume(models.Model):
    """Contacts a department handled outside Civic Desk in one month, by channel, as the organisation records them."""

    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE, related_name="+")
    department = models.ForeignKey("accounts.Department", on_delete=models.CASCADE, related_name="+")
    month = models.DateField()  # the first day of the month
    channel = models.CharField(max_length=20, choices=[(c.value, c.label) for c in OFFLINE_CHANNELS])
    volume = models.PositiveIntegerField()
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(default=now)

    objects = KpiQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "department", "month", "channel"],
                                    name="offline_volume_one_per_month_channel"),
            models.CheckConstraint(condition=Q(month__day=1), name="offline_volume_month_is_first_day"),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.channel}: {self.volume}"


class ContactCost(models.Model):
    """An organisation's own cost per contact for one channel, with where the figure comes from."""

    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=20, choices=ContactChannel.choices)
    cost_per_contact = models.DecimalField(max_digits=8, decimal_places=2)
    source = models.CharField(max_length=300)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(default=now)

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "channel"], name="contact_cost_one_per_channel"),
            models.CheckConstraint(condition=Q(cost_per_contact__gte=0), name="contact_cost_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.channel}: {self.cost_per_contact}"

"""The shared inbox: contacts, conversations, messages, replies, notes, tags, saved replies, policies.

Reads go through the named QuerySet methods below (organisation-scoped, fail closed); writes go
through inbox.services / inbox.ingest / inbox.replies, which audit in the same transaction.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.timezone import now

from smm.scoping import OrgScopedQuerySet


# ------------------------------------------------------------------------------------------ choices
class ConversationKind(models.TextChoices):
    PUBLIC = "public", "Public"
    PRIVATE = "private", "Direct message"


class ConversationStatus(models.TextChoices):
    OPEN = "open", "Open"
    PENDING = "pending", "Pending"
    CLOSED = "closed", "Closed"


class Priority(models.IntegerChoices):
    # Stored as numbers so "urgent first" is a plain ORDER BY.
    LOW = 0, "Low"
    NORMAL = 1, "Normal"
    HIGH = 2, "High"
    URGENT = 3, "Urgent"


class MessageDirection(models.TextChoices):
    INBOUND = "in", "Inbound"
    OUTBOUND = "out", "Outbound"


class ReplyMode(models.TextChoices):
    PUBLIC = "public", "Public reply"
    DM = "dm", "Direct message"


class ReplyState(models.TextChoices):
    # Reply state machine (DESIGN.md): awaiting_approval → pending → sending → sent | failed | unknown;
    # unknown → (reconciled) sent | pending; failed → pending (retry button); awaiting_approval → rejected.
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
    PENDING = "pending", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    UNKNOWN = "unknown", "Unknown — checking the platform"
    REJECTED = "rejected", "Rejected"


# ------------------------------------------------------------------------------------------ contacts
class ContactQuerySet(OrgScopedQuerySet):
    pass


class Contact(models.Model):
    """A member of the public on one platform, deduplicated per organisation."""

    # No index of its own: contact_unique_platform_user_per_org leads with it (one index less per upsert).
    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE, related_name="+", db_index=False)
    platform = models.CharField(max_length=20)
    platform_user_id = models.CharField(max_length=255)
    handle = models.CharField(max_length=255, blank=True)
    name = models.CharField(max_length=255, blank=True)
    avatar_url = models.URLField(max_length=1000, blank=True)
    first_seen_at = models.DateTimeField(default=now)
    last_seen_at = models.DateTimeField(default=now)
    # Retention and erasure (inbox.retention, inbox.erasure): a hold suspends both; the profile fields above are
    # emptied when the retention period redacts them (redacted_at) or an admin erases the person (erased_at).
    # Database defaults too: ingest inserts rows with raw SQL that does not name these columns.
    legal_hold = models.BooleanField(default=False, db_default=False)
    legal_hold_reason = models.CharField(max_length=500, blank=True, default="", db_default="")
    redacted_at = models.DateTimeField(null=True, blank=True)
    erased_at = models.DateTimeField(null=True, blank=True)

    objects = ContactQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "platform", "platform_user_id"], name="contact_unique_platform_user_per_org"
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.handle or self.platform_user_id


# ------------------------------------------------------------------------------------- tags, saved
class TagQuerySet(OrgScopedQuerySet):
    def by_name(self) -> TagQuerySet:
        return self.order_by(models.functions.Lower("name"))


class Tag(models.Model):
    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=60)

    objects = TagQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(models.functions.Lower("name"), "organisation", name="tag_unique_name_per_org"),
        ]

    def __str__(self) -> str:
        return self.name


class SavedReplyQuerySet(OrgScopedQuerySet):
    def visible_to(self, membership) -> SavedReplyQuerySet:
        # Organisation-wide saved replies (no department) are for everyone; the rest per department.
        if membership is None or not membership.is_active or membership.pk is None:
            return self.none()
        qs = self.for_organisation(membership.organisation_id)
        if membership.sees_all_departments:
            return qs
        return qs.filter(Q(department__isnull=True) | Q(department__in=membership.department_ids))

    def for_department(self, department_id: int | None) -> SavedReplyQuerySet:
        return self.filter(Q(department__isnull=True) | Q(department_id=department_id)).order_by("title")


class SavedReply(models.Model):
    """Text an agent inserts into a reply; placeholders such as {contact_name} are filled in."""

    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE, related_name="+")
    department = models.ForeignKey("accounts.Department", null=True, blank=True, on_delete=models.CASCADE)
    title = models.CharField(max_length=120)
    body = models.TextField(max_length=5000)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=now)

    objects = SavedReplyQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                models.functions.Lower("title"),
                "organisation",
                "department",
                name="saved_reply_unique_title_per_department",
                nulls_distinct=False,
            ),
        ]

    def __str__(self) -> str:
        return self.title


# ------------------------------------------------------------------------------------ conversations
class ConversationQuerySet(OrgScopedQuerySet):
    # Members who are not admins see the conversations of their own departments.
    department_path = "department"

    def for_list(self) -> ConversationQuerySet:
        # The tags as a plain list (conversation.listed_tags): no related manager and queryset per row.
        return self.select_related("channel", "contact", "assignee", "department").prefetch_related(
            models.Prefetch("tags", to_attr="listed_tags"))


# The list's filters other than status and flagged, plus what "overdue" reads.
QUEUE_INDEX_INCLUDE = [
    "department",
    "channel",
    "platform",
    "assignee",
    "priority",
    "first_response_due_at",
    "first_responded_at",
    "resolution_due_at",
]


class Conversation(models.Model):
    # No index of its own: the queue, newest and updated indexes lead with it.
    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE, related_name="+", db_index=False)
    # No index of its own: conversation_unique_thread_per_channel leads with it.
    channel = models.ForeignKey("channels_app.Channel", on_delete=models.PROTECT, related_name="conversations", db_index=False)
    # The channel's department at first; "assign to a department" moves it (and who can see it).
    department = models.ForeignKey("accounts.Department", on_delete=models.PROTECT, related_name="+")
    platform = models.CharField(max_length=20)  # the channel's, copied so the platform filter needs no join
    kind = models.CharField(max_length=10, choices=ConversationKind.choices)
    # The thread: the root post id (public) or the platform's DM conversation id (private).
    key = models.CharField(max_length=255)
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="conversations")

    status = models.CharField(max_length=10, choices=ConversationStatus.choices, default=ConversationStatus.OPEN)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    priority = models.SmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    tags = models.ManyToManyField(Tag, blank=True, related_name="conversations")

    # Tone and risk: the lowest sentiment seen and whether any message was flagged (angry or at risk).
    flagged = models.BooleanField(default=False)
    sentiment = models.FloatField(null=True, blank=True)
    risk_terms = models.JSONField(default=list, blank=True)

    # Waiting: the oldest inbound message not yet answered (null when nothing waits).
    waiting_since = models.DateTimeField(null=True, blank=True)
    # The default sort key: waiting_since while something waits, else the last message's time.
    queue_at = models.DateTimeField(default=now)
    last_message_at = models.DateTimeField(default=now)
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    last_message_preview = models.CharField(max_length=280, blank=True)
    message_count = models.PositiveIntegerField(default=0)
    # Service levels, counted in the department's office hours (inbox.sla).
    first_response_due_at = models.DateTimeField(null=True, blank=True)
    first_responded_at = models.DateTimeField(null=True, blank=True)
    resolution_due_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # The start of the closed period in which the out-of-hours reply was last sent (at most once each).
    auto_replied_for = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(default=now)
    # A legal hold suspends retention and erasure of everything in this conversation (inbox.retention).
    # Database defaults too: ingest inserts rows with raw SQL that does not name these columns.
    legal_hold = models.BooleanField(default=False, db_default=False)
    legal_hold_reason = models.CharField(max_length=500, blank=True, default="", db_default="")
    # Bumped on every change; the live list asks "anything newer than X?".
    updated_at = models.DateTimeField(default=now, db_index=False)

    objects = ConversationQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "kind", "key"], name="conversation_unique_thread_per_channel"),
        ]
        indexes = [
            # The default list: flagged first, then oldest waiting, keyset on id. The included columns let
            # the capped status counts filter by them in an index-only scan (no heap reads).
            models.Index(
                fields=["organisation", "status", "-flagged", "queue_at", "id"],
                include=QUEUE_INDEX_INCLUDE,
                name="conversation_queue_idx",
            ),
            models.Index(fields=["organisation", "-last_message_at", "-id"], name="conversation_newest_idx"),
            models.Index(fields=["organisation", "updated_at"], name="conversation_updated_idx"),
            # Every status (status=all): the same order without the status column.
            models.Index(fields=["organisation", "-flagged", "queue_at", "id"], name="conversation_queue_all_idx"),
            # Assignee filters (me, unassigned, a member) in queue order.
            models.Index(
                fields=["organisation", "assignee", "status", "-flagged", "queue_at", "id"],
                name="conversation_assignee_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contact} on {self.channel}"


class MessageQuerySet(OrgScopedQuerySet):
    department_path = "conversation__department"

    def timeline(self) -> MessageQuerySet:
        return self.select_related("author", "sent_by").order_by("created_at", "id")


class Message(models.Model):
    # No index of their own where a composite index leads with the column (message_org_time_idx, the unique
    # (channel, platform id) and message_conversation_time_idx): three fewer indexes to write per message ingested.
    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE, related_name="+", db_index=False)
    channel = models.ForeignKey("channels_app.Channel", on_delete=models.PROTECT, related_name="+", db_index=False)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages", db_index=False)
    platform_message_id = models.CharField(max_length=255)
    direction = models.CharField(max_length=3, choices=MessageDirection.choices, default=MessageDirection.INBOUND)
    # mention, comment, reply or dm (connectors.base.InboundItem.kind); "reply" for ours too.
    kind = models.CharField(max_length=10)
    text = models.TextField()
    author = models.ForeignKey(Contact, null=True, blank=True, on_delete=models.PROTECT, related_name="messages")
    # Our outbound messages: who sent them (null for automatic replies).
    sent_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    in_reply_to_id = models.CharField(max_length=255, blank=True)
    url = models.URLField(max_length=1000, blank=True)
    created_at = models.DateTimeField()  # the platform's time
    received_at = models.DateTimeField(default=now)
    sentiment = models.FloatField(null=True, blank=True)
    flagged = models.BooleanField(default=False)
    # Set when retention or erasure emptied text and url; everything the KPIs count stays.
    redacted_at = models.DateTimeField(null=True, blank=True)

    objects = MessageQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "platform_message_id"], name="message_unique_platform_id_per_channel"),
        ]
        indexes = [
            models.Index(fields=["conversation", "created_at", "id"], name="message_conversation_time_idx"),
            # The KPI rollups rebuild an organisation's day from its messages (metrics.rollups).
            models.Index(fields=["organisation", "created_at"], name="message_org_time_idx"),
            # The rollups' refresh reads only the messages received since its cursor (metrics.rollups).
            models.Index(fields=["organisation", "received_at"], name="message_org_received_idx"),
            # The nightly retention run: an organisation's unredacted messages older than its cut-off.
            models.Index(
                fields=["organisation", "created_at"], condition=Q(redacted_at__isnull=True), name="message_retention_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.platform_message_id}"


class ReplyQuerySet(OrgScopedQuerySet):
    department_path = "conversation__department"

    def awaiting_approval(self) -> ReplyQuerySet:
        return self.filter(state=ReplyState.AWAITING_APPROVAL)


class Reply(models.Model):
    """One outbound answer, sent exactly once (inbox.replies)."""

    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="replies")
    channel = models.ForeignKey("channels_app.Channel", on_delete=models.PROTECT, related_name="+")
    # Null for the automatic out-of-hours reply.
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    mode = models.CharField(max_length=10, choices=ReplyMode.choices, default=ReplyMode.PUBLIC)
    text = models.TextField(max_length=63206)
    in_reply_to_id = models.CharField(max_length=255, blank=True)
    automatic = models.BooleanField(default=False)

    state = models.CharField(max_length=20, choices=ReplyState.choices, default=ReplyState.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    platform_id = models.CharField(max_length=255, blank=True)
    platform_url = models.URLField(max_length=1000, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)
    # Set when retention or erasure emptied the text; state, times and platform ids stay.
    redacted_at = models.DateTimeField(null=True, blank=True)

    objects = ReplyQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "platform_id"], condition=~Q(platform_id=""), name="reply_unique_platform_id_per_channel"
            ),
        ]
        indexes = [models.Index(fields=["state", "claimed_at"], name="reply_state_idx")]

    def __str__(self) -> str:
        return f"Reply {self.pk} ({self.state})"


class NoteQuerySet(OrgScopedQuerySet):
    department_path = "conversation__department"


class Note(models.Model):
    """An internal note on a conversation; never sent to the public."""

    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    text = models.TextField(max_length=5000)
    mentions = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    created_at = models.DateTimeField(default=now)
    # Set when retention or erasure emptied the text.
    redacted_at = models.DateTimeField(null=True, blank=True)

    objects = NoteQuerySet.as_manager()

    def __str__(self) -> str:
        return f"Note {self.pk}"


# ------------------------------------------------------------------------------------------ policies
class InboxPolicyQuerySet(OrgScopedQuerySet):
    department_path = "department"


def default_office_hours() -> dict:
    weekday = [["09:00", "17:00"]]
    return {"mon": weekday, "tue": weekday, "wed": weekday, "thu": weekday, "fri": weekday, "sat": [], "sun": []}


class InboxPolicy(models.Model):
    """Per department: service-level targets in office hours, and who needs reply approval."""

    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE, related_name="+")
    department = models.OneToOneField("accounts.Department", on_delete=models.CASCADE, related_name="inbox_policy")
    first_response_minutes = models.PositiveIntegerField(default=60)
    resolution_minutes = models.PositiveIntegerField(default=60 * 8)
    # {"mon": [["09:00", "17:00"]], ..., "sun": []} in the organisation's time zone.
    office_hours = models.JSONField(default=default_office_hours)
    # Replies written by these people wait for an approver (trainees, for example).
    reply_approval_for = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")

    objects = InboxPolicyQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(name="inbox_policy_first_response_positive", condition=Q(first_response_minutes__gt=0)),
            models.CheckConstraint(name="inbox_policy_resolution_positive", condition=Q(resolution_minutes__gt=0)),
        ]

    def __str__(self) -> str:
        return f"Inbox policy for {self.department}"


class BankHolidayQuerySet(OrgScopedQuerySet):
    pass


class BankHoliday(models.Model):
    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE, related_name="+")
    date = models.DateField()
    name = models.CharField(max_length=120)

    objects = BankHolidayQuerySet.as_manager()

    class Meta:
        ordering = ["date"]
        constraints = [models.UniqueConstraint(fields=["organisation", "date"], name="bank_holiday_unique_date_per_org")]

    def __str__(self) -> str:
        return f"{self.date} {self.name}"


class RiskKeywordQuerySet(OrgScopedQuerySet):
    pass


class RiskKeyword(models.Model):
    """A word or phrase that flags a message as at risk or urgent (matched whole-word, any case)."""

    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE, related_name="+")
    phrase = models.CharField(max_length=100)

    objects = RiskKeywordQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(models.functions.Lower("phrase"), "organisation", name="risk_keyword_unique_per_org"),
        ]

    def __str__(self) -> str:
        return self.phrase


class OutOfHoursReplyQuerySet(OrgScopedQuerySet):
    department_path = "channel__department"


class OutOfHoursReply(models.Model):
    """Optional automatic reply for one channel, sent outside office hours at most once per closed period."""

    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE, related_name="+")
    channel = models.OneToOneField("channels_app.Channel", on_delete=models.CASCADE, related_name="out_of_hours_reply")
    enabled = models.BooleanField(default=False)
    text = models.TextField(max_length=2000)

    objects = OutOfHoursReplyQuerySet.as_manager()

    def __str__(self) -> str:
        return f"Out-of-hours reply for {self.channel}"


class QuarantinedItemQuerySet(OrgScopedQuerySet):
    def unresolved(self) -> QuarantinedItemQuerySet:
        return self.filter(resolved_at__isnull=True)


class QuarantinedItem(models.Model):
    """An inbound item we could not read: kept whole with the error, for admins to look at."""

    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE, related_name="+")
    channel = models.ForeignKey("channels_app.Channel", on_delete=models.CASCADE, related_name="+")
    source = models.CharField(max_length=20)  # "poll" or "webhook"
    platform_message_id = models.CharField(max_length=255, blank=True)
    raw = models.JSONField()
    error = models.CharField(max_length=1000)
    created_at = models.DateTimeField(default=now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    objects = QuarantinedItemQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Quarantined {self.platform_message_id or self.pk}"


# ----------------------------------------------------------------------------------------- retention
class RetentionPolicyQuerySet(OrgScopedQuerySet):
    pass


MESSAGE_RETENTION_DAYS_MIN, MESSAGE_RETENTION_DAYS_MAX = 30, 36500
AUDIT_RETENTION_DAYS_MIN, AUDIT_RETENTION_DAYS_MAX = 365, 36500


class RetentionPolicy(models.Model):
    """How long the organisation keeps message content and audit events (one row, created on first change).

    Message content past its period is redacted nightly (inbox.retention); audit events are archived and
    dropped by an operator (docs/retention.md), never deleted by the application.
    """

    organisation = models.OneToOneField("accounts.Organisation", on_delete=models.CASCADE, related_name="+")
    message_retention_days = models.PositiveIntegerField(default=730)
    audit_retention_days = models.PositiveIntegerField(default=2555)
    updated_at = models.DateTimeField(default=now)

    objects = RetentionPolicyQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                name="retention_message_days_range",
                condition=Q(message_retention_days__gte=MESSAGE_RETENTION_DAYS_MIN)
                & Q(message_retention_days__lte=MESSAGE_RETENTION_DAYS_MAX),
            ),
            models.CheckConstraint(
                name="retention_audit_days_range",
                condition=Q(audit_retention_days__gte=AUDIT_RETENTION_DAYS_MIN)
                & Q(audit_retention_days__lte=AUDIT_RETENTION_DAYS_MAX),
            ),
        ]

    def __str__(self) -> str:
        return f"Retention policy of {self.organisation_id}"

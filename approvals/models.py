"""Posts, their revisions and approvals, publishing targets and pauses.

The post state machine lives in approvals/workflow.py (one table); writes go through
approvals/services.py (compose, submit, decide, schedule, break glass, pause) and
approvals/publishing.py (the sweeper and the exactly-once publish of one post to one channel).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.timezone import now

from smm.scoping import OrgScopedQuerySet


class PostStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"
    APPROVED = "approved", "Approved"
    SCHEDULED = "scheduled", "Scheduled"
    PUBLISHING = "publishing", "Publishing"
    PUBLISHED = "published", "Published"
    PARTLY_PUBLISHED = "partly_published", "Partly published"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class TargetState(models.TextChoices):
    # PublishTarget state machine (DESIGN.md): pending → sending → sent | failed | unknown;
    # unknown → (reconciled) sent | pending.
    PENDING = "pending", "Waiting"
    SENDING = "sending", "Publishing"
    SENT = "sent", "Published"
    FAILED = "failed", "Failed"
    UNKNOWN = "unknown", "Unknown — checking the platform"


class DecisionKind(models.TextChoices):
    APPROVED = "approved", "Approved"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"


class BlockedWordAction(models.TextChoices):
    REVIEW = "review", "Needs review (an approver must see it even where none is needed)"
    BLOCK = "block", "Blocks submission"


# ---------------------------------------------------------------------------------------- settings
class PublishingSettingsQuerySet(OrgScopedQuerySet):
    pass


class PublishingSettings(models.Model):
    """The organisation's publishing rules (one row per organisation, created on first use)."""

    organisation = models.OneToOneField("accounts.Organisation", on_delete=models.CASCADE, related_name="+")
    alt_text_required = models.BooleanField(default=True)
    # A post found this many minutes late (workers were down) waits for a person; null: publish late.
    hold_late_posts_after_minutes = models.PositiveIntegerField(null=True, blank=True)

    objects = PublishingSettingsQuerySet.as_manager()

    def __str__(self) -> str:
        return f"Publishing settings of {self.organisation_id}"


class BlockedWordQuerySet(OrgScopedQuerySet):
    pass


class BlockedWord(models.Model):
    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE, related_name="+")
    phrase = models.CharField(max_length=100)
    action = models.CharField(max_length=10, choices=BlockedWordAction.choices, default=BlockedWordAction.REVIEW)

    objects = BlockedWordQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(models.functions.Lower("phrase"), "organisation", name="blocked_word_unique_per_org"),
        ]

    def __str__(self) -> str:
        return self.phrase


class ApprovalPolicyQuerySet(OrgScopedQuerySet):
    department_path = "department"


def default_approver_roles() -> list[str]:
    return ["admin", "approver"]


class ApprovalPolicy(models.Model):
    """Per department: how many distinct approvals a post needs and which roles may give them."""

    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE, related_name="+")
    department = models.OneToOneField("accounts.Department", on_delete=models.CASCADE, related_name="approval_policy")
    approvals_required = models.PositiveSmallIntegerField(default=1)
    approver_roles = models.JSONField(default=default_approver_roles)

    objects = ApprovalPolicyQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                name="approval_policy_required_range", condition=Q(approvals_required__gte=1, approvals_required__lte=5)
            ),
        ]

    def __str__(self) -> str:
        return f"Approval policy for {self.department}"


class ChannelApprovalRuleQuerySet(OrgScopedQuerySet):
    department_path = "channel__department"


class ChannelApprovalRule(models.Model):
    """A channel that needs more approvals than its department's policy (the main corporate account)."""

    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE, related_name="+")
    channel = models.OneToOneField("channels_app.Channel", on_delete=models.CASCADE, related_name="approval_rule")
    approvals_required = models.PositiveSmallIntegerField(default=2)

    objects = ChannelApprovalRuleQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                name="channel_approval_rule_required_range",
                condition=Q(approvals_required__gte=1, approvals_required__lte=5),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} needs {self.approvals_required} approvals"


# -------------------------------------------------------------------------------------------- posts
class PostQuerySet(OrgScopedQuerySet):
    department_path = "department"

    def for_list(self) -> PostQuerySet:
        return self.select_related("department", "author", "current_revision").prefetch_related("targets__channel")


class Post(models.Model):
    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE, related_name="+")
    department = models.ForeignKey("accounts.Department", on_delete=models.PROTECT, related_name="+")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    title = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=PostStatus.choices, default=PostStatus.DRAFT)
    current_revision = models.ForeignKey(
        "PostRevision", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Null: publish as soon as approved.
    scheduled_at = models.DateTimeField(null=True, blank=True)
    # Set when approval came after the scheduled time passed: an approver must publish now or pick a new time.
    needs_new_time = models.BooleanField(default=False)
    # Held by the late-post rule (workers were down): a person decides.
    held_late = models.BooleanField(default=False)
    break_glass_reason = models.CharField(max_length=500, blank=True)
    break_glass_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)

    objects = PostQuerySet.as_manager()

    class Meta:
        indexes = [
            # The sweeper: scheduled posts whose time has come.
            models.Index(fields=["status", "scheduled_at"], name="post_due_idx"),
            models.Index(fields=["organisation", "status", "-updated_at"], name="post_org_status_idx"),
            models.Index(fields=["organisation", "scheduled_at"], name="post_calendar_idx"),
        ]

    def __str__(self) -> str:
        return self.title


class PostRevisionQuerySet(OrgScopedQuerySet):
    department_path = "post__department"


class PostRevision(models.Model):
    """An immutable version of a post's content. Approvals bind to one revision by its hash."""

    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE, related_name="+")
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    body = models.TextField(max_length=63206, blank=True)
    link = models.URLField(max_length=1000, blank=True)
    # {"x": "text", "channel:12": "text"}: per platform or per channel overrides of the body.
    variants = models.JSONField(default=dict, blank=True)
    channel_ids = models.JSONField(default=list)
    # [{"id": media id, "alt_text": "...", "sha256": "..."}] in order.
    media = models.JSONField(default=list, blank=True)
    notes = models.TextField(max_length=5000, blank=True)
    # sha256 of the canonical JSON of everything above but notes: what an approval approves.
    content_hash = models.CharField(max_length=64)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=now)

    objects = PostRevisionQuerySet.as_manager()

    class Meta:
        ordering = ["post", "number"]
        constraints = [models.UniqueConstraint(fields=["post", "number"], name="revision_unique_number_per_post")]

    def __str__(self) -> str:
        return f"{self.post} r{self.number}"


class PostMediaQuerySet(OrgScopedQuerySet):
    department_path = "post__department"


class PostMedia(models.Model):
    """An image attached to a post, kept in the database so every web and worker process can read it."""

    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE, related_name="+")
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="media_files")
    content = models.BinaryField()
    mime_type = models.CharField(max_length=50)
    filename = models.CharField(max_length=200, blank=True)
    sha256 = models.CharField(max_length=64)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=now)

    objects = PostMediaQuerySet.as_manager()

    def __str__(self) -> str:
        return self.filename or f"Image {self.pk}"


class ApprovalDecisionQuerySet(OrgScopedQuerySet):
    department_path = "post__department"


class ApprovalDecision(models.Model):
    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE, related_name="+")
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="decisions")
    revision = models.ForeignKey(PostRevision, on_delete=models.CASCADE, related_name="decisions")
    revision_hash = models.CharField(max_length=64)
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=20, choices=DecisionKind.choices)
    comment = models.TextField(max_length=5000, blank=True)
    created_at = models.DateTimeField(default=now)

    objects = ApprovalDecisionQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # One approval per person per revision: "two approvals" means two people.
            models.UniqueConstraint(
                fields=["revision", "approver"],
                condition=Q(decision="approved"),
                name="decision_one_approval_per_person_per_revision",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.decision} r{self.revision_id} by {self.approver_id}"


class CommentQuerySet(OrgScopedQuerySet):
    department_path = "post__department"


class Comment(models.Model):
    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE, related_name="+")
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="comments")
    revision = models.ForeignKey(PostRevision, on_delete=models.CASCADE, related_name="comments")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="replies")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    text = models.TextField(max_length=5000)
    mentions = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    created_at = models.DateTimeField(default=now)

    objects = CommentQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Comment {self.pk}"


class PublishTargetQuerySet(OrgScopedQuerySet):
    department_path = "post__department"


class PublishTarget(models.Model):
    """One post on one channel: published exactly once (approvals/publishing.py)."""

    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE, related_name="+")
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="targets")
    channel = models.ForeignKey("channels_app.Channel", on_delete=models.PROTECT, related_name="+")
    # The revision being published (fixed when publishing starts).
    revision = models.ForeignKey(PostRevision, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    state = models.CharField(max_length=10, choices=TargetState.choices, default=TargetState.PENDING)
    # Sent with every attempt where the platform honours it (Mastodon's Idempotency-Key).
    idempotency_key = models.UUIDField(default=uuid.uuid4, editable=False)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    platform_id = models.CharField(max_length=255, blank=True)
    platform_url = models.URLField(max_length=1000, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)

    objects = PublishTargetQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["post", "channel"], name="publish_target_unique_post_channel"),
            models.UniqueConstraint(
                fields=["channel", "platform_id"], condition=~Q(platform_id=""), name="publish_target_unique_platform_id"
            ),
        ]
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="publish_target_due_idx")]

    def __str__(self) -> str:
        return f"{self.post} on {self.channel}"


class PublishingPauseQuerySet(OrgScopedQuerySet):
    def active(self, at=None) -> PublishingPauseQuerySet:
        at = at or now()
        return self.filter(lifted_at__isnull=True, starts_at__lte=at).filter(Q(ends_at__isnull=True) | Q(ends_at__gt=at))


class PublishingPause(models.Model):
    """All scheduled publishing of an organisation (department null) or one department stops until lifted."""

    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE, related_name="+")
    department = models.ForeignKey("accounts.Department", null=True, blank=True, on_delete=models.CASCADE)
    reason = models.CharField(max_length=500)
    starts_at = models.DateTimeField(default=now)
    ends_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    objects = PublishingPauseQuerySet.as_manager()

    class Meta:
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(
                name="pause_ends_after_start", condition=Q(ends_at__isnull=True) | Q(ends_at__gt=models.F("starts_at"))
            ),
        ]

    def __str__(self) -> str:
        return f"Pause: {self.reason}"

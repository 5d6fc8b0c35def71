"""AuditEvent: one row for every state change, written in the same transaction as the change.

Refers to organisations, departments and users by string foreign keys so that `audit` imports no
other app (DESIGN.md). Rows are never edited; issue 6 adds the hash chain and the database trigger.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from smm.scoping import OrgScopedQuerySet


class EventType(models.TextChoices):
    SIGN_IN = "auth.sign_in", "Signed in"
    SIGN_IN_FAILED = "auth.sign_in_failed", "Sign-in failed"
    LOCKOUT = "auth.lockout", "Locked out after failed sign-ins"
    SIGN_OUT = "auth.sign_out", "Signed out"
    SESSION_EXPIRED = "auth.session_expired", "Session ended after inactivity"
    PASSWORD_RESET_REQUESTED = "auth.password_reset_requested", "Password reset requested"
    PASSWORD_CHANGED = "auth.password_changed", "Password changed"
    TWO_FACTOR_ENROLLED = "auth.two_factor_enrolled", "Two-factor authentication enrolled"
    TWO_FACTOR_RESET = "auth.two_factor_reset", "Two-factor authentication reset"
    BACKUP_CODES_REGENERATED = "auth.backup_codes_regenerated", "Backup codes regenerated"
    API_TOKEN_CREATED = "auth.api_token_created", "API token created"
    API_TOKEN_REVOKED = "auth.api_token_revoked", "API token revoked"
    INVITATION_SENT = "member.invitation_sent", "Invitation sent"
    INVITATION_REVOKED = "member.invitation_revoked", "Invitation revoked"
    INVITATION_ACCEPTED = "member.invitation_accepted", "Invitation accepted"
    MEMBER_ROLE_CHANGED = "member.role_changed", "Member's role changed"
    MEMBER_DEPARTMENTS_CHANGED = "member.departments_changed", "Member's departments changed"
    MEMBER_DEACTIVATED = "member.deactivated", "Member deactivated"
    MEMBER_REACTIVATED = "member.reactivated", "Member reactivated"
    DEPARTMENT_CREATED = "department.created", "Department created"
    DEPARTMENT_RENAMED = "department.renamed", "Department renamed"
    DEPARTMENT_ARCHIVED = "department.archived", "Department archived"
    DEPARTMENT_RESTORED = "department.restored", "Department restored"
    CHANNEL_CONNECTED = "channel.connected", "Channel connected"
    CHANNEL_RECONNECTED = "channel.reconnected", "Channel reconnected"
    CHANNEL_DISCONNECTED = "channel.disconnected", "Channel disconnected"
    CHANNEL_NEEDS_REAUTH = "channel.needs_reauth", "Channel needs reconnecting"
    CHANNEL_RATE_LIMITED = "channel.rate_limited", "Channel rate limited"
    CHANNEL_RECOVERED = "channel.recovered", "Channel healthy again"
    CHANNEL_GRANT_CHANGED = "channel.grant_changed", "Channel grant changed"
    CHANNEL_CREDENTIALS_REENCRYPTED = "channel.credentials_reencrypted", "Channel credentials re-encrypted"
    CONVERSATION_ASSIGNED = "conversation.assigned", "Conversation assigned"
    CONVERSATION_STATUS_CHANGED = "conversation.status_changed", "Conversation status changed"
    CONVERSATION_TAGS_CHANGED = "conversation.tags_changed", "Conversation tags changed"
    CONVERSATION_PRIORITY_CHANGED = "conversation.priority_changed", "Conversation priority changed"
    CONVERSATION_REOPENED = "conversation.reopened", "Conversation reopened by a new message"
    NOTE_ADDED = "conversation.note_added", "Internal note added"
    REPLY_CREATED = "reply.created", "Reply written"
    REPLY_APPROVED = "reply.approved", "Reply approved"
    REPLY_REJECTED = "reply.rejected", "Reply rejected"
    REPLY_SENT = "reply.sent", "Reply sent"
    REPLY_FAILED = "reply.failed", "Reply failed"
    REPLY_UNKNOWN = "reply.unknown", "Reply outcome unknown"
    REPLY_RECONCILED = "reply.reconciled", "Reply outcome reconciled"
    REPLY_RETRIED = "reply.retried", "Reply retried"
    INBOUND_QUARANTINED = "inbox.quarantined", "Inbound item quarantined"
    WEBHOOK_REJECTED = "inbox.webhook_rejected", "Webhook rejected (bad signature)"
    INBOX_SETTINGS_CHANGED = "inbox.settings_changed", "Inbox settings changed"
    SAVED_REPLY_CHANGED = "inbox.saved_reply_changed", "Saved reply changed"
    POST_CREATED = "post.created", "Post created"
    POST_EDITED = "post.edited", "Post edited (new revision)"
    POST_SUBMITTED = "post.submitted", "Post submitted for approval"
    POST_APPROVED = "post.approved", "Post approved"
    POST_CHANGES_REQUESTED = "post.changes_requested", "Changes requested on a post"
    POST_WITHDRAWN = "post.withdrawn", "Post withdrawn"
    POST_CANCELLED = "post.cancelled", "Post cancelled"
    POST_SCHEDULED = "post.scheduled", "Post scheduled"
    POST_STATUS_CHANGED = "post.status_changed", "Post status changed"
    POST_BREAK_GLASS = "post.break_glass", "BREAK GLASS: post published without approval"
    POST_COMMENTED = "post.commented", "Comment on a post"
    POST_PUBLISHING = "post.publishing", "Post publishing started"
    POST_FINISHED = "post.finished", "Post publishing finished"
    POST_HELD_LATE = "post.held_late", "Late post held for a decision"
    TARGET_PUBLISHED = "post.target_published", "Post published on a channel"
    TARGET_FAILED = "post.target_failed", "Post failed on a channel"
    TARGET_UNKNOWN = "post.target_unknown", "Post outcome on a channel unknown"
    TARGET_RECONCILED = "post.target_reconciled", "Post outcome on a channel reconciled"
    TARGET_RETRIED = "post.target_retried", "Post retried on a channel"
    PUBLISHING_PAUSED = "publishing.paused", "Publishing paused"
    PUBLISHING_RESUMED = "publishing.resumed", "Publishing resumed"
    PUBLISHING_SETTINGS_CHANGED = "publishing.settings_changed", "Publishing settings changed"
    AUDIT_VIEWED = "audit.viewed", "Audit trail read"
    AUDIT_EXPORTED = "audit.exported", "Audit trail exported"
    AUDIT_CHECKPOINT = "audit.checkpoint", "Audit checkpoint signed"
    AUDIT_PURGED = "audit.purged", "Audit events past retention purged"
    RETENTION_RUN = "retention.run", "Retention run"
    RETENTION_SETTINGS_CHANGED = "retention.settings_changed", "Retention settings changed"
    METRICS_OFFLINE_VOLUME_SET = "metrics.offline_volume_set", "Offline contact volume recorded"
    METRICS_CONTACT_COST_CHANGED = "metrics.contact_cost_changed", "Cost per contact changed"
    CONTACT_ERASED = "contact.erased", "Contact erased"
    LEGAL_HOLD_SET = "legal_hold.set", "Legal hold set"
    LEGAL_HOLD_RELEASED = "legal_hold.released", "Legal hold released"
    RECORDS_REQUEST_EXPORTED = "records.exported", "Records request exported"
    ORGANISATION_CREATED = "organisation.created", "Organisation created"
    ORGANISATION_SETTINGS_CHANGED = "organisation.settings_changed", "Organisation settings changed"


class AuditEventQuerySet(OrgScopedQuerySet):
    # Managers read the trail of their own departments; organisation-wide events are for admins.
    department_path = "department"

    def for_target(self, target_type: str, target_id: object) -> AuditEventQuerySet:
        return self.filter(target_type=target_type, target_id=str(target_id))


class AuditEvent(models.Model):
    # Null only for events about no organisation: a failed sign-in with an unknown e-mail address.
    organisation = models.ForeignKey(
        "accounts.Organisation", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    department = models.ForeignKey(
        "accounts.Department", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    occurred_at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # Frozen at the time: the person's name and e-mail, or "system: <task>" for background work.
    actor_label = models.CharField(max_length=300)
    event_type = models.CharField(max_length=60, choices=EventType.choices)
    target_type = models.CharField(max_length=60, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField(max_length=300, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    # The hash chain (audit/chain.py): position in the organisation's chain (the chain of events with no
    # organisation is its own), the previous event's hash and this event's hash over its canonical form.
    sequence = models.BigIntegerField(null=True, editable=False)
    prev_hash = models.CharField(max_length=64, blank=True, editable=False)
    hash = models.CharField(max_length=64, blank=True, editable=False)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            # The audit viewer's default list: newest first within one organisation, keyset paged.
            models.Index(fields=["organisation", "-occurred_at", "-id"], name="audit_org_time_idx"),
            # Every object's History tab.
            models.Index(fields=["organisation", "target_type", "target_id"], name="audit_org_target_idx"),
        ]
        constraints = [
            # One event per position in a chain: the chain cannot fork.
            models.UniqueConstraint(
                fields=["organisation", "sequence"],
                condition=models.Q(sequence__isnull=False),
                name="audit_unique_sequence_per_chain",
                nulls_distinct=False,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.event_type}"


class AuditChainHead(models.Model):
    """The newest link of one organisation's chain. Writers lock this row, so one chain never forks."""

    organisation = models.OneToOneField(
        "accounts.Organisation", null=True, on_delete=models.PROTECT, related_name="+"
    )
    sequence = models.BigIntegerField(default=0)
    head_hash = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation"], name="audit_one_head_per_chain", nulls_distinct=False),
        ]

    def __str__(self) -> str:
        return f"Chain head {self.organisation_id}: {self.sequence}"


class AuditCheckpointQuerySet(OrgScopedQuerySet):
    pass


class AuditCheckpoint(models.Model):
    """A signed note of a chain's head and length at one moment: deleting the newest events shows."""

    organisation = models.ForeignKey("accounts.Organisation", null=True, on_delete=models.PROTECT, related_name="+")
    sequence = models.BigIntegerField()
    head_hash = models.CharField(max_length=64)
    # HMAC-SHA256 of "org:sequence:head_hash:created_at" with AUDIT_CHECKPOINT_KEY.
    signature = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    objects = AuditCheckpointQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Checkpoint {self.organisation_id}@{self.sequence}"


class AuditAnchorQuerySet(OrgScopedQuerySet):
    pass


class AuditAnchor(models.Model):
    """Where an organisation's chain starts after `manage.py purge_audit` removed its oldest events.

    The last removed event's sequence and hash, signed with AUDIT_CHECKPOINT_KEY like a checkpoint
    (audit/chain.py `anchor_message`), so verification starts here instead of at sequence 1 and someone who
    can write the table cannot move the start. Append-only (trigger from migration 0010).
    """

    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.PROTECT, related_name="+")
    up_to_sequence = models.BigIntegerField()
    anchor_hash = models.CharField(max_length=64)
    events_removed = models.BigIntegerField()
    # Where the exported events are kept (records-management archive reference).
    archive_reference = models.CharField(max_length=300)
    created_at = models.DateTimeField(default=timezone.now)
    # HMAC-SHA256 of chain.anchor_message(...) with AUDIT_CHECKPOINT_KEY.
    signature = models.CharField(max_length=64)

    objects = AuditAnchorQuerySet.as_manager()

    class Meta:
        ordering = ["-up_to_sequence", "-id"]
        constraints = [
            # A chain is cut at a sequence once; verify_audit reads the newest anchor per organisation.
            models.UniqueConstraint(fields=["organisation", "up_to_sequence"], name="audit_one_anchor_per_sequence"),
        ]

    def __str__(self) -> str:
        return f"Anchor {self.organisation_id}@{self.up_to_sequence}"

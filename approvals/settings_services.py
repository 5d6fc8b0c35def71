"""Writes for the publishing settings pages: the organisation's publishing settings, its blocked words,
each department's approval policy and each channel's approval rule. Each write checks the actor's role
and department, saves, and records PUBLISHING_SETTINGS_CHANGED in the same transaction (nothing is
recorded when nothing changed).

Who may do what (all need MANAGE_POLICIES):
- organisation-wide settings (alt text, late posts) and blocked words: organisation-wide members (admins);
- a department's approval policy and the approval rules of its channels: that department's managers, and admins.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q

from accounts.models import Department, Membership
from accounts.roles import MATRIX, Capability, Role
from approvals.models import (
    ApprovalPolicy,
    BlockedWord,
    BlockedWordAction,
    ChannelApprovalRule,
    PublishingSettings,
    default_approver_roles,
)
from audit.models import EventType
from audit.services import diff, record
from channels_app.models import Channel

APPROVALS_MIN, APPROVALS_MAX = 1, 5
# Up to a week late; empty means publish late posts anyway.
HOLD_LATE_MAX_MINUTES = 7 * 24 * 60
PHRASE_MAX = 100
# Roles that can approve posts at all: an approval policy chooses among these.
APPROVER_ROLE_CHOICES = [(r.value, r.label) for r in Role if r in MATRIX[Capability.APPROVE_POSTS]]


# ------------------------------------------------------------------------------------------- access
def _require(actor: Membership | None) -> None:
    if actor is None or not actor.can(Capability.MANAGE_POLICIES):
        raise PermissionDenied("Your role does not allow this.")


def _require_organisation_wide(actor: Membership | None) -> None:
    _require(actor)
    if not actor.sees_all_departments:
        raise PermissionDenied("Only admins change the organisation's publishing settings.")


def can_manage_department(actor: Membership | None, department_id: int | None) -> bool:
    if actor is None or not actor.can(Capability.MANAGE_POLICIES):
        return False
    return actor.sees_all_departments or (department_id is not None and department_id in actor.department_ids)


def _require_department(actor: Membership, obj_organisation_id: int, department_id: int) -> None:
    _require(actor)
    if obj_organisation_id != actor.organisation_id:
        raise PermissionDenied("That belongs to another organisation.")
    if not can_manage_department(actor, department_id):
        raise PermissionDenied("You can change approval rules only for your own departments.")


def _approvals(value, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not APPROVALS_MIN <= value <= APPROVALS_MAX:
        raise ValidationError({field: f"Choose from {APPROVALS_MIN} to {APPROVALS_MAX} approvals."})
    return value


# ------------------------------------------------------------------------------ organisation settings
def settings_for(organisation_id: int) -> PublishingSettings:
    """The organisation's settings row, or an unsaved one holding the defaults."""
    found = PublishingSettings.objects.filter(organisation_id=organisation_id).first()
    return found or PublishingSettings(organisation_id=organisation_id)


def settings_update(
    *, actor: Membership, alt_text_required: bool, hold_late_posts_after_minutes: int | None
) -> PublishingSettings:
    _require_organisation_wide(actor)
    minutes = hold_late_posts_after_minutes
    if minutes is not None and (
        isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= HOLD_LATE_MAX_MINUTES
    ):
        raise ValidationError({
            "hold_late_posts_after_minutes": f"Enter from 1 to {HOLD_LATE_MAX_MINUTES} minutes (a week), "
            "or leave it empty to publish late posts anyway."
        })
    with transaction.atomic():
        current = PublishingSettings.objects.select_for_update().filter(organisation_id=actor.organisation_id).first()
        current = current or PublishingSettings(organisation_id=actor.organisation_id)
        before = {
            "alt_text_required": current.alt_text_required,
            "hold_late_posts_after_minutes": current.hold_late_posts_after_minutes,
        }
        after = {"alt_text_required": bool(alt_text_required), "hold_late_posts_after_minutes": minutes}
        changes = diff(before, after)
        if not changes:
            return current
        current.alt_text_required, current.hold_late_posts_after_minutes = after.values()
        current.save()
        record(organisation=actor.organisation_id, event_type=EventType.PUBLISHING_SETTINGS_CHANGED, actor=actor.user,
               target=current, target_repr="Publishing settings", changes=changes)
    return current


# ------------------------------------------------------------------------------------- blocked words
def blocked_word_add(*, actor: Membership, phrase: str, action: str) -> BlockedWord:
    _require_organisation_wide(actor)
    phrase = " ".join((phrase or "").split())
    errors = {}
    if not phrase:
        errors["phrase"] = "Enter a word or phrase."
    elif len(phrase) > PHRASE_MAX:
        errors["phrase"] = f"A word or phrase can be at most {PHRASE_MAX} characters."
    if action not in BlockedWordAction.values:
        errors["action"] = "Choose whether the word needs review or blocks submission."
    if errors:
        raise ValidationError(errors)
    if BlockedWord.objects.for_organisation(actor.organisation_id).filter(phrase__iexact=phrase).exists():
        raise ValidationError({"phrase": f"“{phrase}” is already on the list."})
    try:
        with transaction.atomic():
            word = BlockedWord.objects.create(organisation_id=actor.organisation_id, phrase=phrase, action=action)
            record(organisation=actor.organisation_id, event_type=EventType.PUBLISHING_SETTINGS_CHANGED,
                   actor=actor.user, target=word, target_repr=f"Blocked word “{phrase}”",
                   changes={"blocked_word": {"from": None, "to": phrase}, "action": action})
    except IntegrityError:  # the same phrase added at the same moment
        raise ValidationError({"phrase": f"“{phrase}” is already on the list."}) from None
    return word


def blocked_word_remove(*, actor: Membership, word_id: int) -> BlockedWord | None:
    """Removes the word; None when it was already gone (removed in another tab)."""
    _require_organisation_wide(actor)
    with transaction.atomic():
        word = BlockedWord.objects.for_organisation(actor.organisation_id).select_for_update().filter(
            pk=word_id
        ).first()
        if word is None:
            return None
        record(organisation=actor.organisation_id, event_type=EventType.PUBLISHING_SETTINGS_CHANGED,
               actor=actor.user, target=word, target_repr=f"Blocked word “{word.phrase}”",
               changes={"blocked_word": {"from": word.phrase, "to": None}, "action": word.action})
        word.delete()
    return word


# ---------------------------------------------------------------------------------- approval policies
def policy_for(department: Department) -> ApprovalPolicy:
    found = ApprovalPolicy.objects.filter(department=department).first()
    return found or ApprovalPolicy(organisation_id=department.organisation_id, department=department)


def possible_approvers(department: Department, roles: list[str]) -> list[Membership]:
    """Active members who could approve this department's posts under these roles (before leaving out the author)."""
    members = (
        Membership.objects.active()
        .filter(organisation_id=department.organisation_id, role__in=roles)
        .filter(Q(role=Role.ADMIN) | Q(departments=department))
        .select_related("user")
        .distinct()
    )
    return [m for m in members if m.can(Capability.APPROVE_POSTS)]


def policy_update(
    *, actor: Membership, department: Department, approvals_required: int, approver_roles: list[str]
) -> ApprovalPolicy:
    _require_department(actor, department.organisation_id, department.pk)
    errors = {}
    try:
        _approvals(approvals_required, "approvals_required")
    except ValidationError as exc:
        errors.update(exc.message_dict)
    allowed = [value for value, _ in APPROVER_ROLE_CHOICES]
    roles = [r for r in allowed if r in set(approver_roles or [])]
    if not roles or set(approver_roles) - set(allowed):
        errors["approver_roles"] = ["Choose at least one role that can approve posts."]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        policy = ApprovalPolicy.objects.select_for_update().filter(department=department).first()
        created = policy is None
        policy = policy or ApprovalPolicy(organisation_id=department.organisation_id, department=department)
        before = {"approvals_required": 1, "approver_roles": default_approver_roles()} if created else {
            "approvals_required": policy.approvals_required, "approver_roles": list(policy.approver_roles),
        }
        changes = diff(before, {"approvals_required": approvals_required, "approver_roles": roles})
        if not changes and not created:
            return policy
        policy.approvals_required, policy.approver_roles = approvals_required, roles
        policy.save()
        record(organisation=actor.organisation_id, department=department, event_type=EventType.PUBLISHING_SETTINGS_CHANGED,
               actor=actor.user, target=policy, target_repr=f"Approval policy for {department.name}",
               changes=changes)
    return policy


# ------------------------------------------------------------------------------ channel approval rules
def channel_rule_update(*, actor: Membership, channel: Channel, approvals_required: int | None) -> ChannelApprovalRule | None:
    """Posts to this channel need at least `approvals_required` approvals; None removes the rule."""
    _require_department(actor, channel.organisation_id, channel.department_id)
    if approvals_required is not None:
        _approvals(approvals_required, "approvals_required")
    with transaction.atomic():
        rule = ChannelApprovalRule.objects.select_for_update().filter(channel=channel).first()
        before = rule.approvals_required if rule else None
        if before == approvals_required:
            return rule
        if approvals_required is None:
            rule.delete()
            rule = None
        elif rule is None:
            rule = ChannelApprovalRule.objects.create(
                organisation_id=channel.organisation_id, channel=channel, approvals_required=approvals_required
            )
        else:
            rule.approvals_required = approvals_required
            rule.save(update_fields=["approvals_required"])
        record(organisation=actor.organisation_id, department=channel.department_id,
               event_type=EventType.PUBLISHING_SETTINGS_CHANGED, actor=actor.user, target=channel,
               target_repr=f"Approval rule for {channel}"[:300],
               changes={"channel_approvals_required": {"from": before, "to": approvals_required}})
    return rule

"""Working a conversation: assign, change status, tag, prioritise, add notes; one at a time or in bulk.

Each write checks the actor's role and scope, changes the row under a lock (or by compare-and-set),
bumps `updated_at` so live lists notice, and records the audit event in the same transaction.
Ingestion lives in inbox.ingest, replies in inbox.replies.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import Department, Membership, Notification, User
from accounts.roles import Capability
from audit.models import EventType
from audit.services import record
from inbox.filters import is_number
from inbox.models import Conversation, ConversationStatus, Note, Priority, Tag

BULK_LIMIT = 500
TAG_MAX_LENGTH = 60


def _require_work(actor: Membership | None) -> None:
    if actor is None or not actor.can(Capability.WORK_INBOX):
        raise PermissionDenied("Your role does not allow this.")


def _locked(actor: Membership, conversation_id: int) -> Conversation:
    """The conversation, locked for this transaction, if the actor may see it (else a 404-style error)."""
    conversation = (
        Conversation.objects.visible_to(actor).select_for_update(of=("self",)).filter(pk=conversation_id).first()
    )
    if conversation is None:
        raise Conversation.DoesNotExist("No such conversation.")
    return conversation


def _touch(conversation: Conversation, fields: list[str]) -> None:
    conversation.updated_at = timezone.now()
    conversation.save(update_fields=[*fields, "updated_at"])


def _audit(actor: Membership, conversation: Conversation, event: EventType, changes: dict) -> None:
    record(
        organisation=conversation.organisation_id,
        department=conversation.department_id,
        event_type=event,
        actor=actor.user,
        target=conversation,
        target_repr=f"Conversation {conversation.pk}",
        changes=changes,
    )


def assignable_members(organisation_id: int, department_id: int):
    """Active members who could work a conversation of this department."""
    return (
        Membership.objects.active()
        .filter(organisation_id=organisation_id)
        .select_related("user")
        .prefetch_related("departments")
        .order_by("user__full_name", "user__email")
    ).filter(_department_member_q(department_id))


def _department_member_q(department_id: int):
    from django.db.models import Q

    from accounts.roles import ORGANISATION_WIDE_ROLES

    return Q(role__in=[r.value for r in ORGANISATION_WIDE_ROLES]) | Q(departments=department_id)


# ------------------------------------------------------------------------------------ one at a time
def conversation_assign(
    *, actor: Membership, conversation_id: int, assignee: User | None = None, department: Department | None = None,
    unassign: bool = False,
) -> Conversation:
    """Assign to a person (who must be able to see it), move to another department, or unassign."""
    _require_work(actor)
    with transaction.atomic():
        conversation = _locked(actor, conversation_id)
        changes: dict = {}
        if department is not None and department.pk != conversation.department_id:
            if department.organisation_id != conversation.organisation_id or department.is_archived:
                raise ValidationError({"department": "Choose a live department of this organisation."})
            changes["department"] = {"from": conversation.department.name, "to": department.name}
            conversation.department = department
            # A person who cannot see the new department cannot stay assigned.
            if conversation.assignee_id and not assignable_members(
                conversation.organisation_id, department.pk
            ).filter(user_id=conversation.assignee_id).exists():
                changes["assignee"] = {"from": conversation.assignee.email, "to": None}
                conversation.assignee = None
        if unassign and conversation.assignee_id:
            changes["assignee"] = {"from": conversation.assignee.email, "to": None}
            conversation.assignee = None
        elif assignee is not None and assignee.pk != conversation.assignee_id:
            if not assignable_members(conversation.organisation_id, conversation.department_id).filter(
                user=assignee
            ).exists():
                raise ValidationError({"assignee": "Choose an active member who works in this conversation's department."})
            changes["assignee"] = {
                "from": conversation.assignee.email if conversation.assignee_id else None,
                "to": assignee.email,
            }
            conversation.assignee = assignee
        if changes:
            _touch(conversation, ["assignee", "department"])
            _audit(actor, conversation, EventType.CONVERSATION_ASSIGNED, changes)
        return conversation


def conversation_set_status(*, actor: Membership, conversation_id: int, status: str) -> Conversation:
    _require_work(actor)
    if status not in ConversationStatus.values:
        raise ValidationError({"status": f"Choose one of: {', '.join(ConversationStatus.values)}."})
    with transaction.atomic():
        conversation = _locked(actor, conversation_id)
        if conversation.status == status:
            return conversation
        before = conversation.status
        conversation.status = status
        now = timezone.now()
        if status == ConversationStatus.CLOSED:
            conversation.closed_at = now
            conversation.waiting_since = None
            # Dealt with: the tone flag ends with it; new inbound that reopens it is assessed afresh.
            conversation.flagged = False
            conversation.risk_terms = []
        else:
            conversation.closed_at = None
        _touch(conversation, ["status", "closed_at", "waiting_since", "flagged", "risk_terms"])
        _audit(actor, conversation, EventType.CONVERSATION_STATUS_CHANGED, {"status": {"from": before, "to": status}})
        return conversation


def conversation_set_priority(*, actor: Membership, conversation_id: int, priority: int | str) -> Conversation:
    _require_work(actor)
    try:
        priority = Priority(int(priority))
    except (TypeError, ValueError):
        raise ValidationError({"priority": "Choose low, normal, high or urgent."}) from None
    with transaction.atomic():
        conversation = _locked(actor, conversation_id)
        if conversation.priority == priority:
            return conversation
        before = Priority(conversation.priority).label
        conversation.priority = priority
        _touch(conversation, ["priority"])
        _audit(
            actor, conversation, EventType.CONVERSATION_PRIORITY_CHANGED, {"priority": {"from": before, "to": priority.label}}
        )
        return conversation


def clean_tag_names(names: Iterable[str]) -> list[str]:
    cleaned: dict[str, str] = {}
    for name in names:
        name = " ".join(str(name).split())
        if not name:
            continue
        if len(name) > TAG_MAX_LENGTH:
            raise ValidationError({"tags": f"A tag can be at most {TAG_MAX_LENGTH} characters."})
        cleaned.setdefault(name.lower(), name)
    return sorted(cleaned.values(), key=str.lower)


def _tags_for(organisation_id: int, names: list[str]) -> list[Tag]:
    """Existing tags by name (any case), creating the missing ones."""
    existing = {t.name.lower(): t for t in Tag.objects.for_organisation(organisation_id)}
    tags = []
    for name in names:
        tag = existing.get(name.lower())
        if tag is None:
            tag, _ = Tag.objects.get_or_create(organisation_id=organisation_id, name=name)
            existing[name.lower()] = tag
        tags.append(tag)
    return tags


def conversation_set_tags(
    *, actor: Membership, conversation_id: int, names: Iterable[str] | None = None,
    add: Iterable[str] = (), remove: Iterable[str] = (),
) -> Conversation:
    """Replace the tags (names) or add/remove some; tags are created on first use."""
    _require_work(actor)
    with transaction.atomic():
        conversation = _locked(actor, conversation_id)
        current = sorted((t.name for t in conversation.tags.all()), key=str.lower)
        if names is not None:
            wanted = clean_tag_names(names)
        else:
            drop = {n.lower() for n in clean_tag_names(remove)}
            wanted = clean_tag_names([*[n for n in current if n.lower() not in drop], *add])
        if [n.lower() for n in wanted] == [n.lower() for n in current]:
            return conversation
        conversation.tags.set(_tags_for(conversation.organisation_id, wanted))
        _touch(conversation, [])
        _audit(actor, conversation, EventType.CONVERSATION_TAGS_CHANGED, {"tags": {"from": current, "to": wanted}})
        return conversation


# ------------------------------------------------------------------------------------------- notes
MENTION = re.compile(r"(?<![\w@])@([\w.+-]+(?:@[\w-]+(?:\.[\w-]+)+)?)")


def mentioned_members(organisation_id: int, text: str) -> list[Membership]:
    """Members named in a note as @email@example.org or @local-part (when it is unambiguous)."""
    tokens = {t.rstrip(".").lower() for t in MENTION.findall(text)}
    if not tokens:
        return []
    members = list(Membership.objects.active().filter(organisation_id=organisation_id).select_related("user"))
    by_email = {m.user.email.lower(): m for m in members}
    by_local: dict[str, list[Membership]] = {}
    for m in members:
        by_local.setdefault(m.user.email.lower().split("@")[0], []).append(m)
    found: dict[int, Membership] = {}
    for token in tokens:
        if token in by_email:
            found[by_email[token].pk] = by_email[token]
        elif len(by_local.get(token, [])) == 1:
            found[by_local[token][0].pk] = by_local[token][0]
    return sorted(found.values(), key=lambda m: m.user.email)


def note_add(*, actor: Membership, conversation_id: int, text: str) -> Note:
    """An internal note; people @mentioned who can see the conversation are notified (in app and by e-mail)."""
    _require_work(actor)
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": "Write the note first."})
    if len(text) > 5000:
        raise ValidationError({"text": "A note can be at most 5,000 characters."})
    with transaction.atomic():
        conversation = _locked(actor, conversation_id)
        note = Note.objects.create(organisation_id=conversation.organisation_id, conversation=conversation,
                                   author=actor.user, text=text)
        can_see = {
            m.pk for m in assignable_members(conversation.organisation_id, conversation.department_id)
        }
        mentioned = [m for m in mentioned_members(conversation.organisation_id, text) if m.pk in can_see]
        note.mentions.set([m.user for m in mentioned])
        Notification.objects.bulk_create(
            Notification(
                organisation_id=conversation.organisation_id,
                user=m.user,
                link=f"/inbox/{conversation.pk}/",
                text=f"{actor.user} mentioned you in a note on conversation {conversation.pk}"[:300],
            )
            for m in mentioned
            if m.user_id != actor.user_id
        )
        _touch(conversation, [])
        _audit(
            actor, conversation, EventType.NOTE_ADDED,
            {"note": note.pk, "mentions": [m.user.email for m in mentioned]},
        )
        recipients = [m.user_id for m in mentioned if m.user_id != actor.user_id]
        if recipients:
            from inbox.tasks import send_mention_emails

            transaction.on_commit(
                lambda: send_mention_emails.delay(note.pk, conversation.organisation_id), robust=True
            )
        return note


# -------------------------------------------------------------------------------------------- bulk
def bulk_apply(
    *, actor: Membership, conversation_ids: Iterable[int], action: str, value: str = "",
) -> int:
    """Assign ("assign": user id, "me" or "none"), tag ("tag": a name) or close many conversations.

    All or nothing, in one transaction; ids the actor cannot see are refused (the answer does not say
    which exist). Returns how many changed.
    """
    _require_work(actor)
    try:
        ids = sorted({int(i) for i in conversation_ids})
    except (TypeError, ValueError):
        raise ValidationError({"conversations": "Choose conversations from the list."}) from None
    if not ids:
        raise ValidationError({"conversations": "Choose at least one conversation."})
    if len(ids) > BULK_LIMIT:
        raise ValidationError({"conversations": f"Choose at most {BULK_LIMIT} conversations at once."})
    if Conversation.objects.visible_to(actor).filter(pk__in=ids).count() != len(ids):
        raise Conversation.DoesNotExist("No such conversation.")
    changed = 0
    with transaction.atomic():
        if action == "close":
            for pk in ids:
                before = Conversation.objects.filter(pk=pk).values_list("status", flat=True).first()
                if before != ConversationStatus.CLOSED:
                    conversation_set_status(actor=actor, conversation_id=pk, status=ConversationStatus.CLOSED)
                    changed += 1
        elif action == "tag":
            names = clean_tag_names([value])
            if not names:
                raise ValidationError({"value": "Name the tag to add."})
            for pk in ids:
                before = Conversation.objects.get(pk=pk).tags.count()
                conversation = conversation_set_tags(actor=actor, conversation_id=pk, add=names)
                changed += conversation.tags.count() != before
        elif action == "assign":
            if value in ("", "none"):
                for pk in ids:
                    before = Conversation.objects.filter(pk=pk).values_list("assignee_id", flat=True).first()
                    conversation_assign(actor=actor, conversation_id=pk, unassign=True)
                    changed += before is not None
            else:
                user_id = actor.user_id if value == "me" else value
                assignee = User.objects.filter(
                    pk=user_id if is_number(str(user_id)) else 0,
                    memberships__organisation_id=actor.organisation_id,
                    memberships__is_active=True,
                ).first()
                if assignee is None:
                    raise ValidationError({"value": "Choose an active member of this organisation."})
                for pk in ids:
                    before = Conversation.objects.filter(pk=pk).values_list("assignee_id", flat=True).first()
                    conversation_assign(actor=actor, conversation_id=pk, assignee=assignee)
                    changed += before != assignee.pk
        else:
            raise ValidationError({"action": "Choose assign, tag or close."})
    return changed


# ----------------------------------------------------------------------------------- notifications
def notifications_mark_read(*, membership: Membership) -> int:
    """Marks the person's own notifications in this organisation read.

    Not audited: read marks are one person's view of their notices, not a change to anyone's work
    (the notes and approvals they point at are audited where they happen).
    """
    return (
        Notification.objects.visible_to(membership)
        .for_user(membership.user_id)
        .unread()
        .update(read_at=timezone.now())
    )

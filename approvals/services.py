"""Writes to posts: compose (revisions), submit, approve, request changes, withdraw, schedule, cancel,
break glass, comments, pauses. Each checks role and scope, moves the post with a compare-and-set on
the status it read (approvals.workflow is the one table of transitions), and audits in the same
transaction; notifications and publishing are queued on commit.

Publishing itself (the sweeper, one post on one channel exactly once) is approvals.publishing.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Department, Membership, Notification
from accounts.roles import Capability, Role
from approvals.models import (
    ApprovalDecision,
    ApprovalPolicy,
    BlockedWord,
    BlockedWordAction,
    ChannelApprovalRule,
    Comment,
    DecisionKind,
    Post,
    PostMedia,
    PostRevision,
    PostStatus,
    PublishingPause,
    PublishingSettings,
    PublishTarget,
    TargetState,
)
from approvals.workflow import EDITABLE, TransitionNotAllowed, transition_for
from audit.models import EventType
from audit.services import record
from channels_app.grants import PUBLISH
from channels_app.models import Channel, ChannelStatus
from channels_app.text import validate_text

TITLE_MAX = 200


# ------------------------------------------------------------------------------------------ content
@dataclass
class Draft:
    """What a composer sends: the content of one revision."""

    title: str
    body: str = ""
    link: str = ""
    channel_ids: list[int] = field(default_factory=list)
    # {"x": "...", "channel:12": "..."}
    variants: dict[str, str] = field(default_factory=dict)
    # [{"id": media id, "alt_text": "..."}]
    media: list[dict] = field(default_factory=list)
    notes: str = ""


def content_hash(revision_fields: dict) -> str:
    """sha256 over the canonical JSON of what an approver approves (not the internal notes)."""
    canonical = json.dumps(
        {k: revision_fields[k] for k in ("title", "body", "link", "channel_ids", "variants", "media")},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def text_for(revision: PostRevision, channel: Channel) -> str:
    """The text this revision publishes on this channel: channel override, else platform override, else body."""
    variants = revision.variants or {}
    text = variants.get(f"channel:{channel.pk}") or variants.get(channel.platform) or revision.body
    if revision.link and revision.link not in text:
        text = f"{text}\n{revision.link}".strip()
    return text


def settings_for(organisation_id: int) -> PublishingSettings:
    found = PublishingSettings.objects.filter(organisation_id=organisation_id).first()
    return found or PublishingSettings(organisation_id=organisation_id)


def publishable_channels(actor: Membership):
    """Channels this member may publish to (live, in their scope, with the publish grant)."""
    from channels_app.grants import default_grants
    from channels_app.models import ChannelUserObjectPermission

    channels = list(Channel.objects.visible_to(actor).connected().select_related("department"))
    # Explicit grants of this person, for all these channels in one query (not one per channel).
    granted = set(
        ChannelUserObjectPermission.objects.filter(
            user_id=actor.user_id, content_object__in=channels, permission__codename=PUBLISH
        ).values_list("content_object_id", flat=True)
    )
    return [c for c in channels if c.pk in granted or PUBLISH in default_grants(actor, c)]


@dataclass
class Check:
    """The verdict on a revision's content: errors block submission; review_terms force an approver to look."""

    errors: dict[str, list[str]] = field(default_factory=dict)
    review_terms: list[str] = field(default_factory=list)
    blocked_terms: list[str] = field(default_factory=list)

    def add(self, key: str, message: str) -> None:
        self.errors.setdefault(key, []).append(message)

    @property
    def ok(self) -> bool:
        return not self.errors


def _word_pattern(phrases: Iterable[str]) -> re.Pattern | None:
    cleaned = sorted({" ".join(p.lower().split()) for p in phrases if p.strip()}, key=len, reverse=True)
    if not cleaned:
        return None
    alternatives = "|".join(r"\s+".join(map(re.escape, p.split())) for p in cleaned)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def check_revision(revision: PostRevision, channels: list[Channel]) -> Check:
    """Per-platform text rules, images and alt text, blocked words: what submission requires."""
    check = Check()
    if not revision.channel_ids:
        check.add("channels", "Choose at least one channel.")
    settings = settings_for(revision.organisation_id)
    has_image = bool(revision.media)
    if settings.alt_text_required:
        for index, item in enumerate(revision.media, start=1):
            if not (item.get("alt_text") or "").strip():
                check.add("media", f"Image {index} needs alt text describing it for people who cannot see it.")
    for channel in channels:
        verdict = validate_text(channel.platform, text_for(revision, channel), has_image=has_image)
        for error in verdict.errors:
            check.add(f"channel:{channel.pk}", f"{channel}: {error}")
    words = list(BlockedWord.objects.for_organisation(revision.organisation_id).values_list("phrase", "action"))
    texts = " \n".join([revision.title, revision.body, *revision.variants.values()])
    for action in (BlockedWordAction.BLOCK, BlockedWordAction.REVIEW):
        pattern = _word_pattern(p for p, a in words if a == action)
        found = sorted({" ".join(m.lower().split()) for m in pattern.findall(texts)}) if pattern else []
        if action == BlockedWordAction.BLOCK and found:
            check.blocked_terms = found
            check.add("body", f"Remove blocked words before submitting: {', '.join(found)}.")
        elif found:
            check.review_terms = found
    return check


# ------------------------------------------------------------------------------------------- helpers
def _require(actor: Membership | None, capability: Capability) -> None:
    if actor is None or not actor.can(capability):
        raise PermissionDenied("Your role does not allow this.")


def _locked(actor: Membership, post_id: int) -> Post:
    post = Post.objects.visible_to(actor).select_for_update(of=("self",)).filter(pk=post_id).first()
    if post is None:
        raise Post.DoesNotExist("No such post.")
    return post


def _move(post: Post, action: str, **fields) -> str:
    """Compare-and-set: from the status read to the one the table gives; raises if someone moved it first."""
    to = fields.pop("status", None) or transition_for(action, post.status)
    now = timezone.now()
    changed = Post.objects.filter(pk=post.pk, status=post.status).update(status=to, updated_at=now, **fields)
    if not changed:
        raise TransitionNotAllowed(action, Post.objects.get(pk=post.pk).status)
    before = post.status
    post.status = to
    post.updated_at = now
    for key, value in fields.items():
        setattr(post, key, value)
    return before


def _audit(actor: Membership | None, post: Post, event: EventType, changes: dict) -> None:
    record(
        organisation=post.organisation_id,
        department=post.department_id,
        event_type=event,
        actor=actor.user if actor is not None else None,
        target=post,
        target_repr=f"Post {post.pk}: {post.title}"[:300],
        changes=changes,
    )


def notify(post: Post, users: Iterable, text: str, *, kind: str) -> None:
    """In-app notification rows now; the e-mail goes from a task after commit."""
    from approvals.tasks import send_post_emails

    recipients = sorted({u.pk for u in users if u is not None})
    if not recipients:
        return
    link = f"/posts/{post.pk}/"
    Notification.objects.bulk_create(
        Notification(organisation_id=post.organisation_id, user_id=uid, text=text[:300], link=link) for uid in recipients
    )
    transaction.on_commit(
        lambda: send_post_emails.delay(post.pk, post.organisation_id, recipients, kind, text[:300]), robust=True
    )


def approvers_for(post: Post) -> list:
    """People who may approve this post: active members of its organisation in an approver role of the
    department's policy who work in the post's department (admins everywhere); never the post's author nor
    the author of its current revision (an admin who edits a post cannot then approve their own words)."""
    policy = ApprovalPolicy.objects.filter(department_id=post.department_id).first()
    roles = policy.approver_roles if policy else [Role.ADMIN, Role.APPROVER]
    members = (
        Membership.objects.active()
        .filter(organisation_id=post.organisation_id, role__in=roles)
        .filter(Q(role=Role.ADMIN) | Q(departments=post.department_id))
        .select_related("user")
        .distinct()
    )
    # Separation of duties: not the post's author, nor whoever wrote the revision under review.
    writers = {post.author_id, post.current_revision.author_id if post.current_revision_id else None}
    return [m.user for m in members if m.user_id not in writers and m.can(Capability.APPROVE_POSTS)]


def actions_for(membership: Membership, post: Post, *, approvers: list | None = None,
                approved_by: set[int] | None = None) -> set[str]:
    """The workflow actions this member may take on this post now, by the same rules the services enforce:
    the state machine, their role, and separation of duties (pages and the API offer exactly these)."""
    from approvals.workflow import ACTIONS, allowed_actions

    actions = {a for a in allowed_actions(post.status) if membership.can(ACTIONS[a].capability)}
    if post.current_revision_id is None:
        return actions - {"submit", "approve", "request_changes", "schedule", "break_glass"}
    deciders = {u.pk for u in (approvers if approvers is not None else approvers_for(post))}
    if membership.user_id not in deciders:
        actions -= {"approve", "request_changes"}
        if not membership.can(Capability.BREAK_GLASS):
            actions.discard("schedule")
    if approved_by is not None and membership.user_id in approved_by:
        actions.discard("approve")
    return actions


def approvals_required(post: Post, revision: PostRevision) -> int:
    policy = ApprovalPolicy.objects.filter(department_id=post.department_id).first()
    needed = policy.approvals_required if policy else 1
    rules = ChannelApprovalRule.objects.filter(channel_id__in=revision.channel_ids).values_list(
        "approvals_required", flat=True
    )
    return max([needed, *rules])


def _channels(actor: Membership, channel_ids: Iterable[int], department: Department) -> list[Channel]:
    ids = sorted({int(i) for i in channel_ids})
    allowed = {c.pk: c for c in publishable_channels(actor)}
    missing = [i for i in ids if i not in allowed]
    if missing:
        raise ValidationError({"channels": "Choose channels you may publish to."})
    return [allowed[i] for i in ids]


def _media(post: Post, items: list[dict]) -> list[dict]:
    ids = [int(item.get("id", 0)) for item in items]
    files = {m.pk: m for m in PostMedia.objects.filter(post=post, pk__in=ids)}
    if len(files) != len(set(ids)):
        raise ValidationError({"media": "An image is missing; upload it again."})
    return [
        {"id": m_id, "alt_text": " ".join(str(item.get("alt_text") or "").split())[:1000], "sha256": files[m_id].sha256}
        for m_id, item in zip(ids, items, strict=True)
    ]


def _new_revision(actor: Membership, post: Post, draft: Draft, channels: list[Channel]) -> PostRevision:
    title = " ".join((draft.title or "").split())
    if not title:
        raise ValidationError({"title": "Give the post an internal title."})
    if len(title) > TITLE_MAX:
        raise ValidationError({"title": f"A title can be at most {TITLE_MAX} characters."})
    known = {"x", "facebook", "instagram", "mastodon", "bluesky"} | {f"channel:{c.pk}" for c in channels}
    variants = {k: v for k, v in (draft.variants or {}).items() if str(v).strip()}
    if set(variants) - known:
        raise ValidationError({"variants": "A variant names a platform or channel this post does not go to."})
    fields = {
        "title": title,
        "body": (draft.body or "").strip(),
        "link": (draft.link or "").strip(),
        "channel_ids": [c.pk for c in channels],
        "variants": variants,
        "media": _media(post, draft.media or []),
    }
    current = post.current_revision
    digest = content_hash(fields)
    notes = (draft.notes or "").strip()
    if current is not None and current.content_hash == digest:
        # Same content (what approvals approve): no new revision. Internal notes are not content, so a change
        # to them is kept on the current revision and never sends an approved post back to review.
        if current.notes != notes:
            PostRevision.objects.filter(pk=current.pk).update(notes=notes)
            current.notes = notes
            current.notes_changed = True
        return current
    number = (current.number if current else 0) + 1
    revision = PostRevision.objects.create(
        organisation_id=post.organisation_id, post=post, number=number, notes=(draft.notes or "").strip(),
        content_hash=digest, author=actor.user, **fields,
    )
    Post.objects.filter(pk=post.pk).update(current_revision=revision, title=title, updated_at=timezone.now())
    post.current_revision = revision
    post.title = title
    return revision


# ------------------------------------------------------------------------------------------ compose
def post_create(*, actor: Membership, department: Department, draft: Draft, scheduled_at: datetime | None = None) -> Post:
    _require(actor, Capability.EDIT_POSTS)
    _check_when(scheduled_at)
    if department.organisation_id != actor.organisation_id or department.is_archived:
        raise ValidationError({"department": "Choose a live department of your organisation."})
    if not actor.sees_all_departments and department.pk not in actor.department_ids:
        raise PermissionDenied("You can write posts only for your own departments.")
    channels = _channels(actor, draft.channel_ids, department)
    with transaction.atomic():
        post = Post.objects.create(
            organisation_id=actor.organisation_id, department=department, author=actor.user,
            title=" ".join((draft.title or "").split())[:TITLE_MAX] or "Untitled", scheduled_at=scheduled_at,
        )
        revision = _new_revision(actor, post, draft, channels)
        changes = {"revision": revision.number, "hash": revision.content_hash}
        if scheduled_at is not None:
            changes["scheduled_at"] = _iso(scheduled_at)
        _audit(actor, post, EventType.POST_CREATED, changes)
    return post


def draft_from(revision: PostRevision, **changes) -> Draft:
    """A Draft of the revision's content, with the given fields replaced (PATCH keeps what it does not name)."""
    fields = {
        "title": revision.title,
        "body": revision.body,
        "link": revision.link,
        "channel_ids": list(revision.channel_ids),
        "variants": dict(revision.variants or {}),
        "media": [{"id": m["id"], "alt_text": m.get("alt_text", "")} for m in revision.media or []],
        "notes": revision.notes,
    }
    fields.update(changes)
    return Draft(**fields)


def post_update(*, actor: Membership, post_id: int, draft: Draft, scheduled_at: datetime | None | str = "keep",
                discard_media: Iterable[int] = ()) -> Post:
    """Saves a new revision (autosave too). After submission it goes back to review and its approvals lapse.
    discard_media: images the composer removed; those no revision uses are deleted, in the same one event."""
    from approvals.media import discard_unused

    _require(actor, Capability.EDIT_POSTS)
    with transaction.atomic():
        post = _locked(actor, post_id)
        changes = revise(actor, post, draft, scheduled_at=scheduled_at)
        discard = [int(pk) for pk in discard_media]
        if discard and (discarded := discard_unused(post, discard)):
            changes["images_discarded"] = discarded
        if changes:
            _audit(actor, post, EventType.POST_EDITED, changes)
    return post


def revise(actor: Membership, post: Post, draft: Draft, *, scheduled_at: datetime | None | str = "keep") -> dict:
    """The write of post_update on a post the caller has locked (select_for_update), WITHOUT its audit event:
    returns what changed ({} for nothing) so the caller records it in the one event of its action (post_update,
    approvals.media.media_add)."""
    if post.status not in EDITABLE:
        raise TransitionNotAllowed("edit", post.status)
    channels = _channels(actor, draft.channel_ids, post.department)
    before = post.current_revision_id
    revision = _new_revision(actor, post, draft, channels)
    changes: dict = {}
    if (
        scheduled_at != "keep"
        and scheduled_at != post.scheduled_at
        and revision.pk == before
        and post.status in (PostStatus.APPROVED, PostStatus.SCHEDULED)
    ):
        # Moving an approved post's time is scheduling: an approver does it (post_schedule), not an edit.
        raise PermissionDenied("Ask an approver to change the time of an approved post.")
    if scheduled_at != "keep" and scheduled_at != post.scheduled_at:
        _check_when(scheduled_at)
        changes["scheduled_at"] = {"from": _iso(post.scheduled_at), "to": _iso(scheduled_at)}
        Post.objects.filter(pk=post.pk).update(scheduled_at=scheduled_at)
        post.scheduled_at = scheduled_at
    if revision.pk == before and getattr(revision, "notes_changed", False):
        changes["notes"] = "changed"
    if revision.pk == before:
        return changes
    changes["revision"] = revision.number
    changes["hash"] = revision.content_hash
    if post.status not in (PostStatus.DRAFT, PostStatus.CHANGES_REQUESTED):
        changes["approvals_cleared"] = True
        changes["status"] = {"from": post.status, "to": transition_for("edit", post.status)}
        _move(post, "edit", approved_at=None, needs_new_time=False)
        # Back in review: nothing of it may be published until it is approved again.
        PublishTarget.objects.filter(post=post, state=TargetState.PENDING).delete()
    elif post.status == PostStatus.CHANGES_REQUESTED:
        changes["status"] = {"from": post.status, "to": transition_for("edit", post.status)}
        _move(post, "edit")
    return changes


MAX_YEARS_AHEAD = 5


def _check_when(value, field: str = "scheduled_at") -> None:
    """Times a person can mean: not before 2000, not more than five years ahead (this also keeps every stored
    time readable in every time zone: year 9999 in UTC-5 would overflow)."""
    if not isinstance(value, datetime):
        return
    if value.year < 2000 or value > timezone.now() + timedelta(days=365 * MAX_YEARS_AHEAD + 2):
        raise ValidationError({field: "Choose a date within the next five years."})


def _iso(value) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


def post_submit(*, actor: Membership, post_id: int) -> Post:
    _require(actor, Capability.EDIT_POSTS)
    with transaction.atomic():
        post = _locked(actor, post_id)
        transition_for("submit", post.status)
        revision = post.current_revision
        channels = list(Channel.objects.filter(pk__in=revision.channel_ids, organisation_id=post.organisation_id))
        check = check_revision(revision, channels)
        if not check.ok:
            raise ValidationError(check.errors)
        _move(post, "submit", submitted_at=timezone.now())
        _audit(actor, post, EventType.POST_SUBMITTED, {
            "revision": revision.number, "hash": revision.content_hash, "review_terms": check.review_terms,
        })
        text = f"{actor.user} submitted “{post.title}” for approval"
        if check.review_terms:
            text += f" (contains: {', '.join(check.review_terms)})"
        notify(post, approvers_for(post), text, kind="submitted")
    return post


def approval_count(post: Post) -> int:
    revision = post.current_revision
    return ApprovalDecision.objects.filter(
        revision=revision, revision_hash=revision.content_hash, decision=DecisionKind.APPROVED
    ).values("approver").distinct().count()


def post_approve(
    *, actor: Membership, post_id: int, comment: str = "", publish_now: bool = False,
    scheduled_at: datetime | None = None,
) -> Post:
    """One approval of the current revision. Enough distinct approvals make the post approved, and
    scheduled when it has a time (or goes as soon as approved). A time that passed in review needs a
    choice: publish now, or a new time."""
    _require(actor, Capability.APPROVE_POSTS)
    with transaction.atomic():
        post = _locked(actor, post_id)
        transition_for("approve", post.status)
        if actor.user_id in (post.author_id, post.current_revision.author_id):
            raise PermissionDenied("You wrote this post or its latest revision: someone else must approve it.")
        if actor.user_id not in {u.pk for u in approvers_for(post)}:
            raise PermissionDenied("The department's approval policy does not let your role approve posts.")
        revision = post.current_revision
        if ApprovalDecision.objects.filter(revision=revision, approver=actor.user, decision=DecisionKind.APPROVED).exists():
            raise ValidationError({"decision": "You have already approved this revision."})
        ApprovalDecision.objects.create(
            organisation_id=post.organisation_id, post=post, revision=revision, revision_hash=revision.content_hash,
            approver=actor.user, decision=DecisionKind.APPROVED, comment=(comment or "").strip(),
        )
        have, need = approval_count(post), approvals_required(post, revision)
        # One event for the whole approval: the decision, and when it is the last one needed, the status it moved
        # the post to (approved, or scheduled with its time and targets).
        changes = {"revision": revision.number, "hash": revision.content_hash, "approvals": f"{have} of {need}"}
        if have < need:
            _audit(actor, post, EventType.POST_APPROVED, changes)
            return post
        now = timezone.now()
        when = scheduled_at or post.scheduled_at
        if publish_now:
            when = now
        elif scheduled_at is None and post.scheduled_at is not None and post.scheduled_at < now:
            # The time passed while in review: approved, but it waits for a choice (publish now / new time).
            before = _move(post, "approve", approved_at=now, needs_new_time=True)
            changes.update(status={"from": before, "to": post.status}, needs_new_time=True)
            _audit(actor, post, EventType.POST_APPROVED, changes)
            notify(post, [post.author], f"“{post.title}” was approved; its time had passed, so it waits for a new time",
                   kind="approved")
            return post
        if scheduled_at is not None and scheduled_at < now:
            raise ValidationError({"scheduled_at": "Choose a time in the future, or publish now."})
        _check_when(scheduled_at)
        before = _move(post, "approve", approved_at=now, needs_new_time=False)
        scheduled = _schedule(post, when or now)
        changes.update(scheduled, status={"from": before, "to": post.status})
        _audit(actor, post, EventType.POST_APPROVED, changes)
        notify(post, [post.author], f"“{post.title}” was approved", kind="approved")
    return post


def _schedule(post: Post, when: datetime) -> dict:
    """approved/scheduled → scheduled at `when`, with one pending target per channel of the revision. Audits
    nothing: it returns what it changed for the one event of the action that scheduled (approve, schedule,
    break glass)."""
    before, before_at = post.status, post.scheduled_at
    _move(post, "schedule", scheduled_at=when, needs_new_time=False, held_late=False)
    revision = post.current_revision
    existing = set(PublishTarget.objects.filter(post=post).values_list("channel_id", flat=True))
    PublishTarget.objects.filter(post=post).exclude(channel_id__in=revision.channel_ids).filter(
        state=TargetState.PENDING
    ).delete()
    PublishTarget.objects.bulk_create(
        PublishTarget(organisation_id=post.organisation_id, post=post, channel_id=cid, revision=revision)
        for cid in revision.channel_ids
        if cid not in existing
    )
    PublishTarget.objects.filter(post=post, state=TargetState.PENDING).update(revision=revision)
    return {
        "status": {"from": before, "to": PostStatus.SCHEDULED},
        "scheduled_at": {"from": _iso(before_at), "to": when.isoformat()},
        "channels": list(revision.channel_ids),
    }


def post_schedule(*, actor: Membership, post_id: int, scheduled_at: datetime | None) -> Post:
    """Give an approved post its time (None: now), or move a scheduled post's time."""
    _require(actor, Capability.APPROVE_POSTS)
    now = timezone.now()
    _check_when(scheduled_at)
    if scheduled_at is not None and scheduled_at < now:
        raise ValidationError({"scheduled_at": "Choose a time in the future, or publish now."})
    with transaction.atomic():
        post = _locked(actor, post_id)
        transition_for("schedule", post.status)
        if not actor.can(Capability.BREAK_GLASS) and actor.user_id not in {u.pk for u in approvers_for(post)}:
            raise PermissionDenied("Only the department's approvers (not the post's writers) can schedule it.")
        revision = post.current_revision
        changes = _schedule(post, scheduled_at or now)
        _audit(actor, post, EventType.POST_SCHEDULED, {**changes, "revision": revision.number,
                                                       "hash": revision.content_hash})
    return post


def post_request_changes(*, actor: Membership, post_id: int, comment: str) -> Post:
    _require(actor, Capability.APPROVE_POSTS)
    comment = (comment or "").strip()
    if not comment:
        raise ValidationError({"comment": "Say what needs to change."})
    with transaction.atomic():
        post = _locked(actor, post_id)
        transition_for("request_changes", post.status)
        if actor.user_id in (post.author_id, post.current_revision.author_id):
            raise PermissionDenied("You wrote this post or its latest revision: someone else must review it.")
        if actor.user_id not in {u.pk for u in approvers_for(post)}:
            raise PermissionDenied("The department's approval policy does not let your role review posts.")
        revision = post.current_revision
        ApprovalDecision.objects.create(
            organisation_id=post.organisation_id, post=post, revision=revision, revision_hash=revision.content_hash,
            approver=actor.user, decision=DecisionKind.CHANGES_REQUESTED, comment=comment,
        )
        Comment.objects.create(organisation_id=post.organisation_id, post=post, revision=revision, author=actor.user,
                               text=comment)
        _move(post, "request_changes")
        _audit(actor, post, EventType.POST_CHANGES_REQUESTED, {
            "revision": revision.number, "hash": revision.content_hash, "comment": comment[:500],
        })
        notify(post, [post.author], f"{actor.user} asked for changes to “{post.title}”", kind="changes_requested")
    return post


def post_withdraw(*, actor: Membership, post_id: int) -> Post:
    _require(actor, Capability.EDIT_POSTS)
    with transaction.atomic():
        post = _locked(actor, post_id)
        before = _move(post, "withdraw", approved_at=None, needs_new_time=False)
        PublishTarget.objects.filter(post=post, state=TargetState.PENDING).delete()
        _audit(actor, post, EventType.POST_WITHDRAWN, {"status": {"from": before, "to": post.status}})
    return post


def post_cancel(*, actor: Membership, post_id: int) -> Post:
    _require(actor, Capability.EDIT_POSTS)
    with transaction.atomic():
        post = _locked(actor, post_id)
        before = _move(post, "cancel")
        PublishTarget.objects.filter(post=post, state=TargetState.PENDING).delete()
        _audit(actor, post, EventType.POST_CANCELLED, {"status": {"from": before, "to": post.status}})
    return post


def post_break_glass(*, actor: Membership, post_id: int, reason: str) -> Post:
    """An admin publishes now without approval; audited prominently, the department's approvers told."""
    _require(actor, Capability.BREAK_GLASS)
    reason = " ".join((reason or "").split())
    if len(reason) < 10:
        raise ValidationError({"reason": "Say why this cannot wait for approval (at least 10 characters)."})
    with transaction.atomic():
        post = _locked(actor, post_id)
        transition_for("break_glass", post.status)
        revision = post.current_revision
        channels = list(Channel.objects.filter(pk__in=revision.channel_ids, organisation_id=post.organisation_id))
        check = check_revision(revision, channels)
        if check.blocked_terms or any(k != "body" for k in check.errors):
            raise ValidationError(check.errors)
        if check.review_terms:
            # Words the organisation says must be reviewed cannot go out on the admin's word alone.
            raise ValidationError({"body": f"This post contains words that must be reviewed by an approver: "
                                           f"{', '.join(check.review_terms)}. Submit it for approval instead."})
        before = post.status
        Post.objects.filter(pk=post.pk).update(break_glass_reason=reason[:500], break_glass_by=actor.user)
        post.break_glass_reason, post.break_glass_by = reason[:500], actor.user
        if post.status != PostStatus.SCHEDULED:
            _move(post, "break_glass", status=PostStatus.APPROVED, approved_at=timezone.now())
        scheduled = _schedule(post, timezone.now())
        # One event: the reason, the status it ended in and the time it goes (what the schedule changed).
        _audit(actor, post, EventType.POST_BREAK_GLASS, {
            **scheduled, "reason": reason[:500], "status": {"from": before, "to": post.status},
            "revision": revision.number, "hash": revision.content_hash,
        })
        # The department's approvers (not the admin who broke the glass).
        notify(post, [u for u in approvers_for(post) if u.pk != actor.user_id],
               f"{actor.user} published “{post.title}” without approval: {reason}", kind="break_glass")
    return post


# ------------------------------------------------------------------------------------------ comments
def comment_add(*, actor: Membership, post_id: int, text: str, parent_id: int | None = None) -> Comment:
    """A comment on the post's current revision (threaded); @mentioned colleagues are notified."""
    from inbox.services import mentioned_members  # the same @mention rules as inbox notes

    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": "Write the comment first."})
    if len(text) > 5000:
        raise ValidationError({"text": "A comment can be at most 5,000 characters."})
    with transaction.atomic():
        post = _locked(actor, post_id)
        parent = None
        if parent_id is not None:
            parent = Comment.objects.filter(post=post, pk=parent_id).first()
            if parent is None:
                raise ValidationError({"parent": "Reply to a comment on this post."})
        comment = Comment.objects.create(
            organisation_id=post.organisation_id, post=post, revision=post.current_revision,
            parent=parent, author=actor.user, text=text,
        )
        can_see = {
            m.user_id for m in Membership.objects.active().filter(organisation_id=post.organisation_id)
            .filter(Q(role=Role.ADMIN) | Q(departments=post.department_id))
        }
        mentioned = [m.user for m in mentioned_members(post.organisation_id, text) if m.user_id in can_see]
        comment.mentions.set(mentioned)
        _audit(actor, post, EventType.POST_COMMENTED, {"comment": comment.pk, "mentions": [u.email for u in mentioned]})
        notify(post, [u for u in mentioned if u.pk != actor.user_id],
               f"{actor.user} mentioned you on “{post.title}”", kind="mention")
    return comment


# -------------------------------------------------------------------------------------------- pauses
def pause_start(
    *, actor: Membership, reason: str, department: Department | None = None, ends_at: datetime | None = None,
) -> PublishingPause:
    _require(actor, Capability.MANAGE_POLICIES)
    reason = " ".join((reason or "").split())
    if not reason:
        raise ValidationError({"reason": "Say why publishing is paused."})
    if department is not None:
        if department.organisation_id != actor.organisation_id:
            raise PermissionDenied("That belongs to another organisation.")
        if not actor.sees_all_departments and department.pk not in actor.department_ids:
            raise PermissionDenied("You can pause only your own departments.")
    elif not actor.sees_all_departments:
        raise PermissionDenied("Only an admin can pause the whole organisation.")
    now = timezone.now()
    if ends_at is not None and ends_at <= now:
        raise ValidationError({"ends_at": "The end must be in the future."})
    _check_when(ends_at, "ends_at")
    with transaction.atomic():
        pause = PublishingPause.objects.create(
            organisation_id=actor.organisation_id, department=department, reason=reason[:500], starts_at=now,
            ends_at=ends_at, created_by=actor.user,
        )
        record(
            organisation=actor.organisation_id, department=department.pk if department else None,
            event_type=EventType.PUBLISHING_PAUSED, actor=actor.user, target=pause,
            changes={"reason": reason[:500], "department": department.name if department else "all",
                     "ends_at": _iso(ends_at)},
        )
    return pause


def pause_lift(*, actor: Membership, pause_id: int) -> PublishingPause:
    _require(actor, Capability.MANAGE_POLICIES)
    with transaction.atomic():
        pause = PublishingPause.objects.for_organisation(actor.organisation_id).select_for_update().filter(
            pk=pause_id
        ).first()
        if pause is None:
            raise PublishingPause.DoesNotExist("No such pause.")
        if pause.department_id is None and not actor.sees_all_departments:
            raise PermissionDenied("Only an admin can lift an organisation-wide pause.")
        if pause.department_id and not actor.sees_all_departments and pause.department_id not in actor.department_ids:
            raise PublishingPause.DoesNotExist("No such pause.")
        if pause.lifted_at is not None:
            return pause
        pause.lifted_at, pause.lifted_by = timezone.now(), actor.user
        pause.save(update_fields=["lifted_at", "lifted_by"])
        record(
            organisation=actor.organisation_id, department=pause.department_id,
            event_type=EventType.PUBLISHING_RESUMED, actor=actor.user, target=pause,
            changes={"reason": pause.reason},
        )
    return pause


def paused(post: Post, at: datetime | None = None) -> PublishingPause | None:
    return (
        PublishingPause.objects.for_organisation(post.organisation_id)
        .active(at)
        .filter(Q(department__isnull=True) | Q(department_id=post.department_id))
        .first()
    )


def channel_is_publishable(channel: Channel) -> bool:
    return channel.disconnected_at is None and channel.status in (ChannelStatus.ACTIVE, ChannelStatus.RATE_LIMITED)

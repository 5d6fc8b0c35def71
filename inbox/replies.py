"""Replies, sent exactly once (issue 4 §3), reply approval, and the out-of-hours automatic reply (§2).

A reply is saved (pending, or awaiting approval) with its audit event in one transaction; after commit a task
sends it (inbox.tasks.replies). The task claims the reply with a conditional UPDATE, so however many workers get
the same id only one calls the platform, and keeps the platform's id the moment the platform confirms.

States (ReplyState; DESIGN.md):
    awaiting_approval → pending (approved) | rejected
    pending → sending (claimed)
    sending → sent | failed | unknown | pending (transient failure or rate limit: retried later)
    unknown → sent (found on the platform) | pending (not found: sent again) | failed (duplicate not found)
    failed → pending (the retry button)
An unknown outcome (the request may have reached the platform) is never resent blindly: the platform is read
first (connector.find_reply / find_dm).

Choices made here:
- An author never approves their own reply, admins included (four eyes). Approving needs APPROVE_REPLIES in the
  conversation's department, not the channel's reply grant (managers approve without working the inbox).
- A reply in a direct-message conversation is always a direct message. A direct message from a public
  conversation only where the platform lets us write first (X, Mastodon, Bluesky); Facebook and Instagram let a
  Page answer only inside a conversation the person opened.
- A sent reply clears the conversation's waiting time (unless someone wrote again after the reply was written)
  and sets the first response time; it does not change the status. The automatic out-of-hours reply does
  neither: signposting is not an answer, so the service-level clock keeps running.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import Membership, Notification
from accounts.roles import ORGANISATION_WIDE_ROLES, Capability
from audit.models import EventType
from audit.services import record
from channels_app.backoff import backoff
from channels_app.grants import REPLY, has_grant
from channels_app.models import ChannelStatus
from channels_app.text import validate_text
from inbox.models import (
    Conversation,
    ConversationKind,
    InboxPolicy,
    Message,
    MessageDirection,
    OutOfHoursReply,
    Reply,
    ReplyMode,
    ReplyState,
)

log = logging.getLogger(__name__)

# Claims of one reply (sends, including resends after a reconcile found nothing) before it fails for good.
MAX_ATTEMPTS = 5
# A reply still "sending" after this long lost its worker (killed, redeployed): its outcome is unknown.
STUCK_AFTER = timedelta(minutes=5)
# An unknown outcome the platform still cannot confirm after this long fails, asking a person to check the
# platform before retrying (the retry button), rather than being re-read every minute for ever.
UNKNOWN_GIVE_UP_AFTER = timedelta(hours=24)
# Wait before reading the platform after an ambiguous failure, so a post still being stored shows up.
RECONCILE_DELAY_SECONDS = 5
# Limits the text rules (channels_app.text) do not cover: comments and direct messages.
DM_FROM_PUBLIC = frozenset({"x", "mastodon", "bluesky"})
FACEBOOK_COMMENT_LIMIT = 8000
DM_LIMITS = {"x": 10000, "facebook": 2000, "instagram": 1000, "bluesky": 1000}
DUPLICATE_MARK = "The platform says this was already posted"


# ---------------------------------------------------------------------------------------- checks
def _require(actor: Membership | None, capability: Capability) -> None:
    if actor is None or not actor.can(capability):
        raise PermissionDenied("Your role does not allow this.")


def effective_mode(conversation: Conversation, mode: str) -> str:
    if mode not in ReplyMode.values:
        raise ValidationError({"mode": "Choose a public reply or a direct message."})
    # A direct-message conversation has nothing public to answer.
    if conversation.kind == ConversationKind.PRIVATE:
        return ReplyMode.DM
    if mode == ReplyMode.DM and conversation.platform not in DM_FROM_PUBLIC:
        raise ValidationError(
            {"mode": f"{conversation.channel.get_platform_display()} lets a Page message only people who wrote to it "
                     "first: reply in public."}
        )
    return mode


def check_text(platform: str, text: str, mode: str) -> str:
    """The reply text as it will be sent, or a ValidationError that says what the platform would refuse."""
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": "Write the reply first."})
    if mode == ReplyMode.DM:
        limit = DM_LIMITS.get(platform)
        if platform == "instagram" and len(text.encode()) > limit:
            raise ValidationError({"text": f"An Instagram message can be at most {limit:,} bytes long."})
        if platform in ("x", "facebook") and len(text) > limit:
            raise ValidationError({"text": f"This message is {len(text):,} characters long; the limit is {limit:,}."})
        if platform == "bluesky":
            from channels_app.text import grapheme_count

            if grapheme_count(text) > limit:
                raise ValidationError({"text": f"A Bluesky message can be at most {limit:,} characters."})
        if platform == "mastodon":
            # A Mastodon direct message is a status: the same rules.
            _check_post_rules(platform, text)
        return text
    if platform == "facebook":
        if len(text) > FACEBOOK_COMMENT_LIMIT:
            raise ValidationError({"text": f"A Facebook comment can be at most {FACEBOOK_COMMENT_LIMIT:,} characters."})
        return text
    _check_post_rules(platform, text)
    return text


def _check_post_rules(platform: str, text: str) -> None:
    # Instagram comments need no image (its caption rules ask for one).
    check = validate_text(platform, text, has_image=platform == "instagram")
    if not check.valid:
        raise ValidationError({"text": " ".join(check.errors)})


def _in_reply_to(conversation: Conversation) -> str:
    """What a public reply answers: the newest message from the public, else the thread's root."""
    latest = (
        Message.objects.filter(conversation=conversation, direction=MessageDirection.INBOUND)
        .order_by("-created_at", "-id")
        .values_list("platform_message_id", flat=True)
        .first()
    )
    return latest or conversation.key


def _needs_approval(conversation: Conversation, user_id: int) -> bool:
    return InboxPolicy.objects.filter(department_id=conversation.department_id, reply_approval_for=user_id).exists()


def _approvers(conversation: Conversation) -> list[Membership]:
    members = (
        Membership.objects.active()
        .filter(organisation_id=conversation.organisation_id)
        .filter(Q(role__in=[r.value for r in ORGANISATION_WIDE_ROLES]) | Q(departments=conversation.department_id))
        .select_related("user")
        .distinct()
    )
    return [m for m in members if m.can(Capability.APPROVE_REPLIES)]


def _describe(reply: Reply) -> dict:
    """Who sent what, to where: the audit trail's account of one reply."""
    return {
        "reply": reply.pk,
        "conversation": reply.conversation_id,
        "author": reply.author.label if reply.author_id else "automatic out-of-hours reply",
        "mode": reply.mode,
        "platform": reply.channel.platform,
        "channel": reply.channel.handle,
        "in_reply_to": reply.in_reply_to_id,
        # What was sent, provably but not verbatim: the trail cannot be edited, and the words may name a member of
        # the public who can ask to be erased. The text itself is on the reply (and redacted with it).
        "text_sha256": hashlib.sha256(reply.text.encode()).hexdigest(),
        "text_length": len(reply.text),
    }


def _audit(reply: Reply, event: EventType, changes: dict, actor=None) -> None:
    record(
        organisation=reply.organisation_id,
        department=reply.conversation.department_id,
        event_type=event,
        actor=actor,
        target=reply,
        target_repr=f"Reply {reply.pk} on conversation {reply.conversation_id}",
        changes=changes,
    )


def _enqueue_send(reply_id: int, countdown: float = 0) -> None:
    from inbox.tasks.replies import send_reply

    def go() -> None:
        if countdown:
            send_reply.apply_async((reply_id,), countdown=countdown)
        else:
            send_reply.delay(reply_id)

    # robust: a broker that is down must not undo the saved reply; the sweeper enqueues it later.
    transaction.on_commit(go, robust=True)


def _enqueue_reconcile(reply_id: int) -> None:
    from inbox.tasks.replies import reconcile_reply

    transaction.on_commit(
        lambda: reconcile_reply.apply_async((reply_id,), countdown=RECONCILE_DELAY_SECONDS), robust=True
    )


def _locked_reply(actor: Membership, reply_id: int) -> Reply:
    reply = (
        Reply.objects.visible_to(actor)
        .select_for_update(of=("self",))
        .select_related("conversation", "channel", "author")
        .filter(pk=reply_id)
        .first()
    )
    if reply is None:
        raise Reply.DoesNotExist("No such reply.")
    return reply


# ------------------------------------------------------------------------------------ people's writes
def reply_create(*, actor: Membership, conversation_id: int, text: str, mode: str = ReplyMode.PUBLIC) -> Reply:
    """Saves a reply to send (or to approve first), audited in the same transaction; sending follows the commit."""
    _require(actor, Capability.WORK_INBOX)
    with transaction.atomic():
        conversation = (
            Conversation.objects.visible_to(actor)
            .select_for_update(of=("self",))
            .select_related("channel")
            .filter(pk=conversation_id)
            .first()
        )
        if conversation is None:
            raise Conversation.DoesNotExist("No such conversation.")
        channel = conversation.channel
        if not has_grant(actor, channel, REPLY):
            raise PermissionDenied("You may not reply on this channel.")
        if channel.disconnected_at is not None or channel.status == ChannelStatus.NEEDS_REAUTH:
            raise ValidationError("This channel needs reconnecting before replies can be sent.")
        mode = effective_mode(conversation, mode)
        text = check_text(conversation.platform, text, mode)
        approval = _needs_approval(conversation, actor.user_id)
        reply = Reply.objects.create(
            organisation_id=conversation.organisation_id,
            conversation=conversation,
            channel=channel,
            author=actor.user,
            mode=mode,
            text=text,
            in_reply_to_id=_in_reply_to(conversation) if mode == ReplyMode.PUBLIC else "",
            state=ReplyState.AWAITING_APPROVAL if approval else ReplyState.PENDING,
        )
        conversation.updated_at = timezone.now()
        conversation.save(update_fields=["updated_at"])
        _audit(reply, EventType.REPLY_CREATED, {**_describe(reply), "state": reply.state}, actor=actor.user)
        if approval:
            Notification.objects.bulk_create(
                Notification(
                    organisation_id=conversation.organisation_id,
                    user=m.user,
                    link=f"/inbox/{conversation.pk}/",
                    text=f"A reply by {actor.user} on conversation {conversation.pk} is waiting for your approval"[:300],
                )
                for m in _approvers(conversation)
                if m.user_id != actor.user_id
            )
        else:
            _enqueue_send(reply.pk)
        return reply


def _require_approver(actor: Membership, reply: Reply) -> None:
    if reply.author_id == actor.user_id:
        raise PermissionDenied("Someone else must approve your reply.")
    if reply.state != ReplyState.AWAITING_APPROVAL:
        raise ValidationError("This reply is not waiting for approval any more.")


def reply_approve(*, actor: Membership, reply_id: int) -> Reply:
    _require(actor, Capability.APPROVE_REPLIES)
    with transaction.atomic():
        reply = _locked_reply(actor, reply_id)
        _require_approver(actor, reply)
        reply.state = ReplyState.PENDING
        reply.approved_by = actor.user
        reply.decided_at = timezone.now()
        reply.save(update_fields=["state", "approved_by", "decided_at"])
        _audit(reply, EventType.REPLY_APPROVED, {**_describe(reply), "state": {"from": "awaiting_approval", "to": "pending"}},
               actor=actor.user)
        _enqueue_send(reply.pk)
        return reply


def reply_reject(*, actor: Membership, reply_id: int, reason: str = "") -> Reply:
    _require(actor, Capability.APPROVE_REPLIES)
    reason = " ".join((reason or "").split())
    if len(reason) > 500:
        raise ValidationError({"reason": "Say why in at most 500 characters."})
    with transaction.atomic():
        reply = _locked_reply(actor, reply_id)
        _require_approver(actor, reply)
        reply.state = ReplyState.REJECTED
        reply.approved_by = actor.user
        reply.decided_at = timezone.now()
        reply.last_error = reason
        reply.save(update_fields=["state", "approved_by", "decided_at", "last_error"])
        _audit(reply, EventType.REPLY_REJECTED,
               {**_describe(reply), "state": {"from": "awaiting_approval", "to": "rejected"}, "reason": reason},
               actor=actor.user)
        if reply.author_id:
            because = f": {reason}" if reason else "."
            Notification.objects.create(
                organisation_id=reply.organisation_id,
                user_id=reply.author_id,
                link=f"/inbox/{reply.conversation_id}/",
                text=f"{actor.user} did not approve your reply on conversation {reply.conversation_id}{because}"[:300],
            )
        return reply


def reply_retry(*, actor: Membership, reply_id: int) -> Reply:
    """The retry button of a failed reply: back to pending and sent again."""
    _require(actor, Capability.WORK_INBOX)
    with transaction.atomic():
        reply = _locked_reply(actor, reply_id)
        if not has_grant(actor, reply.channel, REPLY):
            raise PermissionDenied("You may not reply on this channel.")
        if reply.state != ReplyState.FAILED:
            raise ValidationError("Only a reply that failed can be tried again.")
        before = reply.last_error
        reply.state = ReplyState.PENDING
        reply.attempts = 0
        reply.last_error = ""
        reply.save(update_fields=["state", "attempts", "last_error"])
        _audit(reply, EventType.REPLY_RETRIED,
               {**_describe(reply), "state": {"from": "failed", "to": "pending"}, "previous_error": before},
               actor=actor.user)
        _enqueue_send(reply.pk)
        return reply


# -------------------------------------------------------------------------------- delivery (the tasks)
def reply_claim(reply_id: int) -> bool:
    """pending → sending, for exactly one caller however many try at once."""
    return Reply.objects.filter(pk=reply_id, state=ReplyState.PENDING).update(
        state=ReplyState.SENDING, attempts=F("attempts") + 1, claimed_at=timezone.now()
    ) == 1


def _load(reply_id: int) -> Reply | None:
    return Reply.objects.select_related("conversation", "channel", "author").filter(pk=reply_id).first()


def _move(reply: Reply, from_states: Iterable[str], **fields) -> bool:
    """Compare-and-set on the reply's state; keeps the in-memory row in step."""
    done = Reply.objects.filter(pk=reply.pk, state__in=list(from_states)).update(**fields) == 1
    if done:
        reply.refresh_from_db()
    return done


def reply_mark_sent(reply: Reply, platform_id: str, url: str, *, reconciled: bool = False) -> bool:
    """Keeps the platform's id and records the outbound message on the conversation, in one transaction."""
    now = timezone.now()
    from_states = [ReplyState.UNKNOWN] if reconciled else [ReplyState.SENDING]
    with transaction.atomic():
        if not _move(reply, from_states, state=ReplyState.SENT, platform_id=platform_id, platform_url=url[:1000],
                     sent_at=now, last_error=""):
            return False
        _record_outbound(reply, now)
        changes = {**_describe(reply), "platform_id": platform_id, "url": reply.platform_url, "attempts": reply.attempts}
        if reconciled:
            _audit(reply, EventType.REPLY_RECONCILED, {**changes, "outcome": "found on the platform: sent"})
        else:
            _audit(reply, EventType.REPLY_SENT, changes)
    return True


def _record_outbound(reply: Reply, now: datetime) -> None:
    conversation = Conversation.objects.select_for_update().get(pk=reply.conversation_id)
    message = Message.objects.filter(channel_id=reply.channel_id, platform_message_id=reply.platform_id).first()
    if message is None:
        Message.objects.create(
            organisation_id=reply.organisation_id,
            channel_id=reply.channel_id,
            conversation=conversation,
            platform_message_id=reply.platform_id,
            direction=MessageDirection.OUTBOUND,
            kind="reply" if reply.mode == ReplyMode.PUBLIC else "dm",
            text=reply.text,
            sent_by_id=reply.author_id,
            in_reply_to_id=reply.in_reply_to_id,
            url=reply.platform_url,
            created_at=now,
        )
        conversation.message_count += 1
    else:
        # A poll stored our own post before we did: it is ours.
        Message.objects.filter(pk=message.pk).update(direction=MessageDirection.OUTBOUND, author=None,
                                                     sent_by_id=reply.author_id, url=reply.platform_url)
    fields = ["last_message_at", "last_message_preview", "message_count", "queue_at", "updated_at"]
    conversation.last_message_at = now
    conversation.last_message_preview = reply.text[:280]
    conversation.updated_at = now
    if not reply.automatic:
        # Answered: unless someone wrote again after this reply was written, nothing waits any more.
        if conversation.waiting_since is not None and conversation.waiting_since <= reply.created_at:
            conversation.waiting_since = None
        if conversation.first_responded_at is None:
            conversation.first_responded_at = now
        fields += ["waiting_since", "first_responded_at"]
    conversation.queue_at = conversation.waiting_since or now
    conversation.save(update_fields=fields)


def reply_mark_unknown(reply: Reply, reason: str, *, from_states: Iterable[str] = (ReplyState.SENDING,)) -> bool:
    with transaction.atomic():
        if not _move(reply, from_states, state=ReplyState.UNKNOWN, last_error=reason[:500]):
            return False
        _audit(reply, EventType.REPLY_UNKNOWN, {**_describe(reply), "reason": reason, "attempts": reply.attempts})
        _enqueue_reconcile(reply.pk)
    return True


def reply_mark_failed(reply: Reply, reason: str, *, from_states: Iterable[str] = (ReplyState.SENDING,)) -> bool:
    with transaction.atomic():
        if not _move(reply, from_states, state=ReplyState.FAILED, last_error=reason[:500]):
            return False
        _audit(reply, EventType.REPLY_FAILED, {**_describe(reply), "reason": reason, "attempts": reply.attempts})
    return True


def reply_release(reply: Reply, reason: str, *, countdown: float, refund_attempt: bool = False) -> bool:
    """sending → pending, sent again after `countdown` seconds (a transient failure, a rate limit)."""
    fields: dict = {"state": ReplyState.PENDING, "last_error": reason[:500]}
    if refund_attempt:
        # Waiting for a rate limit is not a failed attempt.
        fields["attempts"] = F("attempts") - 1
    with transaction.atomic():
        if not _move(reply, [ReplyState.SENDING], **fields):
            return False
        _audit(reply, EventType.REPLY_RETRIED,
               {**_describe(reply), "reason": reason, "retry_in_seconds": round(countdown), "attempts": reply.attempts})
        _enqueue_send(reply.pk, countdown=countdown)
    return True




def _accepts_idempotency_key(method) -> bool:
    return "idempotency_key" in inspect.signature(method).parameters


def deliver(reply_id: int) -> str:
    """Sends one reply if this caller wins the claim; returns what happened (for logs and tests)."""
    from channels_app.connectors.base import (
        Ambiguous,
        AuthExpired,
        ConnectorError,
        DuplicatePost,
        PermanentError,
        RateLimited,
        TransientError,
    )
    from channels_app.services import connector_session, x_refresh_if_needed

    reply = _load(reply_id)
    if reply is None:
        return "gone"
    if reply.state == ReplyState.PENDING and reply.attempts >= MAX_ATTEMPTS:
        reply_mark_failed(reply, reply.last_error or f"Gave up after {reply.attempts} attempts.",
                          from_states=[ReplyState.PENDING])
        return "failed"
    if not reply_claim(reply_id):
        return "not claimed"
    reply.refresh_from_db()
    conversation, contact_id = reply.conversation, reply.conversation.contact.platform_user_id
    try:
        # X access tokens last two hours: renew first (once across workers), as polling and publishing do.
        channel = x_refresh_if_needed(reply.channel) if reply.channel.platform == "x" else reply.channel
        with connector_session(channel) as connector:
            if reply.mode == ReplyMode.DM:
                key = conversation.key if conversation.kind == ConversationKind.PRIVATE else ""
                extra = {"idempotency_key": f"reply-{reply.pk}"} if _accepts_idempotency_key(connector.send_dm) else {}
                published = connector.send_dm(conversation_key=key, recipient_id=contact_id, text=reply.text, **extra)
            else:
                extra = {"idempotency_key": f"reply-{reply.pk}"} if _accepts_idempotency_key(connector.reply) else {}
                published = connector.reply(in_reply_to=reply.in_reply_to_id or conversation.key, text=reply.text,
                                            **extra)
    except DuplicatePost as exc:
        reply_mark_unknown(reply, f"{DUPLICATE_MARK}: {exc.message}")
        return "unknown"
    except Ambiguous as exc:
        reply_mark_unknown(reply, exc.message)
        return "unknown"
    except RateLimited as exc:
        wait = max(1.0, (exc.reset_at - timezone.now()).total_seconds() + 1)
        reply_release(reply, exc.message, countdown=wait, refund_attempt=True)
        return "rate limited"
    except AuthExpired as exc:
        reply_mark_failed(reply, f"{exc.message} Reconnect the channel, then retry the reply.")
        return "failed"
    except TransientError as exc:
        if reply.attempts >= MAX_ATTEMPTS:
            reply_mark_failed(reply, f"Gave up after {reply.attempts} attempts: {exc.message}")
            return "failed"
        reply_release(reply, exc.message, countdown=backoff(reply.attempts))
        return "retrying"
    except PermanentError as exc:
        reply_mark_failed(reply, exc.message)
        return "failed"
    except ConnectorError as exc:
        reply_mark_failed(reply, exc.message)
        return "failed"
    except Exception as exc:
        # A bug or an unreadable answer after the call: whether it was posted is unknown, so read, do not resend.
        log.exception("Sending reply %s failed unexpectedly", reply_id)
        reply_mark_unknown(reply, f"Unexpected error while sending ({type(exc).__name__}).")
        return "unknown"
    if not published.platform_id:
        reply_mark_unknown(reply, "The platform accepted the reply without giving its id.")
        return "unknown"
    reply_mark_sent(reply, published.platform_id, published.url)
    return "sent"


def reconcile(reply_id: int) -> str:
    """Settles an unknown outcome by reading the platform: found → sent; not found → pending and sent again."""
    from channels_app.connectors.base import ConnectorError, TransientError
    from channels_app.services import connector_session, x_refresh_if_needed

    reply = _load(reply_id)
    if reply is None or reply.state != ReplyState.UNKNOWN:
        return "nothing to do"
    conversation = reply.conversation
    try:
        channel = x_refresh_if_needed(reply.channel) if reply.channel.platform == "x" else reply.channel
        with connector_session(channel) as connector:
            if reply.mode == ReplyMode.DM:
                key = conversation.key if conversation.kind == ConversationKind.PRIVATE else ""
                found = connector.find_dm(conversation_key=key, recipient_id=conversation.contact.platform_user_id,
                                          text=reply.text)
            else:
                found = connector.find_reply(in_reply_to=reply.in_reply_to_id or conversation.key, text=reply.text)
    except TransientError as exc:
        if _give_up_unknown(reply, exc.message):
            return "failed"
        # Still unknown; the task retries the reading, the sweeper later if it gives up.
        raise
    except ConnectorError as exc:
        if _give_up_unknown(reply, exc.message):
            return "failed"
        # The platform cannot be read now (reconnect, not supported): stay unknown, never resend blindly.
        Reply.objects.filter(pk=reply.pk, state=ReplyState.UNKNOWN).update(
            last_error=f"Could not check the platform: {exc.message}"[:500]
        )
        return "still unknown"
    if found is not None and found.platform_id:
        return "sent" if reply_mark_sent(reply, found.platform_id, found.url, reconciled=True) else "nothing to do"
    with transaction.atomic():
        if reply.last_error.startswith(DUPLICATE_MARK):
            # The platform refuses it as a duplicate of something that is not this reply: resending cannot help.
            reason = reply.last_error.removeprefix(f"{DUPLICATE_MARK}: ")
            if not _move(reply, [ReplyState.UNKNOWN], state=ReplyState.FAILED, last_error=reason[:500]):
                return "nothing to do"
            # One step, one event (issue 6 §1): the reconciliation that fails the reply says so itself.
            _audit(reply, EventType.REPLY_RECONCILED, {
                **_describe(reply), "outcome": "not found, failed", "reason": reason, "attempts": reply.attempts,
                "state": {"from": ReplyState.UNKNOWN, "to": ReplyState.FAILED},
            })
            return "failed"
        if not _move(reply, [ReplyState.UNKNOWN], state=ReplyState.PENDING):
            return "nothing to do"
        _audit(reply, EventType.REPLY_RECONCILED, {**_describe(reply), "outcome": "not found, resent"})
        _enqueue_send(reply.pk)
    return "resent"


def _give_up_unknown(reply: Reply, reason: str) -> bool:
    """After UNKNOWN_GIVE_UP_AFTER of failing to read the platform, the reply fails with a plain instruction."""
    started = reply.claimed_at or reply.created_at
    if timezone.now() - started < UNKNOWN_GIVE_UP_AFTER:
        return False
    message = (
        "Civic Desk could not confirm with the platform whether this reply was sent "
        f"(last answer: {reason}). Look at the conversation on the platform before you retry."
    )[:500]
    with transaction.atomic():
        if not _move(reply, [ReplyState.UNKNOWN], state=ReplyState.FAILED, last_error=message):
            return False
        _audit(reply, EventType.REPLY_FAILED, {**_describe(reply), "reason": message, "attempts": reply.attempts})
    return True


def sweep_stuck(*, now: datetime | None = None) -> dict[str, int]:
    """For beat: sending too long (worker lost) → unknown → reconcile; unknown left alone → reconcile again;
    pending with no task in sight (broker was down at commit) → send."""
    from inbox.tasks.replies import reconcile_reply, send_reply

    now = now or timezone.now()
    cutoff = now - STUCK_AFTER
    stuck = 0
    for reply in Reply.objects.select_related("conversation", "channel", "author").filter(
        state=ReplyState.SENDING, claimed_at__lt=cutoff
    ):
        stuck += reply_mark_unknown(reply, "The sending worker stopped before the platform answered.")
    unknown_ids = list(
        Reply.objects.filter(state=ReplyState.UNKNOWN, claimed_at__lt=cutoff).values_list("pk", flat=True)
    )
    for pk in unknown_ids:
        reconcile_reply.delay(pk)
    pending_ids = list(
        Reply.objects.filter(state=ReplyState.PENDING)
        .filter(Q(claimed_at__lt=cutoff) | Q(claimed_at__isnull=True, created_at__lt=cutoff))
        .exclude(channel__status=ChannelStatus.RATE_LIMITED, channel__rate_limit_reset_at__gt=now)
        .values_list("pk", flat=True)
    )
    for pk in pending_ids:
        send_reply.delay(pk)
    return {"stuck": stuck, "reconcile": len(unknown_ids), "resend": len(pending_ids)}


# ------------------------------------------------------------------------------- out of office hours
def auto_reply_if_closed(conversation_ids: list[int], *, at: datetime | None = None) -> int:
    """Sends the channel's out-of-hours reply to each conversation whose department is closed `at` (now),
    at most once per conversation per closed period; returns how many were queued.

    Called by ingestion after commit for conversations with new inbound messages. The compare-and-set on
    `auto_replied_for` means two ingests at the same moment never queue it twice.
    """
    from inbox.sla import calendars_for

    at = at or timezone.now()
    ids = sorted({int(i) for i in conversation_ids})
    if not ids:
        return 0
    conversations = list(
        Conversation.objects.filter(pk__in=ids, channel__out_of_hours_reply__enabled=True)
        .exclude(channel__status=ChannelStatus.NEEDS_REAUTH)
        .filter(channel__disconnected_at__isnull=True)
        .select_related("channel", "department")
    )
    if not conversations:
        return 0
    texts = dict(
        OutOfHoursReply.objects.filter(channel_id__in={c.channel_id for c in conversations}, enabled=True)
        .values_list("channel_id", "text")
    )
    by_org: dict[int, list[Conversation]] = defaultdict(list)
    for conversation in conversations:
        by_org[conversation.organisation_id].append(conversation)
    queued = 0
    for organisation_id, group in by_org.items():
        calendars = calendars_for(organisation_id, {c.department_id for c in group})
        for conversation in group:
            calendar = calendars[conversation.department_id][0]
            period = calendar.closed_period_start(at)
            if period is None or conversation.auto_replied_for == period:
                continue
            queued += _auto_reply(conversation, texts.get(conversation.channel_id, ""), period)
    return queued


def _auto_reply(conversation: Conversation, text: str, period: datetime) -> bool:
    mode = ReplyMode.DM if conversation.kind == ConversationKind.PRIVATE else ReplyMode.PUBLIC
    try:
        text = check_text(conversation.platform, text, mode)
    except ValidationError as exc:
        log.warning("Out-of-hours reply for channel %s not sent: %s", conversation.channel_id, exc.messages)
        return False
    with transaction.atomic():
        won = (
            Conversation.objects.filter(pk=conversation.pk)
            .filter(Q(auto_replied_for__isnull=True) | ~Q(auto_replied_for=period))
            .update(auto_replied_for=period, updated_at=timezone.now())
        )
        if won != 1:
            return False
        reply = Reply.objects.create(
            organisation_id=conversation.organisation_id,
            conversation=conversation,
            channel=conversation.channel,
            author=None,
            automatic=True,
            mode=mode,
            text=text,
            in_reply_to_id=_in_reply_to(conversation) if mode == ReplyMode.PUBLIC else "",
            state=ReplyState.PENDING,
        )
        _audit(reply, EventType.REPLY_CREATED,
               {**_describe(reply), "state": reply.state, "closed_period_start": period.isoformat()})
        _enqueue_send(reply.pk)
    return True

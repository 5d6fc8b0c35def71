"""Publishing, exactly once (issue 5 §3): the beat sweeper, and one post on one channel.

    sweep_due (beat, every 2 s): scheduled posts whose time has come, not paused, not held, are claimed one at a
        time (SELECT … FOR UPDATE SKIP LOCKED, then a compare-and-set scheduled → publishing), so however many
        sweepers run at once only one claims a post; one publish_target task per pending target follows the commit.
        A post found more than the organisation's limit late is held for a person instead (held_late).
    publish(target_id) (the publish_target task): claims the target (pending → sending) with a conditional UPDATE;
        only the winner calls the platform, and the platform's id and URL are stored the moment it answers.
    reconcile(target_id): settles an unknown outcome by reading the account's recent posts (connector.find_post).
    sweep_stuck (beat, every minute): sending too long (the worker was lost) → unknown; unknown left → reconcile.

Target states (TargetState; DESIGN.md):
    pending → sending (claimed)
    sending → sent | failed | unknown | pending (a transient failure or a rate limit: tried again later)
    unknown → sent (found on the platform) | pending (not found: sent again) | failed (a duplicate not found, or
              nothing confirmed for a day)
An unknown outcome is never sent again blindly: the platform is read first. Mastodon also gets the target's
Idempotency-Key on every attempt, so a repeat there returns the first status.

Retries are rows, not Celery countdowns: a target waiting out a backoff or a rate limit is pending with
next_attempt_at, and the sweeper queues it when that time comes. Every queueing takes a lease (next_attempt_at moves
LEASE ahead) and the message expires with it, so one live task at most exists per target, and a lost one (a broker
that was down at commit) is replaced when the lease runs out.

When every target of a post is sent or failed, the post is finished (published, partly published or failed) in the
same transaction as its last target, under the post's row lock so two targets finishing at once finish it once.

One step, one audit event (issue 6 §1): the last target's event (post.target_published, post.target_failed,
post.target_reconciled) carries the post's new status as `post_status` (from/to) and each channel's outcome as
`post_channels`; post.finished is written only when the stuck sweeper finishes a post on its own.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from approvals import services
from approvals.models import Post, PostMedia, PostStatus, PublishingPause, PublishTarget, TargetState
from approvals.workflow import transition_for
from audit.models import EventType
from audit.services import record
from channels_app.backoff import backoff
from channels_app.models import ChannelStatus, Platform

log = logging.getLogger(__name__)

# Posts claimed per sweep (the rest go on the next sweep, two seconds later).
SWEEP_BATCH = 50
# A queued publish task not started within this long expires; the sweeper queues a new one.
LEASE = timedelta(seconds=60)
# Claims of one target (sends, including resends after a reconcile found nothing) before it fails for good.
MAX_ATTEMPTS = 5
# A target still "sending" after this long lost its worker (killed, redeployed): its outcome is unknown.
STUCK_AFTER = timedelta(minutes=5)
# An outcome the platform still cannot confirm after this long fails with an instruction to look.
UNKNOWN_GIVE_UP_AFTER = timedelta(hours=24)
# Wait before reading the platform after an ambiguous failure, so a post still being stored shows up.
RECONCILE_DELAY_SECONDS = 5
# How far before the claim the account's posts are read: clocks of ours and the platform's differ.
RECONCILE_MARGIN = timedelta(minutes=10)
DUPLICATE_MARK = "The platform says this was already posted"
TERMINAL = (TargetState.SENT, TargetState.FAILED)


# ------------------------------------------------------------------------------------------- audit
def _describe(target: PublishTarget) -> dict:
    return {
        "target": target.pk,
        "post": target.post_id,
        "platform": target.channel.platform,
        "channel": target.channel.handle,
        "revision": target.revision.number if target.revision_id else None,
    }


def _audit_target(target: PublishTarget, event: EventType, changes: dict) -> None:
    record(
        organisation=target.organisation_id,
        department=target.post.department_id,
        event_type=event,
        target=target.post,
        target_repr=f"Post {target.post_id}: {target.post.title} on {target.channel.get_platform_display()} "
                    f"{target.channel.handle}"[:300],
        changes={**_describe(target), **changes},
    )


def _audit_post(post: Post, event: EventType, changes: dict) -> None:
    record(
        organisation=post.organisation_id,
        department=post.department_id,
        event_type=event,
        target=post,
        target_repr=f"Post {post.pk}: {post.title}"[:300],
        changes=changes,
    )


# ------------------------------------------------------------------------------------------ queueing
def _enqueue_publish(target_ids: Iterable[int]) -> None:
    from approvals.tasks import publish_target

    ids = list(target_ids)

    def go() -> None:
        for pk in ids:
            publish_target.apply_async((pk,), expires=LEASE.total_seconds())

    # robust: a broker that is down must not undo the claim; the lease runs out and the sweeper queues it again.
    transaction.on_commit(go, robust=True)


def _enqueue_reconcile(target_id: int) -> None:
    from approvals.tasks import reconcile_target

    transaction.on_commit(
        lambda: reconcile_target.apply_async((target_id,), countdown=RECONCILE_DELAY_SECONDS), robust=True
    )




# ------------------------------------------------------------------------------------------- sweeper
def _active_pause(now: datetime):
    return PublishingPause.objects.active(now).filter(organisation_id=OuterRef("organisation_id")).filter(
        Q(department__isnull=True) | Q(department_id=OuterRef("department_id"))
    )


def due_posts(now: datetime):
    """Scheduled posts whose time has come, neither paused nor held (the sweeper's query; post_due_idx)."""
    return (
        Post.objects.filter(status=PostStatus.SCHEDULED, held_late=False, scheduled_at__lte=now)
        .annotate(under_pause=Exists(_active_pause(now)))
        .filter(under_pause=False)
    )


def sweep_due(now: datetime | None = None) -> int:
    """For beat: claims the posts that are due and queues their targets; returns how many posts it claimed."""
    now = now or timezone.now()
    claimed = 0
    ids = list(due_posts(now).order_by("scheduled_at", "pk").values_list("pk", flat=True)[:SWEEP_BATCH])
    for post_id in ids:
        claimed += post_claim(post_id, now=now)
    requeue_due_targets(now)
    return claimed


def late_since(post: Post, now: datetime) -> datetime:
    """When the post became due: its time, or the end of a pause that kept it back after that time."""
    due = post.scheduled_at
    pauses = (
        PublishingPause.objects.for_organisation(post.organisation_id)
        .filter(Q(department__isnull=True) | Q(department_id=post.department_id), starts_at__lte=now)
        .filter(Q(lifted_at__gt=due) | Q(ends_at__gt=due))
    )
    for pause in pauses:
        end = min(t for t in (pause.lifted_at, pause.ends_at) if t is not None)
        if due < end <= now:
            due = end
    return due


def post_claim(post_id: int, *, now: datetime | None = None) -> bool:
    """scheduled → publishing for exactly one sweeper; or held for a person when it is too late."""
    now = now or timezone.now()
    with transaction.atomic():
        post = (
            Post.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("current_revision")
            .filter(pk=post_id, status=PostStatus.SCHEDULED, held_late=False, scheduled_at__lte=now)
            .first()
        )
        if post is None:
            return False  # another sweeper has it (locked), or it changed since it was listed
        pause = services.paused(post, now)
        if pause is not None:
            return False  # stays scheduled; goes when the pause ends or is lifted
        limit = services.settings_for(post.organisation_id).hold_late_posts_after_minutes
        if limit is not None and now - late_since(post, now) > timedelta(minutes=limit):
            _hold_late(post, now, limit)
            return False
        to = transition_for("start_publishing", post.status)
        if not Post.objects.filter(pk=post.pk, status=PostStatus.SCHEDULED).update(status=to, updated_at=now):
            return False
        revision = post.current_revision
        pending = PublishTarget.objects.filter(post=post, state=TargetState.PENDING)
        pending.update(revision=revision, next_attempt_at=now + LEASE)
        target_ids = list(pending.values_list("pk", flat=True))
        channels = list(PublishTarget.objects.filter(post=post).values_list("channel__platform", "channel__handle"))
        post.status = to
        # A post with no target left to publish finishes at once, in this step and its one event.
        finished = _finish_if_done(post)
        _audit_post(post, EventType.POST_PUBLISHING, {
            "status": {"from": PostStatus.SCHEDULED, "to": to},
            "scheduled_at": post.scheduled_at.isoformat(),
            "late_seconds": round((now - post.scheduled_at).total_seconds()),
            "revision": revision.number,
            "hash": revision.content_hash,
            "channels": [f"{platform} {handle}" for platform, handle in channels],
            **(finished or {}),
        })
        _enqueue_publish(target_ids)
    return True


def _hold_late(post: Post, now: datetime, limit: int) -> None:
    if not Post.objects.filter(pk=post.pk, status=PostStatus.SCHEDULED, held_late=False).update(
        held_late=True, updated_at=now
    ):
        return
    minutes = int((now - post.scheduled_at).total_seconds() // 60)
    _audit_post(post, EventType.POST_HELD_LATE, {
        "scheduled_at": post.scheduled_at.isoformat(), "late_minutes": minutes, "hold_after_minutes": limit,
    })
    services.notify(
        post,
        [post.author, *services.approvers_for(post)],
        f"“{post.title}” was due {minutes} minutes ago and was not published: choose a new time or publish it now",
        kind="held_late",
    )


def requeue_due_targets(now: datetime) -> int:
    """Pending targets of posts already publishing whose time has come (a backoff or rate limit is over, or a
    queued task was lost): each queued once, under a lease."""
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    ids = list(
        PublishTarget.objects.filter(due, state=TargetState.PENDING, post__status=PostStatus.PUBLISHING)
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[: SWEEP_BATCH * 4]
    )
    queued = []
    for pk in ids:
        if PublishTarget.objects.filter(due, pk=pk, state=TargetState.PENDING).update(next_attempt_at=now + LEASE):
            queued.append(pk)
    _enqueue_publish(queued)
    return len(queued)


# ------------------------------------------------------------------------------------- target moves
def target_claim(target_id: int) -> bool:
    """pending → sending, for exactly one caller however many try at once; only while its post is publishing."""
    # Every condition on the target's own columns, none through a join: Django turns a joined filter into
    # "id IN (subquery)", which PostgreSQL does not re-check against a row another claim changed meanwhile.
    publishing_posts = Post.objects.filter(status=PostStatus.PUBLISHING).values("pk")
    return PublishTarget.objects.filter(
        pk=target_id, state=TargetState.PENDING, post_id__in=publishing_posts
    ).update(state=TargetState.SENDING, attempts=F("attempts") + 1, claimed_at=timezone.now()) == 1


def _load(target_id: int) -> PublishTarget | None:
    return (
        PublishTarget.objects.select_related("post", "channel", "revision", "post__current_revision")
        .filter(pk=target_id)
        .first()
    )


def _move(target: PublishTarget, from_states: Iterable[str], **fields) -> bool:
    """Compare-and-set on the target's state; keeps the in-memory row in step."""
    done = PublishTarget.objects.filter(pk=target.pk, state__in=list(from_states)).update(**fields) == 1
    if done:
        target.refresh_from_db(fields=sorted({*fields, "state", "attempts"}))
    return done


def _lock_post(target: PublishTarget) -> Post:
    # Serialises the last targets of a post finishing at once, so exactly one of them finishes the post.
    post = Post.objects.select_for_update().get(pk=target.post_id)
    target.post = post
    return post


def target_mark_sent(target: PublishTarget, platform_id: str, url: str, *, reconciled: bool = False) -> bool:
    now = timezone.now()
    with transaction.atomic():
        post = _lock_post(target)
        if not _move(target, [TargetState.UNKNOWN] if reconciled else [TargetState.SENDING], state=TargetState.SENT,
                     platform_id=platform_id, platform_url=(url or "")[:1000], published_at=now, last_error="",
                     next_attempt_at=None):
            return False
        changes = {"platform_id": platform_id, "url": target.platform_url, "attempts": target.attempts,
                   **(_finish_if_done(post) or {})}
        if reconciled:
            _audit_target(target, EventType.TARGET_RECONCILED, {**changes, "outcome": "found on the platform: sent"})
        else:
            _audit_target(target, EventType.TARGET_PUBLISHED, changes)
    return True


def target_mark_unknown(target: PublishTarget, reason: str, *, from_states: Iterable[str] = (TargetState.SENDING,)) -> bool:
    with transaction.atomic():
        if not _move(target, from_states, state=TargetState.UNKNOWN, last_error=reason[:500]):
            return False
        _audit_target(target, EventType.TARGET_UNKNOWN, {"reason": reason[:500], "attempts": target.attempts})
        _enqueue_reconcile(target.pk)
    return True


def target_mark_failed(target: PublishTarget, reason: str, *, from_states: Iterable[str] = (TargetState.SENDING,)) -> bool:
    with transaction.atomic():
        post = _lock_post(target)
        if not _move(target, from_states, state=TargetState.FAILED, last_error=reason[:500], next_attempt_at=None):
            return False
        _audit_target(target, EventType.TARGET_FAILED, {
            "reason": reason[:500], "attempts": target.attempts, **(_finish_if_done(post) or {}),
        })
    return True


def target_release(target: PublishTarget, reason: str, *, at: datetime, refund_attempt: bool = False) -> bool:
    """sending → pending, tried again from `at` (a transient failure, a rate limit) by the sweeper."""
    fields: dict = {"state": TargetState.PENDING, "last_error": reason[:500], "next_attempt_at": at}
    if refund_attempt:
        # Waiting for a rate limit is not a failed attempt.
        fields["attempts"] = F("attempts") - 1
    with transaction.atomic():
        if not _move(target, [TargetState.SENDING], **fields):
            return False
        _audit_target(target, EventType.TARGET_RETRIED, {
            "reason": reason[:500], "retry_at": at.isoformat(), "attempts": target.attempts,
        })
    return True


def _finish_if_done(post: Post) -> dict | None:
    """publishing → published | partly_published | failed once every target is sent or failed (post locked).

    Returns what finishing changed, for the caller's one audit event (None when the post is not finished now):
    {"post_status": {"from": "publishing", "to": ...}, "post_channels": {"<platform> <handle>": outcome}}."""
    if post.status != PostStatus.PUBLISHING:
        return None
    targets = list(PublishTarget.objects.filter(post=post).select_related("channel").order_by("pk"))
    if any(t.state not in TERMINAL for t in targets):
        return None
    sent = [t for t in targets if t.state == TargetState.SENT]
    failed = [t for t in targets if t.state == TargetState.FAILED]
    transition_for("finish_publishing", post.status)
    if targets and len(sent) == len(targets):
        to = PostStatus.PUBLISHED
    else:
        to = PostStatus.PARTLY_PUBLISHED if sent else PostStatus.FAILED
    now = timezone.now()
    if not Post.objects.filter(pk=post.pk, status=PostStatus.PUBLISHING).update(
        status=to, updated_at=now, published_at=now if sent else None
    ):
        return None
    post.status = to
    finished = {
        "post_status": {"from": PostStatus.PUBLISHING, "to": to},
        "post_channels": {
            f"{t.channel.platform} {t.channel.handle}": (
                {"state": t.state, "url": t.platform_url} if t.state == TargetState.SENT
                else {"state": t.state, "reason": t.last_error}
            )
            for t in targets
        },
    }
    if to == PostStatus.PUBLISHED:
        text, kind = f"“{post.title}” was published on {_names(sent)}", "published"
    elif to == PostStatus.PARTLY_PUBLISHED:
        text = f"“{post.title}” was published on {_names(sent)} but failed on {_names(failed)}: {failed[0].last_error}"
        kind = "failed"
    else:
        reason = f": {failed[0].last_error}" if failed else ": it had no channels"
        text, kind = f"“{post.title}” could not be published{reason}", "failed"
    services.notify(post, [post.author], text, kind=kind)
    return finished


def _names(targets: list[PublishTarget]) -> str:
    return ", ".join(f"{t.channel.get_platform_display()} ({t.channel.handle})" for t in targets)


# ------------------------------------------------------------------------------------------ content
def _revision(target: PublishTarget):
    return target.revision or target.post.current_revision


def content_for(target: PublishTarget):
    """(text, media, link) of the target's revision on its channel."""
    from channels_app.connectors.base import MediaItem

    revision = _revision(target)
    items = revision.media or []
    files = {m.pk: m for m in PostMedia.objects.filter(post_id=target.post_id, pk__in=[i.get("id") for i in items])}
    media = []
    for item in items:
        found = files.get(item.get("id"))
        if found is None:
            raise LookupError("An image of this post is missing; upload it again and re-schedule the post.")
        media.append(MediaItem(content=bytes(found.content), mime_type=found.mime_type, alt_text=item.get("alt_text") or ""))
    return services.text_for(revision, target.channel), media, revision.link


# ------------------------------------------------------------------------------------------ the tasks
def publish(target_id: int) -> str:
    """Publishes one post on one channel if this caller wins the claim; returns what happened (for logs, tests)."""
    from channels_app.connectors.base import Ambiguous, ConnectorError, DuplicatePost
    from channels_app.services import connector_session

    target = _load(target_id)
    if target is None:
        return "gone"
    if target.state == TargetState.PENDING and target.attempts >= MAX_ATTEMPTS:
        target_mark_failed(target, target.last_error or f"Gave up after {target.attempts} attempts.",
                           from_states=[TargetState.PENDING])
        return "failed"
    if not target_claim(target_id):
        return "not claimed"
    target = _load(target_id)
    try:
        text, media, link = content_for(target)
    except LookupError as exc:
        target_mark_failed(target, str(exc))
        return "failed"
    channel = target.channel
    if channel.platform == Platform.X:
        from channels_app.services import channel_record_failure, x_refresh_if_needed

        try:
            channel = x_refresh_if_needed(channel)
        except ConnectorError as exc:
            # Renewing the token posts nothing: whatever went wrong, the post was not sent.
            channel_record_failure(channel_id=channel.pk, error=exc)
            return _not_sent(target, exc)
    try:
        with connector_session(channel) as connector:
            published = connector.publish(text=text, media=media, link=link, idempotency_key=str(target.idempotency_key))
    except DuplicatePost as exc:
        target_mark_unknown(target, f"{DUPLICATE_MARK}: {exc.message}")
        return "unknown"
    except Ambiguous as exc:
        target_mark_unknown(target, exc.message)
        return "unknown"
    except ConnectorError as exc:
        return _not_sent(target, exc)
    except Exception as exc:
        # A bug or an unreadable answer after the call: whether it was posted is unknown, so read, do not resend.
        log.exception("Publishing target %s failed unexpectedly", target_id)
        target_mark_unknown(target, f"Unexpected error while publishing ({type(exc).__name__}).")
        return "unknown"
    if not published.platform_id:
        target_mark_unknown(target, "The platform accepted the post without giving its id.")
        return "unknown"
    target_mark_sent(target, published.platform_id, published.url)
    return "sent"


def _not_sent(target: PublishTarget, exc) -> str:
    """A failure before anything reached the platform (or refused by it): retry, wait, or fail this channel."""
    from channels_app.connectors.base import AuthExpired, RateLimited, TransientError

    if isinstance(exc, RateLimited):
        target_release(target, exc.message, at=max(exc.reset_at, timezone.now()) + timedelta(seconds=1),
                       refund_attempt=True)
        return "rate limited"
    if isinstance(exc, AuthExpired):
        target_mark_failed(target, f"{exc.message} It was not published on this channel.")
        return "failed"
    if isinstance(exc, TransientError):
        if target.attempts >= MAX_ATTEMPTS:
            target_mark_failed(target, f"Gave up after {target.attempts} attempts: {exc.message}")
            return "failed"
        target_release(target, exc.message, at=timezone.now() + timedelta(seconds=backoff(target.attempts)))
        return "retrying"
    target_mark_failed(target, exc.message)
    return "failed"


def reconcile(target_id: int) -> str:
    """Settles an unknown outcome by reading the account's recent posts: found → sent; not found → sent again."""
    from channels_app.connectors.base import ConnectorError, TransientError
    from channels_app.services import connector_session

    target = _load(target_id)
    if target is None or target.state != TargetState.UNKNOWN:
        return "nothing to do"
    text = services.text_for(_revision(target), target.channel)
    since = (target.claimed_at or timezone.now()) - RECONCILE_MARGIN
    try:
        with connector_session(target.channel) as connector:
            found = connector.find_post(text=text, since=since)
    except TransientError as exc:
        if _give_up_unknown(target, exc.message):
            return "failed"
        # Still unknown; the task retries the reading, the stuck sweeper later if it gives up.
        raise
    except ConnectorError as exc:
        if _give_up_unknown(target, exc.message):
            return "failed"
        # The platform cannot be read now (reconnect, rate limit): stay unknown, never resend blindly.
        PublishTarget.objects.filter(pk=target.pk, state=TargetState.UNKNOWN).update(
            last_error=f"Could not check the platform: {exc.message}"[:500]
        )
        return "still unknown"
    if found is not None and found.platform_id and PublishTarget.objects.filter(
        channel_id=target.channel_id, platform_id=found.platform_id
    ).exclude(pk=target.pk).exists():
        found = None  # the same words posted for another post of ours: not this one
    if found is not None and found.platform_id:
        return "sent" if target_mark_sent(target, found.platform_id, found.url, reconciled=True) else "nothing to do"
    with transaction.atomic():
        post = _lock_post(target)
        if target.last_error.startswith(DUPLICATE_MARK):
            # The platform refuses it as a duplicate of something that is not this post: sending again cannot help.
            reason = target.last_error.removeprefix(f"{DUPLICATE_MARK}: ")
            if not _move(target, [TargetState.UNKNOWN], state=TargetState.FAILED, last_error=reason[:500]):
                return "nothing to do"
            # One step, one event: the reconciliation that fails this channel (and maybe finishes the post).
            _audit_target(target, EventType.TARGET_RECONCILED, {
                "outcome": "not found, failed", "reason": reason, "attempts": target.attempts,
                "state": {"from": TargetState.UNKNOWN, "to": TargetState.FAILED}, **(_finish_if_done(post) or {}),
            })
            return "failed"
        now = timezone.now()
        if not _move(target, [TargetState.UNKNOWN], state=TargetState.PENDING, next_attempt_at=now + LEASE):
            return "nothing to do"
        _audit_target(target, EventType.TARGET_RECONCILED, {"outcome": "not found, publishing again"})
        _enqueue_publish([target.pk])
    return "resent"


def _give_up_unknown(target: PublishTarget, reason: str) -> bool:
    """After UNKNOWN_GIVE_UP_AFTER of failing to read the platform, the target fails with a plain instruction."""
    started = target.claimed_at or target.post.updated_at
    if timezone.now() - started < UNKNOWN_GIVE_UP_AFTER:
        return False
    message = (
        "Civic Desk could not confirm with the platform whether this was published "
        f"(last answer: {reason}). Look at the account on the platform before you publish it again."
    )[:500]
    return target_mark_failed(target, message, from_states=[TargetState.UNKNOWN])


def sweep_stuck(*, now: datetime | None = None) -> dict[str, int]:
    """For beat: sending too long (worker lost) → unknown → reconcile; unknown left alone → reconcile again;
    a publishing post whose targets are all done but which was not finished → finished."""
    from approvals.tasks import reconcile_target

    now = now or timezone.now()
    cutoff = now - STUCK_AFTER
    stuck = 0
    for target in PublishTarget.objects.select_related("post", "channel", "revision").filter(
        state=TargetState.SENDING, claimed_at__lt=cutoff
    ):
        stuck += target_mark_unknown(target, "The publishing worker stopped before the platform answered.")
    unknown_ids = list(
        PublishTarget.objects.filter(state=TargetState.UNKNOWN, claimed_at__lt=cutoff)
        .exclude(channel__status=ChannelStatus.RATE_LIMITED, channel__rate_limit_reset_at__gt=now)
        .values_list("pk", flat=True)
    )
    transaction.on_commit(lambda: [reconcile_target.delay(pk) for pk in unknown_ids], robust=True)
    finished = 0
    unfinished = Post.objects.filter(status=PostStatus.PUBLISHING).exclude(
        Exists(PublishTarget.objects.filter(post=OuterRef("pk")).exclude(state__in=TERMINAL))
    )
    for post_id in unfinished.values_list("pk", flat=True):
        with transaction.atomic():
            post = Post.objects.select_for_update().filter(pk=post_id).first()
            done = _finish_if_done(post) if post else None
            if done:
                # The sweeper's own step (no target moved in it): post.finished is its one event.
                _audit_post(post, EventType.POST_FINISHED, {"status": done["post_status"], "channels": done["post_channels"]})
                finished += 1
    return {"stuck": stuck, "reconcile": len(unknown_ids), "finished": finished}

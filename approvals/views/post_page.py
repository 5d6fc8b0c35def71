"""The post page: what a post says on each channel, where it stands in review and publishing, its comments,
and the actions the member may take on it now.

Reads go through the organisation-scoped QuerySet methods; every action is one call to approvals.services and
then a redirect back to the page with a message. A refused action (a wrong state, bad input) is a message;
a missing role or the author approving their own post is a 403; another organisation's post is a 404.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, path, reverse
from django.utils import dateformat, timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Membership
from accounts.roles import Capability
from approvals import services
from approvals.forms import parse_local_datetime
from approvals.models import (
    ApprovalDecision,
    Comment,
    DecisionKind,
    Post,
    PostRevision,
    PostStatus,
    PublishingPause,
    PublishTarget,
    TargetState,
)
from approvals.workflow import TransitionNotAllowed
from channels_app.models import Channel
from inbox.services import MENTION
from smm.scoping import get_visible_or_404, member_required


# ------------------------------------------------------------------------------------- shared helpers
def org_zone(membership: Membership) -> ZoneInfo:
    """The organisation's time zone: times are shown and typed in it."""
    try:
        return ZoneInfo(membership.organisation.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("Europe/London")


def local_input_value(value: datetime | None, zone: ZoneInfo) -> str:
    """A datetime as a datetime-local field's value in the organisation's zone."""
    return timezone.localtime(value, zone).strftime("%Y-%m-%dT%H:%M") if value else ""


def id_from(raw: object) -> int | None:
    """A primary key from a form: plain ASCII digits that fit a bigint (str.isdigit() alone accepts "²")."""
    text = str(raw or "").strip()
    if not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if 0 < value < 2**63 else None


def pause_text(pause: PublishingPause, zone: ZoneInfo) -> str:
    where = f"the {pause.department.name} department" if pause.department_id else "the whole organisation"
    text = f"Publishing is paused for {where}: {pause.reason}"
    if pause.ends_at:
        text += f" (until {local_text(pause.ends_at, zone)})"
    return text


def local_text(value: datetime, zone: ZoneInfo) -> str:
    """A time as people read it, in the organisation's zone: "1 Jun 2025 09:30"."""
    return dateformat.format(timezone.localtime(value, zone), "j M Y H:i")


def error_text(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    return str(error)


def url_or_path(name: str, fallback: str, **kwargs) -> str:
    """A route another part of the posts work owns, by name when it is there, else by its documented path."""
    try:
        return reverse(name, kwargs=kwargs)
    except NoReverseMatch:
        return fallback


def media_url(media_id: int) -> str:
    return url_or_path("approvals:post_media", f"/posts/media/{media_id}/", pk=media_id)


# ------------------------------------------------------------------------------------------ the page
@dataclass
class ChannelContent:
    channel: Channel
    text: str


@dataclass
class Thread:
    """A comment and its replies, shown beside the revision the comment was made on."""

    comment: Comment
    parts: list[tuple[str, bool]]
    replies: list[Thread] = field(default_factory=list)


@dataclass
class RevisionComments:
    revision: PostRevision
    threads: list[Thread]
    current: bool


def mention_parts(comment: Comment) -> list[tuple[str, bool]]:
    """The comment's text in pieces, marking the @mentions that reached someone."""
    names: set[str] = set()
    for user in comment.mentions.all():
        email = user.email.lower()
        names.update({email, email.split("@")[0]})
    parts: list[tuple[str, bool]] = []
    last = 0
    for match in MENTION.finditer(comment.text):
        token = match.group(1).rstrip(".")
        if token.lower() not in names:
            continue
        start, end = match.start(), match.start() + 1 + len(token)
        if start > last:
            parts.append((comment.text[last:start], False))
        parts.append((comment.text[start:end], True))
        last = end
    if last < len(comment.text):
        parts.append((comment.text[last:], False))
    return parts


def comment_groups(post: Post) -> list[RevisionComments]:
    """Comments threaded and grouped by the revision each thread began on, newest revision first."""
    comments = list(
        Comment.objects.filter(post=post).select_related("author", "revision").prefetch_related("mentions")
        .order_by("created_at", "id")
    )
    threads = {c.pk: Thread(c, mention_parts(c)) for c in comments}
    roots: list[Thread] = []
    for comment in comments:
        parent = threads.get(comment.parent_id) if comment.parent_id else None
        (parent.replies if parent else roots).append(threads[comment.pk])
    by_revision: dict[int, RevisionComments] = {}
    for thread in roots:
        revision = thread.comment.revision
        group = by_revision.setdefault(
            revision.pk, RevisionComments(revision, [], revision.pk == post.current_revision_id)
        )
        group.threads.append(thread)
    return sorted(by_revision.values(), key=lambda g: g.revision.number, reverse=True)


def _post_or_404(request: HttpRequest, pk: int, capability: Capability | None = None) -> Post:
    queryset = Post.objects.select_related("department", "author", "current_revision", "break_glass_by")
    return get_visible_or_404(queryset, request.membership, capability, pk=pk)


def render_page(request: HttpRequest, post: Post, *, status: int = 200, comment_text: str = "",
                comment_errors: list[str] | None = None) -> HttpResponse:
    membership = request.membership
    zone = org_zone(membership)
    revision = post.current_revision
    channel_ids = revision.channel_ids if revision else []
    channels = {c.pk: c for c in Channel.objects.for_organisation(post.organisation_id).filter(pk__in=channel_ids)}
    content = [ChannelContent(channels[cid], services.text_for(revision, channels[cid]))
               for cid in channel_ids if cid in channels]
    images = [{"url": media_url(item["id"]), "alt_text": item.get("alt_text", ""), "number": n}
              for n, item in enumerate(revision.media if revision else [], start=1)]
    decisions = list(ApprovalDecision.objects.filter(post=post).select_related("approver", "revision")
                     .order_by("created_at", "id"))
    current_approvals = [d for d in decisions if revision and d.revision_id == revision.pk
                         and d.revision_hash == revision.content_hash and d.decision == DecisionKind.APPROVED]
    earlier_decisions = [d for d in decisions if d not in current_approvals]
    approvers = services.approvers_for(post)
    actions = services.actions_for(membership, post, approvers=approvers,
                                   approved_by={d.approver_id for d in current_approvals})
    targets = list(PublishTarget.objects.filter(post=post).select_related("channel", "revision").order_by("channel__display_name", "channel__handle", "id"))
    pause = services.paused(post)
    overdue = bool(post.scheduled_at and post.scheduled_at < timezone.now()
                   and post.status in (PostStatus.DRAFT, PostStatus.IN_REVIEW, PostStatus.CHANGES_REQUESTED))
    context = {
        "post": post,
        "revision": revision,
        "zone": zone,
        "zone_name": str(zone),
        "content": content,
        "images": images,
        "approvals": current_approvals,
        "approvals_have": len({d.approver_id for d in current_approvals}),
        "approvals_need": services.approvals_required(post, revision) if revision else 1,
        "earlier_decisions": earlier_decisions,
        "targets": targets,
        "target_states": TargetState,
        "pause_text": pause_text(pause, zone) if pause else "",
        "overdue": overdue,
        "actions": actions,
        "needs_choice": "schedule" in actions and (post.needs_new_time or post.held_late),
        "can_edit": "edit" in actions,
        "schedule_value": local_input_value(post.scheduled_at if post.scheduled_at and post.scheduled_at > timezone.now()
                                            else None, zone),
        "comment_groups": comment_groups(post),
        "comment_text": comment_text,
        "comment_errors": comment_errors or [],
        "edit_url": url_or_path("approvals:post_edit", f"/posts/{post.pk}/edit/", pk=post.pk),
        "revisions_url": url_or_path("approvals:post_revisions", f"/posts/{post.pk}/revisions/", pk=post.pk),
        "queue_url": reverse("approvals:queue") if membership.can(Capability.APPROVE_POSTS) else "",
    }
    return render(request, "approvals/post_detail.html", context, status=status)


@member_required()
@require_GET
def post_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return render_page(request, _post_or_404(request, pk, Capability.VIEW))


# ----------------------------------------------------------------------------------------- actions
def _run(request: HttpRequest, post: Post, call, done: str) -> HttpResponse:
    """One service call; a refusal a person can act on becomes a message (PermissionDenied stays a 403)."""
    try:
        result = call()
    except (ValidationError, TransitionNotAllowed) as error:
        messages.error(request, error_text(error))
    except Post.DoesNotExist:
        raise Http404("Not found.") from None
    else:
        messages.success(request, done(result) if callable(done) else done)
    if Post.objects.visible_to(request.membership).filter(pk=post.pk).exists():
        return redirect("approvals:post_detail", pk=post.pk)
    return redirect("home")


@member_required()
@require_POST
def post_submit(request: HttpRequest, pk: int) -> HttpResponse:
    post = _post_or_404(request, pk, Capability.EDIT_POSTS)
    return _run(request, post, lambda: services.post_submit(actor=request.membership, post_id=post.pk),
                "Submitted for approval. The department's approvers have been told.")


def _approved_message(post: Post) -> str:
    if post.status == PostStatus.IN_REVIEW:
        have, need = services.approval_count(post), services.approvals_required(post, post.current_revision)
        return f"Your approval is recorded ({have} of {need}); it needs another approver."
    if post.needs_new_time:
        return "Approved. Its scheduled time has passed: choose to publish now or pick a new time."
    return "Approved and scheduled."


@member_required()
@require_POST
def post_approve(request: HttpRequest, pk: int) -> HttpResponse:
    post = _post_or_404(request, pk, Capability.APPROVE_POSTS)
    comment = request.POST.get("comment", "")[:5000]
    return _run(request, post,
                lambda: services.post_approve(actor=request.membership, post_id=post.pk, comment=comment),
                _approved_message)


@member_required()
@require_POST
def post_request_changes(request: HttpRequest, pk: int) -> HttpResponse:
    post = _post_or_404(request, pk, Capability.APPROVE_POSTS)
    comment = request.POST.get("comment", "")[:5000]
    return _run(request, post,
                lambda: services.post_request_changes(actor=request.membership, post_id=post.pk, comment=comment),
                "Changes requested. The author has been told.")


@member_required()
@require_POST
def post_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    post = _post_or_404(request, pk, Capability.EDIT_POSTS)
    return _run(request, post, lambda: services.post_withdraw(actor=request.membership, post_id=post.pk),
                "Withdrawn: the post is a draft again.")


@member_required()
@require_POST
def post_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    post = _post_or_404(request, pk, Capability.EDIT_POSTS)
    return _run(request, post, lambda: services.post_cancel(actor=request.membership, post_id=post.pk),
                "Cancelled: the post will not be published.")


@member_required()
@require_POST
def post_schedule(request: HttpRequest, pk: int) -> HttpResponse:
    """Publish now, or at a time typed in the organisation's zone."""
    post = _post_or_404(request, pk, Capability.APPROVE_POSTS)
    membership = request.membership
    if "publish_now" in request.POST:
        when = None
    else:
        zone = org_zone(membership)
        raw = request.POST.get("scheduled_at", "")
        if not raw.strip():
            messages.error(request, f"Enter the new time as a date and time ({zone}), or choose Publish now.")
            return redirect("approvals:post_detail", pk=post.pk)
        try:
            when = parse_local_datetime(raw, zone)
        except ValidationError as error:
            messages.error(request, f"The new time ({zone}): {error_text(error)}")
            return redirect("approvals:post_detail", pk=post.pk)

    def done(result: Post) -> str:
        if when is None:
            return "It will be published in a moment."
        return f"Scheduled for {local_text(result.scheduled_at, org_zone(membership))}."

    return _run(request, post,
                lambda: services.post_schedule(actor=membership, post_id=post.pk, scheduled_at=when), done)


@member_required()
@require_POST
def post_break_glass(request: HttpRequest, pk: int) -> HttpResponse:
    post = _post_or_404(request, pk, Capability.BREAK_GLASS)
    reason = request.POST.get("reason", "")[:2000]
    return _run(request, post,
                lambda: services.post_break_glass(actor=request.membership, post_id=post.pk, reason=reason),
                "Published without approval: it goes out in a moment. The department's approvers have been told.")


@member_required()
@require_POST
def post_comment(request: HttpRequest, pk: int) -> HttpResponse:
    post = _post_or_404(request, pk, Capability.VIEW)
    text = request.POST.get("text", "")
    raw_parent = request.POST.get("parent", "")
    parent_id = id_from(raw_parent) if raw_parent else None
    if raw_parent and parent_id is None:
        messages.error(request, "Reply to a comment on this post.")
        return redirect("approvals:post_detail", pk=post.pk)
    try:
        services.comment_add(actor=request.membership, post_id=post.pk, text=text, parent_id=parent_id)
    except ValidationError as error:
        if parent_id is not None:
            messages.error(request, error_text(error))
            return redirect("approvals:post_detail", pk=post.pk)
        return render_page(request, post, status=400, comment_text=text, comment_errors=list(error.messages))
    except Post.DoesNotExist:
        raise Http404("Not found.") from None
    messages.success(request, "Reply added." if parent_id else "Comment added.")
    return redirect("approvals:post_detail", pk=post.pk)


urls = [
    path("posts/<int:pk>/", post_detail, name="post_detail"),
    path("posts/<int:pk>/submit/", post_submit, name="post_submit"),
    path("posts/<int:pk>/approve/", post_approve, name="post_approve"),
    path("posts/<int:pk>/request-changes/", post_request_changes, name="post_request_changes"),
    path("posts/<int:pk>/withdraw/", post_withdraw, name="post_withdraw"),
    path("posts/<int:pk>/cancel/", post_cancel, name="post_cancel"),
    path("posts/<int:pk>/schedule/", post_schedule, name="post_schedule"),
    path("posts/<int:pk>/break-glass/", post_break_glass, name="post_break_glass"),
    path("posts/<int:pk>/comment/", post_comment, name="post_comment"),
]

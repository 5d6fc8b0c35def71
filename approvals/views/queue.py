"""The approval queue (posts waiting for this approver, with bulk approve) and publishing pauses.

The queue lists posts in review in the approver's departments (admins: all) that they may approve: not
their own, their role named by the department's approval policy, and not yet approved by them in the current
revision. Bulk approve approves each post with approvals.services.post_approve in its own transaction, so one
refusal does not undo the others, and says which failed and why.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import Department, Membership
from accounts.roles import Capability
from approvals import services
from approvals.forms import parse_local_datetime
from approvals.models import (
    ApprovalDecision,
    ApprovalPolicy,
    ChannelApprovalRule,
    DecisionKind,
    Post,
    PostStatus,
    PublishingPause,
    default_approver_roles,
)
from approvals.views.post_page import error_text, id_from, org_zone, pause_text
from approvals.workflow import TransitionNotAllowed
from channels_app.models import Channel
from smm.scoping import get_visible_or_404, member_required

QUEUE_LIMIT = 200
BULK_LIMIT = 100
PAST_PAUSES = 50


# --------------------------------------------------------------------------------------------- queue
@dataclass
class QueueRow:
    post: Post
    channels: list[Channel]
    have: int
    need: int
    overdue: bool
    pause: str


def _own_department_ids(membership: Membership) -> set[int]:
    """The departments a member works in (admins: every department); Department.visible_to lists them all."""
    if membership.sees_all_departments:
        return set(Department.objects.visible_to(membership).values_list("pk", flat=True))
    return set(membership.department_ids)


def _approving_department_ids(membership: Membership) -> set[int]:
    """The member's departments (admins: all) whose approval policy lets their role approve."""
    policies = {p.department_id: p.approver_roles for p in ApprovalPolicy.objects.visible_to(membership)}
    departments = _own_department_ids(membership)
    default = default_approver_roles()
    return {d for d in departments if membership.role in policies.get(d, default)}


def queue_rows(membership: Membership) -> list[QueueRow]:
    """The posts this member may approve now, oldest submitted first; a fixed number of queries."""
    departments = _approving_department_ids(membership)
    posts = list(
        Post.objects.visible_to(membership)
        .filter(status=PostStatus.IN_REVIEW, department_id__in=departments, current_revision__isnull=False)
        .exclude(author_id=membership.user_id)
        .exclude(current_revision__author_id=membership.user_id)
        .select_related("department", "author", "current_revision")
        .order_by("submitted_at", "id")[:QUEUE_LIMIT]
    )
    revision_ids = [p.current_revision_id for p in posts]
    approvals: dict[int, set[int]] = {}
    decisions = ApprovalDecision.objects.filter(revision_id__in=revision_ids, decision=DecisionKind.APPROVED)
    hashes = {p.current_revision_id: p.current_revision.content_hash for p in posts}
    for revision_id, approver_id, digest in decisions.values_list("revision_id", "approver_id", "revision_hash"):
        if hashes.get(revision_id) == digest:
            approvals.setdefault(revision_id, set()).add(approver_id)
    all_channel_ids = {cid for p in posts for cid in p.current_revision.channel_ids}
    channels = {c.pk: c for c in Channel.objects.for_organisation(membership.organisation_id).filter(pk__in=all_channel_ids)}
    policies = dict(
        ApprovalPolicy.objects.for_organisation(membership.organisation_id).values_list("department_id", "approvals_required")
    )
    rules = dict(
        ChannelApprovalRule.objects.for_organisation(membership.organisation_id)
        .filter(channel_id__in=all_channel_ids).values_list("channel_id", "approvals_required")
    )
    pauses = list(PublishingPause.objects.for_organisation(membership.organisation_id).active().select_related("department"))
    zone = org_zone(membership)
    now = timezone.now()
    rows = []
    for post in posts:
        given = approvals.get(post.current_revision_id, set())
        if membership.user_id in given:
            continue  # already approved this revision: nothing more for this person to do
        ids = post.current_revision.channel_ids
        need = max([policies.get(post.department_id, 1), *(rules[c] for c in ids if c in rules)])
        pause = next((p for p in pauses if p.department_id in (None, post.department_id)), None)
        rows.append(QueueRow(
            post=post, channels=[channels[c] for c in ids if c in channels], have=len(given), need=need,
            overdue=bool(post.scheduled_at and post.scheduled_at < now),
            pause=pause_text(pause, zone) if pause else "",
        ))
    return rows


@member_required(Capability.APPROVE_POSTS)
@require_http_methods(["GET", "HEAD"])
def queue(request: HttpRequest) -> HttpResponse:
    membership = request.membership
    rows = queue_rows(membership)
    pauses = list(PublishingPause.objects.for_organisation(membership.organisation_id).active()
                  .select_related("department").order_by("starts_at"))
    visible = _own_department_ids(membership)
    zone = org_zone(membership)
    banners = [pause_text(p, zone) for p in pauses if p.department_id is None or p.department_id in visible]
    return render(request, "approvals/queue.html", {
        "rows": rows, "zone": zone, "zone_name": str(zone), "pause_banners": banners,
        "bulk_limit": BULK_LIMIT, "limited": len(rows) >= QUEUE_LIMIT,
    })


@member_required(Capability.APPROVE_POSTS)
@require_POST
def queue_approve(request: HttpRequest) -> HttpResponse:
    """Approves each chosen post on its own; reports how many were approved and which failed and why."""
    raw = request.POST.getlist("post")
    ids = []
    for value in raw[:BULK_LIMIT]:
        post_id = id_from(value)
        if post_id is not None and post_id not in ids:
            ids.append(post_id)
    if not ids:
        messages.error(request, "Choose at least one post to approve.")
        return redirect("approvals:queue")
    titles = dict(Post.objects.visible_to(request.membership).filter(pk__in=ids).values_list("pk", "title"))
    approved, waiting, failed = [], [], []
    for post_id in ids:
        title = titles.get(post_id)
        if title is None:
            failed.append(f"post {post_id}: not found")
            continue
        try:
            post = services.post_approve(actor=request.membership, post_id=post_id)
        except (ValidationError, TransitionNotAllowed, PermissionDenied, Post.DoesNotExist) as error:
            failed.append(f"“{title}”: {error_text(error)}")
            continue
        if post.status == PostStatus.IN_REVIEW:
            waiting.append(title)
        else:
            approved.append(post)
    if approved or waiting:
        text = f"Approved {len(approved) + len(waiting)} post{'s' if len(approved) + len(waiting) != 1 else ''}."
        if waiting:
            text += " Still waiting for another approver: " + ", ".join(f"“{t}”" for t in waiting) + "."
        late = [p.title for p in approved if p.needs_new_time]
        if late:
            text += " Their time had passed, so they need a new time or publish now: " + ", ".join(
                f"“{t}”" for t in late) + "."
        messages.success(request, text)
    if failed:
        messages.error(request, f"{len(failed)} could not be approved: " + "; ".join(failed))
    return redirect("approvals:queue")


# -------------------------------------------------------------------------------------------- pauses
def _pause_departments(membership: Membership) -> list[Department]:
    departments = Department.objects.visible_to(membership).active().order_by("name")
    if not membership.sees_all_departments:
        departments = departments.filter(pk__in=membership.department_ids)
    return list(departments)


def _may_lift(membership: Membership, pause: PublishingPause) -> bool:
    if membership.sees_all_departments:
        return True
    return pause.department_id is not None and pause.department_id in membership.department_ids


def _render_pauses(request: HttpRequest, *, errors: list[str] | None = None, form: dict | None = None,
                   status: int = 200) -> HttpResponse:
    membership = request.membership
    zone = org_zone(membership)
    now = timezone.now()
    pauses = PublishingPause.objects.for_organisation(membership.organisation_id).select_related(
        "department", "created_by", "lifted_by"
    )
    if not membership.sees_all_departments:
        pauses = pauses.filter(Q(department__isnull=True) | Q(department_id__in=membership.department_ids))
    active_ids = set(pauses.active(now).values_list("pk", flat=True))
    rows = list(pauses.order_by("-starts_at", "-id")[: PAST_PAUSES + len(active_ids)])
    active = [(p, _may_lift(membership, p)) for p in rows if p.pk in active_ids]
    past = [p for p in rows if p.pk not in active_ids][:PAST_PAUSES]
    return render(request, "approvals/pauses.html", {
        "active": active, "past": past, "zone": zone, "zone_name": str(zone),
        "departments": _pause_departments(membership), "organisation_wide": membership.sees_all_departments,
        "errors": errors or [], "form": form or {},
    }, status=status)


@member_required(Capability.MANAGE_POLICIES)
@require_http_methods(["GET", "HEAD", "POST"])
def pauses(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _render_pauses(request)
    membership = request.membership
    zone = org_zone(membership)
    form = {k: request.POST.get(k, "") for k in ("reason", "department", "ends_at")}
    department = None
    if form["department"] not in ("", "all"):
        department_id = id_from(form["department"])
        department = next((d for d in _pause_departments(membership) if d.pk == department_id), None)
        if department is None:
            return _render_pauses(request, errors=["Choose one of your departments."], form=form, status=400)
    elif not membership.sees_all_departments:
        return _render_pauses(request, errors=["Choose one of your departments: only an admin can pause the whole "
                                               "organisation."], form=form, status=400)
    ends_at = None
    if form["ends_at"].strip():
        try:
            ends_at = parse_local_datetime(form["ends_at"], zone)
        except ValidationError as error:
            return _render_pauses(request, errors=[f"Enter the end as a date and time ({zone}), or leave it empty. "
                                                   f"{error_text(error)}"], form=form, status=400)
    try:
        pause = services.pause_start(actor=membership, reason=form["reason"], department=department, ends_at=ends_at)
    except ValidationError as error:
        return _render_pauses(request, errors=list(error.messages), form=form, status=400)
    where = f"the {pause.department.name} department" if pause.department_id else "the whole organisation"
    messages.success(request, f"Publishing is paused for {where}. Scheduled posts stay queued until it is lifted.")
    return redirect("approvals:pauses")


@member_required(Capability.MANAGE_POLICIES)
@require_POST
def pause_lift(request: HttpRequest, pk: int) -> HttpResponse:
    pause = get_visible_or_404(PublishingPause.objects.all(), request.membership, Capability.MANAGE_POLICIES, pk=pk)
    try:
        services.pause_lift(actor=request.membership, pause_id=pause.pk)
    except PublishingPause.DoesNotExist:
        raise Http404("Not found.") from None
    messages.success(request, "The pause is lifted: scheduled posts will be published again.")
    return redirect("approvals:pauses")


urls = [
    path("posts/queue/", queue, name="queue"),
    path("posts/queue/approve/", queue_approve, name="queue_approve"),
    path("posts/pauses/", pauses, name="pauses"),
    path("posts/pauses/<int:pk>/lift/", pause_lift, name="pause_lift"),
]

"""The post state machine as a table: every person action × every status × every role, through the real services.

EXPECTED below is the specification written out by hand (the issue's workflow); the first test holds
approvals.workflow.ACTIONS to it, the big table drives approvals.services from a post put into each status
and checks that exactly the allowed cases move the post (to the table's status, with an audit event) and
every other case is refused (TransitionNotAllowed or PermissionDenied) leaving the post and the audit
trail as they were.

Special cases the table documents:
- approve from in review with a one-approval policy ends in *scheduled*: the last approval schedules the post
  at its time (here: no time, so "as soon as approved"). The two-approval and "time passed" paths are in
  tests/approvals/test_services.py.
- break glass from any pre-publishing state ends in scheduled (for now).
- separation of duties: the author never approves or requests changes on their own post, whatever their role;
  the author may schedule their own post only if they could break the glass anyway (admins).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from accounts.roles import MATRIX, Capability, Role
from approvals import services
from approvals.models import (
    ApprovalDecision,
    DecisionKind,
    Post,
    PostStatus,
    PublishTarget,
    TargetState,
)
from approvals.workflow import ACTIONS, TERMINAL, TransitionNotAllowed, allowed_actions
from audit.models import AuditEvent, EventType
from tests.approvals_factories import make_post
from tests.inbox_factories import make_channel

pytestmark = pytest.mark.django_db

S = PostStatus

# The specification, written out independently of approvals/workflow.py.
EXPECTED: dict[str, dict[str, str]] = {
    "edit": {S.DRAFT: S.DRAFT, S.CHANGES_REQUESTED: S.DRAFT, S.IN_REVIEW: S.IN_REVIEW, S.APPROVED: S.IN_REVIEW,
             S.SCHEDULED: S.IN_REVIEW},
    "submit": {S.DRAFT: S.IN_REVIEW, S.CHANGES_REQUESTED: S.IN_REVIEW},
    "approve": {S.IN_REVIEW: S.APPROVED},
    "request_changes": {S.IN_REVIEW: S.CHANGES_REQUESTED},
    "withdraw": {S.IN_REVIEW: S.DRAFT, S.APPROVED: S.DRAFT, S.SCHEDULED: S.DRAFT},
    "schedule": {S.APPROVED: S.SCHEDULED, S.SCHEDULED: S.SCHEDULED},
    "cancel": {S.DRAFT: S.CANCELLED, S.CHANGES_REQUESTED: S.CANCELLED, S.IN_REVIEW: S.CANCELLED,
               S.APPROVED: S.CANCELLED, S.SCHEDULED: S.CANCELLED},
    "break_glass": {S.DRAFT: S.SCHEDULED, S.CHANGES_REQUESTED: S.SCHEDULED, S.IN_REVIEW: S.SCHEDULED,
                    S.APPROVED: S.SCHEDULED, S.SCHEDULED: S.SCHEDULED},
}
CAPABILITY = {
    "edit": Capability.EDIT_POSTS, "submit": Capability.EDIT_POSTS, "withdraw": Capability.EDIT_POSTS,
    "cancel": Capability.EDIT_POSTS, "approve": Capability.APPROVE_POSTS,
    "request_changes": Capability.APPROVE_POSTS, "schedule": Capability.APPROVE_POSTS,
    "break_glass": Capability.BREAK_GLASS,
}
# Where the services end differently from the bare table (see the module docstring).
ENDS_IN = {("approve", S.IN_REVIEW): S.SCHEDULED}
AUDITED_AS = {
    "edit": EventType.POST_EDITED, "submit": EventType.POST_SUBMITTED, "approve": EventType.POST_APPROVED,
    "request_changes": EventType.POST_CHANGES_REQUESTED, "withdraw": EventType.POST_WITHDRAWN,
    "schedule": EventType.POST_SCHEDULED, "cancel": EventType.POST_CANCELLED, "break_glass": EventType.POST_BREAK_GLASS,
}
PERSON_ACTIONS = sorted(name for name, spec in ACTIONS.items() if spec.capability is not None)
ROLES = [r.value for r in Role]
STATUSES = [s.value for s in PostStatus]


# ------------------------------------------------------------------------------------ the table itself
def test_the_table_is_the_specification():
    assert PERSON_ACTIONS == sorted(EXPECTED)
    for name in PERSON_ACTIONS:
        assert ACTIONS[name].transitions == EXPECTED[name], name
        assert ACTIONS[name].capability == CAPABILITY[name], name
    # The system's own steps: scheduled → publishing → published (or partly published / failed).
    assert ACTIONS["start_publishing"].capability is None
    assert ACTIONS["start_publishing"].transitions == {S.SCHEDULED: S.PUBLISHING}
    assert ACTIONS["finish_publishing"].transitions == {S.PUBLISHING: S.PUBLISHED}


@pytest.mark.parametrize("status", STATUSES)
def test_every_status_appears_in_the_table(status):
    from approvals.workflow import FINISHED_STATES

    mentioned = set(FINISHED_STATES)
    for spec in ACTIONS.values():
        mentioned |= set(spec.transitions) | set(spec.transitions.values())
    assert status in mentioned


@pytest.mark.parametrize("status", sorted(TERMINAL | {S.PUBLISHING}))
def test_terminal_and_publishing_states_have_no_person_actions(status):
    assert allowed_actions(status) == []
    for name in PERSON_ACTIONS:
        assert status not in ACTIONS[name].transitions


def test_allowed_actions_lists_exactly_the_person_actions_from_a_status():
    for status in STATUSES:
        assert sorted(allowed_actions(status)) == sorted(a for a in EXPECTED if status in EXPECTED[a]), status


# ------------------------------------------------------------------------------ posts in each status
@pytest.fixture
def world(personas):
    a = personas.a
    channels = [
        make_channel(a, department="Communications", platform="x"),
        make_channel(a, department="Communications", platform="mastodon"),
    ]
    return a, channels


def put_in(post: Post, status: str, channels, approver) -> Post:
    """Set the post (made by the services as a draft) into `status` with the rows that status implies."""
    now = timezone.now()
    revision = post.current_revision
    fields: dict = {"status": status}
    if status not in (S.DRAFT, S.CANCELLED):
        fields["submitted_at"] = now - timedelta(hours=2)
    if status == S.CHANGES_REQUESTED:
        ApprovalDecision.objects.create(
            organisation_id=post.organisation_id, post=post, revision=revision, revision_hash=revision.content_hash,
            approver=approver.user, decision=DecisionKind.CHANGES_REQUESTED, comment="Say which Monday.",
        )
    approved_states = {S.APPROVED, S.SCHEDULED, S.PUBLISHING, S.PUBLISHED, S.PARTLY_PUBLISHED, S.FAILED}
    if status in approved_states:
        fields["approved_at"] = now - timedelta(hours=1)
        ApprovalDecision.objects.create(
            organisation_id=post.organisation_id, post=post, revision=revision, revision_hash=revision.content_hash,
            approver=approver.user, decision=DecisionKind.APPROVED,
        )
    if status == S.APPROVED:
        # Approved and not scheduled: its time passed while in review; it waits for a new time.
        fields["scheduled_at"] = now - timedelta(minutes=30)
        fields["needs_new_time"] = True
    if status in approved_states - {S.APPROVED}:
        fields["scheduled_at"] = now + timedelta(days=1) if status == S.SCHEDULED else now - timedelta(minutes=5)
        target_states = {
            S.SCHEDULED: [TargetState.PENDING, TargetState.PENDING],
            S.PUBLISHING: [TargetState.SENDING, TargetState.PENDING],
            S.PUBLISHED: [TargetState.SENT, TargetState.SENT],
            S.PARTLY_PUBLISHED: [TargetState.SENT, TargetState.FAILED],
            S.FAILED: [TargetState.FAILED, TargetState.FAILED],
        }[status]
        for n, (channel, state) in enumerate(zip(channels, target_states, strict=True)):
            sent = state == TargetState.SENT
            PublishTarget.objects.create(
                organisation_id=post.organisation_id, post=post, channel=channel, revision=revision, state=state,
                platform_id=f"p-{post.pk}-{n}" if sent else "", published_at=now if sent else None,
                claimed_at=now if state != TargetState.PENDING else None,
                last_error="The platform said no." if state == TargetState.FAILED else "",
            )
        if status in (S.PUBLISHED, S.PARTLY_PUBLISHED):
            fields["published_at"] = now
    Post.objects.filter(pk=post.pk).update(**fields)
    post.refresh_from_db()
    return post


def act(action: str, member, post: Post, channels) -> None:
    pk = post.pk
    if action == "edit":
        draft = services.Draft(title="Bin collections", body="Bins are collected on Tuesday this week.",
                               channel_ids=[c.pk for c in channels])
        services.post_update(actor=member, post_id=pk, draft=draft)
    elif action == "submit":
        services.post_submit(actor=member, post_id=pk)
    elif action == "approve":
        services.post_approve(actor=member, post_id=pk)
    elif action == "request_changes":
        services.post_request_changes(actor=member, post_id=pk, comment="Please say which Monday.")
    elif action == "withdraw":
        services.post_withdraw(actor=member, post_id=pk)
    elif action == "schedule":
        services.post_schedule(actor=member, post_id=pk, scheduled_at=None)
    elif action == "cancel":
        services.post_cancel(actor=member, post_id=pk)
    elif action == "break_glass":
        services.post_break_glass(actor=member, post_id=pk, reason="Road closed: people must know now.")
    else:  # pragma: no cover - the table test above keeps this list complete
        raise AssertionError(action)


def expected_outcome(action: str, status: str, role: str, is_author: bool, author_role: str) -> str | None:
    """The status the post ends in, or None when the action must be refused."""
    if Role(role) not in MATRIX[CAPABILITY[action]]:
        return None
    if status not in EXPECTED[action]:
        return None
    if is_author and action in ("approve", "request_changes"):
        return None
    if is_author and action == "schedule" and Role(author_role) not in MATRIX[Capability.BREAK_GLASS]:
        return None
    return ENDS_IN.get((action, status), EXPECTED[action][status])


def run_case(org, channels, action: str, status: str, role: str, author_role: str) -> None:
    member = org.members[role]
    post = make_post(org, channels, author_role=author_role)
    post = put_in(post, status, channels, org.members["approver"])
    events_before = set(AuditEvent.objects.for_target("approvals.post", post.pk).values_list("pk", flat=True))
    revision_before = post.current_revision_id
    outcome = expected_outcome(action, status, role, member.user_id == post.author_id, author_role)

    if outcome is None:
        with pytest.raises((TransitionNotAllowed, PermissionDenied)):
            act(action, member, post, channels)
        post.refresh_from_db()
        assert post.status == status, f"{role} {action} from {status} was refused but moved the post"
        assert post.current_revision_id == revision_before
        after = set(AuditEvent.objects.for_target("approvals.post", post.pk).values_list("pk", flat=True))
        assert after == events_before, f"{role} {action} from {status} was refused but audited"
        return

    act(action, member, post, channels)
    post.refresh_from_db()
    assert post.status == outcome, f"{role} {action} from {status}: {post.status}, expected {outcome}"
    new = AuditEvent.objects.for_target("approvals.post", post.pk).exclude(pk__in=events_before)
    # Exactly one event for the action, of its type, by its actor (issue 6 §1).
    assert list(new.values_list("event_type", "actor_id")) == [(AUDITED_AS[action], member.user_id)], (
        f"{role} {action} from {status}: wrote {list(new.values_list('event_type', flat=True))}, "
        f"expected one {AUDITED_AS[action]}"
    )
    if outcome == S.SCHEDULED:
        # A scheduled post has one waiting target per channel of its current revision.
        assert post.scheduled_at is not None and not post.needs_new_time
        assert sorted(PublishTarget.objects.filter(post=post, state=TargetState.PENDING)
                      .values_list("channel_id", flat=True)) == sorted(c.pk for c in channels)
    if action == "edit":
        assert post.current_revision_id != revision_before
    if outcome == S.DRAFT and action == "withdraw":
        assert not PublishTarget.objects.filter(post=post, state=TargetState.PENDING).exists()


CASES = [(action, status, role) for action in PERSON_ACTIONS for status in STATUSES for role in ROLES]


@pytest.mark.parametrize(("action", "status", "role"), CASES)
def test_action_from_status_by_role(world, action, status, role):
    """The editor wrote the post; each role tries each action from each status."""
    org, channels = world
    run_case(org, channels, action, status, role, author_role="editor")


SOD_CASES = [(action, status) for action in ("approve", "request_changes", "schedule") for status in STATUSES]


@pytest.mark.parametrize(("action", "status"), SOD_CASES)
def test_admin_author_acting_on_their_own_post(world, action, status):
    """Separation of duties: an admin who wrote the post may not approve it or request changes on it."""
    org, channels = world
    run_case(org, channels, action, status, "admin", author_role="admin")

"""The post state machine: every allowed transition, in one table.

Services ask `transition_for(action, status)` before changing a post and then change it with a
compare-and-set on the status they read (approvals.services._move), so two people acting at once
cannot both succeed. Who may take an action is `ACTIONS[action].capability` plus the rules in
approvals.services (separation of duties: the author never approves their own post).
"""

from __future__ import annotations

from dataclasses import dataclass

from accounts.roles import Capability
from approvals.models import PostStatus as S


@dataclass(frozen=True)
class Action:
    name: str
    label: str
    # Capability a member needs (None: the system only, e.g. the publisher).
    capability: Capability | None
    # from status -> to status
    transitions: dict[str, str]


ACTIONS: dict[str, Action] = {
    a.name: a
    for a in [
        Action("edit", "Edit", Capability.EDIT_POSTS, {
            S.DRAFT: S.DRAFT,
            S.CHANGES_REQUESTED: S.DRAFT,
            # Editing after submission makes a new revision and clears its approvals: back to review.
            S.IN_REVIEW: S.IN_REVIEW,
            S.APPROVED: S.IN_REVIEW,
            S.SCHEDULED: S.IN_REVIEW,
        }),
        Action("submit", "Submit for approval", Capability.EDIT_POSTS, {
            S.DRAFT: S.IN_REVIEW,
            S.CHANGES_REQUESTED: S.IN_REVIEW,
        }),
        Action("approve", "Approve", Capability.APPROVE_POSTS, {
            # Stays in review until enough distinct approvals; then approved (or scheduled, see services).
            S.IN_REVIEW: S.APPROVED,
        }),
        Action("request_changes", "Request changes", Capability.APPROVE_POSTS, {
            S.IN_REVIEW: S.CHANGES_REQUESTED,
        }),
        Action("withdraw", "Withdraw", Capability.EDIT_POSTS, {
            S.IN_REVIEW: S.DRAFT,
            S.APPROVED: S.DRAFT,
            S.SCHEDULED: S.DRAFT,
        }),
        Action("schedule", "Schedule", Capability.APPROVE_POSTS, {
            # An approved post gets (or changes) its time; "publish now" is a schedule for now.
            S.APPROVED: S.SCHEDULED,
            S.SCHEDULED: S.SCHEDULED,
        }),
        Action("cancel", "Cancel", Capability.EDIT_POSTS, {
            S.DRAFT: S.CANCELLED,
            S.CHANGES_REQUESTED: S.CANCELLED,
            S.IN_REVIEW: S.CANCELLED,
            S.APPROVED: S.CANCELLED,
            S.SCHEDULED: S.CANCELLED,
        }),
        Action("break_glass", "Publish now without approval (emergency)", Capability.BREAK_GLASS, {
            S.DRAFT: S.SCHEDULED,
            S.CHANGES_REQUESTED: S.SCHEDULED,
            S.IN_REVIEW: S.SCHEDULED,
            S.APPROVED: S.SCHEDULED,
            S.SCHEDULED: S.SCHEDULED,
        }),
        # The publisher (beat sweeper and publish tasks), never a person.
        Action("start_publishing", "Start publishing", None, {S.SCHEDULED: S.PUBLISHING}),
        Action("finish_publishing", "Finish publishing", None, {
            S.PUBLISHING: S.PUBLISHED,  # or partly_published / failed: see FINISHED_STATES
        }),
    ]
}

# finish_publishing ends in one of these, by how the post's channels went.
FINISHED_STATES = frozenset({S.PUBLISHED, S.PARTLY_PUBLISHED, S.FAILED})
# Editable content: a new revision may be made in these states.
EDITABLE = frozenset(ACTIONS["edit"].transitions)
TERMINAL = frozenset({S.PUBLISHED, S.PARTLY_PUBLISHED, S.FAILED, S.CANCELLED})


class TransitionNotAllowed(Exception):
    def __init__(self, action: str, status: str):
        label = ACTIONS[action].label if action in ACTIONS else action
        super().__init__(f"{label} is not possible while the post is {S(status).label.lower()}.")
        self.action = action
        self.status = status


def transition_for(action: str, status: str) -> str:
    """The status after `action` from `status`, or TransitionNotAllowed."""
    spec = ACTIONS.get(action)
    if spec is None or status not in spec.transitions:
        raise TransitionNotAllowed(action, status)
    return spec.transitions[status]


def allowed_actions(status: str) -> list[str]:
    return [name for name, spec in ACTIONS.items() if status in spec.transitions and spec.capability is not None]

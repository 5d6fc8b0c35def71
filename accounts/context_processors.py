from __future__ import annotations

from accounts.models import Membership
from accounts.roles import Capability


def organisation(request) -> dict:
    """The acting organisation and what the navigation may offer; templates never ask about roles."""
    membership = getattr(request, "membership", None)
    if membership is None:
        return {"current_membership": None, "current_organisation": None, "nav": {}}
    return {
        "current_membership": membership,
        "current_organisation": membership.organisation,
        "other_memberships": _other_memberships(request, membership),
        "nav": {
            "members": membership.can(Capability.MANAGE_MEMBERS),
            "departments": membership.can(Capability.MANAGE_DEPARTMENTS),
            "security": membership.can(Capability.MANAGE_ORGANISATION),
            "approval_queue": membership.can(Capability.APPROVE_POSTS),
            "publishing_rules": membership.can(Capability.MANAGE_POLICIES),
            "audit": membership.can(Capability.VIEW_AUDIT),
            "dashboards": membership.can(Capability.VIEW_DASHBOARDS),
        },
    }


def _other_memberships(request, membership: Membership):
    """The organisations to switch to: read with the membership itself (accounts.middleware) when it is still the
    request's membership, else a lazy queryset."""
    for_membership, others = getattr(request, "other_memberships", (None, None))
    if others is not None and for_membership == membership.pk:
        return others
    return (
        Membership.objects.active()
        .filter(user_id=membership.user_id)
        .exclude(pk=membership.pk)
        .select_related("organisation")
        .order_by("organisation__name")
    )

from __future__ import annotations

from accounts.roles import Capability


def organisation(request) -> dict:
    """The acting organisation and what the navigation may offer; templates never ask about roles."""
    membership = getattr(request, "membership", None)
    if membership is None:
        return {"current_membership": None, "current_organisation": None, "nav": {}}
    return {
        "current_membership": membership,
        "current_organisation": membership.organisation,
        "other_memberships": getattr(request, "other_memberships", []),
        "nav": {
            "members": membership.can(Capability.MANAGE_MEMBERS),
            "departments": membership.can(Capability.MANAGE_DEPARTMENTS),
            "security": membership.can(Capability.MANAGE_ORGANISATION),
        },
    }

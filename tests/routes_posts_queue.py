"""Posts routes of this area for tests/routes.py (see tests/routes.py for Route): the approval queue and pauses."""

from __future__ import annotations

from accounts.roles import Capability as C
from tests.routes import Route


def _pause(p):
    """An active pause of the Communications department, started by the admin."""
    from approvals import services

    pause = services.pause_start(actor=p.a.members["admin"], reason="Pre-election period",
                                 department=p.a.departments["Communications"])
    return {"pk": pause.pk}


ROUTES: dict = {
    "approvals:queue": Route(methods={"GET": C.APPROVE_POSTS}),
    "approvals:queue_approve": Route(methods={"POST": C.APPROVE_POSTS}),
    "approvals:pauses": Route(methods={"GET": C.MANAGE_POLICIES, "POST": C.MANAGE_POLICIES}),
    "approvals:pause_lift": Route(methods={"POST": C.MANAGE_POLICIES}, target=_pause),
}

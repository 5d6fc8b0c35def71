"""Posts routes of this area for tests/routes.py (see tests/routes.py for Route): the publishing settings pages."""

from accounts.roles import Capability as C
from tests.routes import Route


def _department(p):
    return {"pk": p.a.departments["Communications"].pk}


def _channel(p):
    from tests.inbox_factories import make_channel

    return {"pk": make_channel(p.a, department="Communications", platform="x").pk}


ROUTES: dict = {
    # Managers read the organisation-wide settings; only admins (organisation-wide) change them. No role but
    # admin holds MANAGE_ORGANISATION, so it names who may POST here.
    "approvals:settings": Route(methods={"GET": C.MANAGE_POLICIES, "POST": C.MANAGE_ORGANISATION}),
    "approvals:approval_policy": Route(
        methods={"GET": C.MANAGE_POLICIES, "POST": C.MANAGE_POLICIES}, target=_department
    ),
    "approvals:channel_rule": Route(methods={"GET": C.MANAGE_POLICIES, "POST": C.MANAGE_POLICIES}, target=_channel),
}

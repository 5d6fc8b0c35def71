"""Posts routes of this area for tests/routes.py (see tests/routes.py for Route)."""

from accounts.roles import Capability as C
from tests.routes import Route


def _department(p):
    return {"department_id": p.a.departments["Communications"].pk}


ROUTES: dict = {
    "approvals:post_list": Route(methods={"GET": C.VIEW}),
    "approvals:calendar": Route(methods={"GET": C.VIEW}),
    "approvals:calendar_feed": Route(methods={"GET": C.VIEW}),
    "approvals:calendar_subscribe": Route(methods={"GET": C.VIEW}),
    # Public in the sense of needing no session: calendar apps cannot sign in, so the signed token in the
    # query string is the credential (one member, organisation and department; 404 once their access ends).
    # It stays in the cross-tenant walk: another organisation's admin, signed in or not, gets a 404 here.
    # tests/approvals/test_calendar.py checks tokens for another organisation or department, and tampering.
    "approvals:calendar_ics": Route(methods={"GET": None}, target=_department, public=True),
}

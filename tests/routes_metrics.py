"""Issue 7's dashboard pages for tests/routes.py (see there for Route): admins and managers only, no object ids.

The CSV downloads are the same routes with ?format=csv&table=<name> (tests/metrics/test_dashboard_pages.py)."""

from __future__ import annotations

from accounts.roles import Capability as C
from tests.routes import Route

ROUTES: dict = {
    "metrics:overview": Route(methods={"GET": C.VIEW_DASHBOARDS}),
    "metrics:inbox": Route(methods={"GET": C.VIEW_DASHBOARDS}),
    "metrics:engagement": Route(methods={"GET": C.VIEW_DASHBOARDS}),
    "metrics:channel_shift": Route(methods={"GET": C.VIEW_DASHBOARDS}),
}

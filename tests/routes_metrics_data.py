"""Issue 7's routes of this area for tests/routes.py (see there for Route): the KPI API and the channel-shift data
pages (offline volumes, costs per contact)."""

from __future__ import annotations

from accounts.roles import Capability as C
from tests.routes import Route

ROUTES: dict = {
    "api:kpis-overview": Route(methods={"GET": C.VIEW_DASHBOARDS}),
    "api:kpis-inbox": Route(methods={"GET": C.VIEW_DASHBOARDS}),
    "api:kpis-engagement": Route(methods={"GET": C.VIEW_DASHBOARDS}),
    "api:kpis-channel-shift": Route(methods={"GET": C.VIEW_DASHBOARDS}),
    "metrics:channel_shift_data": Route(methods={"GET": C.VIEW_DASHBOARDS, "POST": C.VIEW_DASHBOARDS}),
    # Costs are organisation-wide: managers read them, admins change them.
    "metrics:channel_shift_costs": Route(methods={"GET": C.VIEW_DASHBOARDS, "POST": C.MANAGE_ORGANISATION}),
}

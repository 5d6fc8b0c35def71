"""Every URL route of the product, with what the cross-tenant and role tests need to call it.

A route that is not listed here fails tests/test_routes.py, so no later endpoint can skip the
cross-tenant (another organisation's object is a 404) and role (a missing capability is a 403) checks.
Each entry names, per HTTP method the route accepts, the capability a member needs; `target` builds
the URL kwargs pointing at an object of organisation A.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from accounts.roles import Capability as C


@dataclass(frozen=True)
class Route:
    # Method -> capability needed (None: any active member).
    methods: dict[str, C | None] = field(default_factory=dict)
    # Builds reverse() kwargs for organisation A's object, from the personas.
    target: Callable | None = None
    # No sign-in needed (sign-in pages, health, schema); the reason is required for object routes.
    public: bool = False
    # An object route deliberately outside tenant scoping, with the reason.
    not_tenant_scoped: str = ""


def _department(p):
    return {"pk": p.a.departments["Communications"].pk}


def _member(p):
    return {"pk": p.a.members["agent"].pk}


def _invitation(p):
    from accounts import services

    invitation, _ = services.invitation_create(
        actor=p.a.members["admin"], email="invitee@alpha.example", role="viewer", departments=[]
    )
    return {"pk": invitation.pk}


def _channel(p):
    from channels_app import services

    channel = services.channel_connect(
        actor=p.a.members["admin"],
        department=p.a.departments["Communications"],
        platform="mastodon",
        account_id="109000000000000001",
        handle="@alpha@social.example",
        credentials={"access_token": "route-test-secret"},
    )
    return {"pk": channel.pk}


ROUTES: dict[str, Route] = {
    # Overview and shared pages.
    "home": Route(methods={"GET": None}),
    "healthz": Route(methods={"GET": None}, public=True),
    "schema": Route(methods={"GET": None}, public=True),
    "api-docs": Route(methods={"GET": None}, public=True),
    # Sign-in, two-factor, passwords, invitations.
    "accounts:login": Route(public=True),
    "accounts:sign_in_code": Route(public=True),
    "accounts:logout": Route(methods={"POST": None}),
    "accounts:two_factor": Route(methods={"GET": None, "POST": None}),
    "accounts:backup_codes": Route(methods={"POST": None}),
    "accounts:switch_organisation": Route(methods={"POST": None}),
    "accounts:password_reset": Route(public=True),
    "accounts:password_reset_done": Route(public=True),
    "accounts:password_reset_confirm": Route(
        public=True,
        target=lambda p: {"uidb64": "MQ", "token": "set-password"},
        not_tenant_scoped="a signed, expiring token for one user; it names no organisation's object",
    ),
    "accounts:password_reset_complete": Route(public=True),
    "accounts:invitation_accept": Route(
        public=True,
        target=lambda p: {"token": "not-a-real-token"},
        not_tenant_scoped="the link's secret token is the capability; an unknown token is a 410 page",
    ),
    # Organisation settings (admins).
    "accounts:security_settings": Route(methods={"GET": C.MANAGE_ORGANISATION, "POST": C.MANAGE_ORGANISATION}),
    "accounts:department_list": Route(methods={"GET": C.MANAGE_DEPARTMENTS, "POST": C.MANAGE_DEPARTMENTS}),
    "accounts:department_edit": Route(
        methods={"GET": C.MANAGE_DEPARTMENTS, "POST": C.MANAGE_DEPARTMENTS}, target=_department
    ),
    "accounts:department_archive": Route(methods={"POST": C.MANAGE_DEPARTMENTS}, target=_department),
    "accounts:member_list": Route(methods={"GET": C.MANAGE_MEMBERS}),
    "accounts:member_invite": Route(methods={"GET": C.MANAGE_MEMBERS, "POST": C.MANAGE_MEMBERS}),
    "accounts:member_edit": Route(methods={"GET": C.MANAGE_MEMBERS, "POST": C.MANAGE_MEMBERS}, target=_member),
    "accounts:member_set_active": Route(methods={"POST": C.MANAGE_MEMBERS}, target=_member),
    "accounts:member_two_factor_reset": Route(methods={"POST": C.MANAGE_MEMBERS}, target=_member),
    "accounts:invitation_revoke": Route(methods={"POST": C.MANAGE_MEMBERS}, target=_invitation),
    # Channels.
    "channels_app:channel_list": Route(methods={"GET": None}),
    "channels_app:channel_disconnect": Route(methods={"POST": C.MANAGE_CHANNELS}, target=_channel),
    "channels_app:channel_grants": Route(methods={"GET": C.MANAGE_CHANNELS, "POST": C.MANAGE_CHANNELS}, target=_channel),
    "channels_app:connect_start": Route(methods={"GET": C.MANAGE_CHANNELS, "POST": C.MANAGE_CHANNELS}),
    "channels_app:connect_callback": Route(
        methods={"GET": C.MANAGE_CHANNELS},
        target=lambda p: {"platform": "x"},
        not_tenant_scoped="the platform name is not an object; the flow is bound to the person's session by its state",
    ),
    "channels_app:connect_pages": Route(
        methods={"GET": C.MANAGE_CHANNELS, "POST": C.MANAGE_CHANNELS},
        target=lambda p: {"state": "no-such-flow"},
        not_tenant_scoped="the state names a flow in the person's own session, never another organisation's object",
    ),
    # API v1.
    "api:auth-token": Route(public=True),
    "api:me": Route(methods={"GET": None}),
    "api:organisation": Route(methods={"GET": None, "PATCH": C.MANAGE_ORGANISATION}),
    "api:department-list": Route(methods={"GET": None, "POST": C.MANAGE_DEPARTMENTS}),
    "api:department-detail": Route(methods={"GET": None, "PATCH": C.MANAGE_DEPARTMENTS}, target=_department),
    "api:member-list": Route(methods={"GET": None}),
    "api:member-detail": Route(methods={"GET": None, "PATCH": C.MANAGE_MEMBERS}, target=_member),
    "api:channel-list": Route(methods={"GET": None}),
    "api:channel-detail": Route(methods={"GET": None}, target=_channel),
}


# The inbox's routes, one registry per area (so parallel work on each area touches its own file).
from tests.routes_inbox import ROUTES as _INBOX_ROUTES  # noqa: E402

ROUTES.update(_INBOX_ROUTES)

# The audit trail's routes (issue 6): viewer, API, export, retention, erasure and records requests.
from tests.routes_audit import ROUTES as _AUDIT_ROUTES  # noqa: E402

ROUTES.update(_AUDIT_ROUTES)

# Issue 7: the KPI API and the channel-shift data pages.
from tests.routes_metrics_data import ROUTES as _METRICS_DATA_ROUTES  # noqa: E402

ROUTES.update(_METRICS_DATA_ROUTES)

# The KPI dashboards (issue 7).
from tests.routes_metrics import ROUTES as _METRICS_ROUTES  # noqa: E402

ROUTES.update(_METRICS_ROUTES)

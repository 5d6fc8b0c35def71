"""The KPI API under /api/v1/kpis/: overview, inbox, engagement and channel shift, read only.

Each view is thin: `kpis.kpi_filter(membership, query params)` validates the period and filters and narrows them
to the member's departments (a manager asking for another department gets a 400 naming it, never its figures),
then the metrics.kpis functions compute the figures in SQL from the rollup tables, and metrics.serializers shape
them. Needs Capability.VIEW_DASHBOARDS (admins: the whole organisation; managers: their departments); other
roles get a 403. Bad parameters are a 400 with a message per field (smm.api.exception_handler).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Department, User
from accounts.roles import Capability
from metrics import kpis
from metrics.serializers import (
    ChannelShiftSerializer,
    EngagementSerializer,
    InboxSerializer,
    OverviewSerializer,
)
from smm.api import IsMember, membership_of

TOP_POSTS = 5

FILTER_PARAMETERS = [
    OpenApiParameter("from", str, description="First day (YYYY-MM-DD, organisation time), inclusive. Default: 27 "
                     "days before `to`."),
    OpenApiParameter("to", str, description="Last day (YYYY-MM-DD, organisation time), inclusive. Default: today."),
    OpenApiParameter("preset", str, enum=[*kpis.PRESETS, "this_month", "last_month"],
                     description="A period instead of from/to: the last 7, 28, 30, 90 or 365 days up to today, this "
                     "month or last month. Ignored when from or to is given. Default: the last 28 days."),
    OpenApiParameter("department", int, many=True,
                     description="Department ids (repeat or comma-separate). Managers may name only their own "
                     "departments; without it, every department you can see."),
    OpenApiParameter("channel", int, many=True, description="Channel ids (repeat or comma-separate)."),
    OpenApiParameter("platform", str, enum=["x", "facebook", "instagram", "mastodon", "bluesky"],
                     description="Only this platform's channels."),
]
COMPARE_PARAMETER = OpenApiParameter(
    "compare", bool, description="Also the previous period of the same length and the change in percent. "
    "Default: true.")
GRAIN_PARAMETER = OpenApiParameter("grain", str, enum=list(kpis.GRAINS),
                                   description="The series' periods: day, week (from Monday) or month. Default: day.")

BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


class KpiView(APIView):
    """Base: an active member with VIEW_DASHBOARDS; parses the shared parameters into a KpiFilter."""

    permission_classes = [IsMember]
    # Extra parameters this view accepts, validated with the shared ones so one 400 names every bad field.
    extra: tuple[str, ...] = ()

    def check_permissions(self, request):
        super().check_permissions(request)
        if not membership_of(request).can(Capability.VIEW_DASHBOARDS):
            raise exceptions.PermissionDenied("Your role does not allow this.")

    def parse(self, request) -> tuple[kpis.KpiFilter, dict]:
        params = request.query_params
        errors: dict[str, str] = {}
        options: dict = {}
        if "compare" in self.extra:
            value = (params.get("compare") or "true").lower()
            if value not in BOOLEANS:
                errors["compare"] = f"“{params.get('compare')}” is not true or false."
            options["compare"] = BOOLEANS.get(value, True)
        if "grain" in self.extra:
            grain = params.get("grain") or "day"
            if grain not in kpis.GRAINS:
                errors["grain"] = f"Unknown grain “{grain}”; one of {', '.join(kpis.GRAINS)}."
            options["grain"] = grain
        try:
            kf = kpis.kpi_filter(membership_of(request), params)
        except ValidationError as exc:
            errors.update({key: value[0] for key, value in exc.message_dict.items()})
            kf = None
        if errors:
            raise ValidationError(errors)
        return kf, options


def _period(kf: kpis.KpiFilter) -> dict:
    return {"from": kf.start, "to": kf.end, "days": kf.days}


def _filters(kf: kpis.KpiFilter) -> dict:
    return {
        "departments": list(kf.department_ids) if kf.department_ids is not None else None,
        "channels": list(kf.channel_ids) if kf.channel_ids is not None else None,
        "platform": kf.platform,
    }


def _names(model, ids, field: str) -> dict[int, str]:
    ids = {pk for pk in ids if pk is not None}
    if not ids:
        return {}
    if model is User:
        return {pk: full or email for pk, full, email in User.objects.filter(pk__in=ids).values_list(
            "pk", "full_name", "email")}
    return dict(model.objects.filter(pk__in=ids).values_list("pk", field))


# ----------------------------------------------------------------------------------------------- overview
class OverviewView(KpiView):
    extra = ("compare",)

    @extend_schema(
        summary="Headline KPIs for the period, with the previous period and the change.",
        description="Contacts, replies, first-response and resolution times, service-level attainment, posts, "
        "engagements and follower growth. Definitions: docs/kpis.md. Needs the dashboards capability "
        "(admins and managers); managers see their departments.",
        parameters=[*FILTER_PARAMETERS, COMPARE_PARAMETER],
        responses=OverviewSerializer,
    )
    def get(self, request):
        kf, options = self.parse(request)
        data = kpis.overview(kf, compare=options["compare"])
        data["filters"] = _filters(kf)
        data["period"] = _period(kf)
        if "previous_period" in data:
            data["previous_period"] = _period(kf.previous())
        return Response(OverviewSerializer(data).data)


# -------------------------------------------------------------------------------------------------- inbox
def _series(kf: kpis.KpiFilter, by: str, grain: str) -> list[dict]:
    rename = {"channel_id": "channel", "channel__handle": "channel_handle", "department_id": "department",
              "department__name": "department_name"}
    return [{rename.get(key, key): value for key, value in row.items()} for row in kpis.contacts_by(kf, by, grain)]


class InboxView(KpiView):
    extra = ("grain",)

    @extend_schema(
        summary="Inbox performance: contacts, response times and workload.",
        description="Totals; contacts per period (at the chosen grain) overall and per channel, platform and "
        "department; first-response and resolution times (median and 90th percentile, clock and office "
        "hours) with service-level attainment, overall, per department and per agent; workload per agent.",
        parameters=[*FILTER_PARAMETERS, GRAIN_PARAMETER],
        responses=InboxSerializer,
    )
    def get(self, request):
        kf, options = self.parse(request)
        grain = options["grain"]
        by_department = kpis.response_times(kf, by="department")
        by_agent = kpis.response_times(kf, by="agent")
        workload = kpis.agent_workload(kf)
        departments = _names(Department, [row["department"] for row in by_department], "name")
        agents = _names(User, [row["agent"] for row in by_agent] + [row["agent_id"] for row in workload], "")
        data = {
            "period": _period(kf),
            "filters": _filters(kf),
            "grain": grain,
            "totals": kpis.contact_totals(kf),
            "series": {
                "total": _series(kf, "", grain),
                "by_channel": _series(kf, "channel", grain),
                "by_platform": _series(kf, "platform", grain),
                "by_department": _series(kf, "department", grain),
            },
            "response_times": kpis.response_times(kf),
            "response_times_by_department": [
                {**row, "department_name": departments.get(row["department"], "")} for row in by_department],
            "response_times_by_agent": [
                {**row, "agent_name": agents.get(row["agent"], "")} for row in by_agent],
            "workload": [
                {"agent": row["agent_id"], "agent_name": agents.get(row["agent_id"], ""),
                 "replies_sent": row["replies_sent"] or 0, "conversations_replied": row["conversations_replied"] or 0,
                 "first_responses": row["first_responses"]}
                for row in workload],
        }
        return Response(InboxSerializer(data).data)


# --------------------------------------------------------------------------------------------- engagement
def _post(row: dict) -> dict:
    return {
        "target": row["target_id"], "post": row["post_id"], "title": row["post__title"],
        "channel": row["channel_id"], "channel_handle": row["channel__handle"], "platform": row["platform"],
        "url": row.get("target__platform_url") or None, "published_at": row["published_at"],
        **{key: row[key] for key in ("likes", "replies", "reposts", "quotes", "impressions", "link_clicks",
                                     "engagements", "followers", "engagement_rate", "rate_method")},
    }


class EngagementView(KpiView):
    @extend_schema(
        summary="Engagement: per channel (rate, method, follower growth), top and bottom posts, best hours.",
        description="Engagement rate = engagements ÷ impressions where the platform gives impressions, otherwise "
        "÷ followers; `rate_method` says which, beside every rate.",
        parameters=FILTER_PARAMETERS,
        responses=EngagementSerializer,
    )
    def get(self, request):
        kf, _ = self.parse(request)
        channels = [{**row, "channel": row["channel_id"]} for row in kpis.channel_engagement(kf)]
        data = {
            "period": _period(kf),
            "filters": _filters(kf),
            "channels": channels,
            "top_posts": [_post(row) for row in kpis.post_rates(kf, order="-engagement_rate", limit=TOP_POSTS)],
            "bottom_posts": [_post(row) for row in kpis.post_rates(kf, order="engagement_rate", limit=TOP_POSTS)],
            "best_hours": kpis.best_hours(kf),
        }
        return Response(EngagementSerializer(data).data)


# ------------------------------------------------------------------------------------------ channel shift
class ChannelShiftView(KpiView):
    @extend_schema(
        summary="Channel shift: digital share of all contacts per month and the estimated cost avoided.",
        description="Per month of the period: contacts in Civic Desk, the offline contacts recorded per channel, "
        "the digital share and the cost avoided, with the costs per contact used and their source. Offline "
        "figures are recorded per department, so channel and platform filters do not apply to them "
        "(`ignored_filters`).",
        parameters=FILTER_PARAMETERS,
        responses=ChannelShiftSerializer,
    )
    def get(self, request):
        kf, _ = self.parse(request)
        shift = kpis.channel_shift(kf)
        data = {
            **shift,
            "period": _period(kf),
            "filters": _filters(kf),
            "costs": [{"channel": channel, **values} for channel, values in shift["costs"].items()],
        }
        return Response(ChannelShiftSerializer(data).data)


# Registered under /api/v1/ by smm/urls.py.
URLS = [
    path("kpis/overview/", OverviewView.as_view(), name="kpis-overview"),
    path("kpis/inbox/", InboxView.as_view(), name="kpis-inbox"),
    path("kpis/engagement/", EngagementView.as_view(), name="kpis-engagement"),
    path("kpis/channel-shift/", ChannelShiftView.as_view(), name="kpis-channel-shift"),
]

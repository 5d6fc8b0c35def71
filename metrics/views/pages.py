"""The KPI dashboards: /dashboards/ (overview), /dashboards/inbox/, /dashboards/engagement/, /dashboards/channel-shift/.

Admins see the whole organisation, managers their own departments (Capability.VIEW_DASHBOARDS; everyone else
gets a 403). Each page validates its filter with metrics.kpis.kpi_filter: parameters it cannot use (a date that
is not one, a department or channel the member cannot see) give the page again with the messages and a 400,
never figures for something else. `?format=csv&table=<name>` downloads one of the page's tables with the same
filter. Reading dashboards writes no audit event: they show aggregates the member may already see.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_GET

from accounts.roles import Capability
from metrics.views import content
from metrics.views.filters import DashboardFilter, dashboard_filter
from metrics.views.tables import csv_response
from smm.scoping import member_required

PAGES = [
    # (url name, title, builder)
    ("overview", "Overview", content.overview),
    ("inbox", "Inbox performance", content.inbox),
    ("engagement", "Publishing and engagement", content.engagement),
    ("channel_shift", "Channel shift", content.channel_shift),
]
TITLES = {name: title for name, title, _ in PAGES}


def _plain(message: str, status: int) -> HttpResponse:
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


def _dashboard(request: HttpRequest, page: str, build: Callable[[DashboardFilter], dict]) -> HttpResponse:
    membership = request.membership
    form = dashboard_filter(membership, request.GET)
    wants = request.GET.get("format", "")
    if wants not in ("", "html", "csv"):
        return _plain(f"Unknown format “{wants}”: use format=csv with table=<name>, or leave it out.", 400)
    context = {"form": form, "page": page, "title": TITLES[page], "pages": PAGES}
    if form.errors:
        if wants == "csv":
            return _plain("No CSV: these filters could not be used.\n" + "".join(
                f"- {label}: {message}\n" for label, message in form.error_list), 400)
        return render(request, f"metrics/{page}.html", context, status=400)
    built = build(form)
    if wants == "csv":
        name = request.GET.get("table", "")
        table = built["tables"].get(name)
        if table is None:
            return _plain(f"No table “{name}” on this page; the tables are: {', '.join(built['tables'])}.", 404)
        return csv_response(table, organisation_slug=membership.organisation.slug, page=page,
                            start=form.kpi.start, end=form.kpi.end)
    context.update(built)
    return render(request, f"metrics/{page}.html", context)


@member_required(Capability.VIEW_DASHBOARDS)
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    return _dashboard(request, "overview", content.overview)


@member_required(Capability.VIEW_DASHBOARDS)
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    return _dashboard(request, "inbox", content.inbox)


@member_required(Capability.VIEW_DASHBOARDS)
@require_GET
def engagement(request: HttpRequest) -> HttpResponse:
    return _dashboard(request, "engagement", content.engagement)


@member_required(Capability.VIEW_DASHBOARDS)
@require_GET
def channel_shift(request: HttpRequest) -> HttpResponse:
    return _dashboard(request, "channel_shift", content.channel_shift)


urls = [
    path("dashboards/", overview, name="overview"),
    path("dashboards/inbox/", inbox, name="inbox"),
    path("dashboards/engagement/", engagement, name="engagement"),
    path("dashboards/channel-shift/", channel_shift, name="channel_shift"),
]

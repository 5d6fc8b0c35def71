"""The posts list, the month and week calendar, and the calendar feeds (JSON and iCalendar).

Thin views: they parse the query, call approvals.calendar (the reads, the grids and the iCalendar
writer) and render. Times are shown in the organisation's time zone: each page renders inside
timezone.override(organisation's zone).
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import render
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_safe

from accounts.models import Department
from accounts.roles import Capability
from approvals import calendar as cal
from approvals.models import PostStatus
from smm.scoping import member_required

# The composer's route belongs to another part of the approvals work; these are the names it may take.
_COMPOSE_ROUTES = ("approvals:post_new", "approvals:post_create", "approvals:compose")


def _compose_url() -> str:
    for name in _COMPOSE_ROUTES:
        try:
            return reverse(name)
        except NoReverseMatch:
            continue
    return "/posts/new/"


def _query(params: QueryDict, **changes) -> str:
    """The current query string with some parameters replaced (None removes one)."""
    q = params.copy()
    for name, value in changes.items():
        q.pop(name, None)
        if value is not None:
            q[name] = value
    return q.urlencode()


# -------------------------------------------------------------------------------------------- list
@member_required(Capability.VIEW)
@require_GET
def post_list(request: HttpRequest) -> HttpResponse:
    membership = request.membership
    tz = cal.org_timezone(membership)
    context = {
        "choices": cal.filter_choices(membership),
        "params": request.GET,
        "statuses": PostStatus.choices,
        "can_edit": membership.can(Capability.EDIT_POSTS),
        "compose_url": _compose_url(),
        "timezone_name": str(tz),
    }
    status = 200
    try:
        flt = cal.PostFilter.from_params(request.GET, membership, with_status=True)
        cursor = (request.GET.get("cursor") or "").strip()
        rows, next_cursor = cal.list_posts(membership, flt, cursor)
        counts = cal.status_counts(membership, flt)
    except cal.CalendarError as exc:
        context["filter_errors"] = exc.errors
        status = 400
    else:
        tabs = [
            {"label": "All", "count": sum(counts.values()), "url": "?" + _query(request.GET, status=None, cursor=None),
             "current": not flt.status}
        ] + [
            {"label": label, "count": counts[value], "url": "?" + _query(request.GET, status=value, cursor=None),
             "current": flt.status == value}
            for value, label in PostStatus.choices
        ]
        context.update({
            "rows": rows,
            "tabs": tabs,
            "filter": flt,
            "next_url": ("?" + _query(request.GET, cursor=next_cursor)) if next_cursor else "",
            "first_url": ("?" + _query(request.GET, cursor=None)) if cursor else "",
        })
    with timezone.override(tz):
        return render(request, "approvals/list.html", context, status=status)


# ---------------------------------------------------------------------------------------- calendar
@member_required(Capability.VIEW)
@require_GET
def calendar_page(request: HttpRequest) -> HttpResponse:
    membership = request.membership
    tz = cal.org_timezone(membership)
    context = {"choices": cal.filter_choices(membership), "params": request.GET, "timezone_name": str(tz)}
    status = 200
    try:
        view, anchor = cal.parse_view(request.GET)
        flt = cal.PostFilter.from_params(request.GET, membership)
    except cal.CalendarError as exc:
        context["filter_errors"] = exc.errors
        status = 400
    else:
        anchor = anchor or timezone.now().astimezone(tz).date()
        month = cal.build_calendar(membership, view, anchor, flt)
        context.update({
            "cal": month,
            "view": view,
            "filter": flt,
            "previous_url": "?" + _query(request.GET, date=month.previous.isoformat()),
            "next_url": "?" + _query(request.GET, date=month.next.isoformat()),
            "today_url": "?" + _query(request.GET, date=None),
            "month_url": "?" + _query(request.GET, view="month"),
            "week_url": "?" + _query(request.GET, view="week"),
            "weekdays": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
            "showing_today": month.today in [d.day for week in month.weeks for d in week if d.in_period],
        })
    with timezone.override(tz):
        return render(request, "approvals/calendar.html", context, status=status)


@member_required(Capability.VIEW)
@require_GET
def calendar_feed(request: HttpRequest) -> HttpResponse:
    """JSON: ?start=&end= (dates in the organisation's zone, or ISO date-times; at most 100 days), department, channel."""
    try:
        body = cal.feed(request.membership, request.GET, absolute=request.build_absolute_uri)
    except cal.CalendarError as exc:
        return JsonResponse({"errors": exc.errors}, status=400)
    return JsonResponse(body)


@member_required(Capability.VIEW)
@require_GET
def calendar_subscribe(request: HttpRequest) -> HttpResponse:
    membership = request.membership
    departments = Department.objects.visible_to(membership).active().order_by("name", "id")
    if not membership.sees_all_departments:
        departments = departments.filter(pk__in=membership.department_ids)
    feeds = []
    for department in departments:
        url = request.build_absolute_uri(
            reverse("approvals:calendar_ics", args=[department.pk]) + "?token=" + cal.ics_token(membership, department.pk)
        )
        feeds.append({"department": department, "url": url, "webcal": "webcal://" + url.split("://", 1)[1]})
    return render(request, "approvals/calendar_subscribe.html", {"feeds": feeds})


# No session: calendar apps cannot sign in. The signed token in the query string stands for one member,
# organisation and department, and the feed answers only while that member's access lasts (else 404).
@require_safe
def calendar_ics(request: HttpRequest, department_id: int) -> HttpResponse:
    found = cal.ics_membership(request.GET.get("token", ""), department_id)
    if found is None:
        raise Http404("No such calendar.")
    membership, department = found
    body = cal.ics_feed(membership, department, host=request.get_host().split(":")[0] or "civicdesk",
                        absolute=request.build_absolute_uri)
    response = HttpResponse(body.encode("utf-8"), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="posts-{department.pk}.ics"'
    # The link is personal: keep shared caches from holding one person's feed.
    response["Cache-Control"] = "private, max-age=300"
    response["Referrer-Policy"] = "no-referrer"
    return response


urls = [
    path("posts/", post_list, name="post_list"),
    path("posts/calendar/", calendar_page, name="calendar"),
    path("posts/calendar/feed.json", calendar_feed, name="calendar_feed"),
    path("posts/calendar/subscribe/", calendar_subscribe, name="calendar_subscribe"),
    path("posts/calendar/<int:department_id>.ics", calendar_ics, name="calendar_ics"),
]

"""The KPIs, computed in SQL from the rollup tables (never raw messages). Definitions: docs/kpis.md.

Every function takes a KpiFilter, built for one member by `kpi_filter(membership, params)`: it validates the
parameters (dates, department, channel, platform) and narrows the departments to those the member sees, so
a manager's figures never include another department's rows. The HTML dashboards, the API and the weekly
e-mail all call these functions: one definition of each figure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Aggregate, Avg, Count, F, FloatField, Q, Sum
from django.db.models.functions import TruncMonth, TruncWeek
from django.utils import timezone

from accounts.models import Department, User
from channels_app.models import Channel, Platform
from metrics.models import (
    DEFAULT_COSTS,
    OFFLINE_CHANNELS,
    AgentDaily,
    ChannelSnapshot,
    ContactChannel,
    ContactCost,
    ContactDaily,
    OfflineContactVolume,
    PostPerformance,
    ResponseFact,
    RollupCursor,
)
from metrics.rollups import zone_of

MAX_DAYS = 731  # two years in one view
PRESETS = {"7d": 7, "28d": 28, "30d": 30, "90d": 90, "365d": 365}
GRAINS = ("day", "week", "month")


# ------------------------------------------------------------------------------------------ filter
@dataclass(frozen=True)
class KpiFilter:
    organisation_id: int
    start: date  # inclusive, organisation-local days
    end: date  # inclusive
    department_ids: tuple[int, ...] | None = None  # None: every department of the organisation
    channel_ids: tuple[int, ...] | None = None
    platform: str | None = None
    now: object = field(default=None, compare=False)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> KpiFilter:
        """The period of the same length just before this one (the comparison)."""
        return replace(self, start=self.start - timedelta(days=self.days), end=self.start - timedelta(days=1))

    def scope(self, queryset, *, department="department", channel="channel", platform="platform"):
        queryset = queryset.filter(organisation_id=self.organisation_id)
        if self.department_ids is not None and department:
            queryset = queryset.filter(**{f"{department}_id__in": self.department_ids})
        if self.channel_ids is not None and channel:
            queryset = queryset.filter(**{f"{channel}_id__in": self.channel_ids})
        if self.platform and platform:
            queryset = queryset.filter(**{platform: self.platform})
        return queryset


def _parse_date(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValidationError({name: f"“{value}” is not a date: use YYYY-MM-DD."}) from None


def _parse_ids(value, name: str) -> list[int]:
    values = value if isinstance(value, list | tuple) else [value]
    ids = []
    for item in values:
        for part in str(item).split(","):
            part = part.strip()
            if not part:
                continue
            if not part.isdigit():
                raise ValidationError({name: f"“{part}” is not an id."})
            ids.append(int(part))
    return ids


def _visible_ids(values, name: str, visible_of) -> tuple[int, ...] | None:
    """The ids asked for (None when none), each one the member may see, or a ValidationError naming the first
    that is not: another organisation's department or channel is an error, never silently nothing or all."""
    wanted = _parse_ids(values, name)
    if not wanted:
        return None
    visible = visible_of(wanted)
    unknown = [pk for pk in wanted if pk not in visible]
    if unknown:
        raise ValidationError({name: f"No {name} {unknown[0]} that you can see."})
    return tuple(sorted(set(wanted)))


def kpi_filter(membership, params) -> KpiFilter:
    """Validate `from`, `to`, `preset`, `department`, `channel`, `platform` for this member.

    Missing dates mean the last 28 days up to today (organisation time). A department or channel the member
    may not see is an error naming it, never silently all. Raises ValidationError with a message per field.
    """
    get = params.get
    getlist = getattr(params, "getlist", lambda key: [params[key]] if params.get(key) not in (None, "") else [])
    organisation_id = membership.organisation_id
    today = timezone.now().astimezone(zone_of(organisation_id)).date()
    errors: dict[str, str] = {}
    preset = get("preset") or ""
    start = end = None
    try:
        if get("from") or get("to"):
            end = _parse_date(get("to"), "to") if get("to") else today
            start = _parse_date(get("from"), "from") if get("from") else end - timedelta(days=27)
        elif preset:
            if preset not in PRESETS and preset not in ("this_month", "last_month"):
                raise ValidationError({"preset": f"Unknown preset “{preset}”."})
            if preset == "this_month":
                start, end = today.replace(day=1), today
            elif preset == "last_month":
                end = today.replace(day=1) - timedelta(days=1)
                start = end.replace(day=1)
            else:
                end, start = today, today - timedelta(days=PRESETS[preset] - 1)
        else:
            end, start = today, today - timedelta(days=27)
    except ValidationError as exc:
        errors.update({key: value[0] for key, value in exc.message_dict.items()})
    if start and end:
        if start > end:
            errors["from"] = "The start date is after the end date."
        elif (end - start).days + 1 > MAX_DAYS:
            errors["from"] = f"Choose at most {MAX_DAYS} days."
    visible_departments = set(Department.objects.filter(organisation_id=organisation_id).values_list("pk", flat=True))
    department_ids: tuple[int, ...] | None = None
    if not membership.sees_all_departments:
        visible_departments &= set(membership.department_ids)
        department_ids = tuple(sorted(visible_departments))
    try:
        wanted = _visible_ids(getlist("department"), "department", lambda ids: visible_departments)
        if wanted is not None:
            department_ids = wanted
    except ValidationError as exc:
        errors.update({key: value[0] for key, value in exc.message_dict.items()})
    channel_ids = None
    try:
        channel_ids = _visible_ids(getlist("channel"), "channel", lambda ids: set(
            Channel.objects.visible_to(membership).filter(pk__in=ids).values_list("pk", flat=True)))
    except ValidationError as exc:
        errors.update({key: value[0] for key, value in exc.message_dict.items()})
    platform = get("platform") or None
    if platform and platform not in Platform.values:
        errors["platform"] = f"Unknown platform “{platform}”; one of {', '.join(Platform.values)}."
    if errors:
        raise ValidationError(errors)
    return KpiFilter(organisation_id, start, end, department_ids, channel_ids, platform)


# ------------------------------------------------------------------------------------- percentiles
class _PercentileCont(Aggregate):
    function = "PERCENTILE_CONT"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, fraction: float, **extra):
        super().__init__(expression, fraction=float(fraction), **extra)


class _PercentileArray(Aggregate):
    """percentile_cont of several fractions from one sort (PostgreSQL ignores NULLs in ordered-set aggregates)."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(ARRAY[%(fractions)s]::float8[]) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression, fractions: tuple[float, ...], **extra):
        from django.contrib.postgres.fields import ArrayField

        super().__init__(expression, fractions=", ".join(str(float(f)) for f in fractions),
                         output_field=ArrayField(FloatField()), **extra)


def _python_percentile(values: list[float], fraction: float) -> float | None:
    """PostgreSQL's percentile_cont: linear interpolation between the two nearest ranks."""
    if not values:
        return None
    values = sorted(values)
    position = fraction * (len(values) - 1)
    low, high = math.floor(position), math.ceil(position)
    return values[low] + (values[high] - values[low]) * (position - low)


def percentiles(queryset, fields: list[str], fractions=(0.5, 0.9)) -> dict[str, float | None]:
    """{"<field>_p50": …, "<field>_p90": …} over the non-null values, in SQL on PostgreSQL."""
    if connection.vendor == "postgresql":
        aggregates = {}
        for name in fields:
            for fraction in fractions:
                aggregates[f"{name}_p{round(fraction * 100)}"] = _PercentileCont(
                    name, fraction, filter=Q(**{f"{name}__isnull": False}))
        return queryset.aggregate(**aggregates)
    result: dict[str, float | None] = {}
    for name in fields:
        values = [v for v in queryset.values_list(name, flat=True) if v is not None]
        for fraction in fractions:
            result[f"{name}_p{round(fraction * 100)}"] = _python_percentile(values, fraction)
    return result


# ------------------------------------------------------------------------------------------ inbox
CONTACT_FIELDS = ("inbound_messages", "outbound_messages", "automatic_replies", "conversations_opened",
                  "conversations_closed")
TIME_FIELDS = ["first_response_seconds", "first_response_office_seconds", "resolution_seconds",
               "resolution_office_seconds"]


def contact_totals(f: KpiFilter) -> dict[str, int]:
    rows = f.scope(ContactDaily.objects.all()).filter(day__gte=f.start, day__lte=f.end)
    totals = rows.aggregate(**{name: Sum(name) for name in CONTACT_FIELDS})
    return {name: totals[name] or 0 for name in CONTACT_FIELDS}


def contacts_by(f: KpiFilter, by: str, grain: str = "day") -> list[dict]:
    """Contact counts per period and per `by` ("channel", "platform", "department" or "" for none)."""
    if grain not in GRAINS:
        raise ValidationError({"grain": f"Unknown grain “{grain}”; one of {', '.join(GRAINS)}."})
    rows = f.scope(ContactDaily.objects.all()).filter(day__gte=f.start, day__lte=f.end)
    if grain == "week":
        rows = rows.annotate(period=TruncWeek("day"))
    elif grain == "month":
        rows = rows.annotate(period=TruncMonth("day"))
    else:
        rows = rows.annotate(period=F("day"))
    groupings = {"channel": ["channel_id", "channel__handle"], "platform": ["platform"],
                 "department": ["department_id", "department__name"], "": []}
    if by not in groupings:
        raise ValidationError({"by": f"Unknown grouping “{by}”; one of channel, platform, department."})
    keys = groupings[by]
    result = []
    for row in rows.values("period", *keys).annotate(**{f"total_{n}": Sum(n) for n in CONTACT_FIELDS}).order_by(
            "period", *keys):
        period = row.pop("period")
        out = {"period": period.date() if isinstance(period, datetime) else period}
        out.update({key: row[key] for key in keys})
        out.update({n: row[f"total_{n}"] or 0 for n in CONTACT_FIELDS})
        result.append(out)
    return result


def _attainment(rows, due: str, done: str, now) -> dict[str, object]:
    met = rows.filter(**{f"{due}__isnull": False, f"{done}__isnull": False}).filter(**{f"{done}__lte": F(due)}).count()
    missed = rows.filter(**{f"{due}__isnull": False}).filter(
        Q(**{f"{done}__gt": F(due)}) | Q(**{f"{done}__isnull": True, f"{due}__lt": now})).count()
    total = met + missed
    return {"met": met, "missed": missed, "percent": round(100 * met / total, 1) if total else None}


def response_times(f: KpiFilter, *, by: str = "") -> list[dict] | dict:
    """Median and 90th percentile first-response and resolution times, clock and office hours, and the
    service-level attainment, over the conversations opened in the period. `by`: "", "department",
    "channel", "platform" or "agent" (the person who sent the first reply)."""
    now = f.now or timezone.now()
    facts = f.scope(ResponseFact.objects.all()).filter(opened_day__gte=f.start, opened_day__lte=f.end)
    if not by:
        return _cached_times(f, facts, now)
    keys = {"department": "department_id", "channel": "channel_id", "platform": "platform", "agent": "responder_id"}
    if by not in keys:
        raise ValidationError({"by": f"Unknown grouping “{by}”; one of {', '.join(keys)}."})
    key = keys[by]
    grouped = facts.exclude(**{f"{key}__isnull": True})
    if connection.vendor == "postgresql":
        # One query for every group, however many departments, channels or agents there are.
        rows = grouped.values(key).annotate(**_time_aggregates(now)).order_by(key)
        return [{by: row[key], **_times_from(row)} for row in rows]
    return [{by: value, **_times(facts.filter(**{key: value}), now)}
            for value in grouped.values_list(key, flat=True).distinct().order_by(key)]


# The period's times sort every fact it holds (≈ 100,000 for a large organisation's quarter, 60 ms of CPU), and
# they change only when the rollups do: cached per filter and rollup run (RollupCursor.version, bumped by every
# refresh and rebuild). Without a fixed `now` the count of conversations past due moves with the clock, so an
# entry lives at most this long: the figures lag by no more than the rollups themselves (refreshed every minute).
TIMES_CACHE_SECONDS = 60


def _cached_times(f: KpiFilter, facts, now) -> dict:
    version = RollupCursor.objects.filter(organisation_id=f.organisation_id).values_list("version", flat=True).first()
    if version is None:  # never refreshed: nothing to cache
        return _times(facts, now)
    # The whole filter is in the key: a manager's figures (their departments) are never another member's.
    ids = [",".join(map(str, values)) if values is not None else "all" for values in (f.department_ids, f.channel_ids)]
    key = ":".join(["kpis:times", str(f.organisation_id), str(version), f.start.isoformat(), f.end.isoformat(), *ids,
                    f.platform or "all", f.now.isoformat() if f.now else "live"])
    result = cache.get(key)
    if result is None:
        result = _times(facts, now)
        cache.set(key, result, TIMES_CACHE_SECONDS)
    return result


def _sla_counts(due: str, done: str, now) -> dict:
    """met: done by the due time; missed: done late, or not done and already past due. Not yet due: neither."""
    return {
        "met": Count("pk", filter=Q(**{f"{due}__isnull": False, f"{done}__lte": F(due)})),
        "missed": Count("pk", filter=Q(**{f"{due}__isnull": False}) & (
            Q(**{f"{done}__gt": F(due)}) | Q(**{f"{done}__isnull": True, f"{due}__lt": now}))),
    }


def _sla(met: int, missed: int) -> dict:
    total = met + missed
    return {"met": met, "missed": missed, "percent": round(100 * met / total, 1) if total else None}


def _times(facts, now) -> dict:
    if connection.vendor != "postgresql":
        counts = facts.aggregate(conversations=Count("pk"), responded=Count("first_response_at"),
                                 resolved=Count("closed_at"))
        return {**counts, **percentiles(facts, TIME_FIELDS),
                "first_response_sla": _attainment(facts, "first_response_due_at", "first_response_at", now),
                "resolution_sla": _attainment(facts, "resolution_due_at", "closed_at", now)}
    # One pass over the period's facts (an index-only scan of response_fact_org_day_idx): the counts, both
    # service levels and both percentiles of each time from one sort per time (bench/kpis.py).
    return _times_from(facts.aggregate(**_time_aggregates(now)))


def _time_aggregates(now) -> dict:
    """The aggregates of one set of facts (PostgreSQL), named apart from the model's fields so that they also
    work per group (`values(key).annotate(...)`)."""
    first = {f"first_{k}": v for k, v in _sla_counts("first_response_due_at", "first_response_at", now).items()}
    resolution = {f"resolution_{k}": v for k, v in _sla_counts("resolution_due_at", "closed_at", now).items()}
    return {"n_conversations": Count("pk"), "n_responded": Count("first_response_at"), "n_resolved": Count("closed_at"),
            **first, **resolution, **{f"pct_{name}": _PercentileArray(name, (0.5, 0.9)) for name in TIME_FIELDS}}


def _times_from(row: dict) -> dict:
    result = {key: row[f"n_{key}"] for key in ("conversations", "responded", "resolved")}
    for name in TIME_FIELDS:
        p50, p90 = row[f"pct_{name}"] or (None, None)
        result[f"{name}_p50"], result[f"{name}_p90"] = p50, p90
    result["first_response_sla"] = _sla(row["first_met"], row["first_missed"])
    result["resolution_sla"] = _sla(row["resolution_met"], row["resolution_missed"])
    return result


def agent_workload(f: KpiFilter) -> list[dict]:
    """Per agent: replies sent, conversations replied to (per day, summed), and their first-response times."""
    rows = f.scope(AgentDaily.objects.all(), channel="", platform="").filter(day__gte=f.start, day__lte=f.end)
    if f.channel_ids is not None or f.platform:
        # AgentDaily has no channel: with a channel or platform filter, workload comes from the facts only.
        rows = rows.none()
    workload = {row["agent_id"]: row for row in rows.values("agent_id", "agent__email", "agent__full_name")
                .annotate(replies_sent=Sum("replies_sent"), conversations_replied=Sum("conversations_replied"))}
    times = {row["agent"]: row for row in response_times(f, by="agent")}
    # Someone with first responses but no replies in the period's workload rows (a channel filter is on).
    names = {pk: (email, full_name) for pk, email, full_name in User.objects.filter(
        pk__in=set(times) - set(workload)).values_list("pk", "email", "full_name")} if set(times) - set(workload) else {}
    result = []
    for agent_id in sorted(set(workload) | set(times)):
        email, full_name = names.get(agent_id, ("", ""))
        row = workload.get(agent_id, {"agent_id": agent_id, "agent__email": email, "agent__full_name": full_name,
                                      "replies_sent": 0, "conversations_replied": 0})
        result.append({**row, "first_responses": times.get(agent_id, {}).get("conversations", 0),
                       "times": times.get(agent_id)})
    return result


# ------------------------------------------------------------------------------------- engagement
def _rate(engagements: int, denominator: int | None) -> float | None:
    return round(100 * engagements / denominator, 2) if denominator else None


def post_rates(f: KpiFilter, *, order: str = "-engagement_rate", limit: int | None = 5) -> list[dict]:
    zone = zone_of(f.organisation_id)
    start, end = _bounds(f, zone)
    rows = (f.scope(PostPerformance.objects.all()).filter(published_at__gte=start, published_at__lt=end)
            .exclude(engagement_rate__isnull=True).order_by(order, "-published_at")
            .values("target_id", "post_id", "post__title", "channel_id", "channel__handle", "platform",
                    "platform_id", "published_at", "likes", "replies", "reposts", "quotes", "impressions",
                    "link_clicks", "engagements", "followers", "engagement_rate", "rate_method",
                    "target__platform_url"))
    return list(rows[:limit] if limit else rows)


def _bounds(f: KpiFilter, zone):
    from metrics.rollups import day_bounds

    return day_bounds(f.start, f.end, zone)


def channel_engagement(f: KpiFilter) -> list[dict]:
    """Per channel: posts, engagements, the rate and its method, follower growth over the period."""
    zone = zone_of(f.organisation_id)
    start, end = _bounds(f, zone)
    posts = f.scope(PostPerformance.objects.all()).filter(published_at__gte=start, published_at__lt=end)
    per_channel = {
        row["channel_id"]: row
        for row in posts.values("channel_id").annotate(
            n_posts=Count("pk"), n_engagements=Sum("engagements"),
            with_impressions=Count("pk", filter=Q(impressions__isnull=False)),
            n_impressions=Sum("impressions"), n_followers=Sum("followers", filter=Q(followers__isnull=False)),
            engagements_with_followers=Sum("engagements", filter=Q(followers__isnull=False)))
    }
    snapshots = f.scope(ChannelSnapshot.objects.all()).filter(day__gte=f.start, day__lte=f.end)
    first_last: dict[int, dict] = {}
    for snap in snapshots.order_by("channel_id", "day").values("channel_id", "day", "followers"):
        entry = first_last.setdefault(snap["channel_id"], {"first": snap, "last": snap})
        entry["last"] = snap
    channels = f.scope(Channel.objects.all(), channel="").filter(
        pk__in=set(per_channel) | set(first_last)).values("pk", "handle", "platform", "display_name")
    result = []
    for channel in channels.order_by("platform", "handle"):
        stats = per_channel.get(channel["pk"], {})
        post_count = stats.get("n_posts", 0)
        if post_count and stats.get("with_impressions") == post_count and stats.get("n_impressions"):
            method, rate = "impressions", _rate(stats["n_engagements"] or 0, stats["n_impressions"])
        elif stats.get("n_followers"):
            method, rate = "followers", _rate(stats["engagements_with_followers"] or 0, stats["n_followers"])
        else:
            method, rate = "", None
        growth = first_last.get(channel["pk"])
        net = percent = None
        if growth:
            before, after = growth["first"]["followers"], growth["last"]["followers"]
            net = after - before
            percent = round(100 * net / before, 2) if before else None
        result.append({
            "channel_id": channel["pk"], "handle": channel["handle"], "platform": channel["platform"],
            "posts": post_count, "engagements": stats.get("n_engagements") or 0,
            "impressions": stats.get("n_impressions"), "engagement_rate": rate, "rate_method": method,
            "followers_start": growth["first"]["followers"] if growth else None,
            "followers_end": growth["last"]["followers"] if growth else None,
            "follower_growth": net, "follower_growth_percent": percent,
        })
    return result


def best_hours(f: KpiFilter) -> list[dict]:
    """Average engagement rate of the organisation's posts by local publishing hour (hours with posts only)."""
    zone = zone_of(f.organisation_id)
    start, end = _bounds(f, zone)
    posts = (f.scope(PostPerformance.objects.all()).filter(published_at__gte=start, published_at__lt=end)
             .exclude(engagement_rate__isnull=True))
    return [
        {"hour": row["published_hour"], "posts": row["n_posts"], "average_rate": round(row["average_rate"], 2)}
        for row in posts.values("published_hour").annotate(n_posts=Count("pk"), average_rate=Avg("engagement_rate"))
        .order_by("published_hour")
    ]


# ---------------------------------------------------------------------------------- channel shift
def unit_costs(organisation_id: int) -> dict[str, dict]:
    """{channel: {"cost": Decimal, "source": str, "default": bool}} for every contact channel."""
    own = {row.channel: row for row in ContactCost.objects.for_organisation(organisation_id)}
    result = {}
    for channel in ContactChannel:
        if channel.value in own:
            result[channel.value] = {"cost": own[channel.value].cost_per_contact, "source": own[channel.value].source,
                                     "default": False, "label": channel.label}
        else:
            cost, source = DEFAULT_COSTS[channel]
            result[channel.value] = {"cost": cost, "source": source, "default": True, "label": channel.label}
    return result


def _months(start: date, end: date) -> list[date]:
    months, month = [], start.replace(day=1)
    while month <= end:
        months.append(month)
        month = (month + timedelta(days=32)).replace(day=1)
    return months


def channel_shift(f: KpiFilter) -> dict:
    """Per month: digital contacts (conversations opened in Civic Desk), offline contacts by channel, the
    digital share of all contacts, and the estimated cost avoided.

    Cost avoided in a month = digital contacts × (the month's average offline cost per contact, weighted by
    that month's offline mix − the social cost per contact). A month with no offline figures uses the phone
    cost as the alternative. Channel and platform filters do not apply to offline figures: they are per
    department only, so they are ignored here (said in the response).
    """
    costs = unit_costs(f.organisation_id)
    months = _months(f.start, f.end)
    digital = {
        row["month"]: row["contacts"]
        for row in f.scope(ContactDaily.objects.all(), channel="", platform="")
        .filter(day__gte=months[0], day__lte=f.end).annotate(month=TruncMonth("day"))
        .values("month").annotate(contacts=Sum("conversations_opened"))
    }
    digital = {(k.date() if isinstance(k, datetime) else k): v for k, v in digital.items()}
    offline: dict[date, dict[str, int]] = {}
    for row in (f.scope(OfflineContactVolume.objects.all(), channel="", platform="")
                .filter(month__gte=months[0], month__lte=months[-1])
                .values("month", "channel").annotate(volume=Sum("volume"))):
        offline.setdefault(row["month"], {})[row["channel"]] = row["volume"]
    social_cost = costs[ContactChannel.SOCIAL]["cost"]
    rows, total_avoided, total_digital, total_offline = [], Decimal("0"), 0, 0
    for month in months:
        by_channel = {c.value: offline.get(month, {}).get(c.value, 0) for c in OFFLINE_CHANNELS}
        offline_total = sum(by_channel.values())
        digital_count = digital.get(month, 0)
        if offline_total:
            alternative = sum(Decimal(v) * costs[c]["cost"] for c, v in by_channel.items()) / offline_total
            basis = "offline mix"
        else:
            alternative, basis = costs[ContactChannel.PHONE]["cost"], "phone (no offline figures this month)"
        avoided = (Decimal(digital_count) * (alternative - social_cost)).quantize(Decimal("0.01"), ROUND_HALF_UP)
        all_contacts = digital_count + offline_total
        rows.append({
            "month": month, "digital": digital_count, "offline": by_channel, "offline_total": offline_total,
            "digital_share": round(100 * digital_count / all_contacts, 1) if all_contacts else None,
            "alternative_cost": alternative.quantize(Decimal("0.01"), ROUND_HALF_UP), "alternative_basis": basis,
            "cost_avoided": avoided,
        })
        total_avoided += avoided
        total_digital += digital_count
        total_offline += offline_total
    everything = total_digital + total_offline
    return {
        "months": rows, "costs": costs, "digital": total_digital, "offline": total_offline,
        "digital_share": round(100 * total_digital / everything, 1) if everything else None,
        "cost_avoided": total_avoided,
        "ignored_filters": [name for name, value in (("channel", f.channel_ids), ("platform", f.platform)) if value],
    }


# --------------------------------------------------------------------------------------- overview
def _change(current, previous) -> float | None:
    if current is None or previous in (None, 0):
        return None
    return round(100 * (current - previous) / previous, 1)


def overview(f: KpiFilter, *, compare: bool = True) -> dict:
    """The managers' headline figures for the period, each with the previous period's value and change."""
    def headline(kf: KpiFilter) -> dict:
        totals = contact_totals(kf)
        times = response_times(kf)
        engagement = channel_engagement(kf)
        engaged = sum(row["engagements"] for row in engagement)
        return {
            **totals,
            "first_response_p50": times["first_response_seconds_p50"],
            "first_response_office_p50": times["first_response_office_seconds_p50"],
            "first_response_p90": times["first_response_seconds_p90"],
            "resolution_p50": times["resolution_seconds_p50"],
            "first_response_sla_percent": times["first_response_sla"]["percent"],
            "resolution_sla_percent": times["resolution_sla"]["percent"],
            "posts": sum(row["posts"] for row in engagement),
            "engagements": engaged,
            "follower_growth": sum(row["follower_growth"] or 0 for row in engagement),
        }

    current = headline(f)
    result = {"period": {"from": f.start, "to": f.end, "days": f.days}, "current": current}
    if compare:
        previous_filter = f.previous()
        previous = headline(previous_filter)
        result["previous_period"] = {"from": previous_filter.start, "to": previous_filter.end}
        result["previous"] = previous
        result["change_percent"] = {key: _change(value, previous.get(key)) for key, value in current.items()}
    return result

"""What each dashboard page shows, built from metrics.kpis for one KpiFilter: figures, tables and charts.

Every number comes from a metrics.kpis function (which read the rollup tables, never raw messages); this module
only arranges them into Tables (HTML, data table alternative and CSV share one) and Charts with their text summary.
The query count of each page does not depend on the number of days or channels in the period (pinned by
tests/metrics/test_dashboard_pages.py); per-department and per-agent response times cost a few queries per group
(metrics.kpis.response_times).
"""

from __future__ import annotations

from datetime import date, timedelta

from metrics import kpis
from metrics.kpis import KpiFilter
from metrics.models import OFFLINE_CHANNELS, ContactChannel
from metrics.rollups import zone_of
from metrics.views.filters import BREAKDOWNS, DashboardFilter
from metrics.views.tables import Chart, Column, Table, change, kpi_text, number

CONTACT_COLUMNS = [
    Column("conversations_opened", "Contacts (conversations opened)", "int"),
    Column("inbound_messages", "Inbound messages", "int"),
    Column("outbound_messages", "Replies sent", "int"),
    Column("conversations_closed", "Conversations closed", "int"),
]
CONTACT_KPIS = ("conversations_opened", "inbound_messages", "outbound_messages", "conversations_closed")


def definition(key: str) -> str:
    return kpi_text(key)[1]


def _change(current, previous) -> float | None:
    """Percentage change on the previous period (as kpis.overview gives it)."""
    if current is None or previous in (None, 0):
        return None
    return round(100 * (current - previous) / previous, 1)


def _count(n: int, one: str, many: str = "") -> str:
    return f"{number(n)} {one if n == 1 else many or one + 's'}"


def _day_label(day: date) -> str:
    return day.strftime("%-d %b")


# ------------------------------------------------------------------------------------------ shared
def _grain(f: KpiFilter, grain: str = "") -> str:
    return grain or ("day" if f.days <= 92 else "week")


def _periods(f: KpiFilter, grain: str) -> list[date]:
    """Every day, week (Monday) or month (1st) the period touches, in order."""
    if grain == "day":
        first, step = f.start, None
    elif grain == "week":
        first, step = f.start - timedelta(days=f.start.weekday()), None
    else:
        first, step = f.start.replace(day=1), "month"
    periods, period = [], first
    while period <= f.end:
        periods.append(period)
        if step == "month":
            period = (period + timedelta(days=32)).replace(day=1)
        else:
            period += timedelta(days=1 if grain == "day" else 7)
    return periods


PERIOD_HEADINGS = {"day": "Day", "week": "Week starting", "month": "Month"}


def _contacts_over_time(f: KpiFilter, grain: str = "") -> tuple[str, list[dict]]:
    """Contacts per day, week or month, every period present (zeros where nothing happened)."""
    grain = _grain(f, grain)
    found = {row["period"]: row for row in kpis.contacts_by(f, "", grain)}
    rows = [{"period": period, **{c.key: found.get(period, {}).get(c.key, 0) for c in CONTACT_COLUMNS}}
            for period in _periods(f, grain)]
    return grain, rows


def contacts_chart(f: KpiFilter, *, previous_total: int | None = None, grain: str = "") -> Chart:
    grain, rows = _contacts_over_time(f, grain)
    total = sum(row["conversations_opened"] for row in rows)
    replies = sum(row["outbound_messages"] for row in rows)
    busiest = max(rows, key=lambda row: row["conversations_opened"])
    unit = {"day": "day", "week": "week starting", "month": "month"}[grain]
    summary = (f"{_count(total, 'contact')} and {_count(replies, 'reply', 'replies')} sent from {f.start:%-d %B %Y} "
               f"to {f.end:%-d %B %Y}.")
    if total:
        when = f"{busiest['period']:%B %Y}" if grain == "month" else f"{busiest['period']:%A %-d %B}"
        summary += (f" The busiest {unit} was {when} with "
                    f"{_count(busiest['conversations_opened'], 'contact')}.")
    if previous_total is not None:
        summary += f" The previous period had {number(previous_total)} ({change(_change(total, previous_total))})."
    title = f"Contacts per {grain}"
    table = Table(
        name=f"contacts_per_{grain}",
        caption=f"{title}: contacts opened, inbound messages, replies sent and conversations closed",
        columns=[Column("period", PERIOD_HEADINGS[grain], "month" if grain == "month" else "date"), *CONTACT_COLUMNS],
        rows=rows,
        kpis=CONTACT_KPIS,
    )
    return Chart(
        id="chart-contacts", kind="line", title=title,
        labels=[f"{row['period']:%b %Y}" if grain == "month" else _day_label(row["period"]) for row in rows],
        datasets=[
            {"label": "Contacts (conversations opened)", "data": [row["conversations_opened"] for row in rows]},
            {"label": "Replies sent", "data": [row["outbound_messages"] for row in rows]},
        ],
        summary=summary, table=table, y_label="Count",
    )


def _sum_over_periods(rows: list[dict], keys: list[str]) -> list[dict]:
    """kpis.contacts_by rows (per month and key) added up per key."""
    totals: dict[tuple, dict] = {}
    for row in rows:
        key = tuple(row[k] for k in keys)
        entry = totals.setdefault(key, {**{k: row[k] for k in keys}, **{c: 0 for c in kpis.CONTACT_FIELDS}})
        for name in kpis.CONTACT_FIELDS:
            entry[name] += row[name]
    return sorted(totals.values(), key=lambda entry: (-entry["conversations_opened"], str(entry[keys[-1]])))


# ---------------------------------------------------------------------------------------- overview
OVERVIEW_FIGURES = [
    # (key in kpis.overview, definition key, label, kind)
    ("conversations_opened", "conversations_opened", "Contacts (conversations opened)", "int"),
    ("inbound_messages", "inbound_messages", "Inbound messages", "int"),
    ("outbound_messages", "outbound_messages", "Replies sent", "int"),
    ("conversations_closed", "conversations_closed", "Conversations closed", "int"),
    ("first_response_p50", "first_response_time", "First-response time, median (clock hours)", "seconds"),
    ("first_response_office_p50", "first_response_time", "First-response time, median (office hours)", "seconds"),
    ("first_response_p90", "first_response_time", "First-response time, 90th percentile (clock hours)", "seconds"),
    ("resolution_p50", "resolution_time", "Resolution time, median (clock hours)", "seconds"),
    ("first_response_sla_percent", "first_response_sla", "First-response target met", "percent"),
    ("resolution_sla_percent", "resolution_sla", "Resolution target met", "percent"),
    ("posts", "posts", "Posts published", "int"),
    ("engagements", "engagements", "Engagements", "int"),
    ("follower_growth", "follower_growth", "Follower growth (net)", "int"),
]


def overview(form: DashboardFilter) -> dict:
    f = form.kpi
    data = kpis.overview(f, compare=form.compare)
    current, previous = data["current"], data.get("previous", {})
    changes = data.get("change_percent", {})
    cards, rows = [], []
    for key, kpi_key, label, kind in OVERVIEW_FIGURES:
        column = Column(key, label, kind)
        value = current.get(key)
        cards.append({
            "key": key, "label": label, "value": column.show(value),
            "previous": column.show(previous.get(key)) if form.compare else "",
            "change": change(changes.get(key)) if form.compare else "",
            "definition": definition(kpi_key),
        })
        rows.append({"figure": label, "key": key, "unit": {"seconds": "seconds", "percent": "%"}.get(kind, "count"),
                     "value": round(value) if kind == "seconds" and value is not None else value,
                     "previous": (round(previous[key]) if kind == "seconds" and previous.get(key) is not None
                                  else previous.get(key)),
                     "change": changes.get(key)})
    columns = [Column("figure", "Figure"), Column("key", "Key"), Column("unit", "Unit"),
               Column("value", "This period")]
    if form.compare:
        columns += [Column("previous", "Previous period"), Column("change", "Change", "percent")]
    headline = Table(name="headline", caption="Headline figures", columns=columns, rows=rows)
    chart = contacts_chart(f, previous_total=previous.get("conversations_opened") if form.compare else None)
    return {
        "cards": cards, "data": data, "charts": [chart],
        "tables": {headline.name: headline, chart.table.name: chart.table},
    }


# ------------------------------------------------------------------------------------------- inbox
TIME_COLUMNS = [
    Column("conversations", "Conversations", "int"),
    Column("responded", "Answered", "int"),
    Column("first_response_seconds_p50", "First response, median (clock)", "seconds"),
    Column("first_response_office_seconds_p50", "First response, median (office hours)", "seconds"),
    Column("first_response_seconds_p90", "First response, 90th percentile (clock)", "seconds"),
    Column("first_response_office_seconds_p90", "First response, 90th percentile (office hours)", "seconds"),
    Column("resolution_seconds_p50", "Resolution, median (clock)", "seconds"),
    Column("resolution_office_seconds_p50", "Resolution, median (office hours)", "seconds"),
    Column("resolution_seconds_p90", "Resolution, 90th percentile (clock)", "seconds"),
    Column("resolution_office_seconds_p90", "Resolution, 90th percentile (office hours)", "seconds"),
    Column("first_response_sla", "First-response target met", "percent"),
    Column("resolution_sla", "Resolution target met", "percent"),
]


def _times_row(scope: str, times: dict) -> dict:
    return {"scope": scope, **times, "first_response_sla": times["first_response_sla"]["percent"],
            "resolution_sla": times["resolution_sla"]["percent"]}


def inbox(form: DashboardFilter) -> dict:
    f = form.kpi
    totals = kpis.contact_totals(f)
    previous = kpis.contact_totals(f.previous()) if form.compare else None
    total_rows = []
    for column in [*CONTACT_COLUMNS, Column("automatic_replies", "Automatic replies (part of replies sent)", "int")]:
        row = {"figure": column.label, "value": totals[column.key]}
        if previous is not None:
            row.update(previous=previous[column.key], change=_change(totals[column.key], previous[column.key]))
        total_rows.append(row)
    total_columns = [Column("figure", "Figure"), Column("value", "This period", "int")]
    if previous is not None:
        total_columns += [Column("previous", "Previous period", "int"), Column("change", "Change", "change")]
    totals_table = Table("totals", "Contacts and replies in the period", total_columns, total_rows,
                         kpis=(*CONTACT_KPIS, "automatic_replies"))

    contacts = contacts_chart(f, previous_total=previous["conversations_opened"] if previous else None,
                              grain=form.grain)
    breakdown_table = _breakdown_over_time(form)

    # Per channel, platform and department: the monthly rows added up (a handful of rows per month).
    per_channel = _sum_over_periods(kpis.contacts_by(f, "channel", "month"), ["channel_id", "channel__handle"])
    for row in per_channel:
        info = form.channel_info.get(row["channel_id"], {})
        row["channel"] = row["channel__handle"]
        row["platform"] = info.get("platform_label", "")
    channel_table = Table("per_channel", "Contacts per channel", [
        Column("channel", "Channel"), Column("platform", "Platform"), *CONTACT_COLUMNS], per_channel,
        kpis=CONTACT_KPIS)
    total = sum(row["conversations_opened"] for row in per_channel)
    if per_channel and total:
        top = per_channel[0]
        channel_summary = (f"{_count(total, 'contact')} on {_count(len(per_channel), 'channel')}; the most came through "
                           f"{top['channel']} ({top['platform']}): {number(top['conversations_opened'])}, "
                           f"{round(100 * top['conversations_opened'] / total)} % of all.")
    else:
        channel_summary = "No contacts on any channel in this period."
    channel_chart = Chart(
        id="chart-channels", kind="bar", title="Contacts per channel",
        labels=[f"{row['channel']} ({row['platform']})" for row in per_channel],
        datasets=[{"label": "Contacts (conversations opened)", "data": [r["conversations_opened"] for r in per_channel]},
                  {"label": "Replies sent", "data": [r["outbound_messages"] for r in per_channel]}],
        summary=channel_summary, table=channel_table, y_label="Count")

    platform_labels = {c["platform"]: c["platform_label"] for c in form.channel_info.values()}
    per_platform = _sum_over_periods(kpis.contacts_by(f, "platform", "month"), ["platform"])
    for row in per_platform:
        row["platform_label"] = platform_labels.get(row["platform"], row["platform"])
    platform_table = Table("per_platform", "Contacts per platform", [
        Column("platform_label", "Platform"), *CONTACT_COLUMNS], per_platform, kpis=CONTACT_KPIS)
    per_department = _sum_over_periods(kpis.contacts_by(f, "department", "month"),
                                       ["department_id", "department__name"])
    department_table = Table("per_department", "Contacts per department", [
        Column("department__name", "Department"), *CONTACT_COLUMNS], per_department, kpis=CONTACT_KPIS)

    departments = dict((int(pk), name) for pk, name in form.departments)
    time_rows = [_times_row("All conversations", kpis.response_times(f))]
    time_rows += [_times_row(departments.get(row["department"], f"Department {row['department']}"), row)
                  for row in kpis.response_times(f, by="department")]
    times_table = Table("response_times", "Response times and targets met, all conversations and per department",
                        [Column("scope", "Conversations of"), *TIME_COLUMNS], time_rows,
                        kpis=("first_response_time", "resolution_time", "first_response_sla", "resolution_sla"))

    agents = kpis.agent_workload(f)
    agent_rows = []
    for agent in agents:
        times = agent.get("times") or {}
        agent_rows.append({
            "agent": agent.get("agent__full_name") or agent.get("agent__email") or f"Person {agent['agent_id']}",
            "replies_sent": agent["replies_sent"], "conversations_replied": agent["conversations_replied"],
            "first_responses": agent["first_responses"],
            "first_response_seconds_p50": times.get("first_response_seconds_p50"),
            "first_response_office_seconds_p50": times.get("first_response_office_seconds_p50"),
        })
    agent_rows.sort(key=lambda row: (-row["replies_sent"], row["agent"]))
    agent_table = Table("per_agent", "Workload and first-response times per agent", [
        Column("agent", "Agent"), Column("replies_sent", "Replies sent", "int"),
        Column("conversations_replied", "Conversations replied to", "int"),
        Column("first_responses", "First responses", "int"),
        Column("first_response_seconds_p50", "First response, median (clock)", "seconds"),
        Column("first_response_office_seconds_p50", "First response, median (office hours)", "seconds"),
    ], agent_rows, kpis=("agent_replies", "first_response_time"))
    replies = sum(row["replies_sent"] for row in agent_rows)
    if agent_rows and replies:
        top = agent_rows[0]
        agent_summary = (f"{_count(replies, 'reply', 'replies')} by {_count(len(agent_rows), 'person', 'people')}; {top['agent']} sent the most: "
                         f"{number(top['replies_sent'])}.")
    else:
        agent_summary = "Nobody sent a reply in this period."
    agent_chart = Chart(
        id="chart-agents", kind="bar", title="Replies per agent", labels=[row["agent"] for row in agent_rows],
        datasets=[{"label": "Replies sent", "data": [row["replies_sent"] for row in agent_rows]}],
        summary=agent_summary, table=agent_table, y_label="Replies", options={"indexAxis": "y"})

    tables = [totals_table, contacts.table, breakdown_table, channel_table, platform_table, department_table,
              times_table, agent_table]
    return {
        "totals_table": totals_table, "charts": [contacts, channel_chart, agent_chart],
        "breakdown_table": breakdown_table,
        "platform_table": platform_table, "department_table": department_table, "times_table": times_table,
        "tables": {table.name: table for table in tables},
    }


def _breakdown_over_time(form: DashboardFilter) -> Table:
    """Contacts per day, week or month and per channel, platform or department (the form's grain and breakdown)."""
    f, by = form.kpi, form.by
    grain = _grain(f, form.grain)
    platform_labels = {c["platform"]: c["platform_label"] for c in form.channel_info.values()}
    rows = []
    for row in kpis.contacts_by(f, by, grain):
        if by == "channel":
            info = form.channel_info.get(row["channel_id"], {})
            name = f"{row['channel__handle']} ({info.get('platform_label', '')})"
        elif by == "platform":
            name = platform_labels.get(row["platform"], row["platform"])
        else:
            name = row["department__name"]
        rows.append({"period": row["period"], "name": name, **{c.key: row[c.key] for c in CONTACT_COLUMNS}})
    label = dict(BREAKDOWNS)[by]
    return Table(
        name=f"contacts_per_{grain}_by_{by}",
        caption=f"Contacts per {grain} and {label.lower()} (periods with none are left out)",
        columns=[Column("period", PERIOD_HEADINGS[grain], "month" if grain == "month" else "date"),
                 Column("name", label), *CONTACT_COLUMNS],
        rows=rows, kpis=CONTACT_KPIS)


# -------------------------------------------------------------------------------------- engagement
POST_COLUMNS = [
    Column("post__title", "Post"), Column("channel__handle", "Channel"), Column("platform_label", "Platform"),
    Column("published_day", "Published", "date"), Column("engagements", "Engagements", "int"),
    Column("impressions", "Impressions", "int"), Column("followers", "Followers", "int"),
    Column("engagement_rate", "Engagement rate", "percent"), Column("rate_method", "Rate method", "method"),
]


def engagement(form: DashboardFilter) -> dict:
    f = form.kpi
    platform_labels = {c["platform"]: c["platform_label"] for c in form.channel_info.values()}
    zone = zone_of(f.organisation_id)
    channels = kpis.channel_engagement(f)
    for row in channels:
        row["platform_label"] = platform_labels.get(row["platform"], row["platform"])
    channel_table = Table("channels", "Engagement and follower growth per channel", [
        Column("handle", "Channel"), Column("platform_label", "Platform"), Column("posts", "Posts", "int"),
        Column("engagements", "Engagements", "int"), Column("impressions", "Impressions", "int"),
        Column("engagement_rate", "Engagement rate", "percent"), Column("rate_method", "Rate method", "method"),
        Column("followers_start", "Followers at start", "int"), Column("followers_end", "Followers at end", "int"),
        Column("follower_growth", "Follower growth", "int"),
        Column("follower_growth_percent", "Follower growth", "percent"),
    ], channels, kpis=("posts", "engagements", "engagement_rate", "follower_growth"))

    def posts(order: str) -> list[dict]:
        rows = kpis.post_rates(f, order=order, limit=5)
        for row in rows:
            row["platform_label"] = platform_labels.get(row["platform"], row["platform"])
            row["published_day"] = row["published_at"].astimezone(zone).date()
        return rows

    top = Table("top_posts", "Top five posts by engagement rate", POST_COLUMNS, posts("-engagement_rate"),
                kpis=("engagements", "engagement_rate"))
    bottom = Table("bottom_posts", "Bottom five posts by engagement rate", POST_COLUMNS, posts("engagement_rate"),
                   kpis=("engagements", "engagement_rate"))

    hours = kpis.best_hours(f)
    hour_table = Table("best_hours", "Average engagement rate by publishing hour", [
        Column("hour", "Hour (organisation time)", "hour"), Column("posts", "Posts", "int"),
        Column("average_rate", "Average engagement rate", "percent")], hours, kpis=("best_hours", "posts"))
    if hours:
        best = max(hours, key=lambda row: row["average_rate"])
        hour_summary = (f"{_count(sum(row['posts'] for row in hours), 'post')} in {_count(len(hours), 'hour')} of the day; posts "
                        f"published {best['hour']:02d}:00–{best['hour']:02d}:59 did best, averaging "
                        f"{best['average_rate']:.1f} % engagement ({_count(best['posts'], 'post')}).")
    else:
        hour_summary = "No posts with an engagement rate in this period."
    hour_chart = Chart(
        id="chart-hours", kind="bar", title="Best hours to post", labels=[f"{row['hour']:02d}:00" for row in hours],
        datasets=[{"label": "Average engagement rate (%)", "data": [row["average_rate"] for row in hours]}],
        summary=hour_summary, table=hour_table, y_label="Average engagement rate (%)")
    totals = {
        "posts": sum(row["posts"] for row in channels),
        "engagements": sum(row["engagements"] for row in channels),
    }
    tables = [channel_table, top, bottom, hour_table]
    return {"channel_table": channel_table, "top": top, "bottom": bottom, "charts": [hour_chart], "totals": totals,
            "tables": {table.name: table for table in tables},
            # The totals above the tables: posts and engagements, each with its definition beside it.
            "summary_definitions": [kpi_text("posts"), kpi_text("engagements")]}


# ----------------------------------------------------------------------------------- channel shift
def channel_shift(form: DashboardFilter) -> dict:
    f = form.kpi
    shift = kpis.channel_shift(f)
    costs = shift["costs"]
    month_rows = []
    for month in shift["months"]:
        month_rows.append({
            "month": month["month"], "digital": month["digital"],
            **{f"offline_{channel.value}": month["offline"][channel.value] for channel in OFFLINE_CHANNELS},
            "offline_total": month["offline_total"], "digital_share": month["digital_share"],
            "alternative_cost": month["alternative_cost"], "alternative_basis": month["alternative_basis"],
            "cost_avoided": month["cost_avoided"],
        })
    month_table = Table("months", "Contacts per month: digital and offline, digital share and cost avoided", [
        Column("month", "Month", "month"), Column("digital", "Digital contacts (Civic Desk)", "int"),
        *[Column(f"offline_{channel.value}", channel.label, "int") for channel in OFFLINE_CHANNELS],
        Column("offline_total", "Offline contacts", "int"), Column("digital_share", "Digital share", "percent"),
        Column("alternative_cost", "Offline cost per contact", "money"),
        Column("alternative_basis", "Cost based on"), Column("cost_avoided", "Cost avoided", "money"),
    ], month_rows, kpis=("digital_share", "cost_avoided"))
    shares = [row for row in month_rows if row["digital_share"] is not None]
    if shares:
        first, last = shares[0], shares[-1]
        share_summary = (f"Digital share was {first['digital_share']:.1f} % in {first['month']:%B %Y}"
                         + (f" and {last['digital_share']:.1f} % in {last['month']:%B %Y}" if last is not first else "")
                         + f"; {shift['digital_share']:.1f} % over the whole period "
                         f"({number(shift['digital'])} digital of {number(shift['digital'] + shift['offline'])} "
                         f"contacts).")
    else:
        share_summary = "No contacts, digital or offline, in these months."
    share_chart = Chart(
        id="chart-digital-share", kind="line", title="Digital share of all contacts per month",
        labels=[row["month"].strftime("%b %Y") for row in month_rows],
        datasets=[{"label": "Digital share (%)", "data": [row["digital_share"] for row in month_rows]}],
        summary=share_summary, table=month_table, y_label="Digital share (%)", options={"max": 100})
    cost_rows = [{"channel": value["label"], "cost": value["cost"], "source": value["source"],
                  "default": "Default" if value["default"] else "Your organisation's"}
                 for value in costs.values()]
    cost_table = Table("costs", "Cost per contact used, with its source", [
        Column("channel", "Contact channel"), Column("cost", "Cost per contact", "money"),
        Column("default", "Whose figure"), Column("source", "Source")], cost_rows, kpis=("cost_avoided",))
    tables = [month_table, cost_table]
    return {"shift": shift, "charts": [share_chart], "cost_table": cost_table,
            "social_label": ContactChannel.SOCIAL.label,
            "summary": {"digital": number(shift["digital"]), "offline": number(shift["offline"]),
                        "share": "–" if shift["digital_share"] is None else f"{shift['digital_share']:.1f} %",
                        "avoided": f"£{shift['cost_avoided']:,.2f}"},
            "summary_definitions": [kpi_text("digital_share"), kpi_text("cost_avoided")],
            "tables": {table.name: table for table in tables}}


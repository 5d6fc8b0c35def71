"""The weekly e-mail summary: last week's headline KPIs (Monday to Sunday, organisation time) for every member who
may read the dashboards (admins: the whole organisation; managers: their departments), as HTML with a text
alternative and the figures attached as CSV.

The figures come from metrics.kpis.overview through kpi_filter(membership, ...), so each person's e-mail holds
exactly what their dashboard would show for that week. At most one e-mail per member per week: each is claimed
first with a key that expires after the week (Redis SET NX, or the Django cache where there is no Redis), so a
rerun of the task in the same week sends nothing more, and a send that fails releases its claim for the retry.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.models import Membership, Organisation
from accounts.roles import MATRIX, Capability
from metrics import kpis
from metrics.definitions import KPIS
from metrics.rollups import zone_of

log = logging.getLogger(__name__)

CLAIM_SECONDS = 9 * 24 * 3600  # past the end of the following week: the claim outlives any rerun

# The figures in the e-mail and its CSV, in order: (key in overview()["current"], label, KPI definition key, unit).
FIGURES = [
    ("conversations_opened", "Contacts (conversations opened)", "conversations_opened", ""),
    ("inbound_messages", "Inbound messages", "inbound_messages", ""),
    ("outbound_messages", "Replies sent", "outbound_messages", ""),
    ("conversations_closed", "Conversations closed", "conversations_closed", ""),
    ("first_response_p50", "First-response time, median (clock hours)", "first_response_time", "seconds"),
    ("first_response_office_p50", "First-response time, median (office hours)", "first_response_time", "seconds"),
    ("first_response_p90", "First-response time, 90th percentile (clock hours)", "first_response_time", "seconds"),
    ("resolution_p50", "Resolution time, median (clock hours)", "resolution_time", "seconds"),
    ("first_response_sla_percent", "First-response target met", "first_response_sla", "percent"),
    ("resolution_sla_percent", "Resolution target met", "resolution_sla", "percent"),
    ("posts", "Posts published", "engagements", ""),
    ("engagements", "Engagements", "engagements", ""),
    ("follower_growth", "Follower growth (net)", "follower_growth", ""),
]


# ------------------------------------------------------------------------------------------ the week
def last_week(organisation_id: int, now=None) -> tuple[date, date]:
    """Monday and Sunday of the week before the current one, in the organisation's time."""
    today = (now or timezone.now()).astimezone(zone_of(organisation_id)).date()
    monday = today - timedelta(days=today.weekday() + 7)
    return monday, monday + timedelta(days=6)


def recipients(organisation_id: int):
    """Active members who may read the dashboards and have an e-mail address."""
    roles = [role.value for role in MATRIX[Capability.VIEW_DASHBOARDS]]
    return (Membership.objects.active().filter(organisation_id=organisation_id, role__in=roles,
                                               user__is_active=True)
            .exclude(user__email="").select_related("user", "organisation").prefetch_related("departments")
            .order_by("pk"))


# ------------------------------------------------------------------------------------------- claims
def _claim_key(organisation_id: int, user_id: int, week_start: date) -> str:
    # The database name keeps two deployments (or two test databases) sharing one Redis apart.
    database = settings.DATABASES["default"].get("NAME", "")
    return f"civicdesk:{database}:weekly-summary:{organisation_id}:{user_id}:{week_start:%Y-%m-%d}"


def _redis():
    url = getattr(settings, "REDIS_URL", "")
    if not url:
        return None
    import redis

    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)


def claim(organisation_id: int, user_id: int, week_start: date) -> bool:
    """True the first time for this member and week; False once claimed (until the claim expires)."""
    key = _claim_key(organisation_id, user_id, week_start)
    client = _redis()
    if client is not None:
        return bool(client.set(key, timezone.now().isoformat(), nx=True, ex=CLAIM_SECONDS))
    return cache.add(key, timezone.now().isoformat(), CLAIM_SECONDS)


def release(organisation_id: int, user_id: int, week_start: date) -> None:
    key = _claim_key(organisation_id, user_id, week_start)
    client = _redis()
    if client is not None:
        client.delete(key)
    else:
        cache.delete(key)


# ------------------------------------------------------------------------------------------ content
def _duration(seconds) -> str:
    if seconds is None:
        return "–"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours / 24:.1f} days"


def _show(value, unit: str) -> str:
    if value is None:
        return "–"
    if unit == "seconds":
        return _duration(value)
    if unit == "percent":
        return f"{value:.1f}%"
    return f"{value:,}"


def _change(value) -> str:
    if value is None:
        return "–"
    return f"{value:+.1f}%"


@dataclass
class Summary:
    membership: Membership
    week_start: date
    week_end: date
    scope: str
    rows: list[dict]

    @property
    def subject(self) -> str:
        return f"Civic Desk weekly summary: {self.week_start:%-d %b} to {self.week_end:%-d %b %Y}"

    @property
    def filename(self) -> str:
        return f"civic-desk-week-{self.week_start:%Y-%m-%d}.csv"


def summary_for(membership: Membership, week_start: date, week_end: date) -> Summary:
    kf = kpis.kpi_filter(membership, {"from": week_start.isoformat(), "to": week_end.isoformat()})
    data = kpis.overview(kf, compare=True)
    rows = []
    for key, label, kpi, unit in FIGURES:
        current, previous = data["current"].get(key), data["previous"].get(key)
        rows.append({
            "key": key, "label": label, "unit": unit, "definition": KPIS[kpi].definition,
            "current": current, "previous": previous, "change": data["change_percent"].get(key),
            "current_text": _show(current, unit), "previous_text": _show(previous, unit),
            "change_text": _change(data["change_percent"].get(key)),
        })
    if membership.sees_all_departments:
        scope = "the whole organisation"
    else:
        names = sorted(department.name for department in membership.departments.all())
        scope = ", ".join(names) if names else "no departments (ask an admin to add you to yours)"
    return Summary(membership, week_start, week_end, scope, rows)


def csv_of(summary: Summary) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["figure", "key", "unit", f"week from {summary.week_start}",
                     f"week from {summary.week_start - timedelta(days=7)}", "change_percent", "definition"])
    for row in summary.rows:
        writer.writerow([row["label"], row["key"], row["unit"],
                         "" if row["current"] is None else row["current"],
                         "" if row["previous"] is None else row["previous"],
                         "" if row["change"] is None else row["change"], row["definition"]])
    return out.getvalue()


def message_for(summary: Summary) -> EmailMultiAlternatives:
    context = {
        "summary": summary,
        "organisation": summary.membership.organisation,
        "dashboard_url": f"{settings.SITE_URL.rstrip('/')}/dashboards/",
    }
    message = EmailMultiAlternatives(
        subject=summary.subject,
        body=render_to_string("metrics/email/weekly_summary.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[summary.membership.user.email],
    )
    message.attach_alternative(render_to_string("metrics/email/weekly_summary.html", context), "text/html")
    message.attach(summary.filename, csv_of(summary), "text/csv")
    return message


# ---------------------------------------------------------------------------------------------- send
def send_weekly_summaries_now(now=None) -> int:
    """Send last week's summary to every dashboard reader of every organisation who has not had it yet."""
    sent = 0
    for organisation_id in Organisation.objects.order_by("pk").values_list("pk", flat=True):
        sent += send_for_organisation(organisation_id, now=now)
    return sent


def send_for_organisation(organisation_id: int, now=None) -> int:
    week_start, week_end = last_week(organisation_id, now)
    sent = 0
    for membership in recipients(organisation_id):
        if not claim(organisation_id, membership.user_id, week_start):
            continue
        try:
            message_for(summary_for(membership, week_start, week_end)).send(fail_silently=False)
        except Exception:
            # Not sent: give the claim back so the task's retry (or the next run) sends it.
            release(organisation_id, membership.user_id, week_start)
            log.exception("weekly summary to member %s failed", membership.pk)
            raise
        sent += 1
    return sent

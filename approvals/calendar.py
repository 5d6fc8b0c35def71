"""Reads behind the posts calendar, the posts list and the calendar feeds (JSON and iCalendar).

Everything starts from `Post.objects.visible_to(membership)`. Days are the organisation's days: a
post's time is turned into the organisation's time zone before it is put in a day, and a day's bounds
are that zone's midnights, so the day of a clock change is 23 or 25 hours long and still holds exactly
the posts of that day. Each read runs a fixed number of queries, whatever the number of posts.

The iCalendar feed is written here by hand (RFC 5545: CRLF line ends, TEXT escaping, lines folded at 75
octets). Calendar apps cannot sign in, so its URL carries a signed token naming the member, the
organisation and the department; the feed answers only while that membership is active and can see
that department.
"""

from __future__ import annotations

import base64
import binascii
import calendar as pycalendar
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.core import signing
from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q, QuerySet
from django.db.models.functions import Coalesce
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from accounts.models import Department, Membership
from approvals.models import Post, PostStatus, PublishingPause, PublishTarget
from channels_app.models import Channel

# What the calendar shows: posts with a time that is fixed (scheduled) or past (published, failed).
CALENDAR_STATUSES = (
    PostStatus.SCHEDULED,
    PostStatus.PUBLISHING,
    PostStatus.PUBLISHED,
    PostStatus.PARTLY_PUBLISHED,
    PostStatus.FAILED,
)
FEED_MAX_DAYS = 100
# The iCalendar feed covers this window around today (calendar apps re-fetch it every few hours).
ICS_PAST_DAYS = 90
ICS_FUTURE_DAYS = 400
ICS_MAX_EVENTS = 2000
ICS_SALT = "approvals.ics"
LIST_PAGE_SIZE = 50
# Dates people and programs may ask about: far inside what Python's datetime can move between zones (year 9999
# at -12:00 is year 10000 in UTC; year 1 at +05:00 is before year 1), and wider than any post can be.
FIRST_YEAR = 1900
LAST_YEAR = 2100
OUT_OF_RANGE = f"Choose a date between {FIRST_YEAR} and {LAST_YEAR}."


class CalendarError(ValueError):
    """Bad query parameters: `errors` maps each parameter to what is wrong with it."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def is_number(value: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts "²", which int() and the database refuse."""
    return value.isascii() and value.isdigit() and len(value) < 12


def post_url(post_id: int) -> str:
    try:
        return reverse("approvals:post_detail", args=[post_id])
    except NoReverseMatch:
        # The post page belongs to another part of the approvals work; until its route exists.
        return f"/posts/{post_id}/"


def org_timezone(membership: Membership) -> ZoneInfo:
    try:
        return ZoneInfo(membership.organisation.timezone)
    except (ValueError, KeyError):  # pragma: no cover - validated on save
        return ZoneInfo("UTC")


def day_start(day: date, tz: ZoneInfo) -> datetime:
    """The first instant of `day` in `tz` (midnight local time), as an aware datetime."""
    return datetime.combine(day, time(0), tzinfo=tz)


# ------------------------------------------------------------------------------------------ filters
@dataclass
class PostFilter:
    """Department, channel, status and author filters shared by the list, the calendar and the feeds."""

    department: int | None = None
    channel: int | None = None
    status: str = ""
    mine: bool = False

    @classmethod
    def from_params(cls, params, membership: Membership, *, with_status: bool = False) -> PostFilter:
        errors: dict[str, str] = {}
        f = cls()
        for name in ("department", "channel"):
            raw = (params.get(name) or "").strip()
            if not raw:
                continue
            if not is_number(raw):
                errors[name] = "Must be a whole number."
                continue
            setattr(f, name, int(raw))
        if f.department is not None and not membership.sees_all_departments and f.department not in membership.department_ids:
            errors["department"] = "Choose one of your departments."
        if with_status:
            status = (params.get("status") or "").strip()
            if status and status != "all":
                if status not in PostStatus.values:
                    errors["status"] = f"Choose from: {', '.join(PostStatus.values)} or all."
                else:
                    f.status = status
            author = (params.get("author") or "").strip()
            if author == "mine":
                f.mine = True
            elif author:
                errors["author"] = "Use mine, or leave it out for everyone's posts."
        if errors:
            raise CalendarError(errors)
        return f

    def apply(self, qs: QuerySet, membership: Membership, *, status: bool = True) -> QuerySet:
        if self.department is not None:
            qs = qs.filter(department_id=self.department)
        if self.channel is not None:
            # A post goes to a channel once it has a target there, or while its revision names it (drafts).
            on_channel = PublishTarget.objects.filter(post_id=OuterRef("pk"), channel_id=self.channel)
            qs = qs.filter(Exists(on_channel) | Q(current_revision__channel_ids__contains=[self.channel]))
        if status and self.status:
            qs = qs.filter(status=self.status)
        if self.mine:
            qs = qs.filter(author_id=membership.user_id)
        return qs


def filter_choices(membership: Membership) -> dict:
    """The departments and channels the member may filter by (one query each)."""
    departments = Department.objects.visible_to(membership).active()
    if not membership.sees_all_departments:
        departments = departments.filter(pk__in=membership.department_ids)
    channels = Channel.objects.visible_to(membership).select_related("department").order_by("platform", "handle", "id")
    return {"departments": list(departments.order_by("name", "id")), "channels": list(channels)}


# ------------------------------------------------------------------------------------------- events
@dataclass
class Event:
    post: Post
    at: datetime  # in the organisation's time zone
    published: bool
    channels: list[Channel]
    url: str

    @property
    def channel_names(self) -> str:
        return ", ".join(str(c) for c in self.channels)

    @property
    def status_label(self) -> str:
        return PostStatus(self.post.status).label


@dataclass
class PauseBand:
    pause: PublishingPause
    starts_at: datetime  # local
    ends_at: datetime | None  # local; None: until lifted
    department_name: str  # "" for the whole organisation

    @property
    def scope(self) -> str:
        return self.department_name or "All departments"

    def covers(self, start: datetime, end: datetime) -> bool:
        return self.starts_at < end and (self.ends_at is None or self.ends_at > start)


def _targets_prefetch() -> Prefetch:
    # One query for all targets with their channels, in a stable order for display.
    return Prefetch(
        "targets",
        queryset=PublishTarget.objects.select_related("channel").order_by("channel__platform", "channel__handle", "id"),
    )


def calendar_posts(
    membership: Membership, start: datetime, end: datetime, flt: PostFilter, limit: int | None = None
) -> list[Post]:
    """Scheduled and published posts whose time falls in [start, end): two queries."""
    qs = (
        Post.objects.visible_to(membership)
        .filter(status__in=CALENDAR_STATUSES)
        .annotate(calendar_at=Coalesce("published_at", "scheduled_at"))
        .filter(calendar_at__gte=start, calendar_at__lt=end)
    )
    qs = flt.apply(qs, membership, status=False)
    qs = qs.select_related("department").prefetch_related(_targets_prefetch()).order_by("calendar_at", "id")
    return list(qs[:limit] if limit else qs)


def events_for(posts: list[Post], tz: ZoneInfo) -> list[Event]:
    return [
        Event(
            post=p,
            at=p.calendar_at.astimezone(tz),
            published=p.published_at is not None,
            channels=[t.channel for t in p.targets.all()],
            url=post_url(p.pk),
        )
        for p in posts
    ]


def calendar_pauses(membership: Membership, start: datetime, end: datetime, flt: PostFilter) -> list[PublishingPause]:
    """Pauses (whole organisation, or a department the member sees) that overlap [start, end): one query."""
    qs = (
        PublishingPause.objects.visible_to(membership)
        .select_related("department")
        .annotate(effective_end=Coalesce("lifted_at", "ends_at"))
        .filter(starts_at__lt=end)
        .filter(Q(effective_end__isnull=True) | Q(effective_end__gt=start))
        # A pause lifted before it started never stopped anything.
        .exclude(lifted_at__isnull=False, lifted_at__lte=F("starts_at"))
    )
    if not membership.sees_all_departments:
        qs = qs.filter(Q(department__isnull=True) | Q(department_id__in=membership.department_ids))
    if flt.department is not None:
        qs = qs.filter(Q(department__isnull=True) | Q(department_id=flt.department))
    return list(qs.order_by("starts_at", "id"))


def bands_for(pauses: list[PublishingPause], tz: ZoneInfo) -> list[PauseBand]:
    return [
        PauseBand(
            pause=p,
            starts_at=p.starts_at.astimezone(tz),
            ends_at=p.effective_end.astimezone(tz) if p.effective_end else None,
            department_name=p.department.name if p.department_id else "",
        )
        for p in pauses
    ]


# -------------------------------------------------------------------------------------------- grids
@dataclass
class Day:
    day: date
    in_period: bool
    is_today: bool
    events: list[Event] = field(default_factory=list)
    pauses: list[PauseBand] = field(default_factory=list)

    @property
    def is_weekend(self) -> bool:
        return self.day.weekday() >= 5


@dataclass
class CalendarView:
    view: str  # "month" or "week"
    anchor: date
    tz: ZoneInfo
    today: date
    weeks: list[list[Day]]
    pauses: list[PauseBand]
    event_count: int

    @property
    def days(self) -> list[Day]:
        return [d for week in self.weeks for d in week if d.in_period]

    @property
    def title(self) -> str:
        if self.view == "month":
            return self.anchor.strftime("%B %Y")
        first, last = self.weeks[0][0].day, self.weeks[0][-1].day
        return f"Week of {first.day} {first:%B %Y} to {last.day} {last:%B %Y}"

    @property
    def previous(self) -> date:
        if self.view == "week":
            return self.anchor - timedelta(days=7)
        first = self.anchor.replace(day=1)
        return (first - timedelta(days=1)).replace(day=1)

    @property
    def next(self) -> date:
        if self.view == "week":
            return self.anchor + timedelta(days=7)
        first = self.anchor.replace(day=1)
        return (first + timedelta(days=32)).replace(day=1)


def period_dates(view: str, anchor: date) -> list[list[date]]:
    """Weeks (Monday first) of the month holding `anchor`, or the one week holding it."""
    if view == "week":
        monday = anchor - timedelta(days=anchor.weekday())
        return [[monday + timedelta(days=i) for i in range(7)]]
    return pycalendar.Calendar(firstweekday=0).monthdatescalendar(anchor.year, anchor.month)


def build_calendar(membership: Membership, view: str, anchor: date, flt: PostFilter, *, now: datetime | None = None) -> CalendarView:
    """The month or week around `anchor`, each day holding its posts and pauses: three queries."""
    tz = org_timezone(membership)
    today = (now or timezone.now()).astimezone(tz).date()
    weeks = period_dates(view, anchor)
    first, last = weeks[0][0], weeks[-1][-1]
    start, end = day_start(first, tz), day_start(last + timedelta(days=1), tz)
    events = events_for(calendar_posts(membership, start, end, flt), tz)
    bands = bands_for(calendar_pauses(membership, start, end, flt), tz)
    by_day: dict[date, list[Event]] = {}
    for event in events:
        by_day.setdefault(event.at.date(), []).append(event)
    grid = []
    for week in weeks:
        row = []
        for d in week:
            in_period = view == "week" or d.month == anchor.month
            lo, hi = day_start(d, tz), day_start(d + timedelta(days=1), tz)
            row.append(Day(
                day=d, in_period=in_period, is_today=d == today, events=by_day.get(d, []) if in_period else [],
                pauses=[b for b in bands if b.covers(lo, hi)] if in_period else [],
            ))
        grid.append(row)
    shown = sum(len(d.events) for week in grid for d in week)
    return CalendarView(view=view, anchor=anchor, tz=tz, today=today, weeks=grid, pauses=bands, event_count=shown)


def parse_view(params) -> tuple[str, date | None]:
    errors = {}
    view = (params.get("view") or "month").strip()
    if view not in ("month", "week"):
        errors["view"] = "Use month or week."
    raw = (params.get("date") or "").strip()
    anchor = None
    if raw:
        try:
            anchor = date.fromisoformat(raw) if len(raw) == 10 and raw.isascii() else None
        except ValueError:
            anchor = None
        if anchor is None:
            errors["date"] = "Use a date written as YYYY-MM-DD, for example 2025-03-30."
        elif not FIRST_YEAR <= anchor.year <= LAST_YEAR:
            errors["date"] = OUT_OF_RANGE
            anchor = None
    if errors:
        raise CalendarError(errors)
    return view, anchor


# --------------------------------------------------------------------------------------- JSON feed
def _feed_bound(raw: str, name: str, tz: ZoneInfo, errors: dict) -> datetime | None:
    raw = (raw or "").strip()
    if not raw:
        errors[name] = "Required: a date (YYYY-MM-DD) or a date and time with its offset."
        return None
    try:
        if not raw.isascii():
            raise ValueError
        if len(raw) == 10:
            value = day_start(date.fromisoformat(raw), tz)
        else:
            value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            value = value if value.tzinfo else value.replace(tzinfo=tz)
    except (ValueError, OverflowError):
        errors[name] = "Use a date (YYYY-MM-DD) or a date and time such as 2025-03-30T00:00:00+01:00."
        return None
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        errors[name] = OUT_OF_RANGE
        return None
    try:
        # Every later step compares, subtracts and shows it in other zones: all of them need it to convert.
        return value.astimezone(UTC).astimezone(tz)
    except (ValueError, OverflowError):  # pragma: no cover - the year window keeps clear of the edges
        errors[name] = OUT_OF_RANGE
        return None


def feed(membership: Membership, params, *, absolute=lambda url: url) -> dict:
    """The JSON calendar feed for [start, end) (at most FEED_MAX_DAYS); raises CalendarError."""
    tz = org_timezone(membership)
    errors: dict[str, str] = {}
    start = _feed_bound(params.get("start", ""), "start", tz, errors)
    end = _feed_bound(params.get("end", ""), "end", tz, errors)
    try:
        flt = PostFilter.from_params(params, membership)
    except CalendarError as exc:
        errors.update(exc.errors)
        flt = None
    if start and end:
        if end <= start:
            errors["end"] = "Must be after start."
        elif end - start > timedelta(days=FEED_MAX_DAYS):
            errors["end"] = f"The range can be at most {FEED_MAX_DAYS} days."
    if errors:
        raise CalendarError(errors)
    events = events_for(calendar_posts(membership, start, end, flt), tz)
    bands = bands_for(calendar_pauses(membership, start, end, flt), tz)
    return {
        "timezone": str(tz),
        "start": start.astimezone(tz).isoformat(),
        "end": end.astimezone(tz).isoformat(),
        "events": [
            {
                "id": e.post.pk,
                "title": e.post.title,
                "start": e.at.isoformat(),
                "status": e.post.status,
                "status_label": e.status_label,
                "published": e.published,
                "department": {"id": e.post.department_id, "name": e.post.department.name},
                "channels": [{"id": c.pk, "platform": c.platform, "name": str(c)} for c in e.channels],
                "url": absolute(e.url),
            }
            for e in events
        ],
        "pauses": [
            {
                "id": b.pause.pk,
                "reason": b.pause.reason,
                "start": b.starts_at.isoformat(),
                "end": b.ends_at.isoformat() if b.ends_at else None,
                "department": {"id": b.pause.department_id, "name": b.department_name} if b.pause.department_id else None,
            }
            for b in bands
        ],
    }


# -------------------------------------------------------------------------------------------- lists
def list_posts(membership: Membership, flt: PostFilter, cursor: str, page_size: int = LIST_PAGE_SIZE):
    """One keyset page (newest change first) of the posts the member sees, and the next page's cursor."""
    qs = flt.apply(Post.objects.visible_to(membership), membership).for_list().order_by("-updated_at", "-id")
    if cursor:
        at, pk = decode_cursor(cursor)
        qs = qs.filter(Q(updated_at__lt=at) | Q(updated_at=at, id__lt=pk))
    rows = list(qs[: page_size + 1])
    more = len(rows) > page_size
    rows = rows[:page_size]
    _channels_of_drafts(membership, rows)
    return rows, (encode_cursor(rows[-1]) if more and rows else None)


def _channels_of_drafts(membership: Membership, rows: list[Post]) -> None:
    """Each row's channels: its targets once scheduled, else those its current revision names (one query)."""
    wanted = {cid for p in rows if not p.targets.all() and p.current_revision for cid in p.current_revision.channel_ids}
    found = {c.pk: c for c in Channel.objects.for_organisation(membership.organisation_id).filter(pk__in=wanted)} if wanted else {}
    for p in rows:
        targets = list(p.targets.all())
        if targets:
            p.channel_list = [t.channel for t in targets]
        else:
            ids = p.current_revision.channel_ids if p.current_revision else []
            p.channel_list = [found[i] for i in ids if i in found]
        p.url = post_url(p.pk)


def status_counts(membership: Membership, flt: PostFilter) -> dict[str, int]:
    counts = {s: 0 for s in PostStatus.values}
    qs = flt.apply(Post.objects.visible_to(membership), membership, status=False)
    for row in qs.order_by().values("status").annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    return counts


def encode_cursor(post: Post) -> str:
    key = [post.updated_at.isoformat(), post.pk]
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at, pk = json.loads(base64.urlsafe_b64decode(padded.encode()))
        at = datetime.fromisoformat(at)
        if at.tzinfo is None or not FIRST_YEAR <= at.year <= LAST_YEAR:
            raise ValueError
        if isinstance(pk, bool) or not isinstance(pk, int) or not 0 < pk < 2**63:
            raise ValueError
        return at.astimezone(UTC), pk
    except (ValueError, OverflowError, TypeError, binascii.Error, json.JSONDecodeError, UnicodeDecodeError):
        raise CalendarError({"cursor": "Not a cursor this list gave out."}) from None


# ---------------------------------------------------------------------------------------- iCalendar
def ics_token(membership: Membership, department_id: int) -> str:
    return signing.dumps({"u": membership.user_id, "o": membership.organisation_id, "d": department_id}, salt=ICS_SALT)


def ics_membership(token: str, department_id: int) -> tuple[Membership, Department] | None:
    """The member and department a feed token stands for, or None (bad token, ended access)."""
    try:
        data = signing.loads(token or "", salt=ICS_SALT)
        user_id, organisation_id, token_department = int(data["u"]), int(data["o"]), int(data["d"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None
    if token_department != department_id:
        return None
    membership = (
        Membership.objects.active()
        .filter(user_id=user_id, organisation_id=organisation_id, user__is_active=True)
        .select_related("organisation", "user")
        .first()
    )
    if membership is None:
        return None
    department = Department.objects.for_organisation(organisation_id).filter(pk=department_id).first()
    if department is None:
        return None
    if not membership.sees_all_departments and department.pk not in membership.department_ids:
        return None
    return membership, department


def ics_escape(text: str) -> str:
    """RFC 5545 3.3.11 TEXT: backslash, semicolon, comma and newline escaped; other control characters dropped."""
    text = str(text).replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")
    return "".join(ch for ch in text if ch == "\t" or (ord(ch) >= 32 and ord(ch) != 127))


def ics_fold(line: str) -> str:
    """RFC 5545 3.1: lines of at most 75 octets; continuation lines start with one space. Never splits a character."""
    out, current, size = [], "", 0
    limit = 75
    for ch in line:
        n = len(ch.encode("utf-8"))
        if size + n > limit:
            out.append(current)
            current, size = " ", 1
            limit = 75
        current += ch
        size += n
    out.append(current)
    return "\r\n".join(out)


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


ICS_STATUS = {
    PostStatus.SCHEDULED: "TENTATIVE",
    PostStatus.PUBLISHING: "TENTATIVE",
    PostStatus.PUBLISHED: "CONFIRMED",
    PostStatus.PARTLY_PUBLISHED: "CONFIRMED",
    PostStatus.FAILED: "CONFIRMED",
}


def ics_feed(membership: Membership, department: Department, *, host: str, absolute, now: datetime | None = None) -> str:
    """The department's scheduled and published posts (and pauses) as an iCalendar document."""
    now = now or timezone.now()
    start, end = now - timedelta(days=ICS_PAST_DAYS), now + timedelta(days=ICS_FUTURE_DAYS)
    flt = PostFilter(department=department.pk)
    posts = calendar_posts(membership, start, end, flt, limit=ICS_MAX_EVENTS)
    pauses = calendar_pauses(membership, start, end, flt)
    stamp = _utc(now)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Civic Desk//Posts calendar//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{ics_escape(f'{membership.organisation.name}: {department.name} posts')}",
        f"X-WR-TIMEZONE:{ics_escape(membership.organisation.timezone)}",
    ]
    for post in posts:
        channels = ", ".join(str(t.channel) for t in post.targets.all()) or "none"
        status = PostStatus(post.status).label
        summary = post.title if post.status != PostStatus.FAILED else f"{post.title} (failed)"
        lines += [
            "BEGIN:VEVENT",
            f"UID:post-{post.pk}@{host}",
            f"DTSTAMP:{stamp}",
            f"DTSTART:{_utc(post.calendar_at)}",
            f"DTEND:{_utc(post.calendar_at + timedelta(minutes=15))}",
            f"SUMMARY:{ics_escape(summary)}",
            f"DESCRIPTION:{ics_escape(f'{status}. Channels: {channels}.')}",
            f"URL:{absolute(post_url(post.pk))}",
            f"STATUS:{ICS_STATUS[post.status]}",
            f"LAST-MODIFIED:{_utc(post.updated_at)}",
            "END:VEVENT",
        ]
    for pause in pauses:
        lines += [
            "BEGIN:VEVENT",
            f"UID:pause-{pause.pk}@{host}",
            f"DTSTAMP:{stamp}",
            f"DTSTART:{_utc(pause.starts_at)}",
        ]
        if pause.effective_end:
            lines.append(f"DTEND:{_utc(pause.effective_end)}")
        scope = pause.department.name if pause.department_id else "all departments"
        lines += [
            f"SUMMARY:{ics_escape(f'Publishing paused ({scope}): {pause.reason}')}",
            "TRANSP:TRANSPARENT",
            "STATUS:CONFIRMED",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(ics_fold(line) + "\r\n" for line in lines)

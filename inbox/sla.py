"""Service levels counted in office hours: a department's calendar and due-time arithmetic.

Office hours come from InboxPolicy.office_hours ({"mon": [["09:00", "17:00"]], ..., "sun": []}) read as
wall-clock times in the organisation's time zone; bank holidays (BankHoliday rows of the organisation)
close the whole local day.

Clock changes: each open range of a day is turned into two real instants (its start and its end, resolved
in the zone) and working time is the real time between them. So 09:00–17:00 is 8 working hours on the day
the clocks change too, while a range that spans the change (say Sunday 00:00–04:00 on the last Sunday of
March in Europe/London) is 3 real hours, and 5 on the last Sunday of October. A wall-clock time that does
not exist (01:30 on the spring-forward day) is read as if the clock had not yet changed (zoneinfo fold=0:
01:30 GMT, which is 02:30 BST); one that happens twice is its first occurrence. All arithmetic is done in
UTC, never on aware local datetimes (Python adds timedeltas to those in wall-clock time).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_LABELS = {
    "mon": "Monday",
    "tue": "Tuesday",
    "wed": "Wednesday",
    "thu": "Thursday",
    "fri": "Friday",
    "sat": "Saturday",
    "sun": "Sunday",
}
MAX_RANGES_PER_DAY = 2
# due() and closed_period_start() look this many days ahead/back before giving up (a calendar with no
# open hours at all, or a year of bank holidays): never loop forever.
SEARCH_DAYS = 400
# What closed_period_start() returns when no opening is found within SEARCH_DAYS back: a fixed instant,
# so "at most once per closed period" still means once.
NEVER_OPENED = datetime(1970, 1, 1, tzinfo=UTC)

DEFAULT_FIRST_RESPONSE_MINUTES = 60
DEFAULT_RESOLUTION_MINUTES = 8 * 60

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")


def _minutes(value: str) -> int:
    if not isinstance(value, str) or not _HHMM.match(value):
        raise ValidationError(f"“{value}” is not a time of day such as 09:00.", code="invalid_time")
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


def parse_office_hours(office_hours: dict | None) -> dict[int, tuple[tuple[int, int], ...]]:
    """{"mon": [["09:00", "17:00"]]} → {0: ((540, 1020),)}; minutes after local midnight, end may be 1440.

    Raises ValidationError with a message naming the day for anything malformed, overlapping or backwards.
    Missing days are closed.
    """
    if office_hours is None:
        office_hours = {}
    if not isinstance(office_hours, dict):
        raise ValidationError("Office hours must map weekdays to lists of ranges.", code="invalid_office_hours")
    unknown = set(office_hours) - set(WEEKDAYS)
    if unknown:
        raise ValidationError(f"Unknown weekday {sorted(unknown)[0]!r} in office hours.", code="invalid_office_hours")
    parsed: dict[int, tuple[tuple[int, int], ...]] = {}
    for index, day in enumerate(WEEKDAYS):
        ranges = office_hours.get(day) or []
        label = WEEKDAY_LABELS[day]
        if not isinstance(ranges, list | tuple):
            raise ValidationError(f"{label}: office hours must be a list of ranges.", code="invalid_office_hours")
        if len(ranges) > MAX_RANGES_PER_DAY:
            raise ValidationError(
                f"{label}: at most {MAX_RANGES_PER_DAY} ranges a day.", code="invalid_office_hours"
            )
        day_ranges = []
        for item in ranges:
            if not isinstance(item, list | tuple) or len(item) != 2:
                raise ValidationError(f"{label}: each range needs a start and an end.", code="invalid_office_hours")
            try:
                start, end = _minutes(item[0]), _minutes(item[1])
            except ValidationError as exc:
                raise ValidationError(f"{label}: {exc.messages[0]}", code="invalid_time") from None
            if start >= 24 * 60:
                raise ValidationError(f"{label}: a range cannot start at 24:00.", code="invalid_office_hours")
            if end <= start:
                raise ValidationError(
                    f"{label}: the end ({item[1]}) must be after the start ({item[0]}).", code="end_before_start"
                )
            day_ranges.append((start, end))
        day_ranges.sort()
        for (_, first_end), (second_start, _) in zip(day_ranges, day_ranges[1:], strict=False):
            if second_start < first_end:
                raise ValidationError(f"{label}: the ranges overlap.", code="overlapping_ranges")
        parsed[index] = tuple(day_ranges)
    return parsed


def validate_office_hours(office_hours: dict | None) -> None:
    """For saving a policy: well formed, and open at least once a week (else nothing could ever be due)."""
    parsed = parse_office_hours(office_hours)
    if not any(parsed.values()):
        raise ValidationError("Office hours must be open at least once a week.", code="no_open_hours")


def _format_minutes(value: int) -> str:
    return f"{value // 60:02d}:{value % 60:02d}"


class Calendar:
    """One department's working time: weekly office hours, the organisation's bank holidays, its zone."""

    def __init__(self, office_hours: dict | None, timezone: str | ZoneInfo = "Europe/London",
                 holidays: Iterable[date] = ()) -> None:
        try:
            self.zone = timezone if isinstance(timezone, ZoneInfo) else ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            self.zone = ZoneInfo("Europe/London")
        try:
            self.hours = parse_office_hours(office_hours)
        except ValidationError:
            # A row saved around the form (bad JSON in the database) is treated as never open: due() gives
            # None rather than a wrong time or a crash in the middle of ingestion.
            self.hours = {index: () for index in range(7)}
        self.holidays = frozenset(holidays)
        self._day_cache: dict[date, tuple[tuple[datetime, datetime], ...]] = {}
        self._line: _Timeline | None = None

    def __repr__(self) -> str:
        week = {WEEKDAYS[i]: [[_format_minutes(s), _format_minutes(e)] for s, e in r] for i, r in self.hours.items()}
        return f"Calendar({week!r}, {self.zone.key!r}, {len(self.holidays)} holidays)"

    @property
    def has_open_hours(self) -> bool:
        return any(self.hours.values())

    # ------------------------------------------------------------------------------ day segments
    def _instant(self, day: date, minutes: int) -> datetime:
        if minutes >= 24 * 60:
            day, minutes = day + timedelta(days=1), minutes - 24 * 60
        local = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=self.zone)  # fold=0
        return local.astimezone(UTC)

    def segments(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """The open periods of one local date as (start, end) instants in UTC, end exclusive."""
        cached = self._day_cache.get(day)
        if cached is not None:
            return cached
        result: list[tuple[datetime, datetime]] = []
        if day not in self.holidays:
            for start, end in self.hours.get(day.weekday(), ()):
                start_at, end_at = self._instant(day, start), self._instant(day, end)
                if end_at > start_at:  # a range lying wholly in a skipped hour is empty
                    result.append((start_at, end_at))
        segments = tuple(result)
        self._day_cache[day] = segments
        return segments

    def _timeline(self, first: date, last: date) -> _Timeline | None:
        """The open periods of the local dates first..last (at least) with the working time before each, or
        None when two of them overlap in real time (then the day-by-day walk gives the answer).

        Built once per calendar and widened on demand, by at least its own width each time, so a refresh that
        asks about tens of thousands of instants in any order builds it a handful of times.
        """
        line = self._line
        if line is not None and line.first <= first and last <= line.last:
            return line if line.ordered else None
        if line is not None:
            width = line.last - line.first
            if first < line.first:
                first = min(first, line.first - width)
            else:
                first = line.first
            if last > line.last:
                last = max(last, line.last + width)
            else:
                last = line.last
        self._line = line = _Timeline(first, last, self.segments)
        return line if line.ordered else None

    def _local_date(self, at: datetime) -> date:
        if at.tzinfo is None:
            raise ValueError("Calendar needs an aware datetime.")
        return at.astimezone(self.zone).date()

    # ---------------------------------------------------------------------------------- queries
    def is_open(self, at: datetime) -> bool:
        at_utc = at.astimezone(UTC) if at.tzinfo else None
        if at_utc is None:
            raise ValueError("Calendar needs an aware datetime.")
        day = self._local_date(at)
        # The day before too: a range ending at 24:00 belongs to yesterday's date.
        for candidate in (day - timedelta(days=1), day):
            for start, end in self.segments(candidate):
                if start <= at_utc < end:
                    return True
        return False

    def closed_period_start(self, at: datetime) -> datetime | None:
        """When the closed period containing `at` began (the last closing time), or None while open.

        A calendar that has not been open within SEARCH_DAYS before `at` gives NEVER_OPENED.
        """
        if self.is_open(at):
            return None
        at_utc = at.astimezone(UTC)
        day = self._local_date(at)
        for back in range(SEARCH_DAYS + 1):
            latest = None
            for _, end in self.segments(day - timedelta(days=back)):
                if end <= at_utc and (latest is None or end > latest):
                    latest = end
            if latest is not None:
                return latest
        return NEVER_OPENED

    def next_opening(self, at: datetime) -> datetime | None:
        """`at` itself when open, else the next time the office opens (None if not within SEARCH_DAYS)."""
        return self.due(at, 0)

    def due(self, start: datetime, minutes: int) -> datetime | None:
        """`start` plus `minutes` of working time, in UTC; None if the calendar never opens (SEARCH_DAYS).

        Counting begins at `start` when the office is open, else at the next opening.
        """
        if minutes < 0:
            raise ValueError("minutes must not be negative.")
        start_utc = start.astimezone(UTC) if start.tzinfo else None
        if start_utc is None:
            raise ValueError("Calendar needs an aware datetime.")
        if not self.has_open_hours:
            return None
        first_day = self._local_date(start) - timedelta(days=1)
        horizon = first_day + timedelta(days=SEARCH_DAYS + 1)
        # Most answers lie within a fortnight: the timeline grows towards the horizon only when needed.
        last = min(first_day + timedelta(days=14), horizon)
        while True:
            line = self._timeline(first_day, last)
            if line is None:
                return self._due_walk(start_utc, minutes)
            found, result = line.due(start_utc, timedelta(minutes=minutes), horizon)
            if found or last >= horizon:
                return result
            last = min(last + (last - first_day), horizon)

    def _due_walk(self, start_utc: datetime, minutes: int) -> datetime | None:
        """due() by walking the days one by one: the definition, and the way for a calendar whose open
        periods overlap in real time (ranges on both sides of a spring-forward gap)."""
        remaining = timedelta(minutes=minutes)
        first_day = self._local_date(start_utc) - timedelta(days=1)
        for offset in range(SEARCH_DAYS + 2):
            for seg_start, seg_end in self.segments(first_day + timedelta(days=offset)):
                if seg_end <= start_utc:
                    continue
                begin = max(seg_start, start_utc)
                available = seg_end - begin
                if remaining <= available:
                    return begin + remaining
                remaining -= available
        return None

    def working_seconds(self, start: datetime, end: datetime) -> int | None:
        """Office-hours seconds between two instants (0 when end is not after start).

        The KPIs' "in office hours" times: only time inside this calendar's open periods counts, so a
        message at 16:30 on Friday answered at 09:30 on Monday waited one hour (09:00-17:00 hours).
        None when the period is longer than SEARCH_DAYS (the calendar's horizon): no figure beats a wrong one.
        """
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("Calendar needs an aware datetime.")
        start_utc, end_utc = start.astimezone(UTC), end.astimezone(UTC)
        if end_utc <= start_utc:
            return 0
        first_day = self._local_date(start) - timedelta(days=1)
        last_day = self._local_date(end)
        if (last_day - first_day).days > SEARCH_DAYS + 2:
            return None
        line = self._timeline(first_day, last_day)
        if line is None:
            return self._working_seconds_walk(start_utc, end_utc, first_day, last_day)
        return int((line.worked(end_utc) - line.worked(start_utc)).total_seconds())

    def _working_seconds_walk(self, start_utc: datetime, end_utc: datetime, first_day: date, last_day: date) -> int:
        """working_seconds() by walking the days one by one (see _due_walk)."""
        total = timedelta(0)
        day = first_day
        while day <= last_day:
            for seg_start, seg_end in self.segments(day):
                overlap = min(seg_end, end_utc) - max(seg_start, start_utc)
                if overlap > timedelta(0):
                    total += overlap
            day += timedelta(days=1)
        return int(total.total_seconds())


class _Timeline:
    """A calendar's open periods over the local dates first..last, in order, with prefix sums of working time:
    working time between two instants is a difference of two binary searches, and a due time one more search,
    instead of a walk over every day between them. Results are the walk's to the microsecond."""

    __slots__ = ("first", "last", "starts", "ends", "days", "before", "after", "ordered")

    def __init__(self, first: date, last: date, segments) -> None:
        self.first, self.last = first, last
        self.starts: list[datetime] = []
        self.ends: list[datetime] = []
        self.days: list[date] = []  # the local date each period belongs to (the due-time horizon counts dates)
        self.before: list[timedelta] = []  # working time from the first period's start to this one's start
        self.after: list[timedelta] = []  # … to this one's end
        self.ordered = True
        total = timedelta(0)
        day = first
        while day <= last:
            for start, end in segments(day):
                if self.ends and start < self.ends[-1]:
                    self.ordered = False  # overlapping periods: the sums would count the overlap twice
                self.starts.append(start)
                self.ends.append(end)
                self.days.append(day)
                self.before.append(total)
                total += end - start
                self.after.append(total)
            day += timedelta(days=1)

    def worked(self, at: datetime) -> timedelta:
        """Working time from the timeline's beginning to `at`."""
        index = bisect_right(self.starts, at) - 1
        if index < 0:
            return timedelta(0)
        return self.before[index] + min(at - self.starts[index], self.ends[index] - self.starts[index])

    def due(self, start: datetime, remaining: timedelta, horizon: date) -> tuple[bool, datetime | None]:
        """(found, due time): found is False when the answer may lie after this timeline's last date."""
        index = bisect_right(self.ends, start)  # the first period that ends after `start`
        if index == len(self.ends):
            return self.last >= horizon, None
        if not remaining:
            if self.days[index] > horizon:
                return True, None
            return True, max(self.starts[index], start)
        target = self.before[index] + max(start - self.starts[index], timedelta(0)) + remaining
        end = bisect_left(self.after, target, lo=index)  # the first period in which the target is reached
        if end == len(self.after):
            return self.last >= horizon, None
        if self.days[end] > horizon:
            return True, None
        return True, self.starts[end] + (target - self.before[end])


# --------------------------------------------------------------------------- policies per department
@dataclass
class DefaultPolicy:
    """What a department without an InboxPolicy row gets (the same values as the model's defaults)."""

    organisation_id: int
    department_id: int
    first_response_minutes: int = DEFAULT_FIRST_RESPONSE_MINUTES
    resolution_minutes: int = DEFAULT_RESOLUTION_MINUTES
    office_hours: dict | None = None
    pk: None = None

    def __post_init__(self) -> None:
        if self.office_hours is None:
            from inbox.models import default_office_hours

            self.office_hours = default_office_hours()

    @property
    def reply_approval_user_ids(self) -> list[int]:
        return []


def calendars_for(organisation_id: int, department_ids: Iterable[int]) -> dict[int, tuple[Calendar, object]]:
    """{department_id: (Calendar, policy)} in three queries (zone, bank holidays, policies).

    `policy` is the department's InboxPolicy, or a DefaultPolicy (60 min first response, 480 min
    resolution, Monday–Friday 09:00–17:00) when it has none. Only departments of the organisation count:
    a foreign department id gets the defaults of this organisation, never another organisation's policy.
    """
    from accounts.models import Organisation
    from inbox.models import BankHoliday, InboxPolicy

    department_ids = sorted(set(department_ids))
    if not department_ids:
        return {}
    zone = Organisation.objects.filter(pk=organisation_id).values_list("timezone", flat=True).first()
    holidays = list(BankHoliday.objects.for_organisation(organisation_id).values_list("date", flat=True))
    policies = {
        policy.department_id: policy
        for policy in InboxPolicy.objects.for_organisation(organisation_id).filter(department_id__in=department_ids)
    }
    zone_info = _zone(zone or "Europe/London")
    result: dict[int, tuple[Calendar, object]] = {}
    for department_id in department_ids:
        policy = policies.get(department_id) or DefaultPolicy(organisation_id, department_id)
        result[department_id] = (Calendar(policy.office_hours, zone_info, holidays), policy)
    return result


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("Europe/London")


def apply_due_times(conversations: list) -> None:
    """Set first_response_due_at / resolution_due_at in memory (the caller saves) where waiting_since is set.

    - first response due = due(waiting_since, first_response_minutes): recomputed for each wait;
    - resolution due = due(waiting_since, resolution_minutes) when the conversation has no resolution due
      time yet, or when its last closing (closed_at) is not after waiting_since (a reopened conversation
      starts a new resolution clock). A conversation that is simply waiting again keeps its resolution due.
    Three queries per organisation present in the list, whatever its length.
    """
    by_org: dict[int, set[int]] = {}
    for conversation in conversations:
        if conversation.waiting_since is not None:
            by_org.setdefault(conversation.organisation_id, set()).add(conversation.department_id)
    calendars = {org_id: calendars_for(org_id, departments) for org_id, departments in by_org.items()}
    for conversation in conversations:
        if conversation.waiting_since is None:
            continue
        calendar, policy = calendars[conversation.organisation_id][conversation.department_id]
        conversation.first_response_due_at = calendar.due(conversation.waiting_since, policy.first_response_minutes)
        closed_at = getattr(conversation, "closed_at", None)
        if conversation.resolution_due_at is None or (closed_at is not None and closed_at <= conversation.waiting_since):
            conversation.resolution_due_at = calendar.due(conversation.waiting_since, policy.resolution_minutes)

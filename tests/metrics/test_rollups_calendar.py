"""The office-hours arithmetic the rollups run per fact (inbox.sla.Calendar.due / working_seconds) answers from
a timeline of prefix sums; these tests pin it to the day-by-day walk, which is the definition, to the
microsecond: across both clock changes, bank holidays, ranges ending at 24:00, ranges around the spring-forward
gap (which overlap in real time, so the walk answers), a calendar open one hour a week (the horizon), and
instants asked in any order (the timeline widens backwards and forwards).
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from inbox.sla import SEARCH_DAYS, Calendar

WEEKDAYS = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
HOLIDAYS = [date(2026, 5, 4), date(2026, 5, 25), date(2026, 12, 25), date(2026, 12, 28)]
CALENDARS = {
    "weekdays": (WEEKDAYS, "Europe/London"),
    "split days and midnight": ({"mon": [["00:00", "08:00"], ["20:00", "24:00"]], "sat": [["10:00", "24:00"]],
                                 "sun": [["00:00", "04:00"]]}, "Europe/London"),
    # 00:30-01:30 and 02:00-03:00 on the spring-forward Sunday: 00:30-01:30 UTC and 01:00-02:00 UTC overlap.
    "around the gap": ({"sun": [["00:30", "01:30"], ["02:00", "03:00"]], "wed": [["13:00", "14:00"]]},
                       "Europe/London"),
    "one hour a week": ({"thu": [["11:00", "12:00"]]}, "America/New_York"),
}


def _walk_due(calendar: Calendar, start: datetime, minutes: int) -> datetime | None:
    if not calendar.has_open_hours:
        return None
    return calendar._due_walk(start.astimezone(UTC), minutes)


def _walk_seconds(calendar: Calendar, start: datetime, end: datetime) -> int | None:
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        return 0
    first, last = calendar._local_date(start) - timedelta(days=1), calendar._local_date(end)
    if (last - first).days > SEARCH_DAYS + 2:
        return None
    return calendar._working_seconds_walk(start, end, first, last)


def _instants(rng: random.Random, n: int) -> list[datetime]:
    base = datetime(2026, 3, 20, tzinfo=UTC)
    # Whole hours, the ends of open periods and random microseconds: the boundaries are where sums go wrong.
    picks = []
    for _ in range(n):
        at = base + timedelta(days=rng.randint(0, 300), hours=rng.randint(0, 23))
        picks.append(at + rng.choice([timedelta(0), timedelta(minutes=rng.randint(0, 59)),
                                      timedelta(microseconds=rng.randint(0, 10**10))]))
    return picks


@pytest.mark.parametrize("name", sorted(CALENDARS))
def test_timeline_gives_the_walks_due_times_and_working_seconds(name):
    hours, zone = CALENDARS[name]
    fast, walk = Calendar(hours, zone, HOLIDAYS), Calendar(hours, zone, HOLIDAYS)
    rng = random.Random(name)
    # Every quarter of an hour of both clock-change weekends too (inside the periods that overlap).
    changes = [datetime(2026, month, day, tzinfo=UTC) + timedelta(minutes=15 * n)
               for month, day in ((3, 28), (10, 24)) for n in range(4 * 72)]
    starts = _instants(rng, 400) + changes
    compared = 0
    for start in starts:  # random order: the timeline widens both ways
        for minutes in (0, 1, 60, 480, 60 * 24 * 3):
            assert fast.due(start, minutes) == _walk_due(walk, start, minutes), (name, start, minutes)
            compared += 1
        for end in (start + timedelta(minutes=rng.randint(0, 600)), start + timedelta(days=rng.randint(0, 40),
                    seconds=rng.randint(0, 86_400)), start - timedelta(hours=1)):
            assert fast.working_seconds(start, end) == _walk_seconds(walk, start, end), (name, start, end)
            compared += 1
        for end in (start + timedelta(minutes=15), start + timedelta(minutes=40)):
            assert fast.working_seconds(start, end) == _walk_seconds(walk, start, end), (name, start, end)
    # The exact end of an open period, and a due time that uses up a period exactly.
    friday_end = datetime(2026, 5, 1, 16, tzinfo=UTC)  # 17:00 BST
    assert fast.due(friday_end - timedelta(minutes=30), 30) == _walk_due(walk, friday_end - timedelta(minutes=30), 30)
    assert compared == len(starts) * 8


def test_known_answers_across_the_bank_holiday_and_the_clock_change():
    calendar = Calendar(WEEKDAYS, "Europe/London", HOLIDAYS)
    # Friday 1 May 16:30 BST + 60 office minutes: 30 on Friday, Monday is a holiday, 30 on Tuesday.
    assert calendar.due(datetime(2026, 5, 1, 15, 30, tzinfo=UTC), 60) == datetime(2026, 5, 5, 8, 30, tzinfo=UTC)
    # Friday 27 March 18:00 GMT to Monday 30 March 09:30 BST: half an hour, across the change.
    assert calendar.working_seconds(datetime(2026, 3, 27, 18, tzinfo=UTC),
                                    datetime(2026, 3, 30, 8, 30, tzinfo=UTC)) == 1800
    # 16:59:59.5 to 09:00:00.7 next day: 0.5 + 0.7 s, truncated to whole seconds like the walk.
    assert calendar.working_seconds(datetime(2026, 6, 2, 15, 59, 59, 500_000, tzinfo=UTC),
                                    datetime(2026, 6, 3, 8, 0, 0, 700_000, tzinfo=UTC)) == 1


def test_a_calendar_that_never_opens_and_periods_past_the_horizon():
    never = Calendar({}, "Europe/London")
    assert never.due(datetime(2026, 6, 1, tzinfo=UTC), 60) is None
    assert never.working_seconds(datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 6, 5, tzinfo=UTC)) == 0
    holidays = [date(2026, 1, 1) + timedelta(days=n) for n in range(SEARCH_DAYS + 30)]
    closed_for_a_year = Calendar(WEEKDAYS, "Europe/London", holidays)
    walk = Calendar(WEEKDAYS, "Europe/London", holidays)
    start = datetime(2026, 1, 2, 10, tzinfo=UTC)
    assert closed_for_a_year.due(start, 60) is None
    assert _walk_due(walk, start, 60) is None
    later = datetime(2026, 12, 1, 10, tzinfo=UTC)  # the holidays end within its horizon
    assert closed_for_a_year.due(later, 60) == _walk_due(walk, later, 60) is not None
    assert closed_for_a_year.working_seconds(start, start + timedelta(days=SEARCH_DAYS + 5)) is None

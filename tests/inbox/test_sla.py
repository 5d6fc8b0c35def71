"""Office-hours arithmetic (inbox.sla): weekends, bank holidays, split hours, clock changes, no hours at all."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from inbox.models import BankHoliday, InboxPolicy, default_office_hours
from inbox.sla import NEVER_OPENED, Calendar, apply_due_times, calendars_for, parse_office_hours, validate_office_hours
from tests.inbox_factories import make_channel, make_conversation

LONDON = ZoneInfo("Europe/London")


def at(*args) -> datetime:
    """A wall-clock time in London (fold=0)."""
    return datetime(*args, tzinfo=LONDON)


def local(value: datetime) -> datetime:
    return value.astimezone(LONDON).replace(tzinfo=None)


@pytest.fixture
def weekdays() -> Calendar:
    return Calendar(default_office_hours(), "Europe/London")


# 2025-03-05 is a Wednesday; 2025-03-07 a Friday; 2025-03-10 a Monday.
def test_inside_hours_adds_plain_minutes(weekdays):
    assert local(weekdays.due(at(2025, 3, 5, 10, 0), 60)) == datetime(2025, 3, 5, 11, 0)


def test_result_is_utc(weekdays):
    assert weekdays.due(at(2025, 3, 5, 10, 0), 60).tzinfo == UTC


def test_runs_over_into_next_working_day(weekdays):
    # 16:30 + 60 working minutes: 30 today, 30 tomorrow from 09:00.
    assert local(weekdays.due(at(2025, 3, 5, 16, 30), 60)) == datetime(2025, 3, 6, 9, 30)


def test_before_opening_counts_from_opening(weekdays):
    assert local(weekdays.due(at(2025, 3, 5, 6, 15), 60)) == datetime(2025, 3, 5, 10, 0)


def test_after_closing_counts_from_next_opening(weekdays):
    assert local(weekdays.due(at(2025, 3, 5, 19, 0), 60)) == datetime(2025, 3, 6, 10, 0)


def test_exactly_at_closing_counts_from_next_opening(weekdays):
    assert local(weekdays.due(at(2025, 3, 5, 17, 0), 1)) == datetime(2025, 3, 6, 9, 1)


def test_friday_evening_is_due_monday(weekdays):
    assert local(weekdays.due(at(2025, 3, 7, 18, 0), 60)) == datetime(2025, 3, 10, 10, 0)


def test_weekend_start_is_due_monday(weekdays):
    assert local(weekdays.due(at(2025, 3, 8, 11, 0), 480)) == datetime(2025, 3, 10, 17, 0)


def test_multi_day_target_skips_the_weekend(weekdays):
    # Friday 13:00 + 16 working hours: 4 Friday, 8 Monday, 4 Tuesday.
    assert local(weekdays.due(at(2025, 3, 7, 13, 0), 16 * 60)) == datetime(2025, 3, 11, 13, 0)


def test_zero_minutes_is_the_next_opening(weekdays):
    assert local(weekdays.due(at(2025, 3, 7, 18, 0), 0)) == datetime(2025, 3, 10, 9, 0)
    assert local(weekdays.next_opening(at(2025, 3, 5, 10, 0))) == datetime(2025, 3, 5, 10, 0)


def test_bank_holiday_monday_is_skipped():
    calendar = Calendar(default_office_hours(), "Europe/London", holidays=[date(2025, 5, 5)])
    assert local(calendar.due(at(2025, 5, 2, 16, 0), 120)) == datetime(2025, 5, 6, 10, 0)
    assert not calendar.is_open(at(2025, 5, 5, 12, 0))


def test_bank_holiday_on_a_closed_day_changes_nothing(weekdays):
    calendar = Calendar(default_office_hours(), "Europe/London", holidays=[date(2025, 3, 8)])
    assert calendar.due(at(2025, 3, 7, 16, 0), 120) == weekdays.due(at(2025, 3, 7, 16, 0), 120)


def test_split_hours_skip_the_lunch_break():
    calendar = Calendar({"wed": [["09:00", "12:00"], ["13:00", "17:00"]]}, "Europe/London")
    assert local(calendar.due(at(2025, 3, 5, 11, 30), 60)) == datetime(2025, 3, 5, 13, 30)
    assert local(calendar.due(at(2025, 3, 5, 12, 15), 10)) == datetime(2025, 3, 5, 13, 10)
    # A full day is 7 hours: 09:00 + 7h is 17:00 the same day, +1 min is next Wednesday.
    assert local(calendar.due(at(2025, 3, 5, 9, 0), 420)) == datetime(2025, 3, 5, 17, 0)
    assert local(calendar.due(at(2025, 3, 5, 9, 0), 421)) == datetime(2025, 3, 12, 9, 1)
    assert calendar.is_open(at(2025, 3, 5, 11, 59))
    assert not calendar.is_open(at(2025, 3, 5, 12, 0))
    assert calendar.closed_period_start(at(2025, 3, 5, 12, 30)) == at(2025, 3, 5, 12, 0)


def test_ranges_are_read_in_the_organisations_zone():
    new_york = Calendar(default_office_hours(), "America/New_York")
    # 09:00 in New York on 5 March 2025 is 14:00 UTC (EST, UTC-5).
    assert new_york.due(datetime(2025, 3, 5, 12, 0, tzinfo=UTC), 60) == datetime(2025, 3, 5, 15, 0, tzinfo=UTC)


# ------------------------------------------------------------------------------- clock changes
# Europe/London: clocks go forward at 01:00 GMT on Sunday 30 March 2025 and back at 02:00 BST on Sunday 26 October 2025.
def test_office_day_on_spring_forward_day_is_still_eight_hours():
    calendar = Calendar({"sun": [["09:00", "17:00"]]}, "Europe/London")
    assert local(calendar.due(at(2025, 3, 30, 9, 0), 480)) == datetime(2025, 3, 30, 17, 0)
    assert local(calendar.due(at(2025, 3, 30, 9, 0), 481)) == datetime(2025, 4, 6, 9, 1)


def test_office_day_on_fall_back_day_is_still_eight_hours():
    calendar = Calendar({"sun": [["09:00", "17:00"]]}, "Europe/London")
    assert local(calendar.due(at(2025, 10, 26, 9, 0), 480)) == datetime(2025, 10, 26, 17, 0)


def test_friday_to_monday_across_spring_forward():
    calendar = Calendar(default_office_hours(), "Europe/London")
    # Friday 28 March 16:00 GMT + 2 working hours = Monday 31 March 10:00 BST (09:00 UTC).
    due = calendar.due(at(2025, 3, 28, 16, 0), 120)
    assert due == datetime(2025, 3, 31, 9, 0, tzinfo=UTC)
    assert local(due) == datetime(2025, 3, 31, 10, 0)


def test_hours_spanning_spring_forward_are_three_real_hours():
    calendar = Calendar({"sun": [["00:00", "04:00"]]}, "Europe/London")
    start = at(2025, 3, 30, 0, 0)
    assert calendar.due(start, 60) == datetime(2025, 3, 30, 1, 0, tzinfo=UTC)  # 02:00 BST: 01:00–01:59 never happen
    assert local(calendar.due(start, 180)) == datetime(2025, 3, 30, 4, 0)
    assert local(calendar.due(start, 181)) == datetime(2025, 4, 6, 0, 1)
    assert calendar.is_open(datetime(2025, 3, 30, 2, 59, tzinfo=UTC))  # 03:59 BST
    assert not calendar.is_open(datetime(2025, 3, 30, 3, 0, tzinfo=UTC))  # 04:00 BST
    assert calendar.closed_period_start(datetime(2025, 3, 30, 12, 0, tzinfo=UTC)) == datetime(
        2025, 3, 30, 3, 0, tzinfo=UTC
    )


def test_hours_spanning_fall_back_are_five_real_hours():
    calendar = Calendar({"sun": [["00:00", "04:00"]]}, "Europe/London")
    start = at(2025, 10, 26, 0, 0)  # 23:00 UTC on the Saturday (BST)
    assert start.astimezone(UTC) == datetime(2025, 10, 25, 23, 0, tzinfo=UTC)
    # 120 minutes later is the second 01:00 (GMT), 01:00 UTC.
    assert calendar.due(start, 120) == datetime(2025, 10, 26, 1, 0, tzinfo=UTC)
    assert local(calendar.due(start, 300)) == datetime(2025, 10, 26, 4, 0)
    assert local(calendar.due(start, 301)) == datetime(2025, 11, 2, 0, 1)


def test_a_range_inside_the_skipped_hour_is_never_open():
    calendar = Calendar({"sun": [["01:00", "02:00"], ["10:00", "11:00"]]}, "Europe/London")
    assert calendar.segments(date(2025, 3, 30)) == (
        (datetime(2025, 3, 30, 9, 0, tzinfo=UTC), datetime(2025, 3, 30, 10, 0, tzinfo=UTC)),
    )
    assert len(calendar.segments(date(2025, 3, 23))) == 2


def test_range_ending_at_midnight_joins_the_next_day():
    calendar = Calendar({"sat": [["22:00", "24:00"]], "sun": [["00:00", "02:00"]]}, "Europe/London")
    assert local(calendar.due(at(2025, 3, 8, 23, 0), 120)) == datetime(2025, 3, 9, 1, 0)
    assert calendar.is_open(at(2025, 3, 8, 23, 59))
    assert calendar.is_open(at(2025, 3, 9, 0, 0))
    assert calendar.closed_period_start(at(2025, 3, 9, 5, 0)) == at(2025, 3, 9, 2, 0)


# ---------------------------------------------------------------------- is_open / closed period
def test_is_open_at_the_boundaries(weekdays):
    assert not weekdays.is_open(at(2025, 3, 5, 8, 59, 59))
    assert weekdays.is_open(at(2025, 3, 5, 9, 0))
    assert weekdays.is_open(at(2025, 3, 5, 16, 59, 59))
    assert not weekdays.is_open(at(2025, 3, 5, 17, 0))


def test_closed_period_start(weekdays):
    assert weekdays.closed_period_start(at(2025, 3, 5, 12, 0)) is None
    assert weekdays.closed_period_start(at(2025, 3, 5, 17, 0)) == at(2025, 3, 5, 17, 0)
    # Early Thursday morning belongs to the closed period that began Wednesday 17:00.
    assert weekdays.closed_period_start(at(2025, 3, 6, 8, 59)) == at(2025, 3, 5, 17, 0)
    # The whole weekend is one closed period from Friday 17:00.
    friday_close = at(2025, 3, 7, 17, 0)
    assert weekdays.closed_period_start(at(2025, 3, 8, 3, 0)) == friday_close
    assert weekdays.closed_period_start(at(2025, 3, 10, 8, 0)) == friday_close


def test_closed_period_spans_a_bank_holiday():
    calendar = Calendar(default_office_hours(), "Europe/London", holidays=[date(2025, 5, 5)])
    assert calendar.closed_period_start(at(2025, 5, 5, 12, 0)) == at(2025, 5, 2, 17, 0)


def test_naive_datetimes_are_refused(weekdays):
    with pytest.raises(ValueError):
        weekdays.due(datetime(2025, 3, 5, 10, 0), 5)
    with pytest.raises(ValueError):
        weekdays.is_open(datetime(2025, 3, 5, 10, 0))


# ---------------------------------------------------------------------------------- no hours
def test_calendar_with_no_hours_gives_none_not_a_hang():
    calendar = Calendar({day: [] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}, "Europe/London")
    assert calendar.due(at(2025, 3, 5, 10, 0), 60) is None
    assert not calendar.is_open(at(2025, 3, 5, 10, 0))
    assert calendar.closed_period_start(at(2025, 3, 5, 10, 0)) == NEVER_OPENED


def test_calendar_closed_by_holidays_for_over_a_year_gives_none():
    holidays = [date(2025, 1, 1) + timedelta(days=n) for n in range(500)]
    calendar = Calendar(default_office_hours(), "Europe/London", holidays=holidays)
    assert calendar.due(at(2025, 1, 1, 10, 0), 60) is None


def test_malformed_stored_hours_count_as_never_open():
    calendar = Calendar({"mon": [["17:00", "09:00"]]}, "Europe/London")
    assert calendar.due(at(2025, 3, 3, 10, 0), 60) is None


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        ({"mon": [], "sun": []}, "open at least once"),
        ({"mon": [["17:00", "09:00"]]}, "must be after the start"),
        ({"mon": [["09:00", "12:00"], ["11:00", "17:00"]]}, "overlap"),
        ({"mon": [["9am", "17:00"]]}, "not a time of day"),
        ({"mon": [["09:00", "10:00"], ["11:00", "12:00"], ["13:00", "14:00"]]}, "at most 2"),
        ({"funday": [["09:00", "17:00"]]}, "Unknown weekday"),
        ({"mon": [["24:00", "24:00"]]}, "cannot start at 24:00"),
    ],
)
def test_office_hours_validation(hours, message):
    with pytest.raises(ValidationError) as exc:
        validate_office_hours(hours)
    assert message in exc.value.messages[0]


def test_office_hours_parse():
    assert parse_office_hours({"tue": [["13:00", "17:00"], ["09:00", "12:00"]]})[1] == ((540, 720), (780, 1020))
    validate_office_hours(default_office_hours())


# ------------------------------------------------------------------------- calendars_for, apply
def test_calendars_for_uses_policy_holidays_and_zone(personas, django_assert_num_queries):
    org = personas.a
    comms, customer = org.departments["Communications"], org.departments["Customer Services"]
    org.organisation.timezone = "America/New_York"
    org.organisation.save(update_fields=["timezone"])
    InboxPolicy.objects.create(
        organisation=org.organisation, department=comms, first_response_minutes=15, office_hours={"sat": [["10:00", "12:00"]]}
    )
    BankHoliday.objects.create(organisation=org.organisation, date=date(2025, 3, 5), name="Test day")
    BankHoliday.objects.create(organisation=personas.b.organisation, date=date(2025, 3, 6), name="Other org")
    with django_assert_num_queries(3):
        calendars = calendars_for(org.organisation.pk, [comms.pk, customer.pk])
    comms_calendar, comms_policy = calendars[comms.pk]
    assert comms_policy.first_response_minutes == 15
    assert comms_calendar.zone.key == "America/New_York"
    assert comms_calendar.is_open(datetime(2025, 3, 8, 10, 30, tzinfo=ZoneInfo("America/New_York")))
    customer_calendar, customer_policy = calendars[customer.pk]
    assert (customer_policy.first_response_minutes, customer_policy.resolution_minutes) == (60, 480)
    assert customer_calendar.holidays == {date(2025, 3, 5)}  # not organisation B's


def test_calendars_for_does_not_use_another_organisations_policy(personas):
    other = personas.b.departments["Digital Desk"]
    InboxPolicy.objects.create(organisation=personas.b.organisation, department=other, first_response_minutes=5)
    calendars = calendars_for(personas.a.organisation.pk, [other.pk])
    assert calendars[other.pk][1].first_response_minutes == 60


def test_apply_due_times(personas, django_assert_num_queries):
    org = personas.a
    channel = make_channel(org)
    InboxPolicy.objects.create(
        organisation=org.organisation, department=channel.department, first_response_minutes=30, resolution_minutes=600
    )
    friday_evening = at(2025, 3, 7, 18, 0)
    waiting = make_conversation(org, channel=channel, at=friday_evening)
    idle = make_conversation(org, channel=channel, at=friday_evening)
    idle.waiting_since = None
    with django_assert_num_queries(3):
        apply_due_times([waiting, idle])
    assert local(waiting.first_response_due_at) == datetime(2025, 3, 10, 9, 30)
    assert local(waiting.resolution_due_at) == datetime(2025, 3, 11, 11, 0)  # 8h Monday + 2h Tuesday
    assert idle.first_response_due_at is None and idle.resolution_due_at is None

    # Waiting again later: a new first-response due time, the resolution clock keeps running.
    waiting.waiting_since = at(2025, 3, 10, 14, 0)
    apply_due_times([waiting])
    assert local(waiting.first_response_due_at) == datetime(2025, 3, 10, 14, 30)
    assert local(waiting.resolution_due_at) == datetime(2025, 3, 11, 11, 0)

    # Closed, then a new message reopens it: a new resolution clock.
    waiting.closed_at = at(2025, 3, 12, 9, 0)
    waiting.waiting_since = at(2025, 3, 12, 10, 0)
    apply_due_times([waiting])
    assert local(waiting.resolution_due_at) == datetime(2025, 3, 13, 12, 0)


def test_apply_due_times_with_nothing_waiting_makes_no_query(django_assert_num_queries, personas):
    conversation = make_conversation(personas.a)
    conversation.waiting_since = None
    with django_assert_num_queries(0):
        apply_due_times([conversation])
    apply_due_times([])

"""Issue 7 §3: the weekly e-mail summary to managers and admins: last week's figures for their departments, HTML
with a text alternative and a CSV attachment, at most once per member per week. E-mail is Django's locmem outbox;
the clock is passed in (`now`)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend

from metrics import emails, kpis
from metrics.tasks_email import send_weekly_summaries
from tests.metrics.test_api import build_kpi_data

# Wednesday 11 March 2026: last week is Monday 2 to Sunday 8 March (the three Customer Services conversations).
WEDNESDAY = datetime(2026, 3, 11, 7, 0, tzinfo=UTC)
# Monday 16 March 2026, 07:00: last week is 9 to 15 March (the Communications conversation).
NEXT_MONDAY = datetime(2026, 3, 16, 7, 0, tzinfo=UTC)


class FailingBackend(BaseEmailBackend):
    """The mail server is down."""

    def send_messages(self, messages):
        raise ConnectionRefusedError("SMTP server unreachable")


def _clear_claims():
    client = emails._redis()
    if client is None:
        return
    database = settings.DATABASES["default"].get("NAME", "")
    for key in client.scan_iter(f"civicdesk:{database}:weekly-summary:*"):
        client.delete(key)


@pytest.fixture(autouse=True)
def _claims():
    _clear_claims()
    yield
    _clear_claims()


@pytest.fixture
def data(personas):
    return build_kpi_data(personas)


def _by_recipient() -> dict[str, mail.EmailMultiAlternatives]:
    return {message.to[0]: message for message in mail.outbox}


def _csv_rows(message) -> dict[str, list[str]]:
    [(name, content, mimetype)] = message.attachments
    assert mimetype == "text/csv" and name.endswith(".csv")
    rows = list(csv.reader(io.StringIO(content)))
    return {row[1]: row for row in rows[1:]}


def test_every_admin_and_manager_gets_last_weeks_figures_as_html_text_and_csv(personas, data):
    sent = emails.send_weekly_summaries_now(now=WEDNESDAY)

    received = _by_recipient()
    assert set(received) == {"admin@alpha.example", "manager@alpha.example", "admin@bravo.example"}
    assert sent == 3
    admin_mail = received["admin@alpha.example"]
    assert admin_mail.subject == "Civic Desk weekly summary: 2 Mar to 8 Mar 2026"
    [(html, mimetype)] = admin_mail.alternatives
    assert mimetype == "text/html"
    assert "Weekly summary for Alpha Council" in html and "<caption" in html
    assert "Contacts (conversations opened): 3 (week before: 0" in admin_mail.body
    rows = _csv_rows(admin_mail)
    assert rows["conversations_opened"][3:5] == ["3", "0"]
    # The same figures as the overview for that member and week.
    week = kpis.kpi_filter(personas.a.members["admin"], {"from": "2026-03-02", "to": "2026-03-08"})
    expected = kpis.overview(week)["current"]
    for key in ("inbound_messages", "outbound_messages", "first_response_p50", "engagements"):
        assert rows[key][3] == str(expected[key]), key
    assert rows["first_response_p50"][2] == "seconds"


def test_managers_figures_cover_only_their_departments(personas, data):
    emails.send_weekly_summaries_now(now=WEDNESDAY)
    manager_mail = _by_recipient()["manager@alpha.example"]

    assert _csv_rows(manager_mail)["conversations_opened"][3] == "0"  # the three were Customer Services'
    assert "Covers: Communications" in manager_mail.body

    mail.outbox = []
    emails.send_weekly_summaries_now(now=NEXT_MONDAY)
    assert _csv_rows(_by_recipient()["manager@alpha.example"])["conversations_opened"][3] == "1"


def test_a_rerun_in_the_same_week_sends_nothing_more_and_the_next_week_sends_again(personas, data):
    assert emails.send_weekly_summaries_now(now=WEDNESDAY) == 3

    assert emails.send_weekly_summaries_now(now=WEDNESDAY.replace(day=13)) == 0
    assert len(mail.outbox) == 3
    assert emails.send_weekly_summaries_now(now=NEXT_MONDAY) == 3
    assert len(mail.outbox) == 6


def test_members_without_an_email_or_no_longer_active_are_skipped(personas):
    admin = personas.a.members["admin"]
    admin.user.email = ""
    admin.user.save(update_fields=["email"])
    manager = personas.a.members["manager"]
    manager.is_active = False
    manager.save(update_fields=["is_active"])

    emails.send_weekly_summaries_now(now=WEDNESDAY)

    assert set(_by_recipient()) == {"admin@bravo.example"}


def test_a_failed_send_gives_the_claim_back_so_the_retry_sends_it(personas, settings):
    settings.EMAIL_BACKEND = f"{__name__}.FailingBackend"
    with pytest.raises(ConnectionRefusedError):
        emails.send_for_organisation(personas.b.organisation.pk, now=WEDNESDAY)

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert emails.send_for_organisation(personas.b.organisation.pk, now=WEDNESDAY) == 1
    assert emails.send_for_organisation(personas.b.organisation.pk, now=WEDNESDAY) == 0


def test_last_week_is_monday_to_sunday_in_organisation_time(personas):
    organisation = personas.a.organisation
    # Sunday 29 March 2026 23:30 UTC is Monday 00:30 in London (summer time began that morning).
    assert emails.last_week(organisation.pk, datetime(2026, 3, 29, 23, 30, tzinfo=UTC)) == (
        datetime(2026, 3, 23).date(), datetime(2026, 3, 29).date())
    assert emails.last_week(organisation.pk, datetime(2026, 3, 29, 22, 30, tzinfo=UTC)) == (
        datetime(2026, 3, 16).date(), datetime(2026, 3, 22).date())


def test_the_task_sends_once_per_member_per_week(personas):
    assert send_weekly_summaries() == 3
    assert send_weekly_summaries() == 0
    assert len(mail.outbox) == 3

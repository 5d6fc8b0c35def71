"""Publishing pauses through the pauses page: who may start and lift which, reasons, end times, audit, banners."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from approvals import services
from approvals.models import PublishingPause
from audit.models import AuditEvent, EventType
from tests.approvals_factories import make_post
from tests.inbox_factories import make_channel

pytestmark = pytest.mark.django_db

PAUSES = reverse("approvals:pauses")


def _lift(pause: PublishingPause) -> str:
    return reverse("approvals:pause_lift", kwargs={"pk": pause.pk})


def test_admin_pauses_the_whole_organisation_until_a_time_in_its_zone(personas, login):
    a = personas.a
    client = login(a.members["admin"])
    page = client.get(PAUSES).content.decode()
    assert "Whole organisation" in page and "Publishing is not paused" in page
    year = timezone.now().year + 1
    response = client.post(PAUSES, {"department": "all", "reason": "Pre-election period",
                                     "ends_at": f"{year}-01-15T18:00"}, follow=True)
    pause = PublishingPause.objects.get(organisation=a.organisation)
    assert pause.department is None and pause.reason == "Pre-election period"
    # Europe/London in January is UTC.
    assert pause.ends_at == datetime(year, 1, 15, 18, 0, tzinfo=UTC)
    event = AuditEvent.objects.get(event_type=EventType.PUBLISHING_PAUSED)
    assert event.changes["reason"] == "Pre-election period" and event.actor == a.user("admin")
    page = response.content.decode()
    assert "Publishing is paused for the whole organisation" in page and "Lift this pause" in page


@pytest.mark.parametrize(("data", "error"), [
    ({"department": "all", "reason": "   "}, "Say why publishing is paused."),
    ({"department": "all", "reason": "Incident", "ends_at": "soon"}, "Enter the end as a date and time"),
    ({"department": "all", "reason": "Incident", "ends_at": "２０３０-01-01T09:00"}, "Enter the end as a date and time"),
    ({"department": "all", "reason": "Incident", "ends_at": "2001-01-01T09:00"}, "The end must be in the future."),
    ({"department": "²", "reason": "Incident"}, "Choose one of your departments."),
    ({"department": "999999", "reason": "Incident"}, "Choose one of your departments."),
])
def test_bad_pause_requests_are_refused_with_a_reason(personas, login, data, error):
    response = login(personas.a.members["admin"]).post(PAUSES, data)
    assert response.status_code == 400 and error in response.content.decode()
    assert not PublishingPause.objects.exists()


def test_manager_pauses_only_their_own_department(personas, login):
    a = personas.a
    client = login(a.members["manager"])
    page = client.get(PAUSES).content.decode()
    assert "Whole organisation</option>" not in page and "Customer Services</option>" not in page
    other = a.departments["Customer Services"]
    response = client.post(PAUSES, {"department": str(other.pk), "reason": "Not mine"})
    assert response.status_code == 400 and "Choose one of your departments." in response.content.decode()
    response = client.post(PAUSES, {"department": "all", "reason": "Everything"})
    assert response.status_code == 400 and "only an admin can pause the whole organisation" in response.content.decode()
    assert not PublishingPause.objects.exists()
    comms = a.departments["Communications"]
    client.post(PAUSES, {"department": str(comms.pk), "reason": "Major incident"})
    assert PublishingPause.objects.get().department == comms


def test_manager_lifts_their_departments_pause_but_not_the_organisations(personas, login):
    a = personas.a
    organisation_wide = services.pause_start(actor=a.members["admin"], reason="Election")
    comms = services.pause_start(actor=a.members["manager"], reason="Incident",
                                 department=a.departments["Communications"])
    other = services.pause_start(actor=a.members["admin"], reason="Office move",
                                 department=a.departments["Customer Services"])
    client = login(a.members["manager"])
    page = client.get(PAUSES).content.decode()
    assert "Only an admin can lift this pause." in page and "Office move" not in page
    assert client.post(_lift(organisation_wide)).status_code == 403
    assert client.post(_lift(other)).status_code == 404
    response = client.post(_lift(comms), follow=True)
    assert response.status_code == 200
    comms.refresh_from_db()
    assert comms.lifted_at is not None and comms.lifted_by == a.user("manager")
    organisation_wide.refresh_from_db()
    other.refresh_from_db()
    assert organisation_wide.lifted_at is None and other.lifted_at is None
    event = AuditEvent.objects.get(event_type=EventType.PUBLISHING_RESUMED)
    assert event.actor == a.user("manager") and event.changes["reason"] == "Incident"
    past = response.content.decode().split('id="past-heading"')[1]
    assert "Incident" in past and "lifted" in past


def test_admin_lifts_the_organisation_wide_pause(personas, login):
    a = personas.a
    pause = services.pause_start(actor=a.members["admin"], reason="Election")
    login(a.members["admin"]).post(_lift(pause))
    pause.refresh_from_db()
    assert pause.lifted_by == a.user("admin")


@pytest.mark.parametrize("role", ["approver", "editor", "agent", "viewer"])
def test_only_admins_and_managers_manage_pauses(personas, login, role):
    a = personas.a
    pause = services.pause_start(actor=a.members["admin"], reason="Election")
    client = login(a.members[role])
    assert client.get(PAUSES).status_code == 403
    assert client.post(PAUSES, {"department": "all", "reason": "Mine"}).status_code == 403
    assert client.post(_lift(pause)).status_code == 403
    assert PublishingPause.objects.count() == 1


def test_outsider_cannot_lift_another_organisations_pause(personas, login):
    pause = services.pause_start(actor=personas.a.members["admin"], reason="Election")
    assert login(personas.outsider).post(_lift(pause)).status_code == 404
    pause.refresh_from_db()
    assert pause.lifted_at is None


def test_banner_shows_on_posts_of_the_paused_department_only(personas, login):
    a = personas.a
    comms_post = make_post(a, [make_channel(a, department="Communications", platform="mastodon")])
    a.members["admin"].departments.add(a.departments["Customer Services"])
    other_post = make_post(a, [make_channel(a, department="Customer Services", platform="mastodon")],
                           author_role="admin", department="Customer Services")
    login(a.members["manager"]).post(PAUSES, {"department": str(a.departments["Communications"].pk),
                                              "reason": "Major incident"})
    admin = login(a.members["admin"], Client())
    page = admin.get(reverse("approvals:post_detail", kwargs={"pk": comms_post.pk})).content.decode()
    assert 'id="pause-banner"' in page and "Communications department: Major incident" in page
    page = admin.get(reverse("approvals:post_detail", kwargs={"pk": other_post.pk})).content.decode()
    assert 'id="pause-banner"' not in page


@pytest.mark.parametrize(("zone", "ends_at"), [
    # Behind UTC: the last evening of year 9999 in New York would be stored as year 10000, which nothing reads back.
    ("America/New_York", "9999-12-31T23:59"),
    # Ahead of UTC: midnight on 1 January of year 1 in Berlin is before year 1 in UTC.
    ("Europe/Berlin", "0001-01-01T00:00"),
    ("Europe/Berlin", "1999-12-31T23:59"),
])
def test_an_end_outside_the_next_five_years_is_refused_and_the_pages_keep_working(personas, login, zone, ends_at):
    a = personas.a
    a.organisation.timezone = zone
    a.organisation.save(update_fields=["timezone"])
    client = login(a.members["admin"])
    response = client.post(PAUSES, {"department": "all", "reason": "Incident", "ends_at": ends_at})
    assert response.status_code == 400
    assert "Choose a date within the next five years." in response.content.decode()
    assert not PublishingPause.objects.exists()
    assert not AuditEvent.objects.filter(event_type=EventType.PUBLISHING_PAUSED).exists()
    assert client.get(PAUSES).status_code == 200
    assert client.get(reverse("approvals:queue")).status_code == 200


def test_a_pause_end_the_clocks_skip_is_refused(personas, login):
    a = personas.a
    a.organisation.timezone = "America/New_York"
    a.organisation.save(update_fields=["timezone"])
    year = timezone.now().year + 1
    # 02:30 on the second Sunday of March does not exist in New York.
    march = [d for d in range(8, 15) if datetime(year, 3, d).weekday() == 6][0]
    response = login(a.members["admin"]).post(PAUSES, {"department": "all", "reason": "Incident",
                                                       "ends_at": f"{year}-03-{march:02d}T02:30"})
    assert response.status_code == 400 and "the clocks go forward" in response.content.decode()
    assert not PublishingPause.objects.exists()

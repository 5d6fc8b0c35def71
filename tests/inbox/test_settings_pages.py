"""Inbox settings pages: each renders, each form saves and audits, bad input gives errors (never a 500),
managers are limited to their own departments."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent, EventType
from channels_app import services as channel_services
from inbox.models import BankHoliday, InboxPolicy, OutOfHoursReply, QuarantinedItem, RiskKeyword, SavedReply
from inbox.polling import channel_poll
from inbox.settings_services import england_and_wales_bank_holidays, poll_interval_update, render_saved_reply
from inbox.sla import calendars_for
from simulator.platforms.x import COUNCIL_ID, DEMO_ACCOUNTS
from tests.inbox_factories import make_channel, make_contact, make_conversation

pytestmark = pytest.mark.django_db


def events(org, event_type):
    return list(AuditEvent.objects.filter(organisation=org.organisation, event_type=event_type).order_by("id"))


def _policy_post(**overrides):
    data = {
        "first_response_value": "2",
        "first_response_unit": "hours",
        "resolution_value": "90",
        "resolution_unit": "minutes",
        "mon_1_start": "08:30",
        "mon_1_end": "12:00",
        "mon_2_start": "13:00",
        "mon_2_end": "17:30",
        "sat_1_start": "10:00",
        "sat_1_end": "24:00",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


# ----------------------------------------------------------------------------------------- index
def test_index_offers_what_each_role_may_use(personas, login):
    agent_page = login(personas.a.members["agent"]).get(reverse("inbox:settings")).content.decode()
    assert "Saved replies" in agent_page
    assert "Risk keywords" not in agent_page and "Quarantined" not in agent_page

    manager_page = login(personas.a.members["manager"]).get(reverse("inbox:settings")).content.decode()
    assert reverse("inbox:settings_policy", args=[personas.a.departments["Communications"].pk]) in manager_page
    assert reverse("inbox:settings_policy", args=[personas.a.departments["Customer Services"].pk]) not in manager_page
    assert "Quarantined" not in manager_page

    QuarantinedItem.objects.create(
        organisation=personas.a.organisation, channel=make_channel(personas.a), source="poll", raw={}, error="x"
    )
    admin_page = login(personas.a.members["admin"]).get(reverse("inbox:settings")).content.decode()
    assert "Quarantined items</a> (1 unresolved)" in admin_page
    assert reverse("inbox:settings_policy", args=[personas.a.departments["Customer Services"].pk]) in admin_page


# -------------------------------------------------------------------------------------- policies
def test_policy_page_shows_defaults(personas, login):
    department = personas.a.departments["Communications"]
    response = login(personas.a.members["manager"]).get(reverse("inbox:settings_policy", args=[department.pk]))
    assert response.status_code == 200
    form = response.context["form"]
    assert form["first_response_value"].value() == 1 and form["first_response_unit"].value() == "hours"
    assert form["tue_1_start"].value() == "09:00" and form["sun_1_start"].value() is None
    # The approval list offers members of this department only.
    offered = {user.email for user in form.fields["reply_approval_for"].queryset}
    assert "editor@alpha.example" in offered and "agent@alpha.example" not in offered


def test_manager_saves_policy_with_audit(personas, login):
    department = personas.a.departments["Communications"]
    editor = personas.a.user("editor")
    client = login(personas.a.members["manager"])
    response = client.post(
        reverse("inbox:settings_policy", args=[department.pk]), _policy_post(reply_approval_for=[editor.pk])
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    policy = InboxPolicy.objects.get(department=department)
    assert (policy.first_response_minutes, policy.resolution_minutes) == (120, 90)
    assert policy.office_hours["mon"] == [["08:30", "12:00"], ["13:00", "17:30"]]
    assert policy.office_hours["sat"] == [["10:00", "24:00"]]
    assert policy.office_hours["tue"] == []
    assert list(policy.reply_approval_for.all()) == [editor]
    [event] = events(personas.a, EventType.INBOX_SETTINGS_CHANGED)
    assert event.actor == personas.a.user("manager") and event.department_id == department.pk
    assert event.changes["first_response_minutes"] == {"from": None, "to": 120}
    assert event.changes["reply_approval_for"] == {"from": [], "to": [editor.pk]}
    # The service-level arithmetic reads the saved policy.
    calendar, saved = calendars_for(personas.a.organisation.pk, [department.pk])[department.pk]
    assert saved.pk == policy.pk and calendar.hours[5] == ((600, 1440),)

    # Saving again records only what changed.
    client.post(reverse("inbox:settings_policy", args=[department.pk]), _policy_post(first_response_value="3"))
    last = events(personas.a, EventType.INBOX_SETTINGS_CHANGED)[-1]
    assert last.changes == {
        "first_response_minutes": {"from": 120, "to": 180},
        "reply_approval_for": {"from": [editor.pk], "to": []},
    }


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"mon_1_end": "08:00"}, "mon_1_start", "must be after the start"),
        ({"mon_2_end": ""}, "mon_2_end", "Enter both the opening and closing time"),
        ({"mon_1_start": "9am"}, "mon_1_start", "not a time of day"),
        ({"mon_2_start": "11:00"}, "mon_1_start", "overlap"),
        ({"first_response_value": "0"}, "first_response_value", "greater than or equal to 1"),
        ({"first_response_value": "lots"}, "first_response_value", "Enter a whole number"),
        ({"resolution_value": "9000", "resolution_unit": "hours"}, "resolution_value", "at most a year"),
        ({"first_response_unit": "weeks"}, "first_response_unit", "Select a valid choice"),
    ],
)
def test_policy_bad_input_shows_errors(personas, login, overrides, field, message):
    department = personas.a.departments["Communications"]
    response = login(personas.a.members["admin"]).post(
        reverse("inbox:settings_policy", args=[department.pk]), _policy_post(**overrides)
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors and message in " ".join(errors[field]), errors
    assert message.split("{")[0] in response.content.decode().replace("&#x27;", "'")
    assert not InboxPolicy.objects.filter(department=department).exists()
    assert not events(personas.a, EventType.INBOX_SETTINGS_CHANGED)


def test_policy_with_no_open_hours_is_refused(personas, login):
    department = personas.a.departments["Communications"]
    data = _policy_post(mon_1_start="", mon_1_end="", mon_2_start="", mon_2_end="", sat_1_start="", sat_1_end="")
    response = login(personas.a.members["admin"]).post(reverse("inbox:settings_policy", args=[department.pk]), data)
    assert response.status_code == 200
    assert "Office hours must be open at least once a week." in response.content.decode()
    assert not InboxPolicy.objects.filter(department=department).exists()


def test_policy_approval_must_be_a_department_member(personas, login):
    department = personas.a.departments["Communications"]
    agent = personas.a.user("agent")  # Customer Services only
    response = login(personas.a.members["manager"]).post(
        reverse("inbox:settings_policy", args=[department.pk]), _policy_post(reply_approval_for=[agent.pk])
    )
    assert response.status_code == 200 and "reply_approval_for" in response.context["form"].errors
    assert not InboxPolicy.objects.exists()


def test_manager_cannot_reach_another_departments_policy(personas, login):
    other = personas.a.departments["Customer Services"]
    client = login(personas.a.members["manager"])
    assert client.get(reverse("inbox:settings_policy", args=[other.pk])).status_code == 404
    assert client.post(reverse("inbox:settings_policy", args=[other.pk]), _policy_post()).status_code == 404
    assert not InboxPolicy.objects.exists()
    # Admins manage every department.
    assert login(personas.a.members["admin"]).get(reverse("inbox:settings_policy", args=[other.pk])).status_code == 200


# --------------------------------------------------------------------------------- bank holidays
def test_admin_adds_and_removes_a_bank_holiday(personas, login):
    client = login(personas.a.members["admin"])
    url = reverse("inbox:settings_bank_holidays")
    response = client.post(url, {"action": "add", "date": "2031-05-05", "name": "Early May bank holiday"})
    assert response.status_code == 302
    holiday = BankHoliday.objects.get(organisation=personas.a.organisation)
    assert (holiday.date, holiday.name) == (date(2031, 5, 5), "Early May bank holiday")
    page = client.get(url).content.decode()
    assert "Early May bank holiday" in page

    duplicate = client.post(url, {"action": "add", "date": "2031-05-05", "name": "Again"})
    assert duplicate.status_code == 200 and "is already a bank holiday" in duplicate.content.decode()
    bad = client.post(url, {"action": "add", "date": "5th May", "name": ""})
    assert bad.status_code == 200 and set(bad.context["add_form"].errors) == {"date", "name"}

    client.post(reverse("inbox:settings_bank_holiday_delete", args=[holiday.pk]))
    assert not BankHoliday.objects.exists()
    added, removed = events(personas.a, EventType.INBOX_SETTINGS_CHANGED)
    assert added.changes["bank_holiday"]["to"] == "2031-05-05 Early May bank holiday"
    assert removed.changes["bank_holiday"]["from"] == "2031-05-05 Early May bank holiday"


def test_england_and_wales_holidays_for_a_year(personas, login):
    client = login(personas.a.members["admin"])
    BankHoliday.objects.create(organisation=personas.a.organisation, date=date(2025, 12, 25), name="Christmas")
    response = client.post(reverse("inbox:settings_bank_holidays"), {"action": "england_wales", "year": "2025"})
    assert response.status_code == 302
    dates = sorted(BankHoliday.objects.filter(organisation=personas.a.organisation).values_list("date", flat=True))
    assert dates == [
        date(2025, 1, 1), date(2025, 4, 18), date(2025, 4, 21), date(2025, 5, 5),
        date(2025, 5, 26), date(2025, 8, 25), date(2025, 12, 25), date(2025, 12, 26),
    ]
    [event] = events(personas.a, EventType.INBOX_SETTINGS_CHANGED)
    assert len(event.changes["bank_holidays_added"]) == 7
    bad = client.post(reverse("inbox:settings_bank_holidays"), {"action": "england_wales", "year": "1066"})
    assert bad.status_code == 200 and "year" in bad.context["england_form"].errors


def test_england_and_wales_substitute_days():
    holidays = dict((name, day) for day, name in england_and_wales_bank_holidays(2021))
    # Christmas 2021 was a Saturday, Boxing Day a Sunday: the holidays were Monday 27 and Tuesday 28.
    assert holidays["Christmas Day"] == date(2021, 12, 27) and holidays["Boxing Day"] == date(2021, 12, 28)
    assert dict((n, d) for d, n in england_and_wales_bank_holidays(2022))["New Year’s Day"] == date(2022, 1, 3)
    # Boxing Day on a Saturday (2020) moves to Monday 28.
    assert dict((n, d) for d, n in england_and_wales_bank_holidays(2020))["Boxing Day"] == date(2020, 12, 28)


def test_manager_sees_bank_holidays_but_cannot_change_them(personas, login):
    BankHoliday.objects.create(organisation=personas.a.organisation, date=date(2031, 8, 25), name="Summer")
    client = login(personas.a.members["manager"])
    page = client.get(reverse("inbox:settings_bank_holidays"))
    assert page.status_code == 200 and "Summer" in page.content.decode() and "Only admins" in page.content.decode()
    response = client.post(reverse("inbox:settings_bank_holidays"), {"date": "2031-01-01", "name": "New Year"})
    assert response.status_code == 403
    assert BankHoliday.objects.count() == 1


# --------------------------------------------------------------------------------- risk keywords
def test_risk_keywords_add_duplicate_and_remove(personas, login):
    client = login(personas.a.members["manager"])
    url = reverse("inbox:settings_risk_keywords")
    assert client.post(url, {"phrase": "  self-harm  "}).status_code == 302
    keyword = RiskKeyword.objects.get(organisation=personas.a.organisation)
    assert keyword.phrase == "self-harm"
    duplicate = client.post(url, {"phrase": "SELF-HARM"})
    assert duplicate.status_code == 200 and "already on the list" in duplicate.content.decode()
    blank = client.post(url, {"phrase": "   "})
    assert blank.status_code == 200 and "phrase" in blank.context["form"].errors
    assert "self-harm" in client.get(url).content.decode()
    client.post(reverse("inbox:settings_risk_keyword_delete", args=[keyword.pk]))
    assert not RiskKeyword.objects.exists()
    added, removed = events(personas.a, EventType.INBOX_SETTINGS_CHANGED)
    assert added.changes == {"risk_keyword": {"from": None, "to": "self-harm"}}
    assert removed.changes == {"risk_keyword": {"from": "self-harm", "to": None}}


# --------------------------------------------------------------------------------- saved replies
def _saved(org, department: str | None, title: str, body: str = "Hello {contact_name}") -> SavedReply:
    return SavedReply.objects.create(
        organisation=org.organisation,
        department=org.departments[department] if department else None,
        title=title,
        body=body,
    )


def test_saved_reply_list_is_scoped_by_department(personas, login):
    _saved(personas.a, None, "Everyone")
    _saved(personas.a, "Communications", "Comms only")
    _saved(personas.a, "Customer Services", "Customer only")
    _saved(personas.b, None, "Bravo reply")
    page = login(personas.a.members["agent"]).get(reverse("inbox:settings_saved_replies")).content.decode()
    assert "Everyone" in page and "Customer only" in page
    assert "Comms only" not in page and "Bravo reply" not in page
    assert "New saved reply" not in page and "Edit" not in page


def test_manager_creates_edits_and_deletes_a_saved_reply(personas, login):
    comms = personas.a.departments["Communications"]
    client = login(personas.a.members["manager"])
    response = client.post(
        reverse("inbox:settings_saved_reply_create"),
        {"title": "Bins", "department": comms.pk, "body": "Hi {contact_name}, {agent_name} here."},
    )
    assert response.status_code == 302
    saved = SavedReply.objects.get(title="Bins")
    assert saved.department == comms and saved.created_by == personas.a.user("manager")

    edit_url = reverse("inbox:settings_saved_reply_edit", args=[saved.pk])
    assert client.get(edit_url).status_code == 200
    assert client.post(edit_url, {"title": "Bin day", "department": comms.pk, "body": saved.body}).status_code == 302
    saved.refresh_from_db()
    assert saved.title == "Bin day"
    client.post(reverse("inbox:settings_saved_reply_delete", args=[saved.pk]))
    assert not SavedReply.objects.exists()
    created, edited, deleted = events(personas.a, EventType.SAVED_REPLY_CHANGED)
    assert created.changes["created"]["title"] == "Bins" and created.department_id == comms.pk
    assert edited.changes == {"title": {"from": "Bins", "to": "Bin day"}}
    assert deleted.changes["deleted"]["title"] == "Bin day"


def test_saved_reply_unknown_placeholder_is_a_clear_error(personas, login):
    response = login(personas.a.members["admin"]).post(
        reverse("inbox:settings_saved_reply_create"), {"title": "Oops", "department": "", "body": "Hi {first_name}"}
    )
    assert response.status_code == 200
    [error] = response.context["form"].errors["body"]
    assert error.startswith("Unknown placeholder {first_name}. You can use {contact_name}")
    assert not SavedReply.objects.exists()


def test_saved_reply_duplicate_title_and_blank_fields(personas, login):
    _saved(personas.a, None, "Thanks")
    client = login(personas.a.members["admin"])
    duplicate = client.post(reverse("inbox:settings_saved_reply_create"), {"title": "THANKS", "body": "Hello"})
    assert duplicate.status_code == 200 and "already exists" in duplicate.content.decode()
    blank = client.post(reverse("inbox:settings_saved_reply_create"), {"title": "", "body": ""})
    assert blank.status_code == 200 and {"title", "body"} <= set(blank.context["form"].errors)
    assert SavedReply.objects.count() == 1


def test_manager_is_limited_to_own_departments_for_saved_replies(personas, login):
    client = login(personas.a.members["manager"])
    # Organisation-wide or another department: not offered, so refused.
    for department in ("", personas.a.departments["Customer Services"].pk):
        response = client.post(
            reverse("inbox:settings_saved_reply_create"), {"title": "X", "department": department, "body": "Hi"}
        )
        assert response.status_code == 200 and "department" in response.context["form"].errors
    everyone = _saved(personas.a, None, "Everyone")
    customer = _saved(personas.a, "Customer Services", "Customer only")
    assert client.get(reverse("inbox:settings_saved_reply_edit", args=[everyone.pk])).status_code == 403
    assert client.post(reverse("inbox:settings_saved_reply_delete", args=[everyone.pk])).status_code == 403
    assert client.get(reverse("inbox:settings_saved_reply_edit", args=[customer.pk])).status_code == 404
    assert SavedReply.objects.count() == 2 and not events(personas.a, EventType.SAVED_REPLY_CHANGED)


def test_render_saved_reply_fills_placeholders(personas):
    channel = make_channel(personas.a, handle="@alphacouncil")
    contact = make_contact(personas.a, name="Sam Resident", handle="@sam")
    conversation = make_conversation(personas.a, channel=channel, contact=contact)
    saved = _saved(
        personas.a, None, "All", "Hi {contact_name} ({contact_handle}), {agent_name} at {channel_name}. {unknown} {}"
    )
    agent = personas.a.members["agent"]
    expected = f"Hi Sam Resident (@sam), {agent.user.full_name} at @alphacouncil. {{unknown}} {{}}"
    assert render_saved_reply(saved, conversation, agent) == expected
    assert render_saved_reply(saved, conversation, agent.user) == expected
    contact.name = ""
    assert render_saved_reply(saved, conversation, agent).startswith("Hi @sam (@sam)")


# ---------------------------------------------------------------------------------- out of hours
def test_out_of_hours_reply_saves_and_audits(personas, login):
    channel = make_channel(personas.a, department="Communications", platform="x")
    url = reverse("inbox:settings_out_of_hours", args=[channel.pk])
    client = login(personas.a.members["manager"])
    assert client.get(url).status_code == 200
    text = "We are closed until 9am. In an emergency call 999; otherwise 101."
    assert client.post(url, {"enabled": "on", "text": text}).status_code == 302
    reply = OutOfHoursReply.objects.get(channel=channel)
    assert reply.enabled and reply.text == text and reply.organisation == personas.a.organisation
    [event] = events(personas.a, EventType.INBOX_SETTINGS_CHANGED)
    assert event.changes["enabled"] == {"from": None, "to": True}
    # Switching it off keeps the text.
    client.post(url, {"text": text})
    reply.refresh_from_db()
    assert not reply.enabled and reply.text == text
    assert events(personas.a, EventType.INBOX_SETTINGS_CHANGED)[-1].changes == {"enabled": {"from": True, "to": False}}


def test_out_of_hours_reply_follows_the_platforms_text_rules(personas, login):
    channel = make_channel(personas.a, department="Communications", platform="x")
    url = reverse("inbox:settings_out_of_hours", args=[channel.pk])
    client = login(personas.a.members["admin"])
    too_long = client.post(url, {"enabled": "on", "text": "a" * 281})
    assert too_long.status_code == 200 and "X allows 280" in too_long.content.decode()
    blank = client.post(url, {"enabled": "on", "text": "  "})
    assert blank.status_code == 200 and "Enter the reply text." in blank.content.decode()
    assert not OutOfHoursReply.objects.exists()
    # An Instagram reply is a comment: it needs no image.
    instagram = make_channel(personas.a, department="Communications", platform="instagram")
    ok = client.post(reverse("inbox:settings_out_of_hours", args=[instagram.pk]), {"enabled": "on", "text": "Closed"})
    assert ok.status_code == 302


def test_manager_cannot_set_another_departments_out_of_hours_reply(personas, login):
    channel = make_channel(personas.a, department="Customer Services")
    client = login(personas.a.members["manager"])
    url = reverse("inbox:settings_out_of_hours", args=[channel.pk])
    assert client.post(url, {"enabled": "on", "text": "Closed"}).status_code == 404
    assert not OutOfHoursReply.objects.exists()


# -------------------------------------------------------------------------------- poll interval
def _poll(seconds) -> dict:
    return {"section": "polling", "poll_interval_seconds": seconds}


def test_channel_settings_page_sets_the_poll_interval_and_audits(personas, login):
    channel = make_channel(personas.a, department="Communications", platform="x")
    assert channel.poll_interval_seconds == 30
    url = reverse("inbox:settings_out_of_hours", args=[channel.pk])
    client = login(personas.a.members["manager"])
    page = client.get(url).content.decode()
    assert f"Inbox settings for {channel}" in page
    assert 'name="poll_interval_seconds"' in page and 'value="30"' in page

    response = client.post(url, _poll("120"), follow=True)
    assert response.redirect_chain[-1][0] == url
    assert "every 120 seconds from its next check" in response.content.decode()
    channel.refresh_from_db()
    assert channel.poll_interval_seconds == 120
    [event] = events(personas.a, EventType.INBOX_SETTINGS_CHANGED)
    assert event.changes == {"poll_interval_seconds": {"from": 30, "to": 120}}
    assert event.actor_id == personas.a.members["manager"].user_id
    assert event.department_id == channel.department_id
    # The out-of-hours reply was not touched by this form.
    assert not OutOfHoursReply.objects.exists()

    # Saving the same value again changes nothing and audits nothing.
    client.post(url, _poll("120"))
    assert len(events(personas.a, EventType.INBOX_SETTINGS_CHANGED)) == 1


@pytest.mark.parametrize("value", ["9", "0", "-30", "3601", "", "abc", "²", "1.5", "9" * 30])
def test_a_poll_interval_outside_10_to_3600_seconds_is_an_error(personas, login, value):
    channel = make_channel(personas.a, department="Communications", platform="x")
    url = reverse("inbox:settings_out_of_hours", args=[channel.pk])
    response = login(personas.a.members["admin"]).post(url, _poll(value))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Choose a whole number of seconds from 10 to 3600." in html or "This field is required." in html
    assert "is-invalid" in html
    channel.refresh_from_db()
    assert channel.poll_interval_seconds == 30
    assert not events(personas.a, EventType.INBOX_SETTINGS_CHANGED)


def test_the_poll_interval_service_checks_range_role_and_department(personas):
    channel = make_channel(personas.a, department="Customer Services")
    for bad in (9, 3601, True, "60", None):
        with pytest.raises(ValidationError):
            poll_interval_update(actor=personas.a.members["admin"], channel=channel, seconds=bad)
    for edge in (10, 3600):
        poll_interval_update(actor=personas.a.members["admin"], channel=channel, seconds=edge)
        channel.refresh_from_db()
        assert channel.poll_interval_seconds == edge
    with pytest.raises(PermissionDenied):  # another department's channel
        poll_interval_update(actor=personas.a.members["manager"], channel=channel, seconds=60)
    with pytest.raises(PermissionDenied):  # agents do not manage the inbox
        poll_interval_update(actor=personas.a.members["agent"], channel=channel, seconds=60)
    with pytest.raises(PermissionDenied):  # another organisation
        poll_interval_update(actor=personas.outsider, channel=channel, seconds=60)
    channel.refresh_from_db()
    assert channel.poll_interval_seconds == 3600


def test_the_new_interval_applies_from_the_next_poll(personas, sim):
    """The poll that runs next schedules the one after it with the new interval; a shorter interval also brings a
    far-off next poll forward."""
    admin = personas.a.members["admin"]
    channel = channel_services.channel_connect(
        actor=None, department=personas.a.departments["Communications"], platform="x", account_id=COUNCIL_ID,
        handle=DEMO_ACCOUNTS[0]["handle"], credentials=dict(DEMO_ACCOUNTS[0]["credentials"]),
    )
    channel.next_poll_at = timezone.now() + timedelta(hours=1)
    channel.save(update_fields=["next_poll_at"])

    before = timezone.now()
    poll_interval_update(actor=admin, channel=channel, seconds=45)
    channel.refresh_from_db()
    assert before + timedelta(seconds=45) <= channel.next_poll_at <= timezone.now() + timedelta(seconds=45)

    now = timezone.now()
    assert channel_poll(channel.pk, now=now).status == "polled"
    channel.refresh_from_db()
    assert channel.next_poll_at == now + timedelta(seconds=45)

    # A longer interval leaves the poll already scheduled where it is; the one after it uses the new pace.
    poll_interval_update(actor=admin, channel=channel, seconds=600)
    channel.refresh_from_db()
    assert channel.next_poll_at == now + timedelta(seconds=45)
    later = now + timedelta(seconds=50)
    assert channel_poll(channel.pk, now=later).status == "polled"
    channel.refresh_from_db()
    assert channel.next_poll_at == later + timedelta(seconds=600)


def test_manager_cannot_change_another_departments_poll_interval(personas, login):
    channel = make_channel(personas.a, department="Customer Services")
    url = reverse("inbox:settings_out_of_hours", args=[channel.pk])
    assert login(personas.a.members["manager"]).post(url, _poll("60")).status_code == 404
    assert login(personas.a.members["agent"]).post(url, _poll("60")).status_code == 403
    channel.refresh_from_db()
    assert channel.poll_interval_seconds == 30
    assert not events(personas.a, EventType.INBOX_SETTINGS_CHANGED)


# ------------------------------------------------------------------------------------ quarantine
def test_quarantine_lists_escaped_payload_and_resolves(personas, login):
    channel = make_channel(personas.a)
    item = QuarantinedItem.objects.create(
        organisation=personas.a.organisation,
        channel=channel,
        source="webhook",
        platform_message_id="m-1",
        raw={"text": "<script>alert(1)</script>", "n": 1},
        error="missing author",
    )
    QuarantinedItem.objects.create(
        organisation=personas.b.organisation, channel=make_channel(personas.b, department="Digital Desk"),
        source="poll", raw={"secret": "bravo-only"}, error="other org",
    )
    client = login(personas.a.members["admin"])
    page = client.get(reverse("inbox:settings_quarantine")).content.decode()
    assert "missing author" in page and "bravo-only" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    assert '&quot;n&quot;: 1' in page  # pretty-printed JSON

    assert client.post(reverse("inbox:settings_quarantine_resolve", args=[item.pk])).status_code == 302
    item.refresh_from_db()
    assert item.resolved_at is not None
    [event] = events(personas.a, EventType.INBOX_SETTINGS_CHANGED)
    assert event.changes["quarantine"] == {"from": "unresolved", "to": "resolved"}
    assert "missing author" not in client.get(reverse("inbox:settings_quarantine")).content.decode()
    assert "missing author" in client.get(reverse("inbox:settings_quarantine") + "?show=all").content.decode()

    again = client.post(reverse("inbox:settings_quarantine_resolve", args=[item.pk]), follow=True)
    assert "already marked resolved" in again.content.decode()
    assert len(events(personas.a, EventType.INBOX_SETTINGS_CHANGED)) == 1


def test_quarantine_is_for_admins(personas, login):
    assert login(personas.a.members["manager"]).get(reverse("inbox:settings_quarantine")).status_code == 403

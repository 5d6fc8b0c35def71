"""Publishing settings pages: each renders, each form saves and audits, bad input gives errors (never a 500),
managers are limited to their own departments and read (not change) the organisation-wide settings."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from approvals import services as post_services
from approvals import settings_services
from approvals.models import ApprovalPolicy, BlockedWord, ChannelApprovalRule, PublishingSettings
from audit.models import AuditEvent, EventType
from tests.approvals_factories import make_post
from tests.inbox_factories import make_channel

pytestmark = pytest.mark.django_db

SETTINGS_URL = reverse("approvals:settings")


def changes(org):
    return list(
        AuditEvent.objects.filter(organisation=org.organisation, event_type=EventType.PUBLISHING_SETTINGS_CHANGED)
        .order_by("id")
    )


def text(response) -> str:
    return response.content.decode()


@pytest.fixture
def a(personas):
    return personas.a


# ----------------------------------------------------------------------------------------- index
def test_index_for_a_manager_is_read_only_and_limited_to_their_departments(a, login):
    comms, cs = a.departments["Communications"], a.departments["Customer Services"]
    mine = make_channel(a, department="Communications", platform="x")
    theirs = make_channel(a, department="Customer Services", platform="x")
    BlockedWord.objects.create(organisation=a.organisation, phrase="guaranteed", action="block")
    response = login(a.members["manager"]).get(SETTINGS_URL)
    assert response.status_code == 200
    page = text(response)
    assert "Required before a post can be submitted" in page and "Only admins change these." in page
    assert "guaranteed" in page and "Remove" not in page and 'name="phrase"' not in page
    assert reverse("approvals:approval_policy", args=[comms.pk]) in page
    assert reverse("approvals:approval_policy", args=[cs.pk]) not in page
    assert reverse("approvals:channel_rule", args=[mine.pk]) in page
    assert reverse("approvals:channel_rule", args=[theirs.pk]) not in page
    assert "1 approval, by admins or approvers" in page


def test_index_for_an_admin_offers_every_form(a, login):
    cs = a.departments["Customer Services"]
    page = text(login(a.members["admin"]).get(SETTINGS_URL))
    assert 'name="alt_text_required"' in page and 'name="hold_late_posts_after_minutes"' in page
    assert 'name="phrase"' in page and reverse("approvals:approval_policy", args=[cs.pk]) in page


@pytest.mark.parametrize("role", ["editor", "approver", "agent", "viewer"])
def test_roles_without_manage_policies_get_403(a, login, role):
    assert login(a.members[role]).get(SETTINGS_URL).status_code == 403


# -------------------------------------------------------------------------- organisation settings
def test_admin_saves_the_organisation_settings_with_audit(a, login):
    client = login(a.members["admin"])
    response = client.post(SETTINGS_URL, {"section": "settings", "hold_late_posts_after_minutes": "30"})
    assert response.status_code == 302
    saved = PublishingSettings.objects.get(organisation=a.organisation)
    assert saved.alt_text_required is False and saved.hold_late_posts_after_minutes == 30
    [event] = changes(a)
    assert event.actor_id == a.user("admin").pk
    assert event.changes == {
        "alt_text_required": {"from": True, "to": False},
        "hold_late_posts_after_minutes": {"from": None, "to": 30},
    }
    # The same again: nothing to record.
    client.post(SETTINGS_URL, {"section": "settings", "hold_late_posts_after_minutes": "30"})
    assert len(changes(a)) == 1
    # Empty means publish late posts anyway.
    client.post(SETTINGS_URL, {"section": "settings", "alt_text_required": "on", "hold_late_posts_after_minutes": ""})
    saved.refresh_from_db()
    assert saved.alt_text_required is True and saved.hold_late_posts_after_minutes is None
    assert len(changes(a)) == 2
    # The setting is what submission checks.
    assert post_services.settings_for(a.organisation.pk).alt_text_required is True


@pytest.mark.parametrize(("value", "message"), [
    ("0", "greater than or equal to 1"),
    ("10081", "less than or equal to 10080"),
    ("²", "Enter a whole number of minutes"),
    ("٣", "Enter a whole number of minutes"),
    ("1.5", "Enter a whole number of minutes"),
    ("soon", "Enter a whole number of minutes"),
])
def test_bad_late_minutes_show_an_error(a, login, value, message):
    response = login(a.members["admin"]).post(
        SETTINGS_URL, {"section": "settings", "alt_text_required": "on", "hold_late_posts_after_minutes": value}
    )
    assert response.status_code == 200
    assert message in text(response) and "<title>Error: " in text(response)
    assert not PublishingSettings.objects.filter(organisation=a.organisation).exists() and not changes(a)


def test_a_manager_cannot_change_organisation_settings(a, login):
    response = login(a.members["manager"]).post(SETTINGS_URL, {"section": "settings"})
    assert response.status_code == 403
    response = login(a.members["manager"]).post(SETTINGS_URL, {"section": "add_word", "phrase": "x", "action": "block"})
    assert response.status_code == 403
    assert not PublishingSettings.objects.exists() and not BlockedWord.objects.exists() and not changes(a)
    with pytest.raises(PermissionDenied):
        settings_services.settings_update(actor=a.members["manager"], alt_text_required=False,
                                          hold_late_posts_after_minutes=None)


# ----------------------------------------------------------------------------------- blocked words
def test_blocked_words_add_and_remove_with_audit(a, login, personas):
    client = login(a.members["admin"])
    response = client.post(SETTINGS_URL, {"section": "add_word", "phrase": "  Free   parking ", "action": "review"})
    assert response.status_code == 302
    client.post(SETTINGS_URL, {"section": "add_word", "phrase": "guaranteed", "action": "block"})
    words = {w.phrase: w.action for w in BlockedWord.objects.for_organisation(a.organisation)}
    assert words == {"Free parking": "review", "guaranteed": "block"}

    duplicate = client.post(SETTINGS_URL, {"section": "add_word", "phrase": "GUARANTEED", "action": "review"})
    assert duplicate.status_code == 200 and "is already on the list" in text(duplicate)
    for bad in ({"phrase": "", "action": "block"}, {"phrase": "cheap", "action": "delete"}, {"phrase": "x" * 101}):
        response = client.post(SETTINGS_URL, {"section": "add_word", **bad})
        assert response.status_code == 200 and "field-errors" in text(response)
    assert BlockedWord.objects.count() == 2

    theirs = BlockedWord.objects.create(organisation=personas.b.organisation, phrase="theirs")
    for bogus in ("", "abc", "²", str(theirs.pk)):
        response = client.post(SETTINGS_URL, {"section": "remove_word", "word": bogus}, follow=True)
        assert response.status_code == 200 and "no longer on the list" in text(response)
    assert BlockedWord.objects.filter(pk=theirs.pk).exists()

    word = BlockedWord.objects.get(phrase="guaranteed")
    response = client.post(SETTINGS_URL, {"section": "remove_word", "word": str(word.pk)}, follow=True)
    assert "“guaranteed” removed" in text(response)
    assert not BlockedWord.objects.filter(pk=word.pk).exists()
    assert [e.changes["blocked_word"] for e in changes(a)] == [
        {"from": None, "to": "Free parking"}, {"from": None, "to": "guaranteed"}, {"from": "guaranteed", "to": None},
    ]


def test_an_added_blocked_word_is_what_submission_checks(a, login):
    channel = make_channel(a, department="Communications", platform="mastodon")
    login(a.members["admin"]).post(SETTINGS_URL, {"section": "add_word", "phrase": "guaranteed", "action": "block"})
    post = make_post(a, [channel], body="Collection guaranteed")
    with pytest.raises(ValidationError):
        post_services.post_submit(actor=a.members["editor"], post_id=post.pk)


# ---------------------------------------------------------------------------------- approval policy
def test_manager_sets_their_departments_policy(a, login):
    comms = a.departments["Communications"]
    url = reverse("approvals:approval_policy", args=[comms.pk])
    client = login(a.members["manager"])
    page = client.get(url)
    assert page.status_code == 200
    form = page.context["form"]
    assert form["approvals_required"].value() == 1 and form["approver_roles"].value() == ["admin", "approver"]
    # Only roles that can approve at all are offered.
    assert [value for value, _ in form.fields["approver_roles"].choices] == ["admin", "approver"]
    assert "approver@alpha.example" in text(page)

    response = client.post(url, {"approvals_required": "2", "approver_roles": ["admin", "approver"]})
    assert response.status_code == 302
    policy = ApprovalPolicy.objects.get(department=comms)
    assert policy.approvals_required == 2 and policy.approver_roles == ["admin", "approver"]
    [event] = changes(a)
    assert event.department_id == comms.pk and event.changes == {"approvals_required": {"from": 1, "to": 2}}
    # The page's policy is the one approvals use.
    channel = make_channel(a, department="Communications", platform="mastodon")
    post = make_post(a, [channel])
    assert post_services.approvals_required(post, post.current_revision) == 2

    client.post(url, {"approvals_required": "2", "approver_roles": ["admin"]})
    policy.refresh_from_db()
    assert policy.approver_roles == ["admin"]
    assert changes(a)[-1].changes == {"approver_roles": {"from": ["admin", "approver"], "to": ["admin"]}}


def test_policy_warns_when_too_few_people_can_approve(a, login):
    comms = a.departments["Communications"]
    url = reverse("approvals:approval_policy", args=[comms.pk])
    response = login(a.members["manager"]).post(url, {"approvals_required": "3", "approver_roles": ["approver"]},
                                                follow=True)
    assert "Only 1 person can approve Communications’s posts, but 3 approvals are needed" in text(response)


@pytest.mark.parametrize(("data", "message"), [
    ({"approvals_required": "0", "approver_roles": ["admin"]}, "greater than or equal to 1"),
    ({"approvals_required": "6", "approver_roles": ["admin"]}, "less than or equal to 5"),
    ({"approvals_required": "²", "approver_roles": ["admin"]}, "Enter a whole number from 1 to 5"),
    ({"approvals_required": "", "approver_roles": ["admin"]}, "This field is required"),
    ({"approvals_required": "2"}, "Choose at least one role that can approve posts"),
    ({"approvals_required": "2", "approver_roles": ["editor"]}, "Select a valid choice"),
])
def test_bad_policy_input_shows_errors(a, login, data, message):
    url = reverse("approvals:approval_policy", args=[a.departments["Communications"].pk])
    response = login(a.members["manager"]).post(url, data)
    assert response.status_code == 200 and message in text(response)
    assert not ApprovalPolicy.objects.exists() and not changes(a)


def test_a_manager_gets_404_for_another_departments_policy_and_channel(a, login):
    cs = a.departments["Customer Services"]
    theirs = make_channel(a, department="Customer Services", platform="x")
    client = login(a.members["manager"])
    for url in (reverse("approvals:approval_policy", args=[cs.pk]), reverse("approvals:channel_rule", args=[theirs.pk])):
        assert client.get(url).status_code == 404
        assert client.post(url, {"approvals_required": "2", "approver_roles": ["admin"]}).status_code == 404
    assert not ApprovalPolicy.objects.exists() and not ChannelApprovalRule.objects.exists()
    with pytest.raises(PermissionDenied):
        settings_services.policy_update(actor=a.members["manager"], department=cs, approvals_required=2,
                                        approver_roles=["admin"])
    with pytest.raises(PermissionDenied):
        settings_services.channel_rule_update(actor=a.members["manager"], channel=theirs, approvals_required=2)


# ------------------------------------------------------------------------------------ channel rules
def test_channel_rule_set_changed_and_removed_with_audit(a, login):
    channel = make_channel(a, department="Communications", platform="x")
    url = reverse("approvals:channel_rule", args=[channel.pk])
    client = login(a.members["manager"])
    page = client.get(url)
    assert page.status_code == 200 and page.context["form"]["approvals_required"].value() == ""
    assert client.post(url, {"approvals_required": "2"}).status_code == 302
    assert ChannelApprovalRule.objects.get(channel=channel).approvals_required == 2
    post = make_post(a, [channel])
    assert post_services.approvals_required(post, post.current_revision) == 2
    client.post(url, {"approvals_required": "3"})
    assert ChannelApprovalRule.objects.get(channel=channel).approvals_required == 3
    client.post(url, {"approvals_required": "3"})  # unchanged: not recorded
    client.post(url, {"approvals_required": ""})
    assert not ChannelApprovalRule.objects.filter(channel=channel).exists()
    assert [e.changes["channel_approvals_required"] for e in changes(a)] == [
        {"from": None, "to": 2}, {"from": 2, "to": 3}, {"from": 3, "to": None},
    ]
    assert {e.department_id for e in changes(a)} == {channel.department_id}


@pytest.mark.parametrize("value", ["0", "6", "²", "two"])
def test_bad_channel_rule_input_shows_an_error(a, login, value):
    channel = make_channel(a, department="Communications", platform="x")
    response = login(a.members["admin"]).post(reverse("approvals:channel_rule", args=[channel.pk]),
                                              {"approvals_required": value})
    assert response.status_code == 200 and "Select a valid choice" in text(response)
    assert not ChannelApprovalRule.objects.exists()


def test_services_refuse_out_of_range_counts(a):
    channel = make_channel(a, department="Communications", platform="x")
    admin = a.members["admin"]
    for bad in (0, 6, True, "2"):
        with pytest.raises(ValidationError):
            settings_services.channel_rule_update(actor=admin, channel=channel, approvals_required=bad)
        with pytest.raises(ValidationError):
            settings_services.policy_update(actor=admin, department=a.departments["Communications"],
                                            approvals_required=bad, approver_roles=["admin"])
    with pytest.raises(ValidationError):
        settings_services.settings_update(actor=admin, alt_text_required=True, hold_late_posts_after_minutes=0)
    assert not changes(a)

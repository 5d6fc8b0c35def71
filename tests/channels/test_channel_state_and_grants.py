"""Channel health (needs reconnecting, rate limited) and per-channel grants."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent, EventType
from channels_app import grants, services
from channels_app.connectors.base import AuthExpired, PermanentError, RateLimited
from channels_app.models import Channel, ChannelStatus


def connect(personas, department="Communications", account_id="1001"):
    return services.channel_connect(
        actor=personas.a.members["admin"],
        department=personas.a.departments[department],
        platform="mastodon",
        account_id=account_id,
        handle=f"@alpha{account_id}@social.example",
        instance_url="https://social.example",
        credentials={"access_token": "secret-token-value"},
    )


def test_expired_authorisation_marks_channel_needs_reauth_once_and_audits(personas, django_capture_on_commit_callbacks):
    channel = connect(personas)
    with django_capture_on_commit_callbacks() as callbacks:
        services.channel_record_failure(channel_id=channel.pk, error=AuthExpired("The access token was revoked."))
        services.channel_record_failure(channel_id=channel.pk, error=AuthExpired("The access token was revoked."))
    channel.refresh_from_db()
    assert channel.status == ChannelStatus.NEEDS_REAUTH
    assert channel.last_error == "The access token was revoked."
    assert AuditEvent.objects.filter(event_type=EventType.CHANNEL_NEEDS_REAUTH, target_id=str(channel.pk)).count() == 1
    # One e-mail job queued, for the one state change.
    assert len(callbacks) == 1


def test_needs_reauth_email_reaches_admins_and_the_departments_managers_only(personas, celery_worker):
    channel = connect(personas)
    services.channel_record_failure(channel_id=channel.pk, error=AuthExpired("The access token was revoked."))
    deadline = time.monotonic() + 10
    while not mail.outbox and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert set(message.to) == {"admin@alpha.example", "manager@alpha.example"}
    assert "Reconnect" in message.subject and "secret-token-value" not in message.body


def test_people_who_can_reconnect_see_the_alert_on_every_page(personas, login, client):
    channel = connect(personas)
    Channel.objects.filter(pk=channel.pk).update(status=ChannelStatus.NEEDS_REAUTH)
    assert "Channels need reconnecting" in login(personas.a.members["manager"]).get(reverse("home")).content.decode()
    assert "Channels need reconnecting" in login(personas.a.members["admin"]).get(reverse("home")).content.decode()
    assert "Channels need reconnecting" not in login(personas.a.members["editor"]).get(reverse("home")).content.decode()


def test_rate_limit_sets_the_reset_time_and_connector_for_refuses_until_then(personas):
    channel = connect(personas)
    reset = timezone.now() + timedelta(minutes=15)
    services.channel_record_failure(channel_id=channel.pk, error=RateLimited("Too many requests", reset_at=reset))
    channel.refresh_from_db()
    assert channel.status == ChannelStatus.RATE_LIMITED and channel.rate_limit_reset_at == reset
    with pytest.raises(RateLimited) as raised:
        services.connector_for(channel)
    assert raised.value.reset_at == reset
    Channel.objects.filter(pk=channel.pk).update(rate_limit_reset_at=timezone.now() - timedelta(seconds=1))
    channel.refresh_from_db()
    assert services.connector_for(channel).base_url == "https://social.example"


def test_connector_for_refuses_a_channel_that_needs_reconnecting(personas):
    channel = connect(personas)
    services.channel_record_failure(channel_id=channel.pk, error=AuthExpired("revoked"))
    channel.refresh_from_db()
    with pytest.raises(AuthExpired):
        services.connector_for(channel)


def test_a_permanent_error_is_recorded_without_changing_the_status(personas):
    channel = connect(personas)
    services.channel_record_failure(channel_id=channel.pk, error=PermanentError("Text too long"))
    channel.refresh_from_db()
    assert channel.status == ChannelStatus.ACTIVE and channel.last_error == "Text too long"


def test_default_grants_follow_department_and_role(personas):
    channel = connect(personas, department="Communications")
    members = personas.a.members
    assert grants.effective_grants(members["admin"], channel) == {grants.VIEW, grants.REPLY, grants.PUBLISH}
    assert grants.effective_grants(members["editor"], channel) == {grants.VIEW, grants.PUBLISH}
    assert grants.effective_grants(members["approver"], channel) == {grants.VIEW, grants.PUBLISH}
    assert grants.effective_grants(members["viewer"], channel) == {grants.VIEW}
    # The agent works in Customer Services: nothing on a Communications channel by default.
    assert grants.effective_grants(members["agent"], channel) == set()
    assert grants.effective_grants(personas.outsider, channel) == set()


def test_explicit_grant_lets_an_agent_of_another_department_see_and_reply(personas):
    channel = connect(personas, department="Communications")
    agent = personas.a.members["agent"]
    assert not Channel.objects.visible_to(agent).filter(pk=channel.pk).exists()
    for grant in (grants.VIEW, grants.REPLY):
        services.channel_grant_set(actor=personas.a.members["admin"], channel=channel, member=agent, grant=grant, allowed=True)
    assert Channel.objects.visible_to(agent).filter(pk=channel.pk).exists()
    assert grants.has_grant(agent, channel, grants.REPLY) and not grants.has_grant(agent, channel, grants.PUBLISH)
    assert AuditEvent.objects.filter(event_type=EventType.CHANNEL_GRANT_CHANGED, target_id=str(channel.pk)).count() == 2
    services.channel_grant_set(actor=personas.a.members["admin"], channel=channel, member=agent, grant=grants.VIEW, allowed=False)
    assert not Channel.objects.visible_to(agent).filter(pk=channel.pk).exists()


def test_grants_page_saves_ticked_boxes_and_refuses_other_departments_manager(personas, login, client):
    channel = connect(personas, department="Communications")
    agent = personas.a.members["agent"]
    login(personas.a.members["admin"])
    page = client.get(reverse("channels_app:channel_grants", args=[channel.pk])).content.decode()
    assert f'name="grant-{agent.pk}-reply_channel"' in page
    response = client.post(reverse("channels_app:channel_grants", args=[channel.pk]), {f"grant-{agent.pk}-reply_channel": "on"})
    assert response.status_code == 302
    assert grants.explicit_grants(agent.user_id, channel) == {grants.REPLY}

    customer = connect(personas, department="Customer Services", account_id="2002")
    response = login(personas.a.members["manager"]).get(reverse("channels_app:channel_grants", args=[customer.pk]))
    assert response.status_code == 404


def test_refresh_is_serialised_so_only_the_first_caller_refreshes(personas):
    """Single-use refresh tokens: under the row lock the second caller sees fresh credentials and stops."""
    channel = connect(personas)
    Channel.objects.filter(pk=channel.pk).update()
    calls = []

    def refresh(credentials):
        calls.append(credentials["access_token"])
        return {"access_token": "fresh", "expires_at": time.time() + 7200}

    def still_fresh(credentials):
        return credentials.get("expires_at", 0) > time.time() + 60

    services.credentials_refresh(channel_id=channel.pk, refresh=refresh, still_fresh=still_fresh)
    services.credentials_refresh(channel_id=channel.pk, refresh=refresh, still_fresh=still_fresh)
    assert calls == ["secret-token-value"]
    assert Channel.objects.get(pk=channel.pk).credentials["access_token"] == "fresh"


def test_grants_page_query_count_does_not_grow_with_members(personas, login, client, django_assert_max_num_queries):
    from tests.conftest import add_member

    channel = connect(personas, department="Communications")
    login(personas.a.members["admin"])
    url = reverse("channels_app:channel_grants", args=[channel.pk])
    with django_assert_max_num_queries(100) as few:
        client.get(url)
    for number in range(12):
        add_member(personas.a, "viewer", f"extra{number}@alpha.example", ["Communications"])
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(url).status_code == 200

"""Channels: encrypted credentials, connect/reconnect/disconnect with audit, department scoping, key rotation."""

from __future__ import annotations

import io
import json
import logging

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse

from accounts import services as accounts_services
from audit.models import AuditEvent, EventType
from channels_app import services
from channels_app.models import Channel, ChannelStatus
from smm import crypto

SECRET = "tok-9f8e7d6c5b4a-very-secret"


def connect(personas, role="admin", department="Communications", account_id="1001", secret=SECRET, platform="x"):
    return services.channel_connect(
        actor=personas.a.members[role],
        department=personas.a.departments[department],
        platform=platform,
        account_id=account_id,
        handle=f"@alpha{account_id}",
        display_name="Alpha Council",
        credentials={"access_token": secret, "refresh_token": secret + "-refresh"},
    )


def test_credentials_are_encrypted_in_the_database_and_readable_through_the_model(personas):
    channel = connect(personas)
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials_encrypted FROM channels_app_channel WHERE id = %s", [channel.pk])
        stored = cursor.fetchone()[0]
    assert SECRET not in stored
    assert Channel.objects.get(pk=channel.pk).credentials["access_token"] == SECRET
    assert SECRET not in repr(channel) and SECRET not in str(channel)


def test_connect_is_audited_without_the_credentials(personas):
    channel = connect(personas)
    event = AuditEvent.objects.get(event_type=EventType.CHANNEL_CONNECTED, target_id=str(channel.pk))
    assert event.actor == personas.a.user("admin")
    assert event.department == personas.a.departments["Communications"]
    assert SECRET not in json.dumps(event.changes) and SECRET not in event.target_repr


def test_reconnecting_the_same_account_updates_the_channel_and_is_audited_as_reconnect(personas):
    first = connect(personas, secret="old-secret-value")
    Channel.objects.filter(pk=first.pk).update(status=ChannelStatus.NEEDS_REAUTH, last_error="token revoked")
    second = connect(personas, secret="new-secret-value")
    assert second.pk == first.pk
    second.refresh_from_db()
    assert second.status == ChannelStatus.ACTIVE and second.last_error == ""
    assert second.credentials["access_token"] == "new-secret-value"
    assert AuditEvent.objects.filter(event_type=EventType.CHANNEL_RECONNECTED, target_id=str(first.pk)).count() == 1


def test_manager_connects_for_own_department_only(personas):
    assert connect(personas, role="manager", department="Communications").pk
    with pytest.raises(PermissionDenied):
        connect(personas, role="manager", department="Customer Services", account_id="2002")
    with pytest.raises(PermissionDenied):
        connect(personas, role="agent", department="Customer Services", account_id="2003")
    assert not Channel.objects.filter(account_id__in=["2002", "2003"]).exists()


def test_connect_refuses_an_archived_department_and_missing_account_details(personas):
    admin = personas.a.members["admin"]
    accounts_services.department_set_archived(actor=admin, department=personas.a.departments["Customer Services"], archived=True)
    personas.a.departments["Customer Services"].refresh_from_db()
    with pytest.raises(ValidationError):
        connect(personas, department="Customer Services")
    with pytest.raises(ValidationError):
        connect(personas, account_id="")
    assert not Channel.objects.exists()


def test_disconnect_deletes_credentials_once_and_is_audited(personas):
    channel = connect(personas)
    admin = personas.a.members["admin"]
    services.channel_disconnect(actor=admin, channel=channel)
    services.channel_disconnect(actor=admin, channel=channel)
    channel.refresh_from_db()
    assert channel.disconnected_at is not None and channel.credentials_encrypted == ""
    assert AuditEvent.objects.filter(event_type=EventType.CHANNEL_DISCONNECTED, target_id=str(channel.pk)).count() == 1
    assert not Channel.objects.connected().filter(pk=channel.pk).exists()


def test_members_see_only_their_departments_channels(personas):
    comms = connect(personas, department="Communications", account_id="1")
    customer = connect(personas, department="Customer Services", account_id="2")
    visible = Channel.objects.visible_to
    assert set(visible(personas.a.members["admin"])) == {comms, customer}
    assert set(visible(personas.a.members["editor"])) == {comms}
    assert set(visible(personas.a.members["agent"])) == {customer}
    assert not visible(personas.outsider).exists()


def test_agent_gets_404_for_another_departments_channel(personas, api_for):
    comms = connect(personas, department="Communications")
    response = api_for(personas.a.members["agent"]).get(reverse("api:channel-detail", args=[comms.pk]))
    assert response.status_code == 404


def test_credentials_appear_in_no_page_api_body_audit_event_or_log(personas, login, client, api_for, caplog):
    caplog.set_level(logging.DEBUG)
    channel = connect(personas)
    page = login(personas.a.members["admin"]).get(reverse("channels_app:channel_list")).content.decode()
    assert "@alpha1001" in page
    api = api_for(personas.a.members["admin"])
    bodies = [
        api.get(reverse("api:channel-list")).content.decode(),
        api.get(reverse("api:channel-detail", args=[channel.pk])).content.decode(),
    ]
    assert "@alpha1001" in bodies[0]
    client.post(reverse("channels_app:channel_disconnect", args=[channel.pk]))
    audit_text = json.dumps(list(AuditEvent.objects.values()), default=str)
    for text in [page, *bodies, audit_text, caplog.text]:
        assert SECRET not in text


def test_channel_page_offers_disconnect_only_where_the_member_may_manage(personas, login, client):
    connect(personas, department="Communications", account_id="1")
    connect(personas, department="Customer Services", account_id="2")
    admin_page = login(personas.a.members["admin"]).get(reverse("channels_app:channel_list")).content.decode()
    assert admin_page.count("Disconnect<span") == 2
    manager_page = login(personas.a.members["manager"]).get(reverse("channels_app:channel_list")).content.decode()
    assert manager_page.count("Disconnect<span") == 1 and "@alpha2" not in manager_page
    viewer_page = login(personas.a.members["viewer"]).get(reverse("channels_app:channel_list")).content.decode()
    assert "Disconnect<span" not in viewer_page and "@alpha1" in viewer_page


def test_manager_gets_404_disconnecting_another_departments_channel(personas, login, client):
    customer = connect(personas, department="Customer Services", account_id="2")
    manager = personas.a.members["manager"]
    response = login(manager).post(reverse("channels_app:channel_disconnect", args=[customer.pk]))
    # Outside the manager's departments the channel does not exist for them.
    assert response.status_code == 404
    customer.refresh_from_db()
    assert customer.disconnected_at is None


def test_rotate_command_reencrypts_under_the_new_key_and_old_key_can_then_go(personas, settings):
    old_key = Fernet.generate_key().decode()
    new_key = Fernet.generate_key().decode()
    settings.CREDENTIAL_KEYS = [old_key]
    channel = connect(personas)
    before = Channel.objects.get(pk=channel.pk).credentials_encrypted
    invitation, _ = accounts_services.invitation_create(
        actor=personas.a.members["admin"], email="new@alpha.example", role="viewer", departments=[]
    )

    settings.CREDENTIAL_KEYS = [new_key, old_key]
    out = io.StringIO()
    call_command("rotate_credential_keys", stdout=out)
    assert "1 channel" in out.getvalue()

    settings.CREDENTIAL_KEYS = [new_key]
    after = Channel.objects.get(pk=channel.pk)
    assert after.credentials_encrypted != before
    assert after.credentials["access_token"] == SECRET
    assert AuditEvent.objects.filter(event_type=EventType.CHANNEL_CREDENTIALS_REENCRYPTED).count() == 1
    # Open invitation links were re-encrypted too: the new key alone opens them.
    invitation.refresh_from_db()
    assert crypto.decrypt(invitation.token_encrypted)


def test_rotate_command_fails_clearly_when_the_old_key_was_dropped_too_early(personas, settings):
    settings.CREDENTIAL_KEYS = [Fernet.generate_key().decode()]
    connect(personas)
    settings.CREDENTIAL_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(CommandError, match="old key back"):
        call_command("rotate_credential_keys", stdout=io.StringIO())
    with pytest.raises(crypto.CredentialsUnreadable):
        Channel.objects.get().credentials  # noqa: B018


def test_bad_credential_key_setting_stops_with_a_clear_message(settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.CREDENTIAL_KEYS = ["not-a-fernet-key"]
    with pytest.raises(ImproperlyConfigured, match="CREDENTIAL_KEYS"):
        crypto.encrypt({"a": "b"})

"""Password reset by e-mail: the link, the new password, and what it must not do (sign in, skip two-factor, leak)."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection
from django.test import Client
from django.urls import reverse
from django_otp.oath import TOTP

from accounts import services
from accounts.models import ApiToken, User
from audit.models import AuditEvent, EventType
from tests.conftest import PASSWORD, add_member

LOGIN = reverse("accounts:login")
HOME = reverse("home")
RESET = reverse("accounts:password_reset")
NEW_PASSWORD = "a brand new passphrase 2026"


def request_reset(the_client: Client, email: str):
    return the_client.post(RESET, {"email": email})


def link_from_outbox() -> str:
    assert len(mail.outbox) == 1
    match = re.search(r"http://testserver(/accounts/password-reset/\S+/\S+/)", mail.outbox[0].body)
    assert match, mail.outbox[0].body
    return match.group(1)


def set_new_password(the_client: Client, link: str, password: str = NEW_PASSWORD):
    page = the_client.get(link)
    # Django moves the token out of the URL into the session, then shows the form.
    assert page.status_code == 302
    form_url = page["Location"]
    assert the_client.get(form_url).context["validlink"] is True
    return the_client.post(form_url, {"new_password1": password, "new_password2": password})


@pytest.fixture
def editor(personas):
    return personas.a.members["editor"]


def test_reset_email_is_sent_with_a_link(client, editor):
    response = request_reset(client, editor.user.email)

    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:password_reset_done")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [editor.user.email]
    assert message.subject == "Reset your Civic Desk password"
    assert link_from_outbox().startswith("/accounts/password-reset/")


def test_reset_request_is_recorded(client, editor):
    request_reset(client, editor.user.email)
    event = AuditEvent.objects.get(event_type=EventType.PASSWORD_RESET_REQUESTED)
    assert event.organisation == editor.organisation
    assert event.actor is None
    assert event.target_id == str(editor.user.pk)


def test_reset_request_for_unknown_email_sends_nothing_and_looks_the_same(client, editor):
    known = request_reset(client, editor.user.email)
    mail.outbox = []

    unknown = request_reset(Client(), "nobody@nowhere.example")

    assert mail.outbox == []
    assert (unknown.status_code, unknown["Location"]) == (known.status_code, known["Location"])
    done_known, done_unknown = client.get(known["Location"]), Client().get(unknown["Location"])
    assert done_known.content == done_unknown.content
    assert AuditEvent.objects.filter(event_type=EventType.PASSWORD_RESET_REQUESTED).count() == 1


def test_following_the_link_sets_the_new_password_without_signing_in(client, editor):
    request_reset(client, editor.user.email)
    link = link_from_outbox()

    response = set_new_password(client, link)

    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:password_reset_complete")
    user = User.objects.get(pk=editor.user.pk)
    assert user.check_password(NEW_PASSWORD)
    assert not user.check_password(PASSWORD)
    home = client.get(HOME)
    assert home.status_code == 302 and home["Location"].startswith(LOGIN)
    assert not AuditEvent.objects.filter(event_type=EventType.SIGN_IN).exists()
    event = AuditEvent.objects.get(event_type=EventType.PASSWORD_CHANGED)
    assert (event.organisation, event.actor, event.changes) == (
        editor.organisation,
        user,
        {"via": "reset link", "sessions_ended": 0},
    )


REFUSE_PASSWORD_EVENTS = """
CREATE FUNCTION test_refuse_password_event() RETURNS trigger AS $$
BEGIN
    IF NEW.event_type = 'auth.password_changed' THEN
        RAISE EXCEPTION 'the audit store refused the event';
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER refuse_password_event BEFORE INSERT ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION test_refuse_password_event();
"""


def test_new_password_is_not_kept_when_its_audit_event_cannot_be_written(client, editor):
    # One transaction: no new password without its audit event (and its ended sessions and tokens).
    api_token = services.api_token_create(membership=editor)
    request_reset(client, editor.user.email)
    link = link_from_outbox()
    with connection.cursor() as cursor:
        cursor.execute(REFUSE_PASSWORD_EVENTS)

    with pytest.raises(DatabaseError, match="audit store refused"):
        set_new_password(client, link)

    user = User.objects.get(pk=editor.user.pk)
    assert user.check_password(PASSWORD)
    assert not user.check_password(NEW_PASSWORD)
    assert ApiToken.objects.filter(user=user).count() == 1
    assert api_token


def test_password_set_saves_ends_sessions_and_tokens_and_records_in_one_go(personas, editor):
    other = add_member(personas.b, "viewer", editor.user.email, ["Digital Desk"])
    services.api_token_create(membership=editor)
    services.api_token_create(membership=other)

    services.password_set(user=editor.user, password=NEW_PASSWORD, via="reset link")

    user = User.objects.get(pk=editor.user.pk)
    assert user.check_password(NEW_PASSWORD)
    assert not ApiToken.objects.filter(user=user).exists()
    events = AuditEvent.objects.filter(event_type=EventType.PASSWORD_CHANGED)
    assert {e.organisation for e in events} == {personas.a.organisation, personas.b.organisation}


def test_password_set_refuses_a_weak_password_and_changes_nothing(editor):
    with pytest.raises(ValidationError):
        services.password_set(user=editor.user, password="qwerty123456", via="reset link")
    assert User.objects.get(pk=editor.user.pk).check_password(PASSWORD)
    assert not AuditEvent.objects.filter(event_type=EventType.PASSWORD_CHANGED).exists()


def test_new_password_signs_in_and_old_one_does_not(client, editor):
    request_reset(client, editor.user.email)
    set_new_password(client, link_from_outbox())

    old = Client().post(LOGIN, {"email": editor.user.email, "password": PASSWORD})
    assert old.status_code == 200
    new = client.post(LOGIN, {"email": editor.user.email, "password": NEW_PASSWORD})
    assert new.status_code == 302 and new["Location"] == HOME


def test_reset_link_works_only_once(client, editor):
    request_reset(client, editor.user.email)
    link = link_from_outbox()
    set_new_password(client, link)

    again = Client().get(link, follow=True)

    assert again.context["validlink"] is False
    assert User.objects.get(pk=editor.user.pk).check_password(NEW_PASSWORD)


def test_reset_link_with_a_forged_token_is_refused(client, editor):
    request_reset(client, editor.user.email)
    link = link_from_outbox()
    forged = re.sub(r"/[^/]+/$", "/abc123-0123456789abcdef0123456789abcdef/", link)
    response = Client().get(forged)
    assert response.status_code == 200
    assert response.context["validlink"] is False


def test_reset_password_must_pass_the_validators(client, editor):
    request_reset(client, editor.user.email)
    page = client.get(link_from_outbox())
    response = client.post(page["Location"], {"new_password1": "short", "new_password2": "short"})
    assert response.status_code == 200
    assert response.context["form"].errors["new_password2"]
    assert User.objects.get(pk=editor.user.pk).check_password(PASSWORD)
    assert not AuditEvent.objects.filter(event_type=EventType.PASSWORD_CHANGED).exists()


def test_reset_does_not_bypass_two_factor(client, editor):
    device = services.two_factor_enrol_start(user=editor.user)
    code = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token()
    device, _ = services.two_factor_enrol_confirm(user=editor.user, code=f"{code:06d}")
    request_reset(client, editor.user.email)
    set_new_password(client, link_from_outbox())

    response = client.post(LOGIN, {"email": editor.user.email, "password": NEW_PASSWORD})

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:sign_in_code"))
    home = client.get(HOME)
    assert home.status_code == 302 and home["Location"].startswith(LOGIN)
    assert not AuditEvent.objects.filter(event_type=EventType.SIGN_IN).exists()


def test_reset_ends_other_sessions_and_api_tokens(client, editor, api_for):
    elsewhere = Client()
    elsewhere.post(LOGIN, {"email": editor.user.email, "password": PASSWORD})
    assert elsewhere.get(HOME).status_code == 200
    api = api_for(editor)

    request_reset(client, editor.user.email)
    set_new_password(client, link_from_outbox())

    assert elsewhere.get(HOME)["Location"].startswith(LOGIN)
    assert api.get("/api/v1/me/").status_code == 401
    assert not ApiToken.objects.filter(user=editor.user).exists()

"""Invitations: an admin invites, a Celery worker sends the e-mail, the person accepts the link once."""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta

import pytest
from celery.signals import before_task_publish
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import services
from accounts.models import Invitation, Membership, User, token_digest
from accounts.tasks import send_invitation_email
from audit.models import AuditEvent, EventType
from smm import crypto
from tests.conftest import PASSWORD

LOGIN = reverse("accounts:login")
HOME = reverse("home")
INVITE = reverse("accounts:member_invite")
NEW_EMAIL = "new.person@alpha.example"
GOOD_PASSWORD = "a long and unusual passphrase 7"


def wait_for_mail(count: int = 1, timeout: float = 10.0) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(mail.outbox) >= count:
            return mail.outbox
        time.sleep(0.05)
    raise AssertionError(f"expected {count} e-mail(s) within {timeout}s, got {len(mail.outbox)}")


def accept_path(url: str) -> str:
    match = re.search(r"http://testserver(/invite/[^/\s]+/)", url)
    assert match, url
    return match.group(1)


def invite(personas, email: str = NEW_EMAIL, role: str = "editor", departments=("Communications",)):
    """Through the service: in a test transaction the e-mail task (queued on commit) never runs."""
    return services.invitation_create(
        actor=personas.a.members["admin"],
        email=email,
        role=role,
        departments=[personas.a.departments[name] for name in departments],
    )


def accept_as_new_person(the_client: Client, raw_token: str, password: str = GOOD_PASSWORD, name: str = "New Person"):
    return the_client.post(
        reverse("accounts:invitation_accept", args=[raw_token]),
        {"full_name": name, "password1": password, "password2": password},
    )


def assert_nothing_saved(invitation: Invitation) -> None:
    assert not User.objects.filter(email__iexact=invitation.email).exists()
    invitation.refresh_from_db()
    assert invitation.status == "pending"
    assert not AuditEvent.objects.filter(event_type=EventType.INVITATION_ACCEPTED).exists()


# ----------------------------------------------------------------------- invite, e-mail, accept (worker)
def test_invitation_is_emailed_by_the_worker_and_accepted_through_the_link(celery_worker, client, personas, login):
    admin = personas.a.members["admin"]
    departments = [personas.a.departments["Communications"].pk, personas.a.departments["Customer Services"].pk]
    login(admin)

    response = client.post(INVITE, {"email": NEW_EMAIL, "role": "approver", "departments": departments})

    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:member_list")
    invitation = Invitation.objects.get(email=NEW_EMAIL)
    assert invitation.organisation == admin.organisation
    assert invitation.invited_by == admin.user
    assert invitation.status == "pending"
    sent = AuditEvent.objects.get(event_type=EventType.INVITATION_SENT)
    assert (sent.organisation, sent.actor) == (admin.organisation, admin.user)
    assert sent.changes == {
        "email": NEW_EMAIL,
        "role": "approver",
        "departments": ["Communications", "Customer Services"],
    }

    # The e-mail is sent by the Celery worker, not by the web request.
    message = wait_for_mail()[0]
    assert message.to == [NEW_EMAIL]
    assert "Alpha Council" in message.subject
    path = accept_path(message.body)
    raw_token = path.split("/")[2]
    # Only the digest is stored; the raw token exists only in the e-mail.
    assert invitation.token_digest == token_digest(raw_token)
    stored = " ".join(str(value) for value in Invitation.objects.filter(pk=invitation.pk).values().first().values())
    assert raw_token not in stored
    assert raw_token not in str(sent.changes)

    newcomer = Client()
    page = newcomer.get(path)
    assert page.status_code == 200
    assert "full_name" in page.context["form"].fields
    accepted = newcomer.post(path, {"full_name": "New Person", "password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD})

    assert accepted.status_code == 302
    assert accepted["Location"] == LOGIN
    user = User.objects.get(email=NEW_EMAIL)
    assert user.full_name == "New Person"
    assert user.check_password(GOOD_PASSWORD)
    membership = Membership.objects.get(user=user, organisation=admin.organisation)
    assert membership.role == "approver"
    assert membership.is_active
    assert sorted(d.name for d in membership.departments.all()) == ["Communications", "Customer Services"]
    invitation.refresh_from_db()
    assert invitation.status == "accepted"
    assert invitation.accepted_by == user
    event = AuditEvent.objects.get(event_type=EventType.INVITATION_ACCEPTED)
    assert (event.organisation, event.actor) == (admin.organisation, user)
    assert event.changes == {"role": "approver", "departments": ["Communications", "Customer Services"]}

    # The new person signs in with the password they chose.
    signed_in = newcomer.post(LOGIN, {"email": NEW_EMAIL, "password": GOOD_PASSWORD})
    assert signed_in["Location"] == HOME
    assert newcomer.get(HOME).wsgi_request.membership == membership

    # Single use.
    assert Client().get(path).status_code == 410


def test_invitation_email_is_not_sent_for_a_revoked_invitation(personas):
    invitation, raw_token = invite(personas)
    services.invitation_revoke(actor=personas.a.members["admin"], invitation=invitation)
    send_invitation_email(invitation.pk, invitation.organisation_id)
    assert mail.outbox == []


def test_invitation_email_names_the_organisation_role_and_link(personas):
    invitation, raw_token = invite(personas, role="agent", departments=("Customer Services",))
    send_invitation_email(invitation.pk, invitation.organisation_id)
    assert len(mail.outbox) == 1
    body = mail.outbox[0].body
    assert "Alpha Council" in body
    assert "Agent" in body
    assert f"http://testserver/invite/{raw_token}/" in body


# ------------------------------------------------------------------------------ the link's secrecy
def test_the_e_mail_task_receives_only_ids_never_the_link(personas, django_capture_on_commit_callbacks):
    # Task arguments sit in the broker (Redis) and in worker logs; the secret link must not.
    published = []

    def remember(sender=None, body=None, headers=None, **kwargs):
        published.append((sender, body, headers))

    before_task_publish.connect(remember, weak=False)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            invitation, raw_token = invite(personas)
    finally:
        before_task_publish.disconnect(remember)

    [(name, body, headers)] = published
    assert name == "accounts.tasks.send_invitation_email"
    args = body[0]
    assert list(args) == [invitation.pk, personas.a.organisation.pk]
    assert raw_token not in repr(body) and raw_token not in repr(headers)


def test_the_raw_token_is_kept_only_encrypted_until_the_invitation_is_used(client, personas):
    invitation, raw_token = invite(personas)
    invitation.refresh_from_db()
    assert invitation.token_encrypted
    assert raw_token not in invitation.token_encrypted
    assert crypto.decrypt(invitation.token_encrypted) == {"token": raw_token}

    assert accept_as_new_person(client, raw_token).status_code == 302

    invitation.refresh_from_db()
    assert invitation.token_encrypted == ""


def test_revoking_wipes_the_encrypted_token(personas):
    invitation, _ = invite(personas)
    services.invitation_revoke(actor=personas.a.members["admin"], invitation=invitation)
    invitation.refresh_from_db()
    assert invitation.token_encrypted == ""


def test_the_task_does_not_send_another_organisations_invitation(personas):
    invitation, _ = invite(personas)
    send_invitation_email(invitation.pk, personas.b.organisation.pk)
    assert mail.outbox == []


# ------------------------------------------------------------------------- one open invitation per address
def test_a_new_invitation_revokes_every_earlier_open_one_expired_or_not_and_names_them_in_its_event(personas):
    expired, expired_token = invite(personas, role="viewer")
    Invitation.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(days=1))
    # Different case, same address.
    pending, pending_token = invite(personas, email=NEW_EMAIL.upper(), role="agent")

    newest, newest_token = invite(personas, role="editor")

    statuses = {i.pk: (i.revoked_at is not None, i.token_encrypted) for i in Invitation.objects.all()}
    assert statuses == {expired.pk: (True, ""), pending.pk: (True, ""), newest.pk: (False, statuses[newest.pk][1])}
    # One action, one event (issue 6 §1): the new invitation's event names the ones it replaced.
    assert not AuditEvent.objects.filter(event_type=EventType.INVITATION_REVOKED).exists()
    sent = {e.target_id: e for e in AuditEvent.objects.filter(event_type=EventType.INVITATION_SENT)}
    assert "replaced_invitations" not in sent[str(expired.pk)].changes
    assert sent[str(pending.pk)].changes["replaced_invitations"] == [expired.pk]
    assert sent[str(newest.pk)].changes["replaced_invitations"] == [pending.pk]
    assert all(e.actor == personas.a.members["admin"].user for e in sent.values())
    assert Client().get(reverse("accounts:invitation_accept", args=[pending_token])).status_code == 410


def test_the_database_refuses_a_second_open_invitation_for_an_address(personas):
    invitation, _ = invite(personas)
    duplicate = Invitation(
        organisation=invitation.organisation,
        email=NEW_EMAIL.upper(),
        role="viewer",
        token_digest="0" * 64,
        expires_at=timezone.now() + timedelta(days=1),
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()


def test_the_same_address_may_be_invited_by_two_organisations(personas):
    invite(personas)
    services.invitation_create(actor=personas.outsider, email=NEW_EMAIL, role="viewer", departments=[])
    assert Invitation.objects.filter(email=NEW_EMAIL, revoked_at__isnull=True).count() == 2


def _wait_until_another_connection_waits_for_a_lock(cursor, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pg_backend_pid() = ANY(pg_blocking_pids(pid))")
        if cursor.fetchone()[0]:
            return
        time.sleep(0.02)
    raise AssertionError("the other request never waited for the row held here")


def _hold_until_the_other_request_waits(write) -> threading.Thread:
    """Runs `write` in another connection's transaction, and commits it only once this test's request
    waits for it: the two requests really race for the same unique key."""
    ready = threading.Event()
    errors = []

    def run():
        try:
            with transaction.atomic():
                write()
                ready.set()
                with connection.cursor() as cursor:
                    _wait_until_another_connection_waits_for_a_lock(cursor)
        except Exception as exc:  # reported by the test below
            errors.append(exc)
            ready.set()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.errors = errors
    thread.start()
    assert ready.wait(10)
    return thread


@pytest.mark.django_db(transaction=True)
def test_two_admins_inviting_the_same_address_at_once_get_a_message_not_a_500(personas):
    admin = personas.a.members["admin"]

    def other_admins_invitation():
        Invitation.objects.create(
            organisation=admin.organisation,
            email=NEW_EMAIL,
            role="viewer",
            token_digest="1" * 64,
            invited_by=admin.user,
            expires_at=timezone.now() + timedelta(days=7),
        )

    holder = _hold_until_the_other_request_waits(other_admins_invitation)
    with pytest.raises(ValidationError) as refused:
        services.invitation_create(actor=admin, email=NEW_EMAIL, role="editor", departments=[])
    holder.join(10)

    assert holder.errors == []
    assert "sent at the same moment" in str(refused.value.message_dict["email"])
    assert Invitation.objects.filter(email=NEW_EMAIL).count() == 1
    assert not AuditEvent.objects.filter(event_type=EventType.INVITATION_SENT).exists()


@pytest.mark.django_db(transaction=True)
def test_accepting_while_the_account_is_created_elsewhere_is_a_message_not_a_500(personas):
    invitation, raw_token = invite(personas)

    holder = _hold_until_the_other_request_waits(lambda: User.objects.create_user(NEW_EMAIL, PASSWORD))
    with pytest.raises(ValidationError, match="created at the same moment"):
        services.invitation_accept(raw_token=raw_token, full_name="New Person", password=GOOD_PASSWORD)
    holder.join(10)

    assert holder.errors == []
    invitation.refresh_from_db()
    assert invitation.status == "pending"
    assert not AuditEvent.objects.filter(event_type=EventType.INVITATION_ACCEPTED).exists()


# -------------------------------------------------------------------------------- the invite form
def test_only_admins_can_invite(client, personas, login):
    login(personas.a.members["manager"])
    response = client.post(INVITE, {"email": NEW_EMAIL, "role": "viewer"})
    assert response.status_code == 403
    assert not Invitation.objects.exists()


def test_inviting_an_existing_member_is_refused(client, personas, login):
    login(personas.a.members["admin"])
    response = client.post(INVITE, {"email": "viewer@alpha.example", "role": "editor"})
    assert response.status_code == 200
    assert response.context["form"].errors["email"]
    assert not Invitation.objects.exists()


def test_a_new_invitation_replaces_the_pending_one_for_the_same_address(personas):
    first, first_token = invite(personas, role="viewer")
    second, second_token = invite(personas, role="editor")
    first.refresh_from_db()
    assert first.status == "revoked"
    assert Client().get(reverse("accounts:invitation_accept", args=[first_token])).status_code == 410
    assert Client().get(reverse("accounts:invitation_accept", args=[second_token])).status_code == 200


# ------------------------------------------------------------------------------- links that no longer work
def test_used_link_is_gone(client, personas):
    invitation, raw_token = invite(personas)
    assert accept_as_new_person(client, raw_token).status_code == 302

    again = accept_as_new_person(Client(), raw_token, name="Someone Else")

    assert again.status_code == 410
    assert "not valid" in again.content.decode()
    assert User.objects.get(email=NEW_EMAIL).full_name == "New Person"
    assert AuditEvent.objects.filter(event_type=EventType.INVITATION_ACCEPTED).count() == 1


def test_expired_link_is_gone(client, personas):
    invitation, raw_token = invite(personas)
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert client.get(reverse("accounts:invitation_accept", args=[raw_token])).status_code == 410
    assert accept_as_new_person(client, raw_token).status_code == 410
    assert not User.objects.filter(email=NEW_EMAIL).exists()


def test_link_expires_after_seven_days(personas, settings):
    invitation, _ = invite(personas)
    assert settings.INVITATION_TTL == timedelta(days=7)
    assert abs(invitation.expires_at - (invitation.created_at + timedelta(days=7))) < timedelta(seconds=5)


def test_revoked_link_is_gone(client, personas, login):
    invitation, raw_token = invite(personas)
    admin_client = login(personas.a.members["admin"], Client())
    admin_client.post(reverse("accounts:invitation_revoke", args=[invitation.pk]))
    invitation.refresh_from_db()
    assert invitation.status == "revoked"
    assert AuditEvent.objects.filter(event_type=EventType.INVITATION_REVOKED).exists()

    assert client.get(reverse("accounts:invitation_accept", args=[raw_token])).status_code == 410
    assert accept_as_new_person(client, raw_token).status_code == 410
    assert not User.objects.filter(email=NEW_EMAIL).exists()


def test_unknown_link_is_gone(client, personas):
    assert client.get(reverse("accounts:invitation_accept", args=["not-a-real-token"])).status_code == 410


def test_link_made_from_the_stored_digest_does_not_work(client, personas):
    # Someone who reads the database learns the digest, which is not the link.
    invitation, _ = invite(personas)
    assert client.get(reverse("accounts:invitation_accept", args=[invitation.token_digest])).status_code == 410


# ----------------------------------------------------------------------------------- password rules
@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("Sh0rt-pass!", "at least 12 characters"),
        ("qwerty123456", "too common"),
        ("password1234", "too common"),
    ],
)
def test_weak_password_is_refused_next_to_the_field_and_nothing_is_saved(client, personas, password, message):
    invitation, raw_token = invite(personas)

    response = accept_as_new_person(client, raw_token, password=password)

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "password1" in errors
    assert any(message in error for error in errors["password1"])
    html = response.content.decode()
    assert 'id="id_password1_error"' in html
    assert message in html
    assert_nothing_saved(invitation)


def test_password_like_the_email_is_refused(client, personas):
    invitation, raw_token = invite(personas, email="bartholomew.jones@alpha.example")
    response = accept_as_new_person(client, raw_token, password="bartholomew.jones")
    assert "password1" in response.context["form"].errors
    assert_nothing_saved(invitation)


def test_passwords_that_differ_are_refused(client, personas):
    invitation, raw_token = invite(personas)
    response = client.post(
        reverse("accounts:invitation_accept", args=[raw_token]),
        {"full_name": "New Person", "password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD + "x"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["password2"]
    assert_nothing_saved(invitation)


def test_name_is_required(client, personas):
    invitation, raw_token = invite(personas)
    response = accept_as_new_person(client, raw_token, name="   ")
    assert response.status_code == 200
    assert response.context["form"].errors["full_name"]
    assert_nothing_saved(invitation)


# --------------------------------------------------------------------------------- people who have an account
def test_existing_user_must_sign_in_to_accept(client, personas):
    outsider = personas.outsider.user
    invitation, raw_token = invite(personas, email=outsider.email, role="viewer")
    url = reverse("accounts:invitation_accept", args=[raw_token])

    page = client.get(url)
    assert page.status_code == 200
    assert page.context["form"] is None
    assert page.context["existing"] is True
    assert f"{LOGIN}?next=" in page.content.decode()

    # Posting a name and password does not take over the existing account.
    accept_as_new_person(client, raw_token, password="attacker chosen passphrase 1")

    outsider.refresh_from_db()
    assert outsider.check_password(PASSWORD)
    assert not Membership.objects.filter(user=outsider, organisation=personas.a.organisation).exists()
    invitation.refresh_from_db()
    assert invitation.status == "pending"


def test_existing_user_signed_in_as_the_invited_email_joins(client, personas, login):
    outsider = personas.outsider
    invitation, raw_token = invite(personas, email=outsider.user.email.upper(), role="viewer")
    login(outsider)
    url = reverse("accounts:invitation_accept", args=[raw_token])
    assert client.get(url).context["signed_in"] == outsider.user

    response = client.post(url)

    assert response.status_code == 302
    assert response["Location"] == HOME
    membership = Membership.objects.get(user=outsider.user, organisation=personas.a.organisation)
    assert membership.role == "viewer"
    assert [d.name for d in membership.departments.all()] == ["Communications"]
    # They now act in the organisation they joined; their other membership is untouched.
    assert client.get(HOME).wsgi_request.membership == membership
    assert Membership.objects.get(pk=outsider.pk).role == "admin"
    invitation.refresh_from_db()
    assert (invitation.status, invitation.accepted_by) == ("accepted", outsider.user)
    assert AuditEvent.objects.get(event_type=EventType.INVITATION_ACCEPTED).organisation == personas.a.organisation


def test_signed_in_user_with_another_email_cannot_accept(client, personas, login):
    invitation, raw_token = invite(personas, email=NEW_EMAIL, role="admin", departments=())
    outsider = personas.outsider
    login(outsider)

    response = client.post(reverse("accounts:invitation_accept", args=[raw_token]), follow=True)

    assert "another e-mail address" in response.content.decode()
    assert not Membership.objects.filter(user=outsider.user, organisation=personas.a.organisation).exists()
    invitation.refresh_from_db()
    assert invitation.status == "pending"
    assert invitation.accepted_by is None
    assert not AuditEvent.objects.filter(event_type=EventType.INVITATION_ACCEPTED).exists()


def test_signed_in_user_cannot_accept_an_invitation_for_a_new_address_as_themself(client, personas, login):
    # The link was meant for a new person; a signed-in colleague who opens it must not join in their place.
    invitation, raw_token = invite(personas, email="brand.new@elsewhere.example", role="admin", departments=())
    login(personas.outsider)
    client.post(reverse("accounts:invitation_accept", args=[raw_token]))
    assert not User.objects.filter(email="brand.new@elsewhere.example").exists()
    assert Membership.objects.filter(organisation=personas.a.organisation, role="admin").count() == 1

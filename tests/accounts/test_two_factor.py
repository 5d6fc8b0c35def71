"""Two-factor authentication (django-otp TOTP and backup codes): the code step at sign-in, enrolment,
the organisation's enrolment policy, and an admin's reset of a member's authenticator.

Codes are computed from the device's own key. A TOTP device refuses a code at or before its last
used time step, so instead of sleeping, `next_code` moves the device's t0 back one step: to the
device that is the clock moving on by one step.
"""

from __future__ import annotations

import time

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from accounts import services
from accounts.models import TwoFactorPolicy, User, UserSession
from accounts.views.auth import PENDING_AT
from audit.models import AuditEvent, EventType
from tests.conftest import PASSWORD, add_member

LOGIN = reverse("accounts:login")
CODE = reverse("accounts:sign_in_code")
HOME = reverse("home")
ENROL = reverse("accounts:two_factor")
ME_API = "/api/v1/me/"




# -------------------------------------------------------------------------------------------- helpers
def current_code(device: TOTPDevice) -> str:
    device.refresh_from_db()
    token = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token()
    return f"{token:0{device.digits}d}"


def next_code(device: TOTPDevice) -> str:
    """A code the device has not seen yet: its clock moved one step on (t0 one step back)."""
    device.refresh_from_db()
    device.t0 -= device.step
    device.save(update_fields=["t0"])
    return current_code(device)


def wrong_code(device: TOTPDevice) -> str:
    right = int(current_code(device))
    return f"{(right + 500_000) % 1_000_000:06d}"


def enrol(user: User) -> tuple[TOTPDevice, list[str]]:
    """Enrols through the service, as the enrolment page does: start, then confirm with a code."""
    device = services.two_factor_enrol_start(user=user)
    return services.two_factor_enrol_confirm(user=user, code=current_code(device))


def set_policy(org, policy: str) -> None:
    org.organisation.two_factor_policy = policy
    org.organisation.save(update_fields=["two_factor_policy"])


def password_step(the_client: Client, email: str, password: str = PASSWORD):
    return the_client.post(LOGIN, {"email": email, "password": password})


def full_sign_in(the_client: Client, email: str, device: TOTPDevice):
    response = password_step(the_client, email)
    assert response.status_code == 302 and response["Location"].startswith(CODE)
    response = the_client.post(CODE, {"code": next_code(device)})
    assert response.status_code == 302 and response["Location"] == HOME
    return response


def signed_in_user(the_client: Client):
    response = the_client.get(HOME)
    return response.wsgi_request.user if response.status_code == 200 else None


@pytest.fixture
def editor(personas):
    return personas.a.members["editor"]


@pytest.fixture
def editor_device(editor):
    device, _ = enrol(editor.user)
    return device


@pytest.fixture
def other_client():
    return Client()


# ------------------------------------------------------------------------------------ the code step
def test_password_alone_does_not_sign_in_a_user_with_two_factor(client, editor, editor_device):
    response = password_step(client, editor.user.email)

    assert response.status_code == 302
    assert response["Location"].startswith(CODE)
    home = client.get(HOME)
    assert home.status_code == 302
    assert home["Location"].startswith(LOGIN)
    assert "_auth_user_id" not in client.session
    assert not AuditEvent.objects.filter(event_type=EventType.SIGN_IN).exists()


def test_code_step_asks_for_the_code(client, editor, editor_device):
    password_step(client, editor.user.email)
    response = client.get(CODE)
    assert response.status_code == 200
    assert "code" in response.context["form"].fields


def test_right_code_signs_in_with_a_verified_session(client, editor, editor_device):
    password_step(client, editor.user.email)

    response = client.post(CODE, {"code": next_code(editor_device)})

    assert response.status_code == 302
    assert response["Location"] == HOME
    home = client.get(HOME)
    assert home.status_code == 200
    assert home.wsgi_request.user == editor.user
    assert home.wsgi_request.user.is_verified()
    assert client.session[DEVICE_ID_SESSION_KEY] == editor_device.persistent_id
    events = AuditEvent.objects.filter(event_type=EventType.SIGN_IN, actor=editor.user)
    assert [e.organisation for e in events] == [editor.organisation]


def test_session_key_changes_at_the_code_step(client, editor, editor_device):
    session = client.session
    session["planted"] = "x"
    session.save()
    planted = session.session_key
    password_step(client, editor.user.email)
    pending = client.cookies[settings.SESSION_COOKIE_NAME].value
    client.post(CODE, {"code": next_code(editor_device)})
    final = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert len({planted, pending, final}) == 3
    assert UserSession.objects.filter(user=editor.user, session_key=final).exists()


def test_wrong_code_shows_an_error_and_does_not_sign_in(client, editor, editor_device):
    password_step(client, editor.user.email)

    response = client.post(CODE, {"code": wrong_code(editor_device)})

    assert response.status_code == 200
    assert response.context["form"].errors["code"]
    assert "That code is not right" in response.content.decode()
    assert signed_in_user(client) is None
    failure = AuditEvent.objects.get(event_type=EventType.SIGN_IN_FAILED)
    assert failure.organisation == editor.organisation
    assert failure.changes == {"email": editor.user.email, "reason": "bad one-time code"}
    assert not AuditEvent.objects.filter(event_type=EventType.SIGN_IN).exists()


def test_wrong_code_counts_toward_lockout(client, editor, editor_device):
    password_step(client, editor.user.email)
    statuses = [client.post(CODE, {"code": wrong_code(editor_device)}).status_code for _ in range(5)]
    assert statuses[:4] == [200] * 4

    response = client.post(CODE, {"code": next_code(editor_device)})

    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()
    assert signed_in_user(client) is None
    assert AuditEvent.objects.filter(event_type=EventType.LOCKOUT, organisation=editor.organisation).exists()


def test_wrong_passwords_and_wrong_codes_add_up_to_one_lockout(client, editor, editor_device):
    for _ in range(3):
        assert password_step(client, editor.user.email, "not the password at all").status_code == 200
    password_step(client, editor.user.email)
    client.post(CODE, {"code": wrong_code(editor_device)})
    client.post(CODE, {"code": wrong_code(editor_device)})

    # Locked: the right password no longer even reaches the code step.
    response = password_step(Client(), editor.user.email)

    assert response.status_code == 429


def test_right_password_does_not_reset_the_code_failures(client, editor, editor_device):
    # Only a completed sign-in (password and code) clears the count, so an attacker who knows the
    # password cannot keep guessing codes by starting over.
    for _ in range(2):
        password_step(client, editor.user.email)
        client.post(CODE, {"code": wrong_code(editor_device)})
        client.post(CODE, {"code": wrong_code(editor_device)})
    password_step(client, editor.user.email)
    client.post(CODE, {"code": wrong_code(editor_device)})

    assert password_step(client, editor.user.email).status_code == 429


def test_backup_code_works_exactly_once(client, editor):
    _, codes = enrol(editor.user)
    password_step(client, editor.user.email)
    response = client.post(CODE, {"code": codes[0]})
    assert response.status_code == 302 and response["Location"] == HOME
    assert signed_in_user(client) == editor.user
    assert client.get(HOME).wsgi_request.user.is_verified()
    assert StaticToken.objects.filter(device__user=editor.user).count() == len(codes) - 1

    client.post(reverse("accounts:logout"))
    password_step(client, editor.user.email)
    response = client.post(CODE, {"code": codes[0]})

    assert response.status_code == 200
    assert response.context["form"].errors["code"]
    assert signed_in_user(client) is None


def test_code_step_without_a_password_step_goes_back_to_sign_in(client, editor, editor_device):
    response = client.post(CODE, {"code": next_code(editor_device)})
    assert response.status_code == 302
    assert response["Location"] == LOGIN
    assert signed_in_user(client) is None


def test_code_step_expires_five_minutes_after_the_password(client, editor, editor_device):
    password_step(client, editor.user.email)
    session = client.session
    session[PENDING_AT] = int(time.time()) - 301
    session.save()

    response = client.post(CODE, {"code": next_code(editor_device)})

    assert response.status_code == 302
    assert response["Location"] == LOGIN
    assert signed_in_user(client) is None


def test_unconfirmed_device_does_not_ask_for_a_code(client, editor):
    services.two_factor_enrol_start(user=editor.user)
    response = password_step(client, editor.user.email)
    assert response["Location"] == HOME
    assert signed_in_user(client) == editor.user


def test_api_token_is_refused_without_the_one_time_code(editor, editor_device):
    response = APIClient().post("/api/v1/auth/token/", {"email": editor.user.email, "password": PASSWORD}, format="json")
    assert response.status_code == 401
    assert "token" not in response.json()


def test_api_token_is_given_with_password_and_one_time_code(editor, editor_device):
    response = APIClient().post(
        "/api/v1/auth/token/",
        {"email": editor.user.email, "password": PASSWORD, "otp": next_code(editor_device)},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["token"]


# ------------------------------------------------------------------------------- enrolment policy
@pytest.mark.parametrize("role", ["admin", "approver"])
def test_privileged_member_without_device_is_sent_to_enrolment_first(client, personas, login, role):
    set_policy(personas.a, TwoFactorPolicy.PRIVILEGED)
    login(personas.a.members[role])

    for url in [HOME, reverse("accounts:member_list")] if role == "admin" else [HOME]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"] == ENROL
    enrol_page = client.get(ENROL)
    assert enrol_page.status_code == 200
    assert enrol_page.context["required"] is True


def test_privileged_member_without_device_gets_403_json_from_the_api_with_a_session(client, personas, login):
    set_policy(personas.a, TwoFactorPolicy.PRIVILEGED)
    login(personas.a.members["admin"])
    response = client.get(ME_API)
    assert response.status_code == 403
    assert response["Content-Type"].startswith("application/json")
    assert "two-factor" in response.json()["detail"]


def test_agent_in_privileged_organisation_is_not_forced_to_enrol(client, personas, login):
    set_policy(personas.a, TwoFactorPolicy.PRIVILEGED)
    login(personas.a.members["agent"])
    assert client.get(HOME).status_code == 200
    assert client.get(ME_API).status_code == 200


@pytest.mark.parametrize("role", ["viewer", "agent", "admin"])
def test_everyone_policy_sends_every_member_to_enrolment(client, personas, login, role):
    set_policy(personas.a, TwoFactorPolicy.EVERYONE)
    login(personas.a.members[role])
    response = client.get(HOME)
    assert response.status_code == 302
    assert response["Location"] == ENROL


def test_optional_policy_does_not_force_enrolment(client, personas, login):
    assert personas.a.organisation.two_factor_policy == TwoFactorPolicy.OPTIONAL
    login(personas.a.members["admin"])
    assert client.get(HOME).status_code == 200
    page = client.get(ENROL)
    assert page.status_code == 200
    assert page.context["required"] is False


def test_policy_follows_the_organisation_acted_in(client, personas, login):
    # The same person is editor in Bravo (two-factor for everyone) and viewer in Alpha (optional).
    set_policy(personas.b, TwoFactorPolicy.EVERYONE)
    viewer = personas.a.members["viewer"]
    add_member(personas.b, "editor", viewer.user.email, ["Digital Desk"])
    login(viewer)
    assert client.get(HOME).status_code == 200
    client.post(reverse("accounts:switch_organisation"), {"organisation": personas.b.organisation.pk})
    response = client.get(HOME)
    assert response.status_code == 302
    assert response["Location"] == ENROL


def test_enrolling_turns_two_factor_on_and_shows_ten_backup_codes_once(client, personas, login):
    set_policy(personas.a, TwoFactorPolicy.PRIVILEGED)
    admin = personas.a.members["admin"]
    login(admin)
    page = client.get(ENROL)
    device = TOTPDevice.objects.get(user=admin.user, confirmed=False)
    assert page.context["secret"] == services.totp_secret(device)

    response = client.post(ENROL, {"code": current_code(device)})

    assert response.status_code == 200
    codes = response.context["codes"]
    assert len(codes) == 10 == len(set(codes))
    content = response.content.decode()
    assert all(code in content for code in codes)
    device.refresh_from_db()
    assert device.confirmed
    assert sorted(StaticToken.objects.filter(device__user=admin.user).values_list("token", flat=True)) == sorted(codes)
    event = AuditEvent.objects.get(event_type=EventType.TWO_FACTOR_ENROLLED)
    assert (event.organisation, event.actor) == (admin.organisation, admin.user)
    # The session is now verified: the requirement is met at once.
    assert client.get(HOME).status_code == 200
    # Shown once: the page now shows the status, not the codes.
    again = client.get(ENROL)
    assert "codes" not in again.context
    assert not any(code in again.content.decode() for code in codes)


def test_enrolment_with_a_wrong_code_turns_nothing_on(client, personas, login):
    admin = personas.a.members["admin"]
    login(admin)
    client.get(ENROL)
    device = TOTPDevice.objects.get(user=admin.user, confirmed=False)

    response = client.post(ENROL, {"code": wrong_code(device)})

    assert response.status_code == 200
    assert response.context["form"].errors["code"]
    device.refresh_from_db()
    assert not device.confirmed
    assert not StaticDevice.objects.filter(user=admin.user).exists()
    assert not AuditEvent.objects.filter(event_type=EventType.TWO_FACTOR_ENROLLED).exists()


def test_after_enrolment_the_next_sign_in_asks_for_the_code(client, personas, login):
    admin = personas.a.members["admin"]
    login(admin)
    client.get(ENROL)
    device = TOTPDevice.objects.get(user=admin.user, confirmed=False)
    client.post(ENROL, {"code": current_code(device)})
    client.post(reverse("accounts:logout"))

    response = password_step(client, admin.user.email)

    assert response["Location"].startswith(CODE)
    assert signed_in_user(client) is None


def test_session_without_code_of_an_enrolled_user_must_sign_in_again(client, personas, login):
    # Enrolled in another browser since this session began: the enrolment page does not let this
    # unverified session replace the authenticator; it signs out.
    admin = personas.a.members["admin"]
    login(admin)
    enrol(admin.user)
    response = client.get(ENROL)
    assert response.status_code == 302
    assert response["Location"] == LOGIN
    assert signed_in_user(client) is None
    assert TOTPDevice.objects.filter(user=admin.user, confirmed=True).count() == 1


def test_regenerating_backup_codes_cancels_the_old_ones(client, editor):
    device, old_codes = enrol(editor.user)
    full_sign_in(client, editor.user.email, device)
    response = client.post(reverse("accounts:backup_codes"))
    assert response.status_code == 200
    new_codes = response.context["codes"]
    assert len(new_codes) == 10
    tokens = set(StaticToken.objects.filter(device__user=editor.user).values_list("token", flat=True))
    assert tokens == set(new_codes)
    assert not tokens & set(old_codes)
    assert AuditEvent.objects.filter(event_type=EventType.BACKUP_CODES_REGENERATED, actor=editor.user).exists()


# --------------------------------------------------------------------------------- reset by an admin
def test_admin_reset_removes_devices_ends_sessions_and_is_recorded(client, other_client, personas, login):
    approver = personas.a.members["approver"]
    device, _ = enrol(approver.user)
    full_sign_in(other_client, approver.user.email, device)
    assert signed_in_user(other_client) == approver.user
    admin = personas.a.members["admin"]
    login(admin)

    response = client.post(reverse("accounts:member_two_factor_reset", args=[approver.pk]))

    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=approver.user).exists()
    assert not StaticDevice.objects.filter(user=approver.user).exists()
    event = AuditEvent.objects.get(event_type=EventType.TWO_FACTOR_RESET)
    assert (event.organisation, event.actor, event.target_id) == (admin.organisation, admin.user, str(approver.pk))
    assert event.changes["sessions_ended"] >= 1
    # The member's browser is signed out at once.
    home = other_client.get(HOME)
    assert home.status_code == 302
    assert home["Location"].startswith(LOGIN)
    # The admin's own session is untouched.
    assert signed_in_user(client) == admin.user


def test_after_reset_the_member_signs_in_with_password_and_must_enrol_again(client, other_client, personas, login):
    set_policy(personas.a, TwoFactorPolicy.PRIVILEGED)
    approver, admin = personas.a.members["approver"], personas.a.members["admin"]
    enrol(approver.user)
    admin_device, _ = enrol(admin.user)
    full_sign_in(client, admin.user.email, admin_device)
    assert client.post(reverse("accounts:member_two_factor_reset", args=[approver.pk])).status_code == 302

    response = password_step(other_client, approver.user.email)

    assert response["Location"] == HOME
    assert other_client.get(HOME)["Location"] == ENROL


def test_only_admins_reset_two_factor(client, personas, login):
    approver = personas.a.members["approver"]
    enrol(approver.user)
    login(personas.a.members["manager"])
    response = client.post(reverse("accounts:member_two_factor_reset", args=[approver.pk]))
    assert response.status_code == 403
    assert TOTPDevice.objects.filter(user=approver.user, confirmed=True).exists()
    assert not AuditEvent.objects.filter(event_type=EventType.TWO_FACTOR_RESET).exists()


def test_another_organisations_admin_cannot_reset_two_factor(client, personas, login):
    approver = personas.a.members["approver"]
    enrol(approver.user)
    login(personas.outsider)
    response = client.post(reverse("accounts:member_two_factor_reset", args=[approver.pk]))
    assert response.status_code == 404
    assert TOTPDevice.objects.filter(user=approver.user, confirmed=True).exists()


def test_two_factor_reset_is_post_only(client, personas, login):
    approver = personas.a.members["approver"]
    enrol(approver.user)
    login(personas.a.members["admin"])
    response = client.get(reverse("accounts:member_two_factor_reset", args=[approver.pk]))
    assert response.status_code == 405
    assert TOTPDevice.objects.filter(user=approver.user, confirmed=True).exists()


def test_session_without_code_cannot_make_new_backup_codes(client, personas, login):
    # A session from before enrolment (say, someone who had the password) never proved the
    # authenticator: it must not be handed fresh backup codes that would let it pass the code step.
    editor = personas.a.members["editor"]
    login(editor)
    _, codes = enrol(editor.user)

    response = client.post(reverse("accounts:backup_codes"))

    assert response.status_code == 302
    assert "codes" not in (response.context or {})
    assert set(StaticToken.objects.filter(device__user=editor.user).values_list("token", flat=True)) == set(codes)
    assert not AuditEvent.objects.filter(event_type=EventType.BACKUP_CODES_REGENERATED).exists()

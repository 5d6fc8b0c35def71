"""Sign-in by e-mail and password, sign-out, failed sign-ins and the per-account lockout (django-axes)."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts import services
from accounts.models import UserSession
from audit.models import AuditEvent, EventType
from tests.conftest import PASSWORD, add_member

LOGIN = reverse("accounts:login")
HOME = reverse("home")
TOKEN_URL = "/api/v1/auth/token/"
WRONG = "not the right password at all"




def sign_in(the_client: Client, email: str, password: str = PASSWORD, **extra):
    return the_client.post(LOGIN, {"email": email, "password": password, **extra})


def session_cookie(the_client: Client) -> str | None:
    cookie = the_client.cookies.get(settings.SESSION_COOKIE_NAME)
    return cookie.value if cookie is not None and cookie.value else None


def is_signed_in(the_client: Client) -> bool:
    """Signed in means: the home page renders instead of redirecting to the sign-in page."""
    response = the_client.get(HOME)
    if response.status_code == 200:
        return True
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)
    return False


# ------------------------------------------------------------------------------------------- sign-in
def test_right_email_and_password_lands_on_home(client, personas):
    response = sign_in(client, "editor@alpha.example")
    assert response.status_code == 302
    assert response["Location"] == HOME
    home = client.get(HOME)
    assert home.status_code == 200
    assert home.wsgi_request.user == personas.a.user("editor")
    assert home.wsgi_request.membership == personas.a.members["editor"]


def test_sign_in_is_recorded_for_the_users_organisation(client, personas):
    sign_in(client, "editor@alpha.example")
    events = AuditEvent.objects.filter(event_type=EventType.SIGN_IN, actor=personas.a.user("editor"))
    assert [e.organisation for e in events] == [personas.a.organisation]
    assert events[0].actor_label == personas.a.user("editor").label


def test_sign_in_is_recorded_in_every_organisation_of_the_user(client, personas):
    add_member(personas.b, "viewer", "editor@alpha.example", ["Digital Desk"])
    sign_in(client, "editor@alpha.example")
    organisations = set(
        AuditEvent.objects.filter(event_type=EventType.SIGN_IN).values_list("organisation__slug", flat=True)
    )
    assert organisations == {"alpha", "bravo"}


def test_email_is_matched_without_regard_to_case(client, personas):
    response = sign_in(client, "Editor@ALPHA.example")
    assert response.status_code == 302
    assert is_signed_in(client)


def test_session_key_changes_at_sign_in(client, personas):
    # An attacker who planted a session cookie before sign-in must not share the signed-in session.
    session = client.session
    session["planted"] = "by someone else"
    session.save()
    before = session.session_key
    assert session_cookie(client) == before

    sign_in(client, "editor@alpha.example")

    after = session_cookie(client)
    assert after and after != before
    assert UserSession.objects.filter(user=personas.a.user("editor"), session_key=after).exists()
    # The planted key is not a signed-in session.
    planted = Client()
    planted.cookies[settings.SESSION_COOKIE_NAME] = before
    assert not is_signed_in(planted)


def test_safe_next_url_is_followed_after_sign_in(client, personas):
    target = reverse("accounts:two_factor")
    response = sign_in(client, "editor@alpha.example", next=target)
    assert response["Location"] == target


def test_next_url_to_another_site_is_ignored(client, personas):
    response = sign_in(client, "editor@alpha.example", next="https://evil.example/phish")
    assert response["Location"] == HOME


def test_wrong_password_shows_a_form_error_and_records_a_failure(client, personas):
    response = sign_in(client, "editor@alpha.example", WRONG)
    assert response.status_code == 200
    assert "The e-mail address or password is not right." in response.context["form"].non_field_errors()
    assert "The e-mail address or password is not right." in response.content.decode()
    assert not is_signed_in(client)
    failure = AuditEvent.objects.get(event_type=EventType.SIGN_IN_FAILED)
    assert failure.organisation == personas.a.organisation
    assert failure.actor is None
    assert failure.changes["email"] == "editor@alpha.example"
    assert not AuditEvent.objects.filter(event_type=EventType.SIGN_IN).exists()


def test_unknown_email_records_a_failure_with_no_organisation(client, personas):
    response = sign_in(client, "nobody@nowhere.example")
    assert response.status_code == 200
    assert "The e-mail address or password is not right." in response.content.decode()
    failure = AuditEvent.objects.get(event_type=EventType.SIGN_IN_FAILED)
    assert failure.organisation is None
    assert failure.changes["email"] == "nobody@nowhere.example"
    assert failure.actor_label == "unauthenticated: nobody@nowhere.example"


def test_unknown_email_and_wrong_password_look_the_same(client, personas):
    unknown = sign_in(client, "nobody@nowhere.example")
    wrong = sign_in(Client(), "editor@alpha.example", WRONG)
    assert unknown.status_code == wrong.status_code == 200
    assert list(unknown.context["form"].non_field_errors()) == list(wrong.context["form"].non_field_errors())


def test_person_without_active_membership_cannot_sign_in(client, personas):
    services.member_set_active(actor=personas.a.members["admin"], membership=personas.a.members["viewer"], active=False)
    response = sign_in(client, "viewer@alpha.example")
    assert response.status_code == 200
    assert "no active organisation" in response.content.decode()
    assert not is_signed_in(client)


def test_sign_in_page_is_skipped_when_already_signed_in(client, personas, login):
    login(personas.a.members["editor"])
    response = client.get(LOGIN)
    assert response.status_code == 302
    assert response["Location"] == HOME


# ------------------------------------------------------------------------------------------- sign-out
def test_sign_out_by_get_is_refused(client, personas, login):
    login(personas.a.members["editor"])
    response = client.get(reverse("accounts:logout"))
    assert response.status_code == 405
    assert is_signed_in(client)
    assert not AuditEvent.objects.filter(event_type=EventType.SIGN_OUT).exists()


def test_sign_out_ends_the_session_and_is_recorded(client, personas):
    sign_in(client, "editor@alpha.example")
    key = session_cookie(client)
    assert UserSession.objects.filter(session_key=key).exists()

    response = client.post(reverse("accounts:logout"))

    assert response.status_code == 302
    assert response["Location"] == LOGIN
    assert not is_signed_in(client)
    assert not UserSession.objects.filter(session_key=key).exists()
    # The old cookie is worthless even if someone kept it.
    kept = Client()
    kept.cookies[settings.SESSION_COOKIE_NAME] = key
    assert not is_signed_in(kept)
    event = AuditEvent.objects.get(event_type=EventType.SIGN_OUT)
    assert event.actor == personas.a.user("editor")
    assert event.organisation == personas.a.organisation


# -------------------------------------------------------------------------------------------- lockout
def fail_times(the_client: Client, email: str, times: int) -> list[int]:
    return [sign_in(the_client, email, WRONG).status_code for _ in range(times)]


def test_four_failures_do_not_lock_the_account(client, personas):
    assert fail_times(client, "editor@alpha.example", 4) == [200] * 4
    response = sign_in(client, "editor@alpha.example")
    assert response.status_code == 302
    assert is_signed_in(client)


def test_sixth_attempt_after_five_failures_is_locked_out_even_with_the_right_password(client, personas):
    assert settings.AXES_FAILURE_LIMIT == 5
    statuses = fail_times(client, "editor@alpha.example", 5)
    assert statuses[:4] == [200] * 4

    response = sign_in(client, "editor@alpha.example")

    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()
    assert not is_signed_in(client)
    assert not AuditEvent.objects.filter(event_type=EventType.SIGN_IN).exists()


def test_lockout_is_recorded_for_the_users_organisation(client, personas):
    fail_times(client, "editor@alpha.example", 5)
    sign_in(client, "editor@alpha.example")
    lockouts = AuditEvent.objects.filter(event_type=EventType.LOCKOUT)
    assert lockouts.exists()
    assert {e.organisation for e in lockouts} == {personas.a.organisation}
    assert lockouts.first().changes["email"] == "editor@alpha.example"


def test_lockout_is_per_account_not_per_address(client, personas):
    fail_times(client, "editor@alpha.example", 5)
    assert sign_in(client, "editor@alpha.example").status_code == 429
    # A colleague behind the same office address still signs in.
    colleague = Client()
    response = sign_in(colleague, "viewer@alpha.example")
    assert response.status_code == 302
    assert is_signed_in(colleague)


def test_lockout_cannot_be_sidestepped_by_changing_the_case_of_the_email(client, personas):
    for variant in ["editor@alpha.example", "EDITOR@alpha.example", "Editor@Alpha.Example", "eDiToR@alpha.example",
                    "editor@ALPHA.EXAMPLE"]:
        sign_in(client, variant, WRONG)
    response = sign_in(client, "Editor@alpha.example")
    assert response.status_code == 429
    assert not is_signed_in(client)


def test_successful_sign_in_resets_the_failure_count(client, personas):
    fail_times(client, "editor@alpha.example", 4)
    sign_in(client, "editor@alpha.example")
    client.post(reverse("accounts:logout"))
    assert fail_times(client, "editor@alpha.example", 4) == [200] * 4
    assert sign_in(client, "editor@alpha.example").status_code == 302


def test_api_token_endpoint_locks_out_after_five_failures(personas):
    api = APIClient()
    for _ in range(4):
        response = api.post(TOKEN_URL, {"email": "editor@alpha.example", "password": WRONG}, format="json")
        assert response.status_code == 401
    api.post(TOKEN_URL, {"email": "editor@alpha.example", "password": WRONG}, format="json")

    response = api.post(TOKEN_URL, {"email": "editor@alpha.example", "password": PASSWORD}, format="json")

    assert response.status_code == 429
    assert response["Content-Type"].startswith("application/json")
    assert "detail" in response.json()
    assert "token" not in response.json()
    assert AuditEvent.objects.filter(event_type=EventType.LOCKOUT, organisation=personas.a.organisation).exists()


def test_api_lockout_cannot_be_sidestepped_by_changing_the_case_of_the_email(personas):
    api = APIClient()
    for variant in ["editor@alpha.example", "EDITOR@alpha.example", "Editor@Alpha.Example", "eDiToR@alpha.example",
                    "editor@ALPHA.EXAMPLE"]:
        api.post(TOKEN_URL, {"email": variant, "password": WRONG}, format="json")
    response = api.post(TOKEN_URL, {"email": "Editor@alpha.example", "password": PASSWORD}, format="json")
    assert response.status_code == 429


def test_api_and_html_failures_count_toward_the_same_lockout(client, personas):
    api = APIClient()
    for _ in range(3):
        api.post(TOKEN_URL, {"email": "editor@alpha.example", "password": WRONG}, format="json")
    fail_times(client, "editor@alpha.example", 2)
    assert AccessAttempt.objects.filter(username="editor@alpha.example").exists()
    assert sign_in(client, "editor@alpha.example").status_code == 429


def test_api_token_endpoint_gives_a_token_for_the_right_password(personas):
    response = APIClient().post(
        TOKEN_URL, {"email": "editor@alpha.example", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["organisation"] == "alpha"
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert api.get("/api/v1/me/").status_code == 200


@pytest.mark.parametrize("password", ["short", "x" * 40])
def test_failed_sign_in_never_stores_the_password_in_the_audit_trail(client, personas, password):
    sign_in(client, "editor@alpha.example", password)
    event = AuditEvent.objects.get(event_type=EventType.SIGN_IN_FAILED)
    assert password not in str(event.changes)
    assert password not in event.actor_label

"""Sessions: the organisation's idle timeout, and deactivation ending a member's sessions and API tokens at once.

The clock is faked through the session itself: "last_seen" is moved into the past in the session store.
"""

from __future__ import annotations

import time
from importlib import import_module

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts import services
from accounts.middleware import SESSION_LAST_SEEN, SESSION_SIGNED_IN_AT
from accounts.models import ApiToken, UserSession
from audit.models import AuditEvent, EventType
from tests.conftest import PASSWORD, add_member

LOGIN = reverse("accounts:login")
HOME = reverse("home")
ME_API = "/api/v1/me/"


def idle_for(the_client: Client, seconds: int) -> None:
    session = the_client.session
    session[SESSION_LAST_SEEN] = int(time.time()) - seconds
    session.save()


def session_exists(key: str) -> bool:
    return import_module(settings.SESSION_ENGINE).SessionStore().exists(key)


def sign_in(the_client: Client, email: str):
    response = the_client.post(LOGIN, {"email": email, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == HOME
    return the_client.cookies[settings.SESSION_COOKIE_NAME].value


@pytest.fixture
def other_client():
    return Client()


# ------------------------------------------------------------------------------------- idle timeout
def test_each_request_records_when_the_session_was_last_seen(client, personas, login):
    login(personas.a.members["editor"])
    idle_for(client, 5 * 60)
    before = int(time.time())
    client.get(HOME)
    assert client.session[SESSION_LAST_SEEN] >= before


def test_last_seen_is_written_at_most_once_a_minute(client, personas, login):
    """A page within a minute of the last recorded activity does not save the session again (three queries
    saved on every page and API call); past a minute it does."""
    login(personas.a.members["editor"])
    idle_for(client, 30)
    recorded = client.session[SESSION_LAST_SEEN]
    client.get(HOME)
    assert client.session[SESSION_LAST_SEEN] == recorded
    idle_for(client, 61)
    client.get(HOME)
    assert client.session[SESSION_LAST_SEEN] >= int(time.time()) - 1


def test_background_requests_do_not_count_as_activity(client, personas, login):
    # The inbox's live list and presence heartbeat poll every few seconds: an unattended tab must still time out.
    login(personas.a.members["editor"])
    idle_for(client, 29 * 60)
    assert client.get("/inbox/updates/", headers={"X-Background": "poll"}).status_code in (200, 204, 400)
    idle_for_seconds = int(time.time()) - client.session[SESSION_LAST_SEEN]
    assert idle_for_seconds >= 29 * 60
    idle_for(client, 31 * 60)
    response = client.get("/inbox/updates/", headers={"X-Background": "poll"})
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)


def test_activity_within_the_idle_timeout_keeps_the_session(client, personas, login):
    login(personas.a.members["editor"])
    idle_for(client, 29 * 60)
    assert client.get(HOME).status_code == 200
    assert not AuditEvent.objects.filter(event_type=EventType.SESSION_EXPIRED).exists()


def test_idle_session_is_signed_out_and_sent_to_sign_in(client, personas):
    editor = personas.a.members["editor"]
    key = sign_in(client, editor.user.email)
    idle_for(client, personas.a.organisation.idle_timeout_minutes * 60 + 60)

    response = client.get(HOME)

    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)
    assert not session_exists(key)
    assert not UserSession.objects.filter(session_key=key).exists()
    # Still signed out on the next request: nothing was kept.
    assert client.get(HOME)["Location"].startswith(LOGIN)


def test_idle_sign_out_is_recorded(client, personas, login):
    editor = personas.a.members["editor"]
    login(editor)
    idle_for(client, 31 * 60)

    client.get(HOME)

    event = AuditEvent.objects.get(event_type=EventType.SESSION_EXPIRED)
    assert (event.organisation, event.actor) == (editor.organisation, editor.user)
    assert event.changes == {"reason": "idle", "idle_timeout_minutes": 30}


def test_idle_expiry_is_not_recorded_as_a_sign_out(client, personas):
    # The person did nothing: the trail says the session expired, not that they signed out.
    editor = personas.a.members["editor"]
    sign_in(client, editor.user.email)
    idle_for(client, 31 * 60)

    client.get(HOME)

    assert AuditEvent.objects.filter(event_type=EventType.SESSION_EXPIRED).count() == 1
    assert not AuditEvent.objects.filter(event_type=EventType.SIGN_OUT).exists()


def test_idle_sign_out_tells_the_person_why(client, personas, login):
    login(personas.a.members["editor"])
    idle_for(client, 31 * 60)

    response = client.get(HOME, follow=True)

    assert response.redirect_chain[-1][0].startswith(LOGIN)
    assert "signed out after a period of inactivity" in response.content.decode()


def test_idle_timeout_is_the_organisations_own(client, other_client, personas, login):
    # Alpha signs out after 5 idle minutes; Bravo keeps its default of 30.
    personas.a.organisation.idle_timeout_minutes = 5
    personas.a.organisation.save(update_fields=["idle_timeout_minutes"])
    login(personas.a.members["editor"], client)
    login(personas.outsider, other_client)
    idle_for(client, 6 * 60)
    idle_for(other_client, 6 * 60)

    assert client.get(HOME)["Location"].startswith(LOGIN)
    assert other_client.get(HOME).status_code == 200
    assert AuditEvent.objects.filter(event_type=EventType.SESSION_EXPIRED).count() == 1


def test_idle_session_gets_401_json_from_the_api(client, personas, login):
    login(personas.a.members["editor"])
    assert client.get(ME_API).status_code == 200
    idle_for(client, 31 * 60)

    response = client.get(ME_API)

    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/json")
    assert client.get(HOME)["Location"].startswith(LOGIN)


# ---------------------------------------------------------------------------------- absolute lifetime
def signed_in_ago(the_client: Client, seconds: int) -> None:
    session = the_client.session
    session[SESSION_SIGNED_IN_AT] = int(time.time()) - seconds
    session[SESSION_LAST_SEEN] = int(time.time())
    session.save()


def test_sign_in_records_when_the_session_began(client, personas):
    before = int(time.time())
    sign_in(client, personas.a.members["editor"].user.email)
    assert before <= client.session[SESSION_SIGNED_IN_AT] <= int(time.time())


def test_activity_does_not_move_the_sign_in_time(client, personas):
    sign_in(client, personas.a.members["editor"].user.email)
    signed_in_ago(client, 3600)
    started = client.session[SESSION_SIGNED_IN_AT]

    assert client.get(HOME).status_code == 200

    assert client.session[SESSION_SIGNED_IN_AT] == started


def test_session_older_than_its_lifetime_ends_however_active_it_is(client, personas, settings):
    editor = personas.a.members["editor"]
    key = sign_in(client, editor.user.email)
    # Seen a moment ago, but signed in longer ago than SESSION_COOKIE_AGE.
    signed_in_ago(client, settings.SESSION_COOKIE_AGE + 60)

    response = client.get(HOME, follow=True)

    assert response.redirect_chain[0][0].startswith(LOGIN)
    assert "maximum length" in response.content.decode()
    assert not session_exists(key)
    assert not UserSession.objects.filter(session_key=key).exists()
    event = AuditEvent.objects.get(event_type=EventType.SESSION_EXPIRED)
    assert (event.organisation, event.actor) == (editor.organisation, editor.user)
    assert event.changes == {"reason": "lifetime", "session_lifetime_seconds": settings.SESSION_COOKIE_AGE}
    assert not AuditEvent.objects.filter(event_type=EventType.SIGN_OUT).exists()
    assert client.get(HOME)["Location"].startswith(LOGIN)


def test_session_within_its_lifetime_goes_on(client, personas, settings):
    sign_in(client, personas.a.members["editor"].user.email)
    signed_in_ago(client, settings.SESSION_COOKIE_AGE - 60)
    assert client.get(HOME).status_code == 200
    assert not AuditEvent.objects.filter(event_type=EventType.SESSION_EXPIRED).exists()


def test_the_lifetime_is_the_session_cookie_age_setting(client, personas, settings):
    settings.SESSION_COOKIE_AGE = 600
    sign_in(client, personas.a.members["editor"].user.email)
    signed_in_ago(client, 601)
    assert client.get(ME_API).status_code == 401


def test_session_without_a_sign_in_time_ends(client, personas):
    # Its age is unknown (it began before the rule), so it is not trusted to be young.
    sign_in(client, personas.a.members["editor"].user.email)
    session = client.session
    del session[SESSION_SIGNED_IN_AT]
    session.save()

    assert client.get(HOME)["Location"].startswith(LOGIN)
    assert AuditEvent.objects.get(event_type=EventType.SESSION_EXPIRED).changes["reason"] == "lifetime"


# -------------------------------------------------------------------------------------- deactivation
def test_deactivation_ends_the_members_sessions_at_once(client, personas):
    viewer = personas.a.members["viewer"]
    key = sign_in(client, viewer.user.email)
    assert client.get(HOME).status_code == 200

    services.member_set_active(actor=personas.a.members["admin"], membership=viewer, active=False)

    assert not session_exists(key)
    assert not UserSession.objects.filter(user=viewer.user).exists()
    response = client.get(HOME)
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)
    event = AuditEvent.objects.get(event_type=EventType.MEMBER_DEACTIVATED)
    assert event.changes["sessions_ended"] == 1


def test_deactivation_ends_every_browser_of_the_member(client, other_client, personas):
    viewer = personas.a.members["viewer"]
    keys = [sign_in(client, viewer.user.email), sign_in(other_client, viewer.user.email)]

    services.member_set_active(actor=personas.a.members["admin"], membership=viewer, active=False)

    assert not any(session_exists(key) for key in keys)
    assert client.get(HOME).status_code == 302
    assert other_client.get(HOME).status_code == 302


def test_deactivation_stops_the_members_api_tokens(personas, api_for):
    viewer = personas.a.members["viewer"]
    api = api_for(viewer)
    assert api.get(ME_API).status_code == 200

    services.member_set_active(actor=personas.a.members["admin"], membership=viewer, active=False)

    assert api.get(ME_API).status_code == 401
    assert not ApiToken.objects.filter(user=viewer.user, organisation=viewer.organisation).exists()


def test_deactivating_through_the_members_page_ends_sessions_and_tokens(client, other_client, personas, login, api_for):
    viewer = personas.a.members["viewer"]
    sign_in(other_client, viewer.user.email)
    api = api_for(viewer)
    login(personas.a.members["admin"], client)

    response = client.post(reverse("accounts:member_set_active", args=[viewer.pk]), {"active": "0"})

    assert response.status_code == 302
    viewer.refresh_from_db()
    assert not viewer.is_active
    assert other_client.get(HOME)["Location"].startswith(LOGIN)
    assert api.get(ME_API).status_code == 401
    # The admin who acted is still signed in.
    assert client.get(HOME).status_code == 200


def test_deactivated_in_one_organisation_the_session_moves_to_the_other(client, personas, api_for):
    viewer = personas.a.members["viewer"]
    bravo = add_member(personas.b, "editor", viewer.user.email, ["Digital Desk"])
    key = sign_in(client, viewer.user.email)
    assert client.get(HOME).wsgi_request.membership == viewer
    alpha_api, bravo_api = api_for(viewer), api_for(bravo)

    services.member_set_active(actor=personas.a.members["admin"], membership=viewer, active=False)

    # Alpha cannot end the person's work for Bravo: the session lives on, acting in Bravo, and says why.
    assert session_exists(key)
    response = client.get(HOME, follow=True)
    assert response.redirect_chain == []
    assert response.wsgi_request.membership == bravo
    assert client.session["organisation_id"] == bravo.organisation_id
    assert "You are now working in Bravo Police" in response.content.decode()
    # Only Alpha's API tokens end.
    assert alpha_api.get(ME_API).status_code == 401
    assert bravo_api.get(ME_API).status_code == 200
    event = AuditEvent.objects.get(event_type=EventType.MEMBER_DEACTIVATED)
    assert event.changes["sessions_ended"] == 0


def test_deactivated_in_one_organisation_nothing_of_it_is_visible_any_more(client, personas, api_for):
    viewer = personas.a.members["viewer"]
    add_member(personas.b, "editor", viewer.user.email, ["Digital Desk"])
    sign_in(client, viewer.user.email)

    services.member_set_active(actor=personas.a.members["admin"], membership=viewer, active=False)

    # Switching back to Alpha is refused, and Alpha's objects are 404 through the session's API.
    response = client.post(
        reverse("accounts:switch_organisation"), {"organisation": str(personas.a.organisation.pk)}, follow=True
    )
    assert response.wsgi_request.membership.organisation == personas.b.organisation
    department = personas.a.departments["Communications"]
    assert client.get(f"/api/v1/departments/{department.pk}/").status_code == 404


def test_deactivated_member_cannot_sign_in_or_get_a_token(client, personas):
    viewer = personas.a.members["viewer"]
    services.member_set_active(actor=personas.a.members["admin"], membership=viewer, active=False)
    response = client.post(LOGIN, {"email": viewer.user.email, "password": PASSWORD})
    assert response.status_code == 200
    assert client.get(HOME)["Location"].startswith(LOGIN)
    token = APIClient().post("/api/v1/auth/token/", {"email": viewer.user.email, "password": PASSWORD}, format="json")
    assert token.status_code == 403


def test_untracked_session_of_a_member_deactivated_everywhere_ends_on_its_next_request(client, personas, login):
    # A session the deactivation could not find (no UserSession record) still ends, with a message.
    viewer = personas.a.members["viewer"]
    login(viewer)
    UserSession.objects.filter(user=viewer.user).delete()
    services.member_set_active(actor=personas.a.members["admin"], membership=viewer, active=False)

    response = client.get(HOME, follow=True)

    assert response.redirect_chain[0][0].startswith(LOGIN)
    assert "no active organisation" in response.content.decode()
    assert client.get(HOME)["Location"].startswith(LOGIN)

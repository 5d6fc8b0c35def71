"""Puts the acting organisation on every request and enforces the session policy.

request.membership is the member's Membership in the organisation they are acting in (chosen with the
organisation switcher and kept in the session), or None. Every scoped read starts from it.
request.other_memberships is (that membership's id, their other active memberships), read in the same query,
for the layout's organisation switcher (accounts.context_processors).

Sessions end after the organisation's idle timeout and, whatever the activity, SESSION_COOKIE_AGE
seconds after sign-in: saving last_seen on each request would otherwise slide the cookie's expiry forever.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.models import AnonymousUser
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse

from accounts import services
from accounts.models import Membership

SESSION_ORGANISATION = "organisation_id"
SESSION_LAST_SEEN = "last_seen"
# Set at sign-in (accounts.signals); the absolute lifetime counts from it.
SESSION_SIGNED_IN_AT = "signed_in_at"
# Seconds between two writes of last_seen (see OrganisationMiddleware): idle timeouts are whole minutes.
LAST_SEEN_EVERY = 60

# Paths that work without an organisation or a completed two-factor enrolment.
_OPEN_PREFIXES = ("/accounts/", "/invite/", "/static/", "/healthz", "/api/schema/", "/api/docs/", "/api/v1/auth/")


def active_memberships(user, organisation_id) -> tuple[Membership | None, list[Membership]]:
    """The membership to act in (the chosen organisation's, else the first by organisation name) and the user's
    other active memberships (the layout's organisation switcher), in one query: a person belongs to a few
    organisations, and reading them all costs no more than reading one, where a second query for the switcher
    ran on every page."""
    memberships = list(
        Membership.objects.active().filter(user=user).select_related("organisation").order_by("organisation__name", "id")
    )
    chosen = next((m for m in memberships if m.organisation_id == organisation_id), None) if organisation_id else None
    chosen = chosen or (memberships[0] if memberships else None)
    return chosen, [m for m in memberships if m is not chosen]


def active_membership(user, organisation_id) -> Membership | None:
    return active_memberships(user, organisation_id)[0]


class OrganisationMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.membership = None
        user = request.user
        if not user.is_authenticated:
            return self.get_response(request)

        wanted = request.session.get(SESSION_ORGANISATION)
        membership, others = active_memberships(user, wanted)
        if membership is None:
            # Deactivated everywhere: the session is worthless, end it.
            logout(request)
            return self._refuse(request, "Your account has no active organisation. Ask an admin to invite you.")
        request.membership = membership
        # Whose other memberships these are: a view that changes request.membership makes them stale.
        request.other_memberships = (membership.pk, others)
        if wanted != membership.organisation_id:
            if wanted is not None and not request.path.startswith("/api/"):
                # Their membership there ended (deactivated) while this session went on elsewhere.
                messages.warning(
                    request,
                    "You no longer have access to the organisation you were working in. "
                    f"You are now working in {membership.organisation.name}.",
                )
            request.session[SESSION_ORGANISATION] = membership.organisation_id

        now = int(time.time())
        signed_in_at = request.session.get(SESSION_SIGNED_IN_AT)
        # A session without a sign-in time (older than this rule) has an unknown age: it ends too.
        if signed_in_at is None or now - int(signed_in_at) > settings.SESSION_COOKIE_AGE:
            return self._expire(
                request,
                membership,
                services.SessionEndReason.LIFETIME,
                "Your session reached its maximum length. Please sign in again.",
            )
        last_seen = request.session.get(SESSION_LAST_SEEN)
        if last_seen is not None and now - int(last_seen) > membership.organisation.idle_timeout_minutes * 60:
            return self._expire(
                request,
                membership,
                services.SessionEndReason.IDLE,
                "You were signed out after a period of inactivity. Please sign in again.",
            )
        # Background requests (the inbox's live list and presence heartbeat send X-Background) do not count as
        # activity: an unattended open tab must still reach the idle timeout, and not write the session each time.
        # Recorded at most once a minute (LAST_SEEN_EVERY): writing it on every request saved the session, three
        # queries, on every page and API call. So the idle timeout may end a session up to a minute early, never late.
        if not request.headers.get("X-Background") and (last_seen is None or now - int(last_seen) >= LAST_SEEN_EVERY):
            request.session[SESSION_LAST_SEEN] = now

        if membership.requires_two_factor() and not user.is_verified() and not request.path.startswith(_OPEN_PREFIXES):
            if request.path.startswith("/api/"):
                return JsonResponse(
                    {"detail": "Your organisation requires two-factor authentication. Enrol first."}, status=403
                )
            return redirect("accounts:two_factor")
        return self.get_response(request)

    @classmethod
    def _expire(cls, request, membership: Membership, reason: str, message: str):
        """Ends the session without django's logout(): the person did not sign out, so only
        auth.session_expired is recorded (logout() would send user_logged_out, an auth.sign_out)."""
        services.session_expire(session_key=request.session.session_key, membership=membership, reason=reason)
        request.session.flush()
        request.user = AnonymousUser()
        request.membership = None
        return cls._refuse(request, message)

    @staticmethod
    def _refuse(request, message: str):
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": message}, status=401)
        messages.warning(request, message)
        return redirect(f"{reverse('accounts:login')}?next={request.path}")

"""Puts the acting organisation on every request and enforces the organisation's session policy.

request.membership is the member's Membership in the organisation they are acting in (chosen with the
organisation switcher and kept in the session), or None. Every scoped read starts from it.
"""

from __future__ import annotations

import time

from django.contrib import messages
from django.contrib.auth import logout
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse

from accounts import services
from accounts.models import Membership

SESSION_ORGANISATION = "organisation_id"
SESSION_LAST_SEEN = "last_seen"

# Paths that work without an organisation or a completed two-factor enrolment.
_OPEN_PREFIXES = ("/accounts/", "/invite/", "/static/", "/healthz", "/api/schema/", "/api/docs/", "/api/v1/auth/")


def active_membership(user, organisation_id) -> Membership | None:
    memberships = Membership.objects.active().filter(user=user).select_related("organisation")
    chosen = memberships.filter(organisation_id=organisation_id).first() if organisation_id else None
    return chosen or memberships.order_by("organisation__name", "id").first()


class OrganisationMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.membership = None
        user = request.user
        if not user.is_authenticated:
            return self.get_response(request)

        membership = active_membership(user, request.session.get(SESSION_ORGANISATION))
        if membership is None:
            # Deactivated everywhere: the session is worthless, end it.
            logout(request)
            return self._refuse(request, "Your account has no active organisation. Ask an admin to invite you.")
        request.membership = membership
        if request.session.get(SESSION_ORGANISATION) != membership.organisation_id:
            request.session[SESSION_ORGANISATION] = membership.organisation_id

        now = int(time.time())
        last_seen = request.session.get(SESSION_LAST_SEEN)
        if last_seen is not None and now - int(last_seen) > membership.organisation.idle_timeout_minutes * 60:
            services.session_expire(request=request, membership=membership)
            logout(request)
            request.membership = None
            return self._refuse(request, "You were signed out after a period of inactivity. Please sign in again.")
        request.session[SESSION_LAST_SEEN] = now

        if membership.requires_two_factor() and not user.is_verified() and not request.path.startswith(_OPEN_PREFIXES):
            if request.path.startswith("/api/"):
                return JsonResponse(
                    {"detail": "Your organisation requires two-factor authentication. Enrol first."}, status=403
                )
            return redirect("accounts:two_factor")
        return self.get_response(request)

    @staticmethod
    def _refuse(request, message: str):
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": message}, status=401)
        messages.warning(request, message)
        return redirect(f"{reverse('accounts:login')}?next={request.path}")

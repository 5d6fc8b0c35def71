"""Sign-in events from Django and django-axes, recorded through accounts.services."""

from __future__ import annotations

import time

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from accounts import services
from accounts.middleware import SESSION_SIGNED_IN_AT


@receiver(user_logged_in, dispatch_uid="accounts.sign_in")
def _signed_in(sender, request, user, **kwargs):
    session = getattr(request, "session", None)
    if session is not None:
        # The session's absolute lifetime (SESSION_COOKIE_AGE) counts from here; see accounts.middleware.
        session[SESSION_SIGNED_IN_AT] = int(time.time())
    services.sign_in_recorded(user=user, session_key=getattr(getattr(request, "session", None), "session_key", None))


@receiver(user_login_failed, dispatch_uid="accounts.sign_in_failed")
def _sign_in_failed(sender, credentials, request=None, **kwargs):
    reason = "locked out" if getattr(request, "axes_locked_out", False) else credentials.get("reason", "bad credentials")
    services.sign_in_failed_recorded(email=credentials.get("username", ""), reason=reason)


@receiver(user_logged_out, dispatch_uid="accounts.sign_out")
def _signed_out(sender, request, user, **kwargs):
    if user is not None:
        services.sign_out_recorded(user=user, session_key=getattr(getattr(request, "session", None), "session_key", None))


@receiver(user_locked_out, dispatch_uid="accounts.lockout")
def _locked_out(sender, request, username, ip_address, **kwargs):
    services.lockout_recorded(email=username or "")

"""Sign-in (password, then one-time code), sign-out, two-factor enrolment, invitations, passwords."""

from __future__ import annotations

import re
import time

import segno
from axes.handlers.proxy import AxesProxyHandler
from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.signals import user_login_failed
from django.contrib.auth.views import INTERNAL_RESET_SESSION_TOKEN
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login
from django_otp import match_token

from accounts import forms, services
from accounts.middleware import SESSION_ORGANISATION
from accounts.models import Membership, User
from smm.scoping import member_required

PENDING_USER = "pending_2fa_user"
PENDING_BACKEND = "pending_2fa_backend"
PENDING_AT = "pending_2fa_at"
PENDING_TTL_SECONDS = 300


def _next_url(request: HttpRequest) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(candidate, {request.get_host()}, request.is_secure()):
        return candidate
    return reverse("home")


def lockout_response(request, original_response=None, credentials=None):
    message = "Too many failed sign-ins for this account. Wait 15 minutes, or ask an admin, then try again."
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message}, status=429)
    return render(request, "accounts/locked_out.html", {"message": message}, status=429)


def lockout_username(request, credentials=None) -> str | None:
    """The account django-axes counts failed sign-ins against (AXES_USERNAME_CALLABLE): the e-mail address,
    in lower case, so "Bob@x" and "bob@x" are one account and guesses cannot be spread across spellings.

    Our sign-ins pass it as `username` (authenticate(username=...), the one-time-code step, the API);
    without this callable django-axes reads credentials["email"] (USERNAME_FIELD), finds nothing and
    never locks out.
    """
    credentials = credentials or {}
    value = credentials.get("username") or credentials.get("email")
    if value is None and request is not None:
        data = getattr(request, "data", None) or getattr(request, "POST", {})
        value = data.get("email") or data.get("username")
    if not value:
        return None
    return str(value).strip().lower() or None


@never_cache
@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated and getattr(request, "membership", None):
        return redirect(_next_url(request))
    form = forms.SignInForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        email, password = form.cleaned_data["email"], form.cleaned_data["password"]
        user = authenticate(request, username=email, password=password)
        if getattr(request, "axes_locked_out", False):
            return lockout_response(request)
        if user is None:
            form.add_error(None, "The e-mail address or password is not right.")
        elif not Membership.objects.active().filter(user=user).exists():
            form.add_error(None, "Your account has no active organisation. Ask an admin to invite you.")
        elif services.confirmed_totp(user) is not None:
            request.session.cycle_key()
            request.session[PENDING_USER] = user.pk
            request.session[PENDING_BACKEND] = user.backend
            request.session[PENDING_AT] = int(time.time())
            return redirect(f"{reverse('accounts:sign_in_code')}?next={_next_url(request)}")
        else:
            with transaction.atomic():
                login(request, user)
            return redirect(_next_url(request))
    return render(request, "accounts/sign_in.html", {"form": form, "next": _next_url(request)})


@never_cache
@sensitive_post_parameters("code")
@require_http_methods(["GET", "POST"])
def sign_in_code(request: HttpRequest) -> HttpResponse:
    """The second step: a code from the authenticator app or a backup code. Nothing is signed in before it."""
    user_id = request.session.get(PENDING_USER)
    started = request.session.get(PENDING_AT, 0)
    user = User.objects.filter(pk=user_id, is_active=True).first() if user_id else None
    if user is None or time.time() - started > PENDING_TTL_SECONDS:
        messages.info(request, "Please sign in again.")
        return redirect("accounts:login")
    form = forms.OneTimeCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        credentials = {"username": user.email}
        if AxesProxyHandler.is_locked(request, credentials):
            return lockout_response(request)
        device = match_token(user, form.cleaned_data["code"].replace(" ", ""))
        if device is None:
            # Counted by django-axes like a wrong password, so codes cannot be guessed without limit.
            user_login_failed.send(
                sender=__name__, credentials={**credentials, "reason": "bad one-time code"}, request=request
            )
            if AxesProxyHandler.is_locked(request, credentials):
                return lockout_response(request)
            form.add_error("code", "That code is not right. Enter the code your app shows now, or a backup code.")
        else:
            backend = request.session.get(PENDING_BACKEND)
            with transaction.atomic():
                login(request, user, backend=backend)
                otp_login(request, device)
            return redirect(_next_url(request))
    return render(request, "accounts/sign_in_code.html", {"form": form, "next": _next_url(request)})


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    with transaction.atomic():
        logout(request)
    messages.info(request, "You have signed out.")
    return redirect("accounts:login")


@never_cache
@member_required()
@require_http_methods(["GET", "POST"])
def two_factor(request: HttpRequest) -> HttpResponse:
    """Enrol an authenticator app (shown first to anyone whose organisation requires it)."""
    user = request.user
    confirmed = services.confirmed_totp(user)
    if confirmed is not None and user.is_verified():
        return render(request, "accounts/two_factor_status.html", {"device": confirmed})
    if confirmed is not None:
        # Enrolled elsewhere since this session began: prove it here before going on.
        logout(request)
        messages.info(request, "Sign in again with your authenticator app.")
        return redirect("accounts:login")
    device = services.two_factor_enrol_start(user=user)
    form = forms.EnrolForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device, codes = services.two_factor_enrol_confirm(user=user, code=form.cleaned_data["code"])
        except ValidationError as exc:
            form.add_error("code", exc.message_dict.get("code", exc.messages))
        else:
            otp_login(request, device)
            return render(request, "accounts/backup_codes.html", {"codes": codes, "enrolled": True})
    qr = segno.make(device.config_url, error="m")
    return render(
        request,
        "accounts/two_factor_enrol.html",
        {
            "form": form,
            "secret": services.totp_secret(device),
            "qr_svg": qr.svg_inline(scale=4, dark="#0b0c0c", light="#ffffff", omitsize=False),
            "required": request.membership.requires_two_factor(),
        },
    )


@never_cache
@member_required()
@require_POST
def backup_codes_regenerate(request: HttpRequest) -> HttpResponse:
    if services.confirmed_totp(request.user) is not None and not request.user.is_verified():
        # A session that has not passed the code step must not get codes that would pass it.
        return redirect("accounts:two_factor")
    try:
        codes = services.backup_codes_regenerate(user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("accounts:two_factor")
    return render(request, "accounts/backup_codes.html", {"codes": codes, "enrolled": False})


@member_required()
@require_POST
def switch_organisation(request: HttpRequest) -> HttpResponse:
    organisation_id = request.POST.get("organisation", "")
    # ASCII digits only: str.isdigit() accepts "²", which int() then refuses.
    membership = (
        Membership.objects.active()
        .filter(user=request.user, organisation_id=int(organisation_id))
        .select_related("organisation")
        .first()
        if re.fullmatch(r"[0-9]{1,18}", organisation_id)
        else None
    )
    if membership is None:
        messages.error(request, "Choose one of your organisations.")
        return redirect("home")
    request.session[SESSION_ORGANISATION] = membership.organisation_id
    messages.success(request, f"You are now working in {membership.organisation.name}.")
    return redirect("home")


@never_cache
@sensitive_post_parameters("password1", "password2")
@require_http_methods(["GET", "POST"])
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    invitation = services.invitation_for_token(token)
    if invitation is None:
        return render(request, "accounts/invitation_invalid.html", status=410)
    signed_in = request.user if request.user.is_authenticated else None
    existing = User.objects.filter(email__iexact=invitation.email).exists()
    form = forms.AcceptInvitationForm(request.POST or None) if signed_in is None and not existing else None
    if request.method == "POST":
        try:
            if signed_in is not None:
                membership = services.invitation_accept(raw_token=token, user=signed_in)
                request.session[SESSION_ORGANISATION] = membership.organisation_id
                messages.success(request, f"You have joined {invitation.organisation.name}.")
                return redirect("home")
            if form is not None and form.is_valid():
                services.invitation_accept(
                    raw_token=token, full_name=form.cleaned_data["full_name"], password=form.cleaned_data["password1"]
                )
                messages.success(request, "Your account is ready. Sign in with your e-mail address and new password.")
                return redirect("accounts:login")
        except ValidationError as exc:
            if form is not None and hasattr(exc, "error_dict"):
                for field, errors in exc.message_dict.items():
                    form.add_error("password1" if field == "password" else field, errors)
            else:
                messages.error(request, " ".join(exc.messages))
                return redirect(request.path)
    return render(
        request,
        "accounts/invitation_accept.html",
        {"invitation": invitation, "form": form, "signed_in": signed_in, "existing": existing},
    )


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "accounts/password_reset.html"
    email_template_name = "accounts/email/password_reset.txt"
    subject_template_name = "accounts/email/password_reset_subject.txt"
    form_class = forms.StyledPasswordResetForm
    success_url = reverse_lazy("accounts:password_reset_done")

    def form_valid(self, form):
        services.password_reset_requested_recorded(email=form.cleaned_data["email"])
        return super().form_valid(form)


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Sets a new password; never signs the person in, so two-factor is still asked at sign-in."""

    template_name = "accounts/password_reset_confirm.html"
    form_class = forms.StyledSetPasswordForm
    success_url = reverse_lazy("accounts:password_reset_complete")
    post_reset_login = False

    def form_valid(self, form):
        # Not super().form_valid(): SetPasswordForm.save() would write the password outside the
        # service's transaction. The password, ended sessions and tokens, and the audit event are one write.
        try:
            services.password_set(user=form.user, password=form.cleaned_data["new_password1"], via="reset link")
        except ValidationError as exc:
            form.add_error("new_password1", exc.messages)
            return self.form_invalid(form)
        del self.request.session[INTERNAL_RESET_SESSION_TOKEN]
        return HttpResponseRedirect(self.get_success_url())

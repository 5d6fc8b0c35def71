"""Connect flows: X (OAuth 2.0 + PKCE), Facebook/Instagram (Facebook Login → Pages), Mastodon (per-instance
app + OAuth), Bluesky (app password). `state` and the PKCE verifier live in the person's session and
the callback refuses a mismatch. The flows end in channels_app.services.channel_connect.
"""

from __future__ import annotations

import secrets
import time
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods

from accounts.models import Department
from accounts.roles import Capability
from channels_app import services
from channels_app.connectors import base_url_for, connector_class
from channels_app.connectors.base import ConnectorError
from channels_app.models import MastodonApp, Platform
from smm import crypto
from smm.forms import StyledForm
from smm.scoping import member_required

SESSION_KEY = "channel_connect"
FLOW_TTL_SECONDS = 900


class ConnectForm(StyledForm, forms.Form):
    department = forms.ModelChoiceField(label="Department", queryset=Department.objects.none())
    platform = forms.ChoiceField(label="Platform", choices=Platform.choices)
    instance_url = forms.CharField(
        label="Mastodon server (for Mastodon)", required=False, max_length=300,
        help_text="For example https://social.example.gov.uk",
    )
    handle = forms.CharField(label="Bluesky handle (for Bluesky)", required=False, max_length=253)
    app_password = forms.CharField(
        label="Bluesky app password (for Bluesky)", required=False, strip=True, max_length=64,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        help_text="Create one in Bluesky under Settings → App passwords; never use the account's own password.",
    )

    def __init__(self, *args, membership, **kwargs):
        super().__init__(*args, **kwargs)
        departments = Department.objects.visible_to(membership).active()
        if not membership.sees_all_departments:
            departments = departments.filter(pk__in=membership.department_ids)
        self.fields["department"].queryset = departments

    def clean(self):
        cleaned = super().clean()
        platform = cleaned.get("platform")
        if platform == Platform.MASTODON and not cleaned.get("instance_url"):
            self.add_error("instance_url", "Enter the address of the Mastodon server.")
        if platform == Platform.BLUESKY:
            if not cleaned.get("handle"):
                self.add_error("handle", "Enter the Bluesky handle.")
            if not cleaned.get("app_password"):
                self.add_error("app_password", "Enter an app password.")
        return cleaned


def _origin(url: str) -> str:
    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def _allow_platform_redirects(response: HttpResponse) -> HttpResponse:
    """The connect form is answered with a redirect to the platform's sign-in page, and browsers apply the
    form page's CSP `form-action` to that redirect too, so this one page lets forms lead to any https host
    (Mastodon servers are named by the person) and to the configured platform origins (the simulator is
    http on loopback). Every other page keeps `form-action 'self'`.
    """
    configured = {
        _origin(getattr(settings, name, ""))
        for name in ("X_AUTHORIZE_URL", "FACEBOOK_LOGIN_URL", "MASTODON_SIM_INSTANCE_URL", "SIM_URL")
    }
    sources = " ".join(["'self'", "https:", *sorted(origin for origin in configured if origin)])
    response["Content-Security-Policy"] = settings.CONTENT_SECURITY_POLICY.replace(
        "form-action 'self'", f"form-action {sources}"
    )
    return response


def _callback_url(request: HttpRequest, platform: str) -> str:
    return request.build_absolute_uri(reverse("channels_app:connect_callback", args=[platform]))


def _remember_flow(request: HttpRequest, **flow) -> str:
    state = secrets.token_urlsafe(24)
    flows = {k: v for k, v in request.session.get(SESSION_KEY, {}).items() if time.time() - v["at"] < FLOW_TTL_SECONDS}
    flows[state] = {**flow, "at": time.time()}
    request.session[SESSION_KEY] = flows
    return state


def _take_flow(request: HttpRequest, state: str, platform: str) -> dict | None:
    flows = request.session.get(SESSION_KEY, {})
    flow = flows.pop(state, None) if state else None
    request.session[SESSION_KEY] = flows
    if flow is None or flow.get("platform") != platform or time.time() - flow["at"] > FLOW_TTL_SECONDS:
        return None
    return flow


def _department(request: HttpRequest, department_id: int) -> Department:
    form = ConnectForm(membership=request.membership)
    department = form.fields["department"].queryset.filter(pk=department_id).first()
    if department is None:
        raise PermissionDenied("You can connect channels only for your own departments.")
    return department


def _finish(request: HttpRequest, *, platform: str, department: Department, credentials: dict, instance_url: str = ""):
    connector = connector_class(platform)(
        base_url=base_url_for(platform, instance_url), credentials=credentials, timeout=20
    )
    account = connector.whoami()
    credentials = getattr(connector, "updated_credentials", None) or credentials
    channel = services.channel_connect(
        actor=request.membership,
        department=department,
        platform=platform,
        account_id=account.account_id,
        handle=account.handle,
        display_name=account.display_name,
        avatar_url=account.avatar_url,
        instance_url=instance_url,
        credentials=credentials,
    )
    messages.success(request, f"{channel} is connected to {department.name}.")
    return redirect("channels_app:channel_list")


def _mastodon_app(instance_url: str, redirect_uri: str) -> MastodonApp:
    from channels_app.connectors import mastodon

    app = MastodonApp.objects.filter(instance_url=instance_url, redirect_uri=redirect_uri).first()
    if app is not None:
        return app
    registered = mastodon.register_app(instance_url=instance_url, redirect_uri=redirect_uri)
    try:
        with transaction.atomic():
            return MastodonApp.objects.create(
                instance_url=instance_url,
                redirect_uri=redirect_uri,
                client_id=registered["client_id"],
                client_secret_encrypted=crypto.encrypt({"client_secret": registered["client_secret"]}),
            )
    except IntegrityError:
        # Registered at the same moment by someone else: use theirs.
        return MastodonApp.objects.get(instance_url=instance_url, redirect_uri=redirect_uri)


@never_cache
@sensitive_post_parameters("app_password")
@member_required(Capability.MANAGE_CHANNELS)
@require_http_methods(["GET", "POST"])
def connect_start(request: HttpRequest) -> HttpResponse:
    form = ConnectForm(request.POST or None, membership=request.membership, initial=request.GET.dict())
    if request.method == "POST" and form.is_valid():
        platform = form.cleaned_data["platform"]
        department = form.cleaned_data["department"]
        try:
            if platform == Platform.X:
                from channels_app.connectors import x

                verifier, challenge = x.new_pkce()
                state = _remember_flow(request, platform="x", department_id=department.pk, verifier=verifier)
                return redirect(x.authorize_url(state=state, code_challenge=challenge, redirect_uri=_callback_url(request, "x")))
            if platform in (Platform.FACEBOOK, Platform.INSTAGRAM):
                from channels_app.connectors import graph

                state = _remember_flow(request, platform="facebook", department_id=department.pk)
                return redirect(graph.login_url(state=state, redirect_uri=_callback_url(request, "facebook")))
            if platform == Platform.MASTODON:
                from channels_app.address_guard import check_instance_url
                from channels_app.connectors import mastodon

                instance_url = check_instance_url(form.cleaned_data["instance_url"])
                redirect_uri = _callback_url(request, "mastodon")
                app = _mastodon_app(instance_url, redirect_uri)
                state = _remember_flow(request, platform="mastodon", department_id=department.pk, instance_url=instance_url)
                return redirect(
                    mastodon.authorize_url(instance_url=instance_url, client_id=app.client_id, redirect_uri=redirect_uri, state=state)
                )
            if platform == Platform.BLUESKY:
                from channels_app.connectors import bluesky

                credentials = bluesky.create_session(
                    service_url=settings.BLUESKY_SERVICE_URL,
                    identifier=form.cleaned_data["handle"].lstrip("@"),
                    app_password=form.cleaned_data["app_password"],
                )
                return _finish(request, platform="bluesky", department=department, credentials=credentials,
                               instance_url=settings.BLUESKY_SERVICE_URL)
        except ValidationError as exc:
            form.add_error("instance_url" if platform == Platform.MASTODON else None, exc.messages)
        except ConnectorError as exc:
            form.add_error(None, f"The platform refused: {exc.message}")
    return _allow_platform_redirects(render(request, "channels_app/connect.html", {"form": form}))


@never_cache
@member_required(Capability.MANAGE_CHANNELS)
@require_GET
def connect_callback(request: HttpRequest, platform: str) -> HttpResponse:
    flow = _take_flow(request, request.GET.get("state", ""), platform)
    if flow is None:
        return render(request, "channels_app/connect_failed.html",
                      {"reason": "This sign-in did not start here, or it took too long. Start again."}, status=400)
    if request.GET.get("error"):
        return render(request, "channels_app/connect_failed.html",
                      {"reason": "Access was not granted on the platform. Nothing was connected."}, status=400)
    code = request.GET.get("code", "")
    department = _department(request, flow["department_id"])
    try:
        if platform == "x":
            from channels_app.connectors import x

            credentials = x.exchange_code(code=code, code_verifier=flow["verifier"], redirect_uri=_callback_url(request, "x"))
            return _finish(request, platform="x", department=department, credentials=credentials)
        if platform == "mastodon":
            from channels_app.connectors import mastodon

            redirect_uri = _callback_url(request, "mastodon")
            app = MastodonApp.objects.get(instance_url=flow["instance_url"], redirect_uri=redirect_uri)
            credentials = mastodon.exchange_code(
                instance_url=flow["instance_url"], client_id=app.client_id, client_secret=app.client_secret,
                code=code, redirect_uri=redirect_uri,
            )
            return _finish(request, platform="mastodon", department=department, credentials=credentials,
                           instance_url=flow["instance_url"])
        if platform == "facebook":
            from channels_app.connectors import graph

            user_token = graph.long_lived(graph.exchange_code(code=code, redirect_uri=_callback_url(request, "facebook")))
            pick = _remember_flow(request, platform="facebook-pick", department_id=department.pk,
                                  token=crypto.encrypt({"user_token": user_token}))
            return redirect("channels_app:connect_pages", state=pick)
    except ConnectorError as exc:
        return render(request, "channels_app/connect_failed.html", {"reason": f"The platform refused: {exc.message}"}, status=400)
    except MastodonApp.DoesNotExist:
        pass
    return render(request, "channels_app/connect_failed.html", {"reason": "Unknown platform."}, status=400)


@never_cache
@member_required(Capability.MANAGE_CHANNELS)
@require_http_methods(["GET", "POST"])
def connect_pages(request: HttpRequest, state: str) -> HttpResponse:
    """After Facebook Login: the person picks which Pages (and their Instagram accounts) to connect."""
    flows = request.session.get(SESSION_KEY, {})
    flow = flows.get(state)
    if flow is None or flow.get("platform") != "facebook-pick" or time.time() - flow["at"] > FLOW_TTL_SECONDS:
        return render(request, "channels_app/connect_failed.html",
                      {"reason": "This choice has expired. Start again."}, status=400)
    department = _department(request, flow["department_id"])
    from channels_app.connectors import graph

    try:
        pages = graph.list_pages(crypto.decrypt(flow["token"])["user_token"])
    except ConnectorError as exc:
        return render(request, "channels_app/connect_failed.html", {"reason": f"The platform refused: {exc.message}"}, status=400)
    if request.method == "POST":
        chosen = set(request.POST.getlist("account"))
        if not chosen:
            messages.error(request, "Choose at least one Page or Instagram account.")
        else:
            _take_flow(request, state, "facebook-pick")
            for page in pages:
                try:
                    if f"facebook:{page['id']}" in chosen:
                        _finish(request, platform="facebook", department=department,
                                credentials={"page_access_token": page["page_access_token"], "page_id": page["id"]})
                    if page.get("instagram_id") and f"instagram:{page['instagram_id']}" in chosen:
                        _finish(request, platform="instagram", department=department,
                                credentials={"page_access_token": page["page_access_token"], "page_id": page["id"],
                                             "ig_user_id": page["instagram_id"]})
                except ConnectorError as exc:
                    messages.error(request, f"{page.get('name', 'A Page')}: the platform refused: {exc.message}")
            return redirect("channels_app:channel_list")
    return render(request, "channels_app/connect_pages.html", {"pages": pages, "department": department})

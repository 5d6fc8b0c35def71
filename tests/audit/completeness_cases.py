"""The per-route cases of tests/audit/test_completeness.py: how to make a valid state-changing request to each
route, and what it must write. Also which (route, method) pairs can change state, found from the URL
configuration, and the explicit exemptions with their reasons.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from django.test import Client
from django.urls import URLPattern, reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Membership, User
from audit.models import EventType as E
from tests.routes import ROUTES

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


# ----------------------------------------------------------------------------------------- which routes
def _allowed_by_decorator(func) -> set[str] | None:
    """The methods django.views.decorators.http.require_http_methods() lets through, if the view uses it."""
    seen = set()
    while func is not None and id(func) not in seen:
        seen.add(id(func))
        closure = inspect.getclosurevars(func).nonlocals if hasattr(func, "__code__") else {}
        methods = closure.get("request_method_list")
        if methods:
            return {m.upper() for m in methods}
        func = getattr(func, "__wrapped__", None)
    return None


def accepted_unsafe_methods(pattern: URLPattern) -> set[str]:
    callback = pattern.callback
    actions = getattr(callback, "actions", None)
    if actions:  # a DRF viewset route: the methods the router mapped to actions
        return {m.upper() for m in actions} & UNSAFE
    cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if cls is not None:  # APIView or Django class-based view: the handlers it defines and allows
        return {m.upper() for m in cls.http_method_names if hasattr(cls, m)} & UNSAFE
    allowed = _allowed_by_decorator(callback)
    return (allowed & UNSAFE) if allowed is not None else set()


# Routes that change state on a safe method: OAuth sends the person back with a GET that connects the channel.
STATE_CHANGING_GETS = {("channels_app:connect_callback", "GET")}


def mutating_pairs() -> set[tuple[str, str]]:
    from tests.test_routes import url_routes

    pairs = set(STATE_CHANGING_GETS)
    for name, pattern in url_routes().items():
        route = ROUTES.get(name)
        declared = set(route.methods) & UNSAFE if route else set()
        pairs |= {(name, m) for m in declared | accepted_unsafe_methods(pattern)}
    return pairs


EXEMPT: dict[tuple[str, str], str] = {
    ("approvals:post_check", "POST"): "the composer's live check reads the draft and answers; it saves nothing",
    ("inbox:presence", "POST"): "a presence heartbeat lives in Redis for seconds; no database row changes",
    ("inbox:notifications_read", "POST"): (
        "marks the person's own notices read: their view of their inbox, not a change to anyone's work "
        "(inbox.services.notifications_mark_read says why it is not audited)"
    ),
    ("accounts:switch_organisation", "POST"): (
        "changes which organisation this person's own session works in; no organisation's data changes"
    ),
    ("inbox:webhook_facebook", "POST"): (
        "platform deliveries go through inbox.ingest as the system; a bad signature is audited by tests/inbox/test_webhooks.py"
    ),
    ("inbox:webhook_x", "POST"): (
        "platform deliveries go through inbox.ingest as the system; a bad signature is audited by tests/inbox/test_webhooks.py"
    ),
    ("accounts:password_reset", "PUT"): (
        "Django's ProcessFormView.put reads no form (request.POST is empty for PUT), so it only shows the form again"
    ),
    ("accounts:password_reset_confirm", "PUT"): (
        "Django's ProcessFormView.put reads no form (request.POST is empty for PUT), so it only shows the form again"
    ),
}


# ---------------------------------------------------------------------------------------------- the calls
@dataclass
class Env:
    personas: Any
    login: Callable
    api_for: Callable
    request: Any  # pytest's request, for fixtures only some cases need (the simulator)

    @property
    def a(self):
        return self.personas.a

    def member(self, role: str) -> Membership:
        return self.a.members[role]

    def html(self, role: str | Membership) -> Client:
        member = role if isinstance(role, Membership) else self.member(role)
        return self.login(member, Client())

    def api(self, role: str | Membership) -> APIClient:
        member = role if isinstance(role, Membership) else self.member(role)
        return self.api_for(member)

    def sim(self):
        return self.request.getfixturevalue("sim")

    @property
    def comms(self):
        return self.a.departments["Communications"]


@dataclass
class Call:
    client: Any
    method: str
    url: str
    expect: list
    data: Any = None
    api: bool = False  # an API client (else a browser session)
    json: bool = True  # API bodies as JSON (else multipart, for uploads)
    actor: User | None = None
    organisation_id: int | None = None
    ok: tuple = (200, 201, 204, 302)
    bad: Any = None  # input the route must refuse, writing nothing ...
    bad_expect: list = field(default_factory=list)  # ... but these: a refused sign-in is itself audited
    extra: dict = field(default_factory=dict)

    def send(self):
        call = getattr(self.client, self.method.lower())
        if self.method == "GET":
            return call(self.url, self.data or {})
        if self.api:
            return call(self.url, self.data if self.data is not None else {},
                        format="json" if self.json else "multipart")
        return call(self.url, self.data if self.data is not None else {}, **self.extra)

    def with_data(self, data) -> Call:
        return replace(self, data=data)

    def as_member(self, env: Env, member: Membership) -> Call:
        return replace(self, client=env.api(member) if self.api else env.html(member))


@dataclass(frozen=True)
class Case:
    route: str
    method: str
    build: Callable[[Env], Call]


CASES: dict[str, Case] = {}


def case(route: str, method: str = "POST", variant: str = ""):
    def register(build):
        CASES[f"{route} {method}" + (f" {variant}" if variant else "")] = Case(route, method, build)
        return build

    return register


def html(env: Env, role: str, route: str, expect: list, data=None, *, kwargs=None, **more) -> Call:
    member = env.member(role)
    return Call(client=env.html(member), method=more.pop("method", "POST"), url=reverse(route, kwargs=kwargs),
                expect=expect, data=data, actor=member.user, organisation_id=member.organisation_id, **more)


def api(env: Env, role: str, route: str, expect: list, data=None, *, kwargs=None, **more) -> Call:
    member = env.member(role)
    return Call(client=env.api(member), method=more.pop("method", "POST"), url=reverse(route, kwargs=kwargs),
                expect=expect, data=data, api=True, actor=member.user, organisation_id=member.organisation_id, **more)


# ------------------------------------------------------------------------------------------- test data
def _channel(env: Env, department="Communications", platform="mastodon"):
    from tests.inbox_factories import make_channel

    return make_channel(env.a, department=department, platform=platform)


def _conversation(env: Env, **fields):
    from tests.inbox_factories import make_conversation

    return make_conversation(env.a, channel=_channel(env, platform="x"), **fields)


def _post(env: Env, **draft):
    from tests.approvals_factories import make_post

    return make_post(env.a, [_channel(env)], **draft)


def _post_on(env: Env, channel, **draft):
    from tests.approvals_factories import make_post

    return make_post(env.a, [channel], **draft)


def _submitted(env: Env):
    from approvals import services

    post = _post(env)
    services.post_submit(actor=env.member("editor"), post_id=post.pk)
    return post


def _scheduled(env: Env):
    from approvals import services

    post = _submitted(env)
    services.post_approve(actor=env.member("approver"), post_id=post.pk,
                          scheduled_at=timezone.now() + timedelta(days=1))
    return post


def _reply(env: Env, state: str):
    from inbox.models import Reply

    conversation = _conversation(env)
    return Reply.objects.create(
        organisation=conversation.organisation, conversation=conversation, channel=conversation.channel,
        author=env.member("agent").user, text="Thanks, we are on it.", state=state,
        last_error="Status is a duplicate." if state == "failed" else "",
    )


def _enrol(user):
    from tests.accounts.test_two_factor import enrol

    return enrol(user)


def _signed_in_with_code(env: Env, role: str) -> Client:
    """A browser session that passed the one-time code step (user.is_verified())."""
    from tests.accounts.test_two_factor import full_sign_in

    member = env.member(role)
    device, _ = _enrol(member.user)
    client = Client()
    full_sign_in(client, member.user.email, device)
    return client


# ------------------------------------------------------------------------------------ accounts: sign-in
@case("accounts:login")
def _login(env):
    from tests.conftest import PASSWORD

    member = env.member("editor")
    return Call(client=Client(), method="POST", url=reverse("accounts:login"), expect=[E.SIGN_IN],
                data={"email": member.user.email, "password": PASSWORD}, actor=member.user,
                organisation_id=member.organisation_id,
                bad={"email": member.user.email, "password": "not the password"}, bad_expect=[E.SIGN_IN_FAILED])


@case("accounts:sign_in_code")
def _sign_in_code(env):
    from tests.accounts.test_two_factor import next_code, wrong_code
    from tests.conftest import PASSWORD

    member = env.member("editor")
    device, _ = _enrol(member.user)
    client = Client()
    client.post(reverse("accounts:login"), {"email": member.user.email, "password": PASSWORD})
    return Call(client=client, method="POST", url=reverse("accounts:sign_in_code"), expect=[E.SIGN_IN],
                data={"code": next_code(device)}, actor=member.user, organisation_id=member.organisation_id,
                bad={"code": wrong_code(device)}, bad_expect=[E.SIGN_IN_FAILED])


@case("accounts:logout")
def _logout(env):
    return html(env, "editor", "accounts:logout", [E.SIGN_OUT])


@case("accounts:two_factor")
def _two_factor(env):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tests.accounts.test_two_factor import current_code

    call = html(env, "editor", "accounts:two_factor", [E.TWO_FACTOR_ENROLLED])
    call.client.get(call.url)  # the page starts enrolment: an unconfirmed device
    device = TOTPDevice.objects.get(user=call.actor, confirmed=False)
    call.data = {"code": current_code(device)}
    call.bad = {"code": "000000" if current_code(device) != "000000" else "111111"}
    return call


@case("accounts:backup_codes")
def _backup_codes(env):
    member = env.member("editor")
    client = _signed_in_with_code(env, "editor")
    return Call(client=client, method="POST", url=reverse("accounts:backup_codes"),
                expect=[E.BACKUP_CODES_REGENERATED], actor=member.user, organisation_id=member.organisation_id)


@case("accounts:password_reset")
def _password_reset(env):
    member = env.member("editor")
    return Call(client=Client(), method="POST", url=reverse("accounts:password_reset"),
                expect=[E.PASSWORD_RESET_REQUESTED], data={"email": member.user.email},
                organisation_id=member.organisation_id, bad={"email": "not an address"})


@case("accounts:password_reset_confirm")
def _password_reset_confirm(env):
    from tests.accounts.test_password_reset import link_from_outbox

    member = env.member("editor")
    client = Client()
    client.post(reverse("accounts:password_reset"), {"email": member.user.email})
    form_url = client.get(link_from_outbox())["Location"]
    new = "a brand new passphrase 77"
    return Call(client=client, method="POST", url=form_url, expect=[E.PASSWORD_CHANGED],
                data={"new_password1": new, "new_password2": new}, actor=member.user,
                organisation_id=member.organisation_id, bad={"new_password1": "short", "new_password2": "short"})


@case("accounts:invitation_accept")
def _invitation_accept(env):
    from accounts import services

    admin = env.member("admin")
    _, token = services.invitation_create(actor=admin, email="newcomer@alpha.example", role="viewer", departments=[])
    password = "a long enough passphrase 99"
    return Call(client=Client(), method="POST", url=reverse("accounts:invitation_accept", kwargs={"token": token}),
                expect=[E.INVITATION_ACCEPTED],
                data={"full_name": "New Comer", "password1": password, "password2": password},
                organisation_id=admin.organisation_id,
                bad={"full_name": "New Comer", "password1": password, "password2": "different"})


# ---------------------------------------------------------------------------- accounts: organisation admin
@case("accounts:security_settings")
def _security(env):
    org = env.a.organisation
    current = {"name": org.name, "timezone": org.timezone, "two_factor_policy": org.two_factor_policy,
               "idle_timeout_minutes": org.idle_timeout_minutes}
    return html(env, "admin", "accounts:security_settings", [E.ORGANISATION_SETTINGS_CHANGED],
                {**current, "idle_timeout_minutes": 90}, bad={**current, "idle_timeout_minutes": "1"})


@case("accounts:department_list")
def _department_create(env):
    return html(env, "admin", "accounts:department_list", [E.DEPARTMENT_CREATED], {"name": "Housing"},
                bad={"name": ""})


@case("accounts:department_edit")
def _department_rename(env):
    return html(env, "admin", "accounts:department_edit", [E.DEPARTMENT_RENAMED], {"name": "Comms and Press"},
                kwargs={"pk": env.comms.pk}, bad={"name": ""})


@case("accounts:department_archive")
def _department_archive(env):
    from accounts import services

    department = services.department_create(actor=env.member("admin"), name="Parks")
    return html(env, "admin", "accounts:department_archive", [E.DEPARTMENT_ARCHIVED], {"archived": "1"},
                kwargs={"pk": department.pk})


@case("accounts:member_invite")
def _member_invite(env):
    return html(env, "admin", "accounts:member_invite", [E.INVITATION_SENT],
                {"email": "new.person@alpha.example", "role": "viewer", "departments": [env.comms.pk]},
                bad={"email": "new.person@alpha.example", "role": "superuser"})


@case("accounts:member_edit")
def _member_edit(env):
    viewer = env.member("viewer")
    return html(env, "admin", "accounts:member_edit", [E.MEMBER_ROLE_CHANGED],
                {"role": "editor", "departments": [env.comms.pk]}, kwargs={"pk": viewer.pk},
                bad={"role": "superuser", "departments": [env.comms.pk]})


@case("accounts:member_set_active")
def _member_set_active(env):
    return html(env, "admin", "accounts:member_set_active", [E.MEMBER_DEACTIVATED], {"active": "0"},
                kwargs={"pk": env.member("viewer").pk})


@case("accounts:member_two_factor_reset")
def _member_two_factor_reset(env):
    viewer = env.member("viewer")
    _enrol(viewer.user)
    return html(env, "admin", "accounts:member_two_factor_reset", [E.TWO_FACTOR_RESET], kwargs={"pk": viewer.pk})


@case("accounts:invitation_revoke")
def _invitation_revoke(env):
    from accounts import services

    invitation, _ = services.invitation_create(actor=env.member("admin"), email="later@alpha.example",
                                               role="viewer", departments=[])
    return html(env, "admin", "accounts:invitation_revoke", [E.INVITATION_REVOKED], kwargs={"pk": invitation.pk})


# --------------------------------------------------------------------------------------- accounts: API
@case("api:auth-token")
def _token_create(env):
    from tests.conftest import PASSWORD

    member = env.member("editor")
    return Call(client=APIClient(), method="POST", url=reverse("api:auth-token"), expect=[E.API_TOKEN_CREATED],
                data={"email": member.user.email, "password": PASSWORD}, api=True, actor=member.user,
                organisation_id=member.organisation_id, bad={"email": member.user.email, "password": "wrong"},
                bad_expect=[E.SIGN_IN_FAILED])


@case("api:auth-token", "DELETE")
def _token_revoke(env):
    return api(env, "editor", "api:auth-token", [E.API_TOKEN_REVOKED], method="DELETE")


@case("api:organisation", "PATCH")
def _organisation_patch(env):
    return api(env, "admin", "api:organisation", [E.ORGANISATION_SETTINGS_CHANGED], {"idle_timeout_minutes": 90},
               method="PATCH", bad={"idle_timeout_minutes": 1})


@case("api:department-list")
def _api_department_create(env):
    return api(env, "admin", "api:department-list", [E.DEPARTMENT_CREATED], {"name": "Housing"}, bad={"name": ""})


@case("api:department-detail", "PATCH")
def _api_department_rename(env):
    return api(env, "admin", "api:department-detail", [E.DEPARTMENT_RENAMED], {"name": "Press Office"},
               kwargs={"pk": env.comms.pk}, method="PATCH", bad={"name": ""})


@case("api:member-detail", "PATCH")
def _api_member_patch(env):
    return api(env, "admin", "api:member-detail", [E.MEMBER_ROLE_CHANGED], {"role": "editor"},
               kwargs={"pk": env.member("viewer").pk}, method="PATCH", bad={"role": "superuser"})


# ------------------------------------------------------------------------------------------------ channels
@case("channels_app:channel_disconnect")
def _channel_disconnect(env):
    return html(env, "admin", "channels_app:channel_disconnect", [E.CHANNEL_DISCONNECTED],
                kwargs={"pk": _channel(env).pk})


@case("channels_app:channel_grants")
def _channel_grants(env):
    channel = _channel(env)
    viewer = env.member("viewer")
    return html(env, "admin", "channels_app:channel_grants", [E.CHANNEL_GRANT_CHANGED],
                {f"grant-{viewer.pk}-publish_channel": "on"}, kwargs={"pk": channel.pk})


@case("channels_app:connect_start")
def _connect_bluesky(env):
    from simulator.platforms.bluesky import DEMO_ACCOUNTS

    env.sim()
    account = DEMO_ACCOUNTS[0]
    return html(env, "admin", "channels_app:connect_start", [E.CHANNEL_CONNECTED],
                {"department": env.comms.pk, "platform": "bluesky", "handle": account["handle"],
                 "app_password": account["credentials"]["app_password"]},
                bad={"department": env.comms.pk, "platform": "bluesky", "handle": account["handle"],
                     "app_password": "wrong-pass-word"})


@case("channels_app:connect_callback", "GET")
def _connect_callback(env):
    from urllib.parse import parse_qs, urlparse

    from tests.channels.test_connect_flows import approve_on_platform

    env.sim()
    call = html(env, "admin", "channels_app:connect_callback", [E.CHANNEL_CONNECTED], method="GET",
                kwargs={"platform": "x"})
    started = call.client.post(reverse("channels_app:connect_start"), {"department": env.comms.pk, "platform": "x"})
    back = urlparse(approve_on_platform(started["Location"], "democouncil"))
    call.url = back.path
    call.data = {key: values[0] for key, values in parse_qs(back.query).items()}
    call.bad = {"state": "forged", "code": "x"}
    return call


@case("channels_app:connect_pages")
def _connect_pages(env):
    from urllib.parse import parse_qs, urlparse

    from tests.channels.test_connect_flows import approve_on_platform

    env.sim()
    call = html(env, "admin", "channels_app:connect_pages", [E.CHANNEL_CONNECTED, E.CHANNEL_CONNECTED],
                kwargs={"state": "placeholder"})
    started = call.client.post(reverse("channels_app:connect_start"),
                               {"department": env.comms.pk, "platform": "facebook"})
    back = urlparse(approve_on_platform(started["Location"], "allow"))
    picker = call.client.get(back.path, {key: values[0] for key, values in parse_qs(back.query).items()})
    call.url = picker["Location"]
    page = call.client.get(call.url).content.decode()
    values = [v for v in re.findall(r'name="account" value="([^"]+)"', page) if v]
    call.data = {"account": [next(v for v in values if v.startswith("facebook:")),
                             next(v for v in values if v.startswith("instagram:"))]}
    call.bad = {"account": []}
    return call


# ------------------------------------------------------------------------------------ inbox: conversation
def _conv_call(env, route, expect, data, *, bad=None, role="admin"):
    return html(env, role, route, expect, data, kwargs={"pk": _conversation(env).pk}, bad=bad)


@case("inbox:reply")
def _inbox_reply(env):
    return _conv_call(env, "inbox:reply", [E.REPLY_CREATED], {"text": "Thanks, we will look.", "mode": "public"},
                      bad={"text": "   ", "mode": "public"})


@case("inbox:assign")
def _inbox_assign(env):
    return _conv_call(env, "inbox:assign", [E.CONVERSATION_ASSIGNED], {"assignee": "me"},
                      bad={"assignee": "²"})


@case("inbox:assign", variant="department")
def _inbox_move(env):
    return _conv_call(env, "inbox:assign", [E.CONVERSATION_ASSIGNED],
                      {"department": env.a.departments["Customer Services"].pk},
                      bad={"department": "99999999999999999999"})


@case("inbox:status")
def _inbox_status(env):
    return _conv_call(env, "inbox:status", [E.CONVERSATION_STATUS_CHANGED], {"status": "closed"},
                      bad={"status": "vanished"})


@case("inbox:tags")
def _inbox_tags(env):
    return _conv_call(env, "inbox:tags", [E.CONVERSATION_TAGS_CHANGED], {"tags": "Bins, Roads"},
                      bad={"tags": "x" * 500})


@case("inbox:priority")
def _inbox_priority(env):
    return _conv_call(env, "inbox:priority", [E.CONVERSATION_PRIORITY_CHANGED], {"priority": "2"},
                      bad={"priority": "²"})


@case("inbox:note")
def _inbox_note(env):
    return _conv_call(env, "inbox:note", [E.NOTE_ADDED], {"text": "Passed to the bins team."}, bad={"text": "  "})


@case("inbox:reply_retry")
def _reply_retry(env):
    return html(env, "admin", "inbox:reply_retry", [E.REPLY_RETRIED], kwargs={"pk": _reply(env, "failed").pk})


@case("inbox:reply_approve")
def _reply_approve(env):
    return html(env, "admin", "inbox:reply_approve", [E.REPLY_APPROVED],
                kwargs={"pk": _reply(env, "awaiting_approval").pk})


@case("inbox:reply_reject")
def _reply_reject(env):
    return html(env, "admin", "inbox:reply_reject", [E.REPLY_REJECTED], {"reason": "Wrong tone."},
                kwargs={"pk": _reply(env, "awaiting_approval").pk})


@case("inbox:bulk")
def _inbox_bulk(env):
    ids = [_conversation(env).pk, _conversation(env).pk]
    # One event per conversation changed: each conversation's history shows its own change.
    return html(env, "admin", "inbox:bulk", [E.CONVERSATION_STATUS_CHANGED] * 2, {"action": "close", "ids": ids},
                bad={"action": "explode", "ids": ids})


# ------------------------------------------------------------------------------------- inbox: API
def _api_conv(env, route, expect, data, *, bad=None):
    return api(env, "admin", route, expect, data, kwargs={"pk": _conversation(env).pk}, bad=bad)


@case("api:conversation-replies")
def _api_reply(env):
    return _api_conv(env, "api:conversation-replies", [E.REPLY_CREATED], {"text": "We are on it", "mode": "public"},
                     bad={"text": "   "})


@case("api:conversation-notes")
def _api_note(env):
    return _api_conv(env, "api:conversation-notes", [E.NOTE_ADDED], {"text": "Over to the bins team"},
                     bad={"text": "  "})


@case("api:conversation-assign")
def _api_assign(env):
    return _api_conv(env, "api:conversation-assign", [E.CONVERSATION_ASSIGNED], {"assignee": "me"},
                     bad={"assignee": "nobody"})


@case("api:conversation-status")
def _api_status(env):
    return _api_conv(env, "api:conversation-status", [E.CONVERSATION_STATUS_CHANGED], {"status": "closed"},
                     bad={"status": "gone"})


@case("api:conversation-tags")
def _api_tags(env):
    return _api_conv(env, "api:conversation-tags", [E.CONVERSATION_TAGS_CHANGED], {"tags": ["Bins"]},
                     bad={"tags": "Bins"})


@case("api:conversation-priority")
def _api_priority(env):
    return _api_conv(env, "api:conversation-priority", [E.CONVERSATION_PRIORITY_CHANGED], {"priority": 2},
                     bad={"priority": "extreme"})


def _saved_reply(env):
    from inbox.models import SavedReply

    return SavedReply.objects.create(organisation=env.a.organisation, department=env.comms, title="Bins",
                                     body="Hello {contact_name}, thank you for telling us.")


@case("api:saved-reply-list")
def _api_saved_create(env):
    return api(env, "admin", "api:saved-reply-list", [E.SAVED_REPLY_CHANGED],
               {"title": "Roadworks", "body": "Hello {contact_name}", "department": env.comms.pk},
               bad={"title": "", "body": ""})


@case("api:saved-reply-detail", "PATCH")
def _api_saved_patch(env):
    return api(env, "admin", "api:saved-reply-detail", [E.SAVED_REPLY_CHANGED], {"title": "Bin day"},
               kwargs={"pk": _saved_reply(env).pk}, method="PATCH", bad={"title": ""})


@case("api:saved-reply-detail", "DELETE")
def _api_saved_delete(env):
    return api(env, "admin", "api:saved-reply-detail", [E.SAVED_REPLY_CHANGED],
               kwargs={"pk": _saved_reply(env).pk}, method="DELETE")


# ------------------------------------------------------------------------------------ inbox: settings
def _policy_post(**overrides):
    data = {"first_response_value": "3", "first_response_unit": "hours", "resolution_value": "90",
            "resolution_unit": "minutes", "mon_1_start": "08:30", "mon_1_end": "12:00"}
    data.update(overrides)
    return data


@case("inbox:settings_policy")
def _inbox_policy(env):
    return html(env, "manager", "inbox:settings_policy", [E.INBOX_SETTINGS_CHANGED], _policy_post(),
                kwargs={"pk": env.comms.pk}, bad=_policy_post(first_response_value="²"))


@case("inbox:settings_bank_holidays")
def _bank_holiday_add(env):
    return html(env, "admin", "inbox:settings_bank_holidays", [E.INBOX_SETTINGS_CHANGED],
                {"action": "add", "date": "2031-05-05", "name": "Early May bank holiday"},
                bad={"action": "add", "date": "5th May", "name": ""})


@case("inbox:settings_bank_holiday_delete")
def _bank_holiday_delete(env):
    from datetime import date

    from inbox.models import BankHoliday

    holiday = BankHoliday.objects.create(organisation=env.a.organisation, date=date(2030, 8, 26), name="Summer")
    return html(env, "admin", "inbox:settings_bank_holiday_delete", [E.INBOX_SETTINGS_CHANGED],
                kwargs={"pk": holiday.pk})


@case("inbox:settings_risk_keywords")
def _risk_keyword_add(env):
    return html(env, "admin", "inbox:settings_risk_keywords", [E.INBOX_SETTINGS_CHANGED], {"phrase": "self-harm"},
                bad={"phrase": "   "})


@case("inbox:settings_risk_keyword_delete")
def _risk_keyword_delete(env):
    from inbox.models import RiskKeyword

    keyword = RiskKeyword.objects.create(organisation=env.a.organisation, phrase="threat")
    return html(env, "admin", "inbox:settings_risk_keyword_delete", [E.INBOX_SETTINGS_CHANGED],
                kwargs={"pk": keyword.pk})


@case("inbox:settings_saved_reply_create")
def _saved_create(env):
    return html(env, "admin", "inbox:settings_saved_reply_create", [E.SAVED_REPLY_CHANGED],
                {"title": "Bins", "department": env.comms.pk, "body": "Hi {contact_name}, {agent_name} here."},
                bad={"title": "", "body": ""})


@case("inbox:settings_saved_reply_edit")
def _saved_edit(env):
    saved = _saved_reply(env)
    return html(env, "admin", "inbox:settings_saved_reply_edit", [E.SAVED_REPLY_CHANGED],
                {"title": "Bin day", "department": env.comms.pk, "body": saved.body}, kwargs={"pk": saved.pk},
                bad={"title": "", "department": env.comms.pk, "body": ""})


@case("inbox:settings_saved_reply_delete")
def _saved_delete(env):
    return html(env, "admin", "inbox:settings_saved_reply_delete", [E.SAVED_REPLY_CHANGED],
                kwargs={"pk": _saved_reply(env).pk})


@case("inbox:settings_out_of_hours")
def _out_of_hours(env):
    return html(env, "admin", "inbox:settings_out_of_hours", [E.INBOX_SETTINGS_CHANGED],
                {"enabled": "on", "text": "We are closed; we will reply in the morning."},
                kwargs={"pk": _channel(env, platform="x").pk}, bad={"enabled": "on", "text": "a" * 281})


@case("inbox:settings_out_of_hours", variant="polling")
def _polling_interval(env):
    return html(env, "admin", "inbox:settings_out_of_hours", [E.INBOX_SETTINGS_CHANGED],
                {"section": "polling", "poll_interval_seconds": "120"},
                kwargs={"pk": _channel(env, platform="x").pk}, bad={"section": "polling", "poll_interval_seconds": "²"})


@case("inbox:settings_quarantine_resolve")
def _quarantine_resolve(env):
    from inbox.models import QuarantinedItem

    item = QuarantinedItem.objects.create(organisation=env.a.organisation, channel=_channel(env, platform="x"),
                                          source="poll", raw={"id": "1"}, error="bad")
    return html(env, "admin", "inbox:settings_quarantine_resolve", [E.INBOX_SETTINGS_CHANGED],
                kwargs={"pk": item.pk})


# ------------------------------------------------------------------------------------- posts: composer
def _composer(env, channel, **more):
    return {"title": "Bin collections", "body": "Bins are collected on Monday.", "channels": [channel.pk],
            "schedule": "approved", **more}


@case("approvals:post_new")
def _post_new(env):
    channel = _channel(env)
    return html(env, "editor", "approvals:post_new", [E.POST_CREATED], _composer(env, channel, department=env.comms.pk),
                bad=_composer(env, channel, department=env.comms.pk, title=""))


@case("approvals:post_new", variant="autosave")
def _post_new_autosave(env):
    channel = _channel(env)
    return html(env, "editor", "approvals:post_new", [E.POST_CREATED],
                _composer(env, channel, department=env.comms.pk, autosave="1"),
                bad=_composer(env, channel, department=env.comms.pk, autosave="1", schedule="sometime"))


@case("approvals:post_edit")
def _post_edit(env):
    channel = _channel(env)
    post = _post_on(env, channel)
    data = _composer(env, channel)
    return html(env, "editor", "approvals:post_edit", [E.POST_EDITED], {**data, "body": "Bins go out on Tuesday."},
                kwargs={"pk": post.pk}, bad={**data, "title": ""})


@case("approvals:post_new", variant="with a time")
def _post_new_scheduled(env):
    channel = _channel(env)
    when = timezone.localtime(timezone.now() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    data = _composer(env, channel, department=env.comms.pk, schedule="at", scheduled_at=when)
    return html(env, "editor", "approvals:post_new", [E.POST_CREATED], data, bad={**data, "scheduled_at": "soon"})


@case("approvals:post_edit", variant="approved, new content and time")
def _post_edit_approved_with_time(env):
    from approvals import services

    channel = _channel(env)
    post = _post_on(env, channel)
    services.post_submit(actor=env.member("editor"), post_id=post.pk)
    services.post_approve(actor=env.member("approver"), post_id=post.pk)
    when = timezone.localtime(timezone.now() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    data = _composer(env, channel, schedule="at", scheduled_at=when)
    # New content and a new time: back to review with the time, in one post.edited.
    return html(env, "editor", "approvals:post_edit", [E.POST_EDITED], {**data, "body": "Bins go out on Friday."},
                kwargs={"pk": post.pk}, bad=data)


@case("approvals:post_edit", variant="removes an image")
def _post_edit_removes_image(env):
    from approvals import media
    from tests.routes_posts_compose import TINY_PNG

    channel = _channel(env)
    post = _post_on(env, channel)
    image = media.media_upload(actor=env.member("editor"), post_id=post.pk, content=TINY_PNG, filename="a.png")
    data = {**_composer(env, channel), "body": "Bins go out on Saturday.", "media": [str(image.pk)],
            f"remove_{image.pk}": "1"}
    # The new revision and the discarded image: one post.edited.
    return html(env, "editor", "approvals:post_edit", [E.POST_EDITED], data, kwargs={"pk": post.pk},
                bad={**data, "title": ""})


@case("approvals:post_autosave")
def _post_autosave(env):
    channel = _channel(env)
    post = _post_on(env, channel)
    data = _composer(env, channel)
    return html(env, "editor", "approvals:post_autosave", [E.POST_EDITED], {**data, "body": "Bins go out on Wednesday."},
                kwargs={"pk": post.pk}, bad={**data, "title": ""})


@case("approvals:post_media_upload")
def _post_media_upload(env):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.routes_posts_compose import TINY_PNG

    call = html(env, "editor", "approvals:post_media_upload", [E.POST_EDITED], kwargs={"pk": _post(env).pk})
    call.data = {"image": SimpleUploadedFile("pixel.png", TINY_PNG, content_type="image/png")}
    call.bad = {"image": SimpleUploadedFile("pixel.png", b"not an image", content_type="image/png")}
    return call


# ------------------------------------------------------------------------------------- posts: post page
@case("approvals:post_submit")
def _post_submit(env):
    return html(env, "editor", "approvals:post_submit", [E.POST_SUBMITTED], kwargs={"pk": _post(env).pk})


@case("approvals:post_approve")
def _post_approve(env):
    # Approving a post with no time schedules it for now: one post.approved event says so (status, time, channels).
    return html(env, "approver", "approvals:post_approve", [E.POST_APPROVED],
                {"comment": "Good to go"}, kwargs={"pk": _submitted(env).pk})


@case("approvals:post_request_changes")
def _post_request_changes(env):
    return html(env, "approver", "approvals:post_request_changes", [E.POST_CHANGES_REQUESTED],
                {"comment": "Say which bins"}, kwargs={"pk": _submitted(env).pk}, bad={"comment": "   "})


@case("approvals:post_withdraw")
def _post_withdraw(env):
    return html(env, "editor", "approvals:post_withdraw", [E.POST_WITHDRAWN], kwargs={"pk": _submitted(env).pk})


@case("approvals:post_cancel")
def _post_cancel(env):
    return html(env, "editor", "approvals:post_cancel", [E.POST_CANCELLED], kwargs={"pk": _post(env).pk})


@case("approvals:post_schedule")
def _post_schedule(env):
    when = timezone.localtime(timezone.now() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    return html(env, "approver", "approvals:post_schedule", [E.POST_SCHEDULED], {"scheduled_at": when},
                kwargs={"pk": _scheduled(env).pk}, bad={"scheduled_at": "２０３０-01-01T09:00"})


@case("approvals:post_break_glass")
def _post_break_glass(env):
    # Break glass publishes now: one event with the reason, the status it ends in and the time it goes.
    return html(env, "admin", "approvals:post_break_glass", [E.POST_BREAK_GLASS],
                {"reason": "Flood warning must go out now."}, kwargs={"pk": _post(env).pk}, bad={"reason": " "})


@case("approvals:post_comment")
def _post_comment(env):
    return html(env, "viewer", "approvals:post_comment", [E.POST_COMMENTED], {"text": "Which bins?"},
                kwargs={"pk": _post(env).pk}, bad={"text": "  "})


@case("approvals:queue_approve")
def _queue_approve(env):
    ids = [_submitted(env).pk, _submitted(env).pk]
    # One event per post approved (each post's history shows its own approval).
    return html(env, "approver", "approvals:queue_approve", [E.POST_APPROVED] * 2, {"post": ids},
                bad={"post": ["²"]})


# ------------------------------------------------------------------------------------- posts: pauses, settings
@case("approvals:pauses")
def _pause_start(env):
    return html(env, "manager", "approvals:pauses", [E.PUBLISHING_PAUSED],
                {"department": str(env.comms.pk), "reason": "Major incident"},
                bad={"department": str(env.comms.pk), "reason": ""})


@case("approvals:pause_lift")
def _pause_lift(env):
    from approvals import services

    pause = services.pause_start(actor=env.member("admin"), reason="Pre-election period", department=env.comms)
    return html(env, "admin", "approvals:pause_lift", [E.PUBLISHING_RESUMED], kwargs={"pk": pause.pk})


@case("approvals:settings", variant="settings")
def _publishing_settings(env):
    return html(env, "admin", "approvals:settings", [E.PUBLISHING_SETTINGS_CHANGED],
                {"section": "settings", "hold_late_posts_after_minutes": "30"},
                bad={"section": "settings", "hold_late_posts_after_minutes": "²"})


@case("approvals:settings", variant="add_word")
def _blocked_word_add(env):
    return html(env, "admin", "approvals:settings", [E.PUBLISHING_SETTINGS_CHANGED],
                {"section": "add_word", "phrase": "guaranteed", "action": "block"},
                bad={"section": "add_word", "phrase": "cheap", "action": "delete"})


@case("approvals:settings", variant="remove_word")
def _blocked_word_remove(env):
    from approvals.models import BlockedWord

    word = BlockedWord.objects.create(organisation=env.a.organisation, phrase="guaranteed")
    return html(env, "admin", "approvals:settings", [E.PUBLISHING_SETTINGS_CHANGED],
                {"section": "remove_word", "word": str(word.pk)}, bad={"section": "remove_word", "word": "²"})


@case("approvals:approval_policy")
def _approval_policy(env):
    return html(env, "manager", "approvals:approval_policy", [E.PUBLISHING_SETTINGS_CHANGED],
                {"approvals_required": "1", "approver_roles": ["admin", "approver"]}, kwargs={"pk": env.comms.pk},
                bad={"approvals_required": "²", "approver_roles": ["admin"]})


@case("approvals:channel_rule")
def _channel_rule(env):
    return html(env, "manager", "approvals:channel_rule", [E.PUBLISHING_SETTINGS_CHANGED],
                {"approvals_required": "2"}, kwargs={"pk": _channel(env, platform="x").pk},
                bad={"approvals_required": "²"})


# ----------------------------------------------------------------------------------------- posts: API
def _api_post(env, role, route, expect, post, data=None, *, bad=None, method="POST"):
    return api(env, role, route, expect, data, kwargs={"pk": post.pk}, bad=bad, method=method)


@case("api:post-list")
def _api_post_create(env):
    body = {"department": env.comms.pk, "title": "Bin collections", "body": "Bins are collected on Monday.",
            "channel_ids": [_channel(env).pk]}
    return api(env, "editor", "api:post-list", [E.POST_CREATED], body, bad={**body, "title": ""})


@case("api:post-detail", "PATCH")
def _api_post_patch(env):
    return _api_post(env, "editor", "api:post-detail", [E.POST_EDITED], _post(env), {"title": "Bins (new)"},
                     method="PATCH", bad={"scheduled_at": "soon"})


@case("api:post-submit")
def _api_post_submit(env):
    return _api_post(env, "editor", "api:post-submit", [E.POST_SUBMITTED], _post(env))


@case("api:post-approve")
def _api_post_approve(env):
    return _api_post(env, "approver", "api:post-approve", [E.POST_APPROVED], _submitted(env), {},
                     bad={"scheduled_at": "tomorrow-ish"})


@case("api:post-request-changes")
def _api_post_request_changes(env):
    return _api_post(env, "approver", "api:post-request-changes", [E.POST_CHANGES_REQUESTED], _submitted(env),
                     {"comment": "Say which bins"}, bad={"comment": "   "})


@case("api:post-withdraw")
def _api_post_withdraw(env):
    return _api_post(env, "editor", "api:post-withdraw", [E.POST_WITHDRAWN], _submitted(env))


@case("api:post-schedule")
def _api_post_schedule(env):
    when = (timezone.now() + timedelta(days=2)).isoformat()
    return _api_post(env, "approver", "api:post-schedule", [E.POST_SCHEDULED], _scheduled(env), {"scheduled_at": when},
                     bad={"scheduled_at": (timezone.now() - timedelta(hours=2)).isoformat()})


@case("api:post-cancel")
def _api_post_cancel(env):
    return _api_post(env, "editor", "api:post-cancel", [E.POST_CANCELLED], _post(env))


@case("api:post-break-glass")
def _api_post_break_glass(env):
    return _api_post(env, "admin", "api:post-break-glass", [E.POST_BREAK_GLASS], _post(env),
                     {"reason": "Flood warning must go out now."}, bad={"reason": ""})


@case("api:post-comments")
def _api_post_comment(env):
    return _api_post(env, "viewer", "api:post-comments", [E.POST_COMMENTED], _post(env), {"text": "Which bins?"},
                     bad={"text": " "})


@case("api:post-media")
def _api_post_media(env):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.routes_posts_compose import TINY_PNG

    # The API stores the image and joins it to the post with its alt text in a new revision: one post.edited with
    # both (image_uploaded, revision), where the composer's upload only stores it until the next save.
    call = _api_post(env, "editor", "api:post-media", [E.POST_EDITED], _post(env))
    call.json = False
    call.data = {"file": SimpleUploadedFile("pixel.png", TINY_PNG, content_type="image/png")}
    call.bad = {"file": SimpleUploadedFile("pixel.png", b"not an image", content_type="image/png")}
    return call


# ------------------------------------------------------------------------- retention, holds and erasure
@case("inbox:settings_retention")
def _retention_settings(env):
    return html(env, "admin", "inbox:settings_retention", [E.RETENTION_SETTINGS_CHANGED],
                {"message_retention_days": "365", "audit_retention_days": "2555"},
                bad={"message_retention_days": "abc", "audit_retention_days": "2555"})


@case("inbox:conversation_legal_hold")
def _conversation_hold(env):
    return html(env, "admin", "inbox:conversation_legal_hold", [E.LEGAL_HOLD_SET],
                {"reason": "Complaint under investigation."}, kwargs={"pk": _conversation(env).pk}, bad={"reason": ""})


@case("inbox:contact_legal_hold")
def _contact_hold(env):
    from tests.inbox_factories import make_contact

    return html(env, "admin", "inbox:contact_legal_hold", [E.LEGAL_HOLD_SET],
                {"reason": "Litigation hold."}, kwargs={"pk": make_contact(env.a).pk}, bad={"reason": ""})


@case("inbox:contact_erase")
def _contact_erase(env):
    contact = _conversation(env).contact
    return html(env, "admin", "inbox:contact_erase", [E.CONTACT_ERASED],
                {"reason": "Subject erasure request ref 42.", "confirm": "on"}, kwargs={"pk": contact.pk},
                bad={"reason": "Subject erasure request ref 42."})


# --------------------------------------------------------------------------- channel-shift data (issue 7)
def _last_month(env):
    from datetime import timedelta

    from metrics.services import current_month

    return f"{(current_month(env.a.organisation.pk) - timedelta(days=1)):%Y-%m}"


@case("metrics:channel_shift_data")
def _offline_volume(env):
    from metrics.services import OFFLINE_VOLUME_EVENT

    data = {"department": env.comms.pk, "month": _last_month(env), "channel": "phone", "volume": "120"}
    return html(env, "admin", "metrics:channel_shift_data", [OFFLINE_VOLUME_EVENT], data,
                bad={**data, "volume": "-1"})


@case("metrics:channel_shift_costs")
def _contact_cost_set(env):
    from metrics.services import CONTACT_COST_EVENT

    data = {"action": "set", "channel": "phone", "cost": "3.10", "source": "Our 2026 costing"}
    return html(env, "admin", "metrics:channel_shift_costs", [CONTACT_COST_EVENT], data, bad={**data, "source": ""})


@case("metrics:channel_shift_costs", variant="reset")
def _contact_cost_reset(env):
    from metrics import services

    services.contact_cost_set(actor=env.member("admin"), channel="email", cost="1.00", source="Survey")
    return html(env, "admin", "metrics:channel_shift_costs", [services.CONTACT_COST_EVENT],
                {"action": "reset", "channel": "email"}, bad={"action": "reset", "channel": "fax"})

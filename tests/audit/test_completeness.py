"""Issue 6 §1: every state-changing request writes its audit events, in the transaction of the change.

The test walks every URL route (as tests/test_routes.py does) and collects each (route, method) that can change
state: the unsafe methods tests/routes.py declares, the unsafe methods a DRF viewset maps or a class-based view
defines, the methods a function view's require_http_methods() allows, and the few GET routes that change state
(an OAuth callback). Each pair needs a case in tests/audit/completeness_cases.py CASES, or an entry in EXEMPT
with the reason it changes nothing in the database; a new route that has neither fails
test_every_mutating_route_has_a_case.

Each case makes a VALID request as an allowed member and names the events it must write, exactly: ONE event for the
action, carrying everything it changed (an approval that also schedules the post is one post.approved whose changes
say so). A bulk action on several objects is one action per object: one event per object, all of the same type, on
distinct targets. A case may not name two event types, nor expect two events on one object. The same case made by
someone who may not (a role without the capability, another organisation's admin) or with bad input must write
nothing.

The tests run with transaction=True: outside pytest-django's wrapping transaction, audit.services.record()
refuses to write outside an atomic block, so an event written after its change committed fails here.

Tasks: representative tasks run as functions against the simulator and their events must carry no actor and the
label "system: <task name>"; every Celery task of ours must name itself that way in its source.
"""

from __future__ import annotations

import inspect

import pytest

from accounts.roles import MATRIX, Role
from audit.models import AuditEvent
from tests.audit.completeness_cases import CASES, EXEMPT, Env, mutating_pairs
from tests.routes import ROUTES

pytestmark = pytest.mark.django_db(transaction=True)


def _new_events(since: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(id__gt=since).order_by("id"))


def _last_id() -> int:
    last = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()
    return last or 0


# ------------------------------------------------------------------------------------------- coverage
def test_every_mutating_route_has_a_case():
    pairs = mutating_pairs()
    covered = {(case.route, case.method) for case in CASES.values()}
    missing = sorted(pairs - covered - set(EXEMPT))
    assert not missing, (
        "state-changing routes with no audit case in tests/audit/completeness_cases.py CASES "
        f"(add one, or an EXEMPT entry saying why nothing in the database changes): {missing}"
    )
    stale = sorted((covered | set(EXEMPT)) - pairs)
    assert not stale, f"cases or exemptions for (route, method) pairs that no longer exist: {stale}"
    both = sorted(covered & set(EXEMPT))
    assert not both, f"both a case and an exemption: {both}"
    for key, reason in EXEMPT.items():
        assert len(reason.split()) >= 6, f"{key}: give the reason in a sentence"


# ------------------------------------------------------------------------------------------ valid calls
@pytest.mark.parametrize("key", sorted(CASES))
def test_valid_request_writes_exactly_its_audit_events(key, personas, login, api_for, request):
    env = Env(personas, login, api_for, request)
    case = CASES[key]
    call = case.build(env)
    assert reverse_name(call.url) == case.route, f"{key}: the case calls {call.url}, not {case.route}"
    since = _last_id()
    response = call.send()
    assert response.status_code in call.ok, (
        f"{key}: expected a success {call.ok}, got {response.status_code}: {response.content.decode()[:400]}"
    )
    written = _new_events(since)
    types = sorted(e.event_type for e in written)
    assert types == sorted(str(t) for t in call.expect), f"{key}: wrote {types}, expected {sorted(call.expect)}"
    # Exactly one event per action: one type, and never two events on the same object in one request.
    assert len({str(t) for t in call.expect}) == 1, f"{key}: one action, one event type; the case expects {call.expect}"
    targets = [(e.target_type, e.target_id) for e in written]
    assert len(set(targets)) == len(targets), f"{key}: more than one event on one object: {targets}"
    for event in written:
        assert event.organisation_id == call.organisation_id, f"{key}: {event.event_type} in the wrong organisation"
        if call.actor is not None:
            assert event.actor_id == call.actor.pk, f"{key}: {event.event_type} names {event.actor_label}"
            assert event.actor_label == call.actor.label
        assert event.actor_label != "anonymous", f"{key}: {event.event_type} has no actor"


def reverse_name(url: str) -> str:
    from django.urls import resolve

    match = resolve(url.split("?", 1)[0])
    return match.view_name


# --------------------------------------------------------------------------------------- refused calls
def _refusing_role(capability) -> str | None:
    if capability is None:
        return None
    for role in ("viewer", "agent", "editor", "approver", "manager"):
        if Role(role) not in MATRIX[capability]:
            return role
    return None


@pytest.mark.parametrize("key", sorted(CASES))
def test_refused_request_writes_nothing(key, personas, login, api_for, request):
    """Bad input, a role without the capability and another organisation's admin: refused, and nothing audited."""
    env = Env(personas, login, api_for, request)
    case = CASES[key]
    call = case.build(env)
    route = ROUTES.get(case.route)
    attempts = []
    if call.bad is not None:
        attempts.append(("bad input", call.with_data(call.bad)))
    capability = route.methods.get(case.method) if route else None
    role = _refusing_role(capability)
    if role is not None and not route.public:
        member = personas.a.members[role]
        # In the target's department, so the refusal is about the role alone.
        member.departments.add(personas.a.departments["Communications"])
        attempts.append((f"role {role}", call.as_member(env, member)))
    if route is not None and route.target is not None and not route.not_tenant_scoped and not route.public:
        attempts.append(("another organisation", call.as_member(env, personas.outsider)))
    if not attempts:
        pytest.skip("public route with no bad input case and no capability to refuse")
    for label, attempt in attempts:
        since = _last_id()
        response = attempt.send()
        assert response.status_code < 500, f"{key} ({label}): {response.status_code}"
        if label != "bad input":
            assert response.status_code in (403, 404), f"{key} ({label}): {response.status_code}"
        written = sorted(e.event_type for e in _new_events(since))
        allowed = sorted(str(t) for t in call.bad_expect) if label == "bad input" else []
        assert written == allowed, f"{key} ({label}) answered {response.status_code} yet wrote {written}"


# ------------------------------------------------------------------------------------------------ tasks
def _our_tasks():
    from smm.celery import app

    app.loader.import_default_modules()
    ours = ("accounts.", "audit.", "approvals.", "channels_app.", "inbox.", "metrics.")
    return {name: task for name, task in app.tasks.items() if name.startswith(ours)}


# Tasks that change nothing audited: they send e-mail about something already audited where it happened.
TASKS_WITHOUT_EVENTS = {
    "accounts.tasks.send_invitation_email": "sends the invitation e-mail; the invitation was audited when made",
    "approvals.tasks.send_post_emails": "e-mails approvers and authors about a post change audited in its service",
    "channels_app.tasks.send_needs_reauth_email": "e-mails admins about a channel state already audited as changed",
    "inbox.tasks.notifications.send_mention_emails": "e-mails people mentioned in a note already audited as added",
    # Hands due channels out to poll_channel, which acts and audits under its own name.
    "inbox.tasks.polling.poll_due_channels": "only enqueues poll_channel for due channels; poll_channel audits",
}


# Tasks that name their actor through a constant: their label is checked by running them (below).
TASKS_CHECKED_BY_RUNNING = {"inbox.tasks.retention.run_retention"}


def test_every_task_names_itself_as_the_system_actor():
    """Static: a task that can write events wraps its work in acting(system_actor="system: <its name>")."""
    problems = []
    for name, task in sorted(_our_tasks().items()):
        if name in TASKS_WITHOUT_EVENTS or name in TASKS_CHECKED_BY_RUNNING:
            continue
        short = name.rsplit(".", 1)[-1]
        source = inspect.getsource(task.run)
        if f'system_actor="system: {short}"' not in source:
            problems.append(f"{name}: no acting(ActionContext(system_actor=\"system: {short}\"))")
    assert not problems, "tasks whose audit events would not name them:\n" + "\n".join(problems)


def _assert_system(events, task_name: str):
    assert events, f"{task_name} wrote no audit event"
    for event in events:
        assert event.actor_id is None, f"{task_name}: {event.event_type} has actor {event.actor_id}"
        assert event.actor_label == f"system: {task_name}", f"{task_name}: {event.event_type} by {event.actor_label}"


def test_poll_channel_task_events_carry_the_system_actor(sim, personas):
    from channels_app import services as channel_services
    from inbox.tasks.polling import poll_channel
    from simulator.platforms.x import COUNCIL_ID, DEMO_ACCOUNTS

    council = DEMO_ACCOUNTS[0]
    channel = channel_services.channel_connect(
        actor=None, department=personas.a.departments["Customer Services"], platform="x", account_id=COUNCIL_ID,
        handle=council["handle"], credentials=dict(council["credentials"]),
    )
    from inbox.models import Conversation

    poll_channel(channel.pk)
    assert Conversation.objects.filter(channel=channel).exists()
    # The platform rate-limits the channel: the poller records it (channel.rate_limited), as the system.
    sim.fault("x", "rate_limit", path=f"/2/users/{COUNCIL_ID}/mentions", reset_in=600)
    since = _last_id()
    poll_channel(channel.pk)
    _assert_system(_new_events(since), "poll_channel")


def test_publishing_tasks_events_carry_the_system_actor(sim, personas):
    from approvals import services
    from approvals.models import PublishTarget
    from approvals.tasks import publish_target, sweep_due_posts
    from tests.approvals_factories import demo_channel, make_post

    a = personas.a
    channel = demo_channel(a, "x")
    post = make_post(a, [channel], body="The library opens late on Thursday.")
    services.post_submit(actor=a.members["editor"], post_id=post.pk)
    services.post_approve(actor=a.members["approver"], post_id=post.pk, scheduled_at=None)

    since = _last_id()
    assert sweep_due_posts() == 1
    _assert_system(_new_events(since), "sweep_due_posts")

    since = _last_id()
    [target] = PublishTarget.objects.filter(post=post)
    assert publish_target(target.pk) == "sent"
    _assert_system(_new_events(since), "publish_target")


def test_send_reply_task_events_carry_the_system_actor(sim, personas):
    from inbox import replies
    from inbox.tasks.replies import send_reply
    from tests.approvals_factories import demo_channel
    from tests.inbox_factories import make_conversation

    a = personas.a
    channel = demo_channel(a, "x", department="Customer Services")
    conversation = make_conversation(a, channel=channel)
    reply = replies.reply_create(actor=a.members["admin"], conversation_id=conversation.pk,
                                 text="Thank you, we have passed this on.", mode="public")
    since = _last_id()
    send_reply(reply.pk)
    _assert_system(_new_events(since), "send_reply")


def test_retention_task_events_carry_the_system_actor(personas):
    tasks = pytest.importorskip("inbox.tasks.retention", reason="retention (issue 6 §6) is not built yet")
    since = _last_id()
    tasks.run_retention()
    events = [e for e in _new_events(since) if e.organisation_id == personas.a.organisation.pk]
    _assert_system(events, "run_retention")

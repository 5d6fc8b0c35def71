"""Incremental rollups: after each kind of change a refresh changes exactly the right days' rows and leaves the
same rows as a rebuild from scratch; the overlap window never counts twice; concurrent runs do not fail.

Start (2026, Europe/London = UTC in early March):
  A  X (Customer Services): in Mon 2 Mar 10:00, 11:00; agent reply Tue 3 Mar 09:00; closed Tue 3 Mar 12:00
  C  Facebook (Customer Services): in Wed 4 Mar 10:00; agent reply 10:30; in Mon 9 Mar 10:00
  D  Mastodon (Communications): in Tue 3 Mar 10:00; manager reply 11:00
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from inbox import services
from metrics import rollups
from metrics.models import AgentDaily, ContactDaily, ResponseFact, RollupCursor
from tests.inbox_factories import make_channel
from tests.metrics.factories import LONDON, add_message, thread, utc

COUNTS = ("inbound_messages", "outbound_messages", "automatic_replies", "conversations_opened", "conversations_closed")


def contact_rows(org) -> dict:
    return {(r["day"], r["channel_id"], r["department_id"]): tuple(r[n] for n in COUNTS)
            for r in ContactDaily.objects.filter(organisation=org.organisation).values("day", "channel_id",
                                                                                     "department_id", *COUNTS)}


def agent_rows(org) -> set:
    return set(AgentDaily.objects.filter(organisation=org.organisation).values_list(
        "day", "department_id", "agent_id", "replies_sent", "conversations_replied"))


def fact_rows(org) -> set:
    return set(ResponseFact.objects.filter(organisation=org.organisation).values_list(
        "conversation_id", "department_id", "opened_day", "closed_day", "first_response_seconds",
        "first_response_office_seconds", "resolution_seconds", "responder_id"))


def everything(org) -> tuple:
    return contact_rows(org), agent_rows(org), fact_rows(org)


def changed_days(before: dict, after: dict) -> set:
    return {key[0] for key in set(before) | set(after) if before.get(key) != after.get(key)}


def refresh_then_compare_with_rebuild(org) -> tuple[dict, dict]:
    """Refresh, check the rows equal a rebuild's, and return the contact rows before and after the refresh."""
    before = contact_rows(org)
    rollups.refresh(org.organisation.pk)
    refreshed = everything(org)
    rollups.rebuild(org.organisation.pk)
    assert everything(org) == refreshed
    return before, refreshed[0]


@pytest.fixture
def inbox(personas):
    org = personas.a
    org.x = make_channel(org, "Customer Services", "x")
    org.facebook = make_channel(org, "Customer Services", "facebook")
    org.mastodon = make_channel(org, "Communications", "mastodon")
    agent, manager = org.user("agent"), org.user("manager")
    org.a = thread(org, org.x, [utc(2026, 3, 2, 10), utc(2026, 3, 2, 11)], [(utc(2026, 3, 3, 9), agent)],
                   closed_at=utc(2026, 3, 3, 12))
    org.c = thread(org, org.facebook, [utc(2026, 3, 4, 10), utc(2026, 3, 9, 10)], [(utc(2026, 3, 4, 10, 30), agent)])
    org.d = thread(org, org.mastodon, [utc(2026, 3, 3, 10)], [(utc(2026, 3, 3, 11), manager)])
    rollups.refresh(org.organisation.pk)
    return org


def test_new_messages_change_only_their_day(inbox):
    add_message(inbox.d, utc(2026, 3, 10, 10), touch=True)
    thread(inbox, inbox.x, [utc(2026, 3, 10, 12)])  # a new conversation
    before, after = refresh_then_compare_with_rebuild(inbox)
    assert changed_days(before, after) == {utc(2026, 3, 10).date()}
    department = inbox.departments
    assert after[(utc(2026, 3, 10).date(), inbox.mastodon.pk, department["Communications"].pk)] == (1, 0, 0, 0, 0)
    assert after[(utc(2026, 3, 10).date(), inbox.x.pk, department["Customer Services"].pk)] == (1, 0, 0, 1, 0)


def test_a_reply_changes_only_its_day_and_the_agents_row(inbox):
    agents_before = agent_rows(inbox)
    add_message(inbox.c, utc(2026, 3, 11, 9), sent_by=inbox.user("agent"), outbound=True, touch=True)
    before, after = refresh_then_compare_with_rebuild(inbox)
    assert changed_days(before, after) == {utc(2026, 3, 11).date()}
    assert agent_rows(inbox) - agents_before == {
        (utc(2026, 3, 11).date(), inbox.departments["Customer Services"].pk, inbox.user("agent").pk, 1, 1)}


def test_a_close_counts_on_the_day_it_happened(inbox):
    services.conversation_set_status(actor=inbox.members["admin"], conversation_id=inbox.d.pk, status="closed")
    before, after = refresh_then_compare_with_rebuild(inbox)
    today = timezone.now().astimezone(LONDON).date()
    assert changed_days(before, after) == {today}
    assert after[(today, inbox.mastodon.pk, inbox.departments["Communications"].pk)] == (0, 0, 0, 0, 1)


def test_a_reopen_removes_the_old_closing_day(inbox):
    day = utc(2026, 3, 3).date()
    key = (day, inbox.x.pk, inbox.departments["Customer Services"].pk)
    assert contact_rows(inbox)[key] == (0, 1, 0, 0, 1)
    services.conversation_set_status(actor=inbox.members["admin"], conversation_id=inbox.a.pk, status="open")
    before, after = refresh_then_compare_with_rebuild(inbox)
    assert changed_days(before, after) == {day}
    assert after[key] == (0, 1, 0, 0, 0)


def test_a_department_move_moves_every_day_of_the_conversation(inbox):
    services.conversation_assign(actor=inbox.members["admin"], conversation_id=inbox.c.pk,
                                 department=inbox.departments["Communications"])
    before, after = refresh_then_compare_with_rebuild(inbox)
    assert changed_days(before, after) == {utc(2026, 3, 4).date(), utc(2026, 3, 9).date()}
    comms = inbox.departments["Communications"].pk
    assert after[(utc(2026, 3, 4).date(), inbox.facebook.pk, comms)] == (1, 1, 0, 1, 0)
    assert (utc(2026, 3, 4).date(), inbox.facebook.pk, inbox.departments["Customer Services"].pk) not in after


def test_a_conversation_inside_the_overlap_window_is_not_counted_twice(inbox):
    now = timezone.now()
    late = thread(inbox, inbox.x, [utc(2026, 3, 12, 10)])
    rollups.refresh(inbox.organisation.pk, now=now + timedelta(minutes=1))
    # Updated before the cursor but inside the overlap: the next run takes it again, and counts it once.
    second = rollups.refresh(inbox.organisation.pk, now=now + timedelta(minutes=5))
    assert second.conversations >= 1 and late.pk in ResponseFact.objects.values_list("conversation_id", flat=True)
    assert contact_rows(inbox)[(utc(2026, 3, 12).date(), inbox.x.pk, inbox.departments["Customer Services"].pk)] \
        == (1, 0, 0, 1, 0)
    # Past the overlap it is not selected any more.
    assert rollups.refresh(inbox.organisation.pk, now=now + timedelta(hours=1)).conversations >= 0
    assert rollups.refresh(inbox.organisation.pk, now=now + timedelta(hours=2)).conversations == 0


def test_every_change_at_once_equals_a_rebuild(inbox):
    admin = inbox.members["admin"]
    add_message(inbox.a, utc(2026, 3, 13, 8), touch=True)
    services.conversation_set_status(actor=admin, conversation_id=inbox.a.pk, status="open")
    services.conversation_assign(actor=admin, conversation_id=inbox.d.pk, department=inbox.departments["Customer Services"])
    services.conversation_set_status(actor=admin, conversation_id=inbox.c.pk, status="closed")
    refresh_then_compare_with_rebuild(inbox)


@pytest.mark.django_db(transaction=True)
def test_a_refresh_while_another_runs_skips(inbox):
    org_id = inbox.organisation.pk
    locked, release = threading.Event(), threading.Event()

    def hold_the_cursor():
        with transaction.atomic():
            RollupCursor.objects.select_for_update().get(organisation_id=org_id)
            locked.set()
            release.wait(10)
        connection.close()

    holder = threading.Thread(target=hold_the_cursor)
    holder.start()
    assert locked.wait(10)
    try:
        assert rollups.refresh(org_id).skipped is True
    finally:
        release.set()
        holder.join()
    assert rollups.refresh(org_id).skipped is False


@pytest.mark.django_db(transaction=True)
def test_two_refreshes_at_once_do_not_fail(personas):
    org = personas.a
    channel = make_channel(org, "Customer Services", "x")
    for day in range(2, 12):
        thread(org, channel, [utc(2026, 3, day, 10)], [(utc(2026, 3, day, 11), org.user("agent"))])
    results, errors = [], []
    start = threading.Barrier(2)

    def run():
        try:
            start.wait(10)
            results.append(rollups.refresh(org.organisation.pk))
        except Exception as exc:  # noqa: BLE001 - the assertion below reports it
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(results) == 2 and any(not r.skipped for r in results)
    refreshed = everything(org)
    rollups.rebuild(org.organisation.pk)
    assert everything(org) == refreshed
    assert sum(row[0] for row in refreshed[0].values()) == 10

"""The metrics beat tasks (called as functions: the worker runs the same code) and the rebuild_kpis command."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from inbox.models import Conversation
from metrics import rollups, tasks
from metrics.models import ChannelSnapshot, ContactDaily, ResponseFact, RollupCursor
from tests.approvals_factories import demo_channel
from tests.inbox_factories import make_channel, make_conversation

pytestmark = pytest.mark.django_db

MONDAY_10 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def broken_organisation(org):
    """A conversation whose first message the platform dated 1950 and which closed in 2026: its resolution time
    (76 years in seconds) does not fit the rollup's integer column, so this organisation's refresh fails."""
    channel = make_channel(org, department="Digital Desk")
    conversation = make_conversation(org, channel=channel, at=datetime(1950, 1, 2, 10, tzinfo=UTC))
    Conversation.objects.filter(pk=conversation.pk).update(status="closed", closed_at=MONDAY_10)


def test_refresh_rollups_refreshes_every_organisation_and_survives_one_failing(personas):
    a, b = personas.a, personas.b
    make_conversation(a, channel=make_channel(a), at=MONDAY_10)
    broken_organisation(b)

    result = tasks.refresh_rollups()
    assert a.organisation.pk in result["refreshed"]
    assert list(result["failed"]) == [b.organisation.pk] and "DataError" in result["failed"][b.organisation.pk]
    assert ContactDaily.objects.filter(organisation=a.organisation).exists()
    assert ResponseFact.objects.filter(organisation=a.organisation).count() == 1
    # B's run rolled back as a whole: no half-built rows, its cursor not moved.
    assert not ResponseFact.objects.filter(organisation=b.organisation).exists()
    assert not RollupCursor.objects.filter(organisation=b.organisation).exclude(refreshed_to=rollups.NEVER).exists()
    # Derived data: no audit event.
    assert not AuditEvent.objects.filter(actor_label="system: refresh_rollups").exists()


def test_collect_channel_snapshots_task_snapshots_connected_channels(sim, personas):
    channel = demo_channel(personas.a, "x")
    result = tasks.collect_channel_snapshots()
    assert result["taken"] == [channel.pk] and result["failed"] == {}
    assert ChannelSnapshot.objects.get(channel=channel).followers > 0
    assert tasks.collect_channel_snapshots()["taken"] == []
    assert not AuditEvent.objects.filter(actor_label="system: collect_channel_snapshots").exists()


def test_rebuild_kpis_rebuilds_one_organisation_by_slug(personas):
    a = personas.a
    make_conversation(a, channel=make_channel(a), at=MONDAY_10)
    make_conversation(a, channel=make_channel(a), at=MONDAY_10 + timedelta(days=1))
    out = StringIO()
    call_command("rebuild_kpis", "--org", "alpha", stdout=out)
    assert "alpha: rebuilt from 2 conversation(s), 2 day(s)" in out.getvalue()
    assert "bravo" not in out.getvalue()
    assert ResponseFact.objects.filter(organisation=a.organisation).count() == 2
    ContactDaily.objects.filter(organisation=a.organisation).delete()
    call_command("rebuild_kpis", "--org", "alpha", stdout=StringIO())
    assert ContactDaily.objects.filter(organisation=a.organisation).count() == 2


def test_rebuild_kpis_for_all_names_the_failures_and_rebuilds_the_rest(personas):
    a, b = personas.a, personas.b
    make_conversation(a, channel=make_channel(a), at=MONDAY_10)
    broken_organisation(b)
    out = StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("rebuild_kpis", stdout=out)
    assert "bravo: DataError" in str(failed.value)
    assert "alpha: rebuilt from 1 conversation(s)" in out.getvalue()


def test_rebuild_kpis_with_an_unknown_slug_is_a_clear_error(personas):
    with pytest.raises(CommandError, match="No organisation with the slug 'nowhere'"):
        call_command("rebuild_kpis", "--org", "nowhere", stdout=StringIO())

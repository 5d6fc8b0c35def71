"""seed_demo connects each demo organisation's channels to the simulator, and they work."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from channels_app import services
from channels_app.models import Channel


@pytest.fixture
def seeded(sim, db):
    call_command("seed_demo", stdout=io.StringIO())


def test_seed_demo_connects_five_platforms_per_demo_organisation_once(seeded):
    pairs = set(Channel.objects.connected().values_list("organisation__slug", "platform"))
    platforms = {"x", "facebook", "instagram", "mastodon", "bluesky"}
    assert pairs == {(slug, p) for slug in ("demo-council", "demo-police") for p in platforms}
    count = Channel.objects.count()
    call_command("seed_demo", stdout=io.StringIO())
    assert Channel.objects.count() == count


@pytest.mark.parametrize("slug", ["demo-council", "demo-police"])
def test_the_demo_agent_sees_every_demo_channel_so_their_inbox_fills(seeded, slug):
    from accounts.models import Membership

    agent = Membership.objects.get(organisation__slug=slug, role="agent")
    demo_channels = set(Channel.objects.filter(organisation__slug=slug).values_list("pk", flat=True))

    assert demo_channels
    assert set(Channel.objects.visible_to(agent).values_list("pk", flat=True)) >= demo_channels


@pytest.mark.parametrize("platform", ["x", "facebook", "instagram", "mastodon", "bluesky"])
def test_every_demo_channel_reaches_its_simulated_account(seeded, platform):
    channel = Channel.objects.get(organisation__slug="demo-council", platform=platform)
    with services.connector_session(channel) as connector:
        account = connector.whoami()
    assert account.account_id == channel.account_id


@pytest.mark.parametrize("platform", ["x", "mastodon"])
def test_disconnecting_revokes_the_token_at_the_platform(seeded, sim, platform):
    from accounts.models import Membership
    from audit.models import AuditEvent, EventType
    from channels_app.connectors import get_connector
    from channels_app.connectors.base import AuthExpired

    channel = Channel.objects.get(organisation__slug="demo-council", platform=platform)
    stale = get_connector(channel)
    admin = Membership.objects.get(user__email="admin@council.example")
    services.channel_disconnect(actor=admin, channel=channel)
    event = AuditEvent.objects.get(event_type=EventType.CHANNEL_DISCONNECTED, target_id=str(channel.pk))
    assert event.changes["token_at_platform"] == "revoked"
    # The old token no longer works at the platform.
    with pytest.raises(AuthExpired):
        stale.whoami()

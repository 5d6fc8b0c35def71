"""Test data for posts: a publishable channel and a post through the real services.

Posts are made through approvals.services (their behaviour is what the tests check); channels through
channels_app.services.channel_connect, pointed at the simulator's demo accounts when `sim` is in use.
"""

from __future__ import annotations

from django.conf import settings

from approvals import services
from approvals.models import Post
from channels_app import services as channel_services
from channels_app.models import Channel


def demo_channel(org, platform: str = "x", department: str = "Communications", index: int = 0) -> Channel:
    """A channel connected to the simulator's demo account for `platform` (the simulator must be running)."""
    from importlib import import_module

    module = {"x": "x", "facebook": "graph", "instagram": "graph", "mastodon": "mastodon", "bluesky": "bluesky"}[platform]
    accounts = [a for a in import_module(f"simulator.platforms.{module}").DEMO_ACCOUNTS
                if a.get("platform", platform) == platform]
    demo = accounts[index]
    return channel_services.channel_connect(
        actor=None,
        department=org.departments[department],
        platform=platform,
        account_id=demo["account_id"],
        handle=demo["handle"],
        credentials=demo["credentials"],
        instance_url=demo.get("instance_url", "") or (settings.MASTODON_SIM_INSTANCE_URL if platform == "mastodon" else ""),
    )


def make_post(org, channels: list[Channel], *, author_role: str = "editor", body: str = "Bins are collected on Monday.",
              title: str = "Bin collections", department: str = "Communications", **draft) -> Post:
    author = org.members[author_role]
    return services.post_create(
        actor=author,
        department=org.departments[department],
        draft=services.Draft(title=title, body=body, channel_ids=[c.pk for c in channels], **draft),
    )

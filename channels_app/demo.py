"""Demo channels: each demo organisation's communications department connected to the simulator.

The simulator seeds organisation accounts with known credentials (DEMO_ACCOUNTS in each platform
module), so the demo needs no browser round trip. Called by seed_demo; safe to run again.
"""

from __future__ import annotations

from importlib import import_module

from django.conf import settings

from accounts.models import Department, Organisation
from channels_app import services
from channels_app.models import Channel

# Which simulator accounts belong to which demo organisation and department.
DEMO_DEPARTMENTS = {
    "demo-council": ("council", "Communications"),
    "demo-police": ("police", "Corporate Communications"),
}
SIMULATOR_MODULES = {
    "x": "simulator.platforms.x",
    "facebook": "simulator.platforms.graph",
    "instagram": "simulator.platforms.graph",
    "mastodon": "simulator.platforms.mastodon",
    "bluesky": "simulator.platforms.bluesky",
}


def _instance_url(platform: str) -> str:
    if platform == "mastodon":
        return settings.MASTODON_SIM_INSTANCE_URL
    if platform == "bluesky":
        return settings.BLUESKY_SERVICE_URL
    return ""


def demo_accounts(platform: str) -> list[dict]:
    accounts = import_module(SIMULATOR_MODULES[platform]).DEMO_ACCOUNTS
    return [a for a in accounts if a.get("platform", platform) == platform]


def connect_demo_channels() -> list[str]:
    connected = []
    for slug, (marker, department_name) in DEMO_DEPARTMENTS.items():
        organisation = Organisation.objects.filter(slug=slug).first()
        department = Department.objects.filter(organisation=organisation, name=department_name).first()
        if organisation is None or department is None:
            continue
        for platform in SIMULATOR_MODULES:
            for account in demo_accounts(platform):
                label = f"{account['handle']} {account.get('display_name', '')}".lower()
                if marker not in label:
                    continue
                exists = Channel.objects.connected().filter(
                    organisation=organisation, platform=platform, account_id=account["account_id"]
                )
                if not exists.exists():
                    services.channel_connect(
                        actor=None,
                        department=department,
                        platform=platform,
                        account_id=account["account_id"],
                        handle=account["handle"],
                        display_name=account.get("display_name", ""),
                        instance_url=_instance_url(platform),
                        credentials=account["credentials"],
                    )
                connected.append(f"  {organisation.name:<14} {department_name:<25} {platform:<9} {account['handle']}")
    return connected

"""get_connector(channel): the one place that picks a platform module and its configured base URL."""

from __future__ import annotations

from importlib import import_module

from django.conf import settings

from channels_app.connectors.base import Connector

# platform -> (module, class name)
CONNECTORS = {
    "x": ("channels_app.connectors.x", "XConnector"),
    "facebook": ("channels_app.connectors.graph", "FacebookConnector"),
    "instagram": ("channels_app.connectors.graph", "InstagramConnector"),
    "mastodon": ("channels_app.connectors.mastodon", "MastodonConnector"),
    "bluesky": ("channels_app.connectors.bluesky", "BlueskyConnector"),
}


def base_url_for(platform: str, instance_url: str = "") -> str:
    if platform == "x":
        return settings.X_API_URL
    if platform in ("facebook", "instagram"):
        return settings.GRAPH_API_URL
    if platform == "mastodon":
        return instance_url
    if platform == "bluesky":
        return instance_url or settings.BLUESKY_SERVICE_URL
    raise ValueError(f"unknown platform {platform!r}")


def connector_class(platform: str) -> type[Connector]:
    module_path, class_name = CONNECTORS[platform]
    return getattr(import_module(module_path), class_name)


def get_connector(channel) -> Connector:
    return connector_class(channel.platform)(
        base_url=base_url_for(channel.platform, channel.instance_url),
        credentials=channel.credentials,
        account_id=channel.account_id,
        timeout=settings.PLATFORM_TIMEOUT_SECONDS,
    )

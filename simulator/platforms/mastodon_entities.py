"""The simulated Mastodon's entities as the API renders them (Account, Status with its HTML content, MediaAttachment,
Notification, Conversation, Application, the instance configuration), shaped like the recorded cassettes."""

from __future__ import annotations

import html
import struct

import regex

from simulator.platforms.mastodon_http import iso_time

VERSION = "4.6.4"
MAX_CHARACTERS = 500
CHARACTERS_PER_URL = 23
MAX_MEDIA_ATTACHMENTS = 4
DESCRIPTION_LIMIT = 1500
IMAGE_SIZE_LIMIT = 16 * 1024 * 1024
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp", "image/avif", "image/heic", "image/heif")
IDEMPOTENCY_SECONDS = 3600
VAPID_KEY = "BAhxXyHfAoMqrZECjRI56F5QrE4ynVlkZFMdKSpTIsWRNoWUVgut-Bnz2xsMSwiN4AF0b4I7ixF24OwiicOJivw="

# Mastodon's Account::MENTION_RE and a plain URL and hashtag pattern for formatting.
MENTION = regex.compile(r"(?<![=/\w])@([a-z0-9_]+(?:[a-z0-9_.-]+[a-z0-9_]+)?)(?:@([\w.:-]+[\w]+))?", regex.I)
URL = regex.compile(r"https?://[^\s<>\"]+[^\s<>\".,;:!?)\]'’]")
HASHTAG = regex.compile(r"(?<![=/\w])#(\w*[^\W\d_]\w*)")
TOKEN = regex.compile(
    rf"(?P<url>{URL.pattern})"
    r"|(?P<mention>(?<![=/\w])@(?P<username>[a-z0-9_]+(?:[a-z0-9_.-]+[a-z0-9_]+)?)(?:@[\w.:-]+\w)?)"
    r"|(?<![=/\w])#(?P<tag>\w*[^\W\d_]\w*)",
    regex.I,
)


def mastodon_length(text: str) -> int:
    """The server's StatusLengthValidator: each URL counts 23, a remote mention counts as its local part."""
    text = URL.sub("x" * CHARACTERS_PER_URL, text)
    text = MENTION.sub(lambda m: "@" + m.group(1), text)
    return len(regex.findall(r"\X", text))


def image_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    return None


class EntitiesMixin:
    """Rendering for the Sim class (which provides `state`)."""

    def _visible(self, status: dict, viewer_id: str | None) -> bool:
        if status["visibility"] in ("public", "unlisted"):
            return True
        if viewer_id is None:
            return False
        if viewer_id == status["account_id"] or viewer_id in status["mentions"]:
            return True
        author = self.state["accounts"][status["account_id"]]
        return status["visibility"] == "private" and viewer_id in author["followers"]

    def _account_json(self, account: dict, base: str) -> dict:
        username = account["username"]
        own = [
            s
            for s in self.state["statuses"].values()
            if s["account_id"] == account["id"] and s["visibility"] != "direct"
        ]
        return {
            "id": account["id"],
            "username": username,
            "acct": username,
            "display_name": account["display_name"],
            "locked": False,
            "bot": account.get("bot", False),
            "discoverable": True,
            "indexable": True,
            "group": False,
            "created_at": iso_time(account["created_at"])[:10] + "T00:00:00.000Z",
            "note": f"<p>{html.escape(account['note'])}</p>" if account["note"] else "",
            "url": f"{base}/@{username}",
            "uri": f"{base}/ap/users/{account['id']}",
            "avatar": f"{base}/avatars/original/missing.png",
            "avatar_static": f"{base}/avatars/original/missing.png",
            "avatar_description": "",
            "header": f"{base}/headers/original/missing.png",
            "header_static": f"{base}/headers/original/missing.png",
            "header_description": "",
            "followers_count": len(account["followers"]) + account.get("extra_followers", 0),
            "following_count": len(account["following"]),
            "statuses_count": len(own),
            "last_status_at": iso_time(max(s["created_at"] for s in own))[:10] if own else None,
            "hide_collections": None,
            "show_media": True,
            "show_media_replies": True,
            "show_featured": True,
            "noindex": False,
            "feature_approval": {"automatic": [], "manual": [], "current_user": "denied"},
            "emojis": [],
            "roles": [],
            "fields": [],
        }

    def _credential_account_json(self, account: dict, base: str) -> dict:
        body = self._account_json(account, base)
        body["source"] = {
            "privacy": "public",
            "sensitive": False,
            "language": None,
            "note": account["note"],
            "fields": [],
            "follow_requests_count": 0,
            "hide_collections": None,
            "discoverable": True,
            "indexable": True,
            "attribution_domains": [],
            "quote_policy": "public",
        }
        body["role"] = {
            "id": "-99",
            "name": "",
            "permissions": "65536",
            "color": "",
            "highlighted": False,
            "collection_limit": 10,
        }
        return body

    def _content_html(self, text: str, base: str) -> str:
        """Mastodon's TextFormatter: paragraphs, line breaks, linked URLs, mentions and hashtags."""
        usernames = {a["username"].lower(): a for a in self.state["accounts"].values()}

        def inline(chunk: str) -> str:
            out, position = [], 0
            for match in TOKEN.finditer(chunk):
                out.append(html.escape(chunk[position : match.start()], quote=False))
                position = match.end()
                if match.group("url"):
                    url = match.group("url")
                    scheme, rest = url.split("://", 1)
                    shown, hidden = (rest[:30], rest[30:]) if len(rest) > 30 else (rest, "")
                    out.append(
                        f'<a href="{html.escape(url)}" target="_blank" rel="nofollow noopener" translate="no">'
                        f'<span class="invisible">{scheme}://</span><span class="{"ellipsis" if hidden else ""}">'
                        f'{html.escape(shown)}</span><span class="invisible">{html.escape(hidden)}</span></a>'
                    )
                elif match.group("mention"):
                    account = usernames.get(match.group("username").lower())
                    if account is None:
                        out.append(html.escape(match.group(0), quote=False))
                        continue
                    out.append(
                        f'<span class="h-card" translate="no"><a href="{base}/@{account["username"]}" '
                        f'class="u-url mention">@<span>{account["username"]}</span></a></span>'
                    )
                else:
                    tag = match.group("tag")
                    out.append(
                        f'<a href="{base}/tags/{html.escape(tag.lower())}" class="mention hashtag" rel="tag">'
                        f"#<span>{html.escape(tag)}</span></a>"
                    )
            out.append(html.escape(chunk[position:], quote=False))
            return "".join(out)

        paragraphs = [p for p in regex.split(r"\n{2,}", text.strip()) if p]
        return "".join("<p>" + "<br />".join(inline(line) for line in p.split("\n")) + "</p>" for p in paragraphs)

    def _media_json(self, media: dict, base: str) -> dict:
        url = f"{base}/system/media_attachments/files/{media['id']}/original/{media['filename']}"
        meta = {}
        if media.get("width"):
            width, height = media["width"], media["height"]
            size = {"width": width, "height": height, "size": f"{width}x{height}", "aspect": width / height}
            meta = {"original": size, "small": size}
        return {
            "id": media["id"],
            "type": "image",
            "url": url,
            "preview_url": url,
            "remote_url": None,
            "preview_remote_url": None,
            "text_url": None,
            "meta": meta,
            "description": media["description"],
            "blurhash": None,
        }

    def _status_json(self, status: dict, base: str, viewer_id: str | None, *, source: bool = False) -> dict:
        statuses = self.state["statuses"]
        account = self.state["accounts"][status["account_id"]]
        reblog = statuses.get(status.get("reblog_of_id") or "")
        replies = [
            s
            for s in statuses.values()
            if s["in_reply_to_id"] == status["id"] and s["visibility"] in ("public", "unlisted")
        ]
        reblogs = [s for s in statuses.values() if s.get("reblog_of_id") == status["id"]]
        url_path = f"@{account['username']}/{status['id']}"
        if reblog is not None:
            url_path = f"users/{account['username']}/statuses/{status['id']}/activity"
        body = {
            "id": status["id"],
            "created_at": iso_time(status["created_at"]),
            "in_reply_to_id": status["in_reply_to_id"],
            "in_reply_to_account_id": status["in_reply_to_account_id"],
            "sensitive": status.get("sensitive", False),
            "spoiler_text": status.get("spoiler_text", ""),
            "visibility": status["visibility"],
            "language": status.get("language"),
            "uri": f"{base}/ap/users/{account['id']}/statuses/{status['id']}" + ("/activity" if reblog else ""),
            "url": f"{base}/{url_path}",
            "replies_count": len(replies),
            "reblogs_count": len(reblogs),
            "favourites_count": len(status["favourited_by"]),
            "quotes_count": 0,
            "edited_at": None,
            "favourited": viewer_id in status["favourited_by"],
            "reblogged": any(s["account_id"] == viewer_id for s in reblogs),
            "muted": False,
            "bookmarked": False,
        }
        if viewer_id == status["account_id"] and reblog is None:
            body["pinned"] = False
        if source:
            body["text"] = status["text"]
        else:
            body["content"] = "" if reblog else self._content_html(status["text"], base)
        mentioned = [self.state["accounts"][i] for i in status["mentions"] if i in self.state["accounts"]]
        body.update(
            {
                "filtered": [],
                "reblog": self._status_json(reblog, base, viewer_id) if reblog else None,
                "application": status.get("application"),
                "account": self._account_json(account, base),
                "media_attachments": [
                    self._media_json(self.state["media"][m], base)
                    for m in status["media_ids"]
                    if m in self.state["media"]
                ],
                "mentions": [
                    {"id": a["id"], "username": a["username"], "url": f"{base}/@{a['username']}", "acct": a["username"]}
                    for a in mentioned
                ],
                "tags": [
                    {"name": t.lower(), "url": f"{base}/tags/{t.lower()}"}
                    for t in dict.fromkeys(HASHTAG.findall(status["text"]))
                ],
                "emojis": [],
                "tagged_collections": [],
                "quote": None,
                "card": None,
                "poll": None,
                "quote_approval": {"automatic": ["public"], "manual": [], "current_user": "automatic"},
            }
        )
        return body

    def _notification_json(self, notification: dict, base: str, viewer_id: str) -> dict:
        body = {
            "id": notification["id"],
            "type": notification["type"],
            "created_at": iso_time(notification["created_at"]),
            "group_key": f"ungrouped-{notification['id']}",
            "account": self._account_json(self.state["accounts"][notification["from_account_id"]], base),
        }
        if notification.get("status_id"):
            body["status"] = self._status_json(self.state["statuses"][notification["status_id"]], base, viewer_id)
        return body

    def _conversation_json(self, conversation: dict, viewer: str, base: str) -> dict | None:
        visible = [
            self.state["statuses"][i]
            for i in conversation["status_ids"]
            if i in self.state["statuses"] and self._visible(self.state["statuses"][i], viewer)
        ]
        if not visible:
            return None
        last = max(visible, key=lambda s: int(s["id"]))
        return {
            "id": conversation["id"],
            "unread": viewer in conversation["unread_for"],
            "accounts": [
                self._account_json(self.state["accounts"][p], base) for p in conversation["participants"] if p != viewer
            ],
            "last_status": self._status_json(last, base, viewer),
        }

    def _relationship(self, viewer_id: str, account_id: str) -> dict:
        target = self.state["accounts"][account_id]
        return {
            "id": account_id,
            "following": viewer_id in target["followers"],
            "showing_reblogs": viewer_id in target["followers"],
            "notifying": False,
            "languages": None,
            "followed_by": account_id in self.state["accounts"][viewer_id]["followers"],
            "blocking": False,
            "blocked_by": False,
            "muting": False,
            "muting_notifications": False,
            "requested": False,
            "requested_by": False,
            "domain_blocking": False,
            "endorsed": False,
            "note": "",
        }

    def _app_json(self, app: dict) -> dict:
        return {
            "id": app["id"],
            "name": app["name"],
            "website": app["website"],
            "scopes": app["scopes"],
            "redirect_uris": app["redirect_uris"],
            "vapid_key": VAPID_KEY,
            "redirect_uri": "\n".join(app["redirect_uris"]),
        }

    def _configuration(self) -> dict:
        return {
            "statuses": {
                "max_characters": MAX_CHARACTERS,
                "max_media_attachments": MAX_MEDIA_ATTACHMENTS,
                "characters_reserved_per_url": CHARACTERS_PER_URL,
            },
            "media_attachments": {
                "description_limit": DESCRIPTION_LIMIT,
                "image_matrix_limit": 33177600,
                "image_size_limit": IMAGE_SIZE_LIMIT,
                "supported_mime_types": list(IMAGE_TYPES),
                "video_frame_rate_limit": 120,
                "video_matrix_limit": 8294400,
                "video_size_limit": 103809024,
            },
            "polls": {
                "max_options": 4,
                "max_characters_per_option": 50,
                "min_expiration": 300,
                "max_expiration": 2629746,
            },
        }

    def _instance_v2_json(self, base: str, host: str) -> dict:
        configuration = self._configuration()
        configuration.update(
            urls={
                "streaming": None,
                "status": None,
                "about": f"{base}/about",
                "privacy_policy": None,
                "terms_of_service": None,
            },
            vapid={"public_key": VAPID_KEY},
            accounts={
                "max_display_name_length": 30,
                "max_note_length": 500,
                "max_avatar_description_length": 150,
                "max_header_description_length": 150,
                "max_featured_tags": 10,
                "max_pinned_statuses": 5,
                "max_profile_fields": 4,
                "profile_field_name_limit": 255,
                "profile_field_value_limit": 255,
            },
            translation={"enabled": False},
            timelines_access={
                feed: {"local": "public", "remote": "public"}
                for feed in ("live_feeds", "hashtag_feeds", "trending_link_feeds")
            },
            limited_federation=False,
        )
        return {
            "domain": host,
            "title": "Mastodon (simulator)",
            "version": VERSION,
            "source_url": "https://github.com/mastodon/mastodon",
            "description": "The Civic Desk platform simulator, speaking the Mastodon API.",
            "usage": {"users": {"active_month": len(self.state["accounts"])}},
            "thumbnail": {"url": f"{base}/packs/images/preview.png", "description": "The Mastodon logo"},
            "icon": [],
            "languages": ["en"],
            "configuration": configuration,
            "registrations": {
                "enabled": False,
                "approval_required": False,
                "reason_required": False,
                "message": None,
                "min_age": None,
                "url": None,
            },
            "api_versions": {"mastodon": 6},
            "wrapstodon": None,
            "contact": {"email": "", "account": None},
            "rules": [],
        }

    def _instance_v1_json(self, base: str, host: str) -> dict:
        configuration = self._configuration()
        configuration["accounts"] = {"max_featured_tags": 10}
        # v1 never had description_limit.
        del configuration["media_attachments"]["description_limit"]
        return {
            "uri": host,
            "title": "Mastodon (simulator)",
            "short_description": "",
            "description": "The Civic Desk platform simulator, speaking the Mastodon API.",
            "email": "",
            "version": VERSION,
            "urls": {"streaming_api": None},
            "stats": {
                "user_count": len(self.state["accounts"]),
                "status_count": len(self.state["statuses"]),
                "domain_count": 0,
            },
            "thumbnail": f"{base}/packs/images/preview.png",
            "languages": ["en"],
            "registrations": False,
            "approval_required": False,
            "invites_enabled": False,
            "configuration": configuration,
            "contact_account": None,
            "rules": [],
        }

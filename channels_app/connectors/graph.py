"""Facebook Pages and Instagram professional accounts over the Graph API, with plain `requests`.

Base URL: settings.GRAPH_API_URL + "/" + settings.GRAPH_API_VERSION. Credentials: {"page_access_token"} for a
Facebook Page (the channel's account id is the Page id), plus {"ig_user_id", "page_id"} for the Instagram
account linked to a Page (Instagram calls use that Page's token). The token travels in the Authorization header,
never in a URL, and no message or log line here ever includes a URL: Graph URLs can carry tokens and secrets.

Inbound, per stream, each cursor a watermark "<time>|<ids>": the newest second taken and the ids taken in it:
- "comments": comments and replies on the account's recent posts (Facebook: posts whose updated_time moved past
  the watermark, read newest first with `since`; Instagram: the newest media that have comments).
- "mentions": Facebook posts that tag the Page (/tagged); Instagram media that mention the account (/tags).
- "dms": Messenger or Instagram conversations of the Page (/conversations), newest first.

Errors: codes 4/17/32/613 and 80000-80014 are rate limits, waiting `estimated_time_to_regain_access` minutes from
X-Business-Use-Case-Usage (one hour when it says nothing); 190/102/463/467 mean the token is gone; 506 is a
duplicate post; 1/2 and 5xx are transient. A usage header that says 100% (or a wait) stops further calls until
the wait is over, without calling.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import requests
from django.conf import settings

from channels_app.connectors.base import (
    Account,
    AccountStats,
    AuthExpired,
    Connector,
    ConnectorError,
    InboundBatch,
    InboundItem,
    MediaItem,
    PermanentError,
    PostMetrics,
    Published,
    RateLimited,
    TransientError,
    for_write,
    request_failure,
    same_text,
)
from channels_app.connectors.graph_parsing import (
    Watermark,
    error_from_response,
    insight_values,
    parse_facebook_comment,
    parse_instagram_comments,
    parse_instagram_mention,
    parse_media_metrics,
    parse_message,
    parse_page_accounts,
    parse_post_metrics,
    parse_tagged_post,
    parse_time,
    usage_wait,
)
from channels_app.text import validate_text

SCOPES = (
    "pages_show_list", "pages_manage_posts", "pages_read_engagement", "pages_manage_engagement", "pages_messaging",
    "instagram_basic", "instagram_content_publish", "instagram_manage_comments", "instagram_manage_messages",
    # Post and media insights (impressions, clicks, reach) need these two as well.
    "read_insights", "instagram_manage_insights",
)  # fmt: skip
PAGE_SIZE = 50
# Pages read per edge in one poll; posts (or media) whose comments are read per poll.
MAX_PAGES = 5
RECENT_POSTS = 25
MAX_IMAGES = 10
MAX_IMAGE_BYTES = 8 * 1024 * 1024
COMMENT_LIMIT = 8000
MESSENGER_LIMIT = 2000
INSTAGRAM_DM_BYTES = 1000
CONTAINER_CHECKS = 5

FB_COMMENT_FIELDS = "id,message,created_time,from{id,name,picture},parent{id},permalink_url"
IG_COMMENT_FIELDS = "id,text,timestamp,username,from{id,username}"
MESSAGE_FIELDS = "id,message,from,created_time"


# ------------------------------------------------------------------------------------------------ HTTP
class _GraphHTTP:
    """HTTP and errors shared by the Facebook and Instagram connectors and the login helpers."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 20, secrets: Sequence[str] = (),
                 label: str = "Facebook"):
        self.label = label
        self.api_url = f"{base_url.rstrip('/')}/{settings.GRAPH_API_VERSION}"
        self.token = token
        self.timeout = timeout
        self.secrets = tuple(s for s in (token, *secrets) if s)
        self.session = requests.Session()
        self.blocked_until: datetime | None = None

    def call(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, data: Mapping[str, Any] | None = None,
             json_body: Mapping[str, Any] | None = None, files: Mapping[str, Any] | None = None, auth: bool = True) -> Any:
        if auth and not self.token:
            raise AuthExpired(f"This {self.label} channel has no access token; reconnect it.")
        now = datetime.now(UTC)
        if self.blocked_until is not None and now < self.blocked_until:
            raise RateLimited(f"{self.label} usage is at its limit; waiting until {self.blocked_until:%H:%M} UTC before "
                              "calling again.", reset_at=self.blocked_until)
        headers = {"Authorization": f"Bearer {self.token}"} if auth else {}
        try:
            response = self.session.request(method, f"{self.api_url}/{path.lstrip('/')}", params=params, data=data,
                                            json=json_body, files=files, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            error = request_failure(exc, method=method, label=self.label, timeout=self.timeout)
            if type(error) is TransientError:
                error = TransientError(f"{self.label} did not answer in time; we will try again."
                                       if isinstance(exc, requests.Timeout) else f"Could not reach {self.label}; we will try again.")
            raise error from None
        wait = usage_wait(response.headers)
        if wait is not None:
            self.blocked_until = datetime.now(UTC) + wait
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400 or (isinstance(body, Mapping) and "error" in body):
            raise for_write(method, error_from_response(response.status_code, body, response.headers, label=self.label,
                                                        secrets=self.secrets))
        if body is None:
            raise for_write(method, TransientError(
                f"{self.label} sent an answer we could not read (HTTP {response.status_code}).", status=502))
        return body

    def pages(self, path: str, params: Mapping[str, Any], *, max_pages: int = MAX_PAGES) -> Iterator[list[dict[str, Any]]]:
        """An edge's pages, following paging.cursors.after (never paging.next: those URLs carry tokens)."""
        params = dict(params)
        for _ in range(max_pages):
            body = self.call("GET", path, params=params)
            yield list(body.get("data") or [])
            paging = body.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            if not paging.get("next") or not after:
                return
            params["after"] = after


# ------------------------------------------------------------------------------------------- connectors
class _GraphConnector(Connector):
    label = "Facebook"

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.credentials = dict(self.credentials or {})
        token = self.credentials.get("page_access_token", "")
        self.http = _GraphHTTP(self.base_url, token, timeout=self.timeout, label=self.label)

    @property
    def page_id(self) -> str:
        return self.credentials.get("page_id") or self.account_id

    @property
    def own_id(self) -> str:
        raise NotImplementedError

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.http.call(method, path, **kwargs)

    def revoke(self) -> bool:
        # A Page token cannot be revoked on its own: DELETE /{user-id}/permissions removes the app for every Page the
        # person granted, other channels included. They can remove the app in their Facebook settings.
        return False

    # ------------------------------------------------------------------------------------ messages
    def _dms_since(self, cursor: str, platform: str) -> tuple[list[InboundItem], str]:
        mark = Watermark(cursor)
        items: list[InboundItem] = []
        params = {"platform": platform, "limit": 25,
                  "fields": f"id,updated_time,participants,messages.limit({PAGE_SIZE}){{{MESSAGE_FIELDS}}}"}
        for conversations in self.http.pages(f"{self.page_id}/conversations", params,
                                             max_pages=MAX_PAGES if mark.started else 1):
            for conversation in conversations:
                # Newest conversations first: once one is older than the mark, so are the rest.
                if mark.is_before(parse_time(conversation.get("updated_time"))):
                    return items, str(mark)
                for raw in self._conversation_messages(conversation, mark):
                    mark.take(parse_time(raw["created_time"]), raw["id"])
                    item = parse_message(raw, conversation_id=conversation["id"], own_id=self.own_id)
                    if item:
                        items.append(item)
        return items, str(mark)

    def _conversation_messages(self, conversation: Mapping[str, Any], mark: Watermark) -> list[dict[str, Any]]:
        """Messages newer than the mark, newest first, reading further pages of the thread when needed."""
        found = []
        page = conversation.get("messages") or {}
        for _ in range(MAX_PAGES):
            for raw in page.get("data") or []:
                created = parse_time(raw.get("created_time"))
                if created is None or not raw.get("id"):
                    continue
                if mark.is_before(created):
                    return found
                if mark.is_new(created, raw["id"]):
                    found.append(raw)
            after_cursor = ((page.get("paging") or {}).get("cursors") or {}).get("after")
            if not (page.get("paging") or {}).get("next") or not after_cursor:
                return found
            page = self.call("GET", f"{conversation['id']}/messages",
                             params={"fields": MESSAGE_FIELDS, "limit": PAGE_SIZE, "after": after_cursor})
        return found

    def send_dm(self, *, conversation_key: str, recipient_id: str, text: str) -> Published:
        self._check_dm(text)
        if not recipient_id:
            if not conversation_key:
                raise PermanentError("A direct message needs a conversation or a recipient.")
            conversation = self.call("GET", conversation_key, params={"fields": "participants"})
            people = [p.get("id", "") for p in (conversation.get("participants") or {}).get("data") or []]
            recipient_id = next((p for p in people if p and p != self.own_id), "")
            if not recipient_id:
                raise PermanentError("Could not find who to answer in this conversation.")
        sent = self.call("POST", f"{self.page_id}/messages", json_body={
            "recipient": {"id": recipient_id}, "message": {"text": text}, "messaging_type": "RESPONSE"})
        return Published(platform_id=sent.get("message_id", ""), url="")

    def find_dm(self, *, conversation_key: str, recipient_id: str, text: str) -> Published | None:
        if not conversation_key:
            return None
        body = self.call("GET", f"{conversation_key}/messages", params={"fields": MESSAGE_FIELDS, "limit": PAGE_SIZE})
        for message in body.get("data") or []:
            if (message.get("from") or {}).get("id") == self.own_id and same_text(text, message.get("message", "")):
                return Published(platform_id=message["id"], url="")
        return None

    def _permalink(self, object_id: str, field: str) -> str:
        # The post exists by now: failing to read its address must not make it look unsent (and be posted again).
        try:
            return str(self.call("GET", object_id, params={"fields": field}).get(field) or "")
        except ConnectorError:
            return ""

    def _address(self, object_id: str, fields: str) -> str:
        """The public address of something just created; empty if it cannot be read now (it exists all the same)."""
        try:
            found = self.call("GET", object_id, params={"fields": fields})
        except ConnectorError:
            return ""
        if "permalink_url" in found:
            return found.get("permalink_url") or ""
        return (found.get("media") or {}).get("permalink", "")

    def _check_dm(self, text: str) -> None:
        if not text.strip():
            raise PermanentError("Write something: a message can't be empty.")

    # ----------------------------------------------------------------------------------- helpers
    def _check(self, text: str, *, has_image: bool) -> None:
        check = validate_text(self.platform, text, has_image=has_image)
        if not check.valid:
            raise PermanentError(" ".join(check.errors))

    def _check_media(self, media: Sequence[MediaItem]) -> None:
        if len(media) > MAX_IMAGES:
            raise PermanentError(f"A {self.label} post can carry at most {MAX_IMAGES} images.")
        for item in media:
            if not item.mime_type.startswith("image/"):
                raise PermanentError(f"{self.label} posts here take images only, not {item.mime_type}.")
            if len(item.content) > MAX_IMAGE_BYTES:
                raise PermanentError(f"Each image for {self.label} must be under {MAX_IMAGE_BYTES // (1024 * 1024)} MB.")

    def _upload_photo(self, item: MediaItem, *, message: str = "", published: bool, temporary: bool = False) -> dict[str, Any]:
        extension = item.mime_type.split("/", 1)[1].split(";")[0] or "jpg"
        data = {"published": "true" if published else "false", "alt_text_custom": item.alt_text or ""}
        if message:
            data["message"] = message
        if temporary:
            data["temporary"] = "true"
        return self.call("POST", f"{self.page_id}/photos", data=data,
                         files={"source": (f"image.{extension}", item.content, item.mime_type)})


class FacebookConnector(_GraphConnector):
    platform = "facebook"
    label = "Facebook"

    @property
    def own_id(self) -> str:
        return self.page_id

    def whoami(self) -> Account:
        page = self.call("GET", "me", params={"fields": "id,name,username,picture{url}"})
        return Account(account_id=page["id"], handle=page.get("username") or page.get("name", ""),
                       display_name=page.get("name", ""),
                       avatar_url=((page.get("picture") or {}).get("data") or {}).get("url", ""))

    def fetch_inbound(self, cursor: dict[str, str]) -> InboundBatch:
        cursor = dict(cursor or {})
        comments, cursor["comments"] = self._comments_since(cursor.get("comments", ""))
        mentions, cursor["mentions"] = self._tagged_since(cursor.get("mentions", ""))
        dms, cursor["dms"] = self._dms_since(cursor.get("dms", ""), "messenger")
        items = sorted(comments + mentions + dms, key=lambda item: item.created_at)
        return InboundBatch(items=items, cursor={stream: mark for stream, mark in cursor.items() if mark})

    def _comments_since(self, cursor: str) -> tuple[list[InboundItem], str]:
        mark = Watermark(cursor)
        items: list[InboundItem] = []
        posts = self.call("GET", f"{self.page_id}/feed", params={"fields": "id,updated_time", "limit": RECENT_POSTS})
        for post in posts.get("data") or []:
            # A new comment moves the post's updated_time; older posts have nothing new.
            if mark.is_before(parse_time(post.get("updated_time"))):
                continue
            params: dict[str, Any] = {"fields": FB_COMMENT_FIELDS, "filter": "stream", "order": "reverse_chronological",
                                      "limit": PAGE_SIZE}
            if mark.since is not None:
                params["since"] = int(mark.since.timestamp())
            for comments in self.http.pages(f"{post['id']}/comments", params):
                older = False
                for raw in comments:
                    created = parse_time(raw.get("created_time"))
                    if created is None or not raw.get("id"):
                        continue
                    if mark.is_before(created):
                        older = True
                        break
                    if not mark.is_new(created, raw["id"]):
                        continue
                    mark.take(created, raw["id"])
                    item = parse_facebook_comment(raw, own_id=self.page_id, conversation_key=post["id"])
                    if item:
                        items.append(item)
                if older:
                    break
        return items, str(mark)

    def _tagged_since(self, cursor: str) -> tuple[list[InboundItem], str]:
        mark = Watermark(cursor)
        items = []
        params = {"fields": "id,message,created_time,from{id,name,picture},permalink_url", "limit": 25}
        for posts in self.http.pages(f"{self.page_id}/tagged", params, max_pages=MAX_PAGES if mark.started else 1):
            for raw in posts:
                created = parse_time(raw.get("created_time"))
                if created is None or not raw.get("id"):
                    continue
                if mark.is_before(created):
                    return items, str(mark)
                if not mark.is_new(created, raw["id"]):
                    continue
                mark.take(created, raw["id"])
                item = parse_tagged_post(raw, own_id=self.page_id)
                if item:
                    items.append(item)
        return items, str(mark)

    def reply(self, *, in_reply_to: str, text: str) -> Published:
        if not text.strip():
            raise PermanentError("Write something: a Facebook comment can't be empty.")
        if len(text) > COMMENT_LIMIT:
            raise PermanentError(f"A Facebook comment can be at most {COMMENT_LIMIT:,} characters.")
        created = self.call("POST", f"{in_reply_to}/comments", data={"message": text})
        return Published(platform_id=created["id"], url=self._address(created["id"], "permalink_url"))

    def find_reply(self, *, in_reply_to: str, text: str) -> Published | None:
        found = self._find_comment(in_reply_to, text)
        if found is None and not in_reply_to.startswith(f"{self.page_id}_"):
            # Facebook threads one level deep: an answer to a reply is stored under the first comment of the thread.
            try:
                parent = (self.call("GET", in_reply_to, params={"fields": "parent{id}"}).get("parent") or {}).get("id")
            except PermanentError:
                parent = None  # a post (a mention), not a comment: it has no thread above it
            if parent:
                found = self._find_comment(parent, text)
        return found

    def _find_comment(self, object_id: str, text: str) -> Published | None:
        body = self.call("GET", f"{object_id}/comments",
                         params={"fields": "id,message,from{id},permalink_url", "limit": PAGE_SIZE, "order": "reverse_chronological"})
        for comment in body.get("data") or []:
            if (comment.get("from") or {}).get("id") == self.page_id and same_text(text, comment.get("message", "")):
                return Published(platform_id=comment["id"], url=comment.get("permalink_url", ""))
        return None

    def send_dm(self, *, conversation_key: str, recipient_id: str, text: str) -> Published:
        if len(text) > MESSENGER_LIMIT:
            raise PermanentError(f"A Messenger message can be at most {MESSENGER_LIMIT:,} characters.")
        return super().send_dm(conversation_key=conversation_key, recipient_id=recipient_id, text=text)

    def publish(self, *, text: str, media: Sequence[MediaItem] = (), link: str = "",
                idempotency_key: str | None = None) -> Published:
        # The Graph API has no idempotency key: an ambiguous failure is settled by find_post before any retry.
        media = list(media)
        self._check_media(media)
        # A photo post has no link preview: the link goes in the text instead.
        if media and link and link not in text:
            text = f"{text}\n\n{link}" if text.strip() else link
        self._check(text, has_image=bool(media))
        if len(media) == 1:
            post_id = self._upload_photo(media[0], message=text, published=True)["post_id"]
        elif media:
            photo_ids = [self._upload_photo(item, published=False)["id"] for item in media]
            data = {"message": text, **{f"attached_media[{i}]": json.dumps({"media_fbid": p}) for i, p in enumerate(photo_ids)}}
            post_id = self.call("POST", f"{self.page_id}/feed", data=data)["id"]
        else:
            data = {"message": text}
            if link:
                data["link"] = link
            post_id = self.call("POST", f"{self.page_id}/feed", data=data)["id"]
        return Published(platform_id=post_id, url=self._permalink(post_id, "permalink_url"))

    def find_post(self, *, text: str, since: datetime | None) -> Published | None:
        # /posts: what the Page itself published (not visitors' posts on it), newest first.
        params: dict[str, Any] = {"fields": "id,message,created_time,permalink_url", "limit": PAGE_SIZE}
        if since is not None:
            params["since"] = int(since.timestamp())
        for post in self.call("GET", f"{self.page_id}/posts", params=params).get("data") or []:
            created = parse_time(post.get("created_time"))
            if since is not None and created is not None and created < since.replace(microsecond=0):
                continue
            if same_text(text, post.get("message", "")):
                return Published(platform_id=post["id"], url=post.get("permalink_url", ""))
        return None

    def delete(self, platform_id: str) -> None:
        answer = self.call("DELETE", platform_id)
        if isinstance(answer, Mapping) and answer.get("success") is False:
            raise PermanentError("Facebook did not delete the post.")

    def post_metrics(self, platform_id: str) -> PostMetrics:
        # Post ids start with the Page's id; anything else is a comment (a reply of ours), which has no shares or insights.
        if not platform_id.startswith(f"{self.page_id}_"):
            return parse_post_metrics(self.call("GET", platform_id, params={"fields": "like_count,comment_count"}))
        post = self.call("GET", platform_id, params={
            "fields": "reactions.summary(true).limit(0),comments.summary(true).limit(0),shares"})
        try:
            insights = self.call("GET", f"{platform_id}/insights", params={"metric": "post_impressions,post_clicks"})
        except PermanentError:
            # Without the read_insights permission the counts still stand.
            insights = None
        return parse_post_metrics(post, insights)

    def account_stats(self) -> AccountStats:
        page = self.call("GET", self.page_id, params={"fields": "followers_count,fan_count,name"})
        followers = page.get("followers_count")
        try:
            # Page insights need read_insights; a Page connected without it still gets its followers.
            values = insight_values(self.call("GET", f"{self.page_id}/insights",
                                              params={"metric": "page_impressions,page_impressions_unique",
                                                      "period": "day"}))
        except PermanentError:
            values = {}
        return AccountStats(followers=int(followers if followers is not None else page.get("fan_count") or 0),
                            impressions=values.get("page_impressions"), reach=values.get("page_impressions_unique"))


class InstagramConnector(_GraphConnector):
    platform = "instagram"
    label = "Instagram"

    @property
    def ig_user_id(self) -> str:
        return self.credentials.get("ig_user_id") or self.account_id

    @property
    def own_id(self) -> str:
        return self.ig_user_id

    def whoami(self) -> Account:
        account = self.call("GET", self.ig_user_id, params={"fields": "id,username,name,profile_picture_url"})
        return Account(account_id=account["id"], handle=account.get("username", ""), display_name=account.get("name", ""),
                       avatar_url=account.get("profile_picture_url", ""))

    def fetch_inbound(self, cursor: dict[str, str]) -> InboundBatch:
        cursor = dict(cursor or {})
        comments, cursor["comments"] = self._comments_since(cursor.get("comments", ""))
        mentions, cursor["mentions"] = self._mentions_since(cursor.get("mentions", ""))
        dms, cursor["dms"] = self._dms_since(cursor.get("dms", ""), "instagram")
        items = sorted(comments + mentions + dms, key=lambda item: item.created_at)
        return InboundBatch(items=items, cursor={stream: mark for stream, mark in cursor.items() if mark})

    def _comments_since(self, cursor: str) -> tuple[list[InboundItem], str]:
        mark = Watermark(cursor)
        items: list[InboundItem] = []
        media = self.call("GET", f"{self.ig_user_id}/media",
                          params={"fields": "id,comments_count,permalink", "limit": RECENT_POSTS})
        fields = f"{IG_COMMENT_FIELDS},replies.limit({PAGE_SIZE}){{{IG_COMMENT_FIELDS}}}"
        for post in media.get("data") or []:
            if not post.get("comments_count"):
                continue
            # Instagram lists comments newest first but cannot filter by time, and a new reply can sit under an
            # old comment, so every page of a post with comments is read.
            for comments in self.http.pages(f"{post['id']}/comments", {"fields": fields, "limit": PAGE_SIZE}):
                for item in parse_instagram_comments({"data": comments}, media_id=post["id"], own_id=self.ig_user_id,
                                                     url=post.get("permalink", "")):
                    if mark.is_new(item.created_at, item.platform_id):
                        mark.take(item.created_at, item.platform_id)
                        items.append(item)
        return items, str(mark)

    def _mentions_since(self, cursor: str) -> tuple[list[InboundItem], str]:
        mark = Watermark(cursor)
        items = []
        params = {"fields": "id,caption,timestamp,username,permalink,media_type", "limit": 25}
        for media in self.http.pages(f"{self.ig_user_id}/tags", params, max_pages=MAX_PAGES if mark.started else 1):
            for raw in media:
                item = parse_instagram_mention(raw)
                if item is None:
                    continue
                if mark.is_before(item.created_at):
                    return items, str(mark)
                if mark.is_new(item.created_at, item.platform_id):
                    mark.take(item.created_at, item.platform_id)
                    items.append(item)
        return items, str(mark)

    def reply(self, *, in_reply_to: str, text: str) -> Published:
        if not text.strip():
            raise PermanentError("Write something: an Instagram comment can't be empty.")
        self._check(text, has_image=True)
        try:
            created = self.call("POST", f"{in_reply_to}/replies", data={"message": text})
        except PermanentError as error:
            if not (error.platform_code or "").startswith(("100", "2500")):
                raise
            # Not a comment: a post of ours takes a comment, someone else's post that mentions us a mention reply.
            media = self.call("GET", in_reply_to, params={"fields": "owner"})
            if (media.get("owner") or {}).get("id") == self.ig_user_id:
                created = self.call("POST", f"{in_reply_to}/comments", data={"message": text})
            else:
                created = self.call("POST", f"{self.ig_user_id}/mentions", data={"media_id": in_reply_to, "message": text})
        return Published(platform_id=created["id"], url=self._address(created["id"], "media{permalink}"))

    def find_reply(self, *, in_reply_to: str, text: str) -> Published | None:
        fields = "id,text,from{id}"
        for edge in ("replies", "comments"):
            try:
                body = self.call("GET", f"{in_reply_to}/{edge}", params={"fields": fields, "limit": PAGE_SIZE})
            except PermanentError:
                continue
            found = self._own_comment(body, text)
            if found is not None:
                return found
        # Instagram threads one level deep: an answer to a reply is stored under the first comment of the thread.
        try:
            parent = self.call("GET", in_reply_to, params={"fields": "parent_id"}).get("parent_id")
        except PermanentError:
            parent = None  # not a comment
        if parent:
            return self._own_comment(self.call("GET", f"{parent}/replies", params={"fields": fields, "limit": PAGE_SIZE}), text)
        # Someone else's media that mentions us (answered through /mentions): read it through mentioned_media.
        try:
            body = self.call("GET", self.ig_user_id, params={
                "fields": f"mentioned_media.media_id({in_reply_to}){{comments.limit({PAGE_SIZE}){{{fields}}}}}"})
        except PermanentError:
            return None
        return self._own_comment((body.get("mentioned_media") or {}).get("comments") or {}, text)

    def _own_comment(self, body: Mapping[str, Any], text: str) -> Published | None:
        for comment in body.get("data") or []:
            if (comment.get("from") or {}).get("id") == self.ig_user_id and same_text(text, comment.get("text", "")):
                return Published(platform_id=comment["id"], url="")
        return None

    def send_dm(self, *, conversation_key: str, recipient_id: str, text: str) -> Published:
        if len(text.encode()) > INSTAGRAM_DM_BYTES:
            raise PermanentError(f"An Instagram message can be at most {INSTAGRAM_DM_BYTES:,} bytes long.")
        return super().send_dm(conversation_key=conversation_key, recipient_id=recipient_id, text=text)

    def publish(self, *, text: str, media: Sequence[MediaItem] = (), link: str = "",
                idempotency_key: str | None = None) -> Published:
        media = list(media)
        if not media:
            raise PermanentError("Instagram posts need an image: add a picture to publish this on Instagram.")
        self._check_media(media)
        # Links in Instagram captions are not clickable, but they are still worth showing.
        if link and link not in text:
            text = f"{text}\n\n{link}" if text.strip() else link
        self._check(text, has_image=True)
        urls = [self._public_image_url(item) for item in media]
        if len(media) == 1:
            container = self.call("POST", f"{self.ig_user_id}/media",
                                  data={"image_url": urls[0], "caption": text, "alt_text": media[0].alt_text or ""})
        else:
            children = [self.call("POST", f"{self.ig_user_id}/media",
                                  data={"image_url": url, "is_carousel_item": "true", "alt_text": item.alt_text or ""})["id"]
                        for url, item in zip(urls, media, strict=True)]
            container = self.call("POST", f"{self.ig_user_id}/media",
                                  data={"media_type": "CAROUSEL", "children": ",".join(children), "caption": text})
        self._wait_until_ready(container["id"])
        published = self.call("POST", f"{self.ig_user_id}/media_publish", data={"creation_id": container["id"]})
        return Published(platform_id=published["id"], url=self._permalink(published["id"], "permalink"))

    def find_post(self, *, text: str, since: datetime | None) -> Published | None:
        body = self.call("GET", f"{self.ig_user_id}/media",
                         params={"fields": "id,caption,timestamp,permalink", "limit": PAGE_SIZE})
        for media in body.get("data") or []:
            created = parse_time(media.get("timestamp"))
            if since is not None and created is not None and created < since.replace(microsecond=0):
                continue
            if same_text(text, media.get("caption", "")):
                return Published(platform_id=media["id"], url=media.get("permalink", ""))
        return None

    def _public_image_url(self, item: MediaItem) -> str:
        """Instagram fetches pictures from a public URL: upload the bytes as an unpublished, temporary photo of the
        linked Page and hand Instagram that photo's CDN address."""
        photo = self._upload_photo(item, published=False, temporary=True)
        images = self.call("GET", photo["id"], params={"fields": "images"}).get("images") or []
        if not images or not images[0].get("source"):
            raise TransientError("Facebook did not give the uploaded picture an address yet; we will try again.")
        return images[0]["source"]

    def _wait_until_ready(self, container_id: str) -> None:
        for attempt in range(CONTAINER_CHECKS):
            status = self.call("GET", container_id, params={"fields": "status_code"}).get("status_code", "FINISHED")
            if status in ("FINISHED", "PUBLISHED"):
                return
            if status in ("ERROR", "EXPIRED"):
                raise PermanentError(f"Instagram could not prepare this post (status {status}).")
            time.sleep(1 + attempt)
        raise TransientError("Instagram is still preparing this post; we will try again.")

    def delete(self, platform_id: str) -> None:
        try:
            self.call("DELETE", platform_id)
        except PermanentError as error:
            if not (error.platform_code or "").startswith("100"):
                raise
            try:
                media = self.call("GET", platform_id, params={"fields": "media_type"})
            except PermanentError:
                raise error from None
            if media.get("media_type"):
                raise PermanentError("Instagram does not let apps delete posts: delete it in the Instagram app. "
                                     "(Comments and replies can be deleted here.)", platform_code=error.platform_code,
                                     status=error.status) from None
            raise

    def post_metrics(self, platform_id: str) -> PostMetrics:
        media = self.call("GET", platform_id, params={"fields": "like_count,comments_count"})
        try:
            insights = self.call("GET", f"{platform_id}/insights", params={"metric": "impressions,reach"})
        except PermanentError:
            insights = None
        return parse_media_metrics(media, insights)

    def account_stats(self) -> AccountStats:
        account = self.call("GET", self.ig_user_id, params={"fields": "username,followers_count,follows_count,media_count"})
        try:
            values = insight_values(self.call("GET", f"{self.ig_user_id}/insights",
                                              params={"metric": "impressions,reach", "period": "day"}))
        except PermanentError:
            values = {}
        return AccountStats(followers=int(account.get("followers_count") or 0), following=account.get("follows_count"),
                            posts=account.get("media_count"), impressions=values.get("impressions"),
                            reach=values.get("reach"))


# ------------------------------------------------------------------------------------------- Facebook Login
def login_url(*, state: str, redirect_uri: str) -> str:
    """Where to send the person to log in with Facebook and pick the Pages to connect."""
    query = urlencode({"client_id": settings.FACEBOOK_APP_ID, "redirect_uri": redirect_uri, "state": state,
                       "scope": ",".join(SCOPES), "response_type": "code"})
    return f"{settings.FACEBOOK_LOGIN_URL}?{query}"


def _login_http(token: str = "") -> _GraphHTTP:
    return _GraphHTTP(settings.GRAPH_API_URL, token, timeout=settings.PLATFORM_TIMEOUT_SECONDS,
                      secrets=(settings.FACEBOOK_APP_SECRET,))


def exchange_code(*, code: str, redirect_uri: str) -> str:
    """The authorisation code from the callback → a short-lived user access token."""
    body = _login_http().call("GET", "oauth/access_token", auth=False, params={
        "client_id": settings.FACEBOOK_APP_ID, "client_secret": settings.FACEBOOK_APP_SECRET,
        "redirect_uri": redirect_uri, "code": code})
    return _token_of(body)


def long_lived(user_token: str) -> str:
    """A short-lived user token → a long-lived one (60 days); Page tokens taken from it do not expire."""
    body = _login_http(user_token).call("GET", "oauth/access_token", auth=False, params={
        "grant_type": "fb_exchange_token", "client_id": settings.FACEBOOK_APP_ID,
        "client_secret": settings.FACEBOOK_APP_SECRET, "fb_exchange_token": user_token})
    return _token_of(body)


def list_pages(user_token: str) -> list[dict[str, str]]:
    """The Pages the person granted: id, name, page_access_token, and instagram_id / instagram_username of the
    linked Instagram account ("" when none)."""
    http = _login_http(user_token)
    pages = []
    params = {"fields": "id,name,access_token,instagram_business_account{id,username}", "limit": 100}
    for batch in http.pages("me/accounts", params):
        pages += parse_page_accounts({"data": batch})
    return pages


def _token_of(body: Mapping[str, Any]) -> str:
    token = body.get("access_token") if isinstance(body, Mapping) else None
    if not token:
        raise PermanentError("Facebook did not return an access token.")
    return token

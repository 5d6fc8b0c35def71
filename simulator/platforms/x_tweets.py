"""Tweets on the simulated X: timelines (mentions, a user's posts), lookups, posting (replies, duplicates,
media), deleting, likes and reposts, the v2 media upload, and how tweets are rendered with fields and expansions.

Needs from the Sim: `state`, `store`, `_user_named()` and `_render_users()`.
"""

from __future__ import annotations

import re
from typing import Any

from simulator.platforms.base import request_json
from simulator.platforms.x_protocol import (
        TIMELINE_QUERY,
    TWEET_EXPANSIONS,
    TWEET_QUERY,
    ApiCall,
    XError,
    check_query,
    endpoint,
    forbidden,
    invalid,
    iso_time,
    not_found_error,
    paginate,
    parse_time,
    requested_expansions,
    requested_fields,
    unique,
    weighted_length,
)

MEDIA_TYPES = {"image/jpeg", "image/png", "image/webp", "image/gif", "image/bmp", "image/pjpeg", "image/tiff"}
MEDIA_CATEGORIES = {"tweet_image", "dm_image", "subtitles", "amplify_image", "tweet_gif", "tweet_video"}
MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_TWEET_WEIGHT = 280
DUPLICATE_WINDOW = 86400
DUPLICATE_DETAIL = "You are not allowed to create a Tweet with duplicate content."
MENTION = re.compile(r"(?<![A-Za-z0-9_@＠])[@＠]([A-Za-z0-9_]{1,15})(?![A-Za-z0-9_@＠])")


class TweetsMixin:
    @endpoint(limit=450)
    def get_mentions(self, call: ApiCall, user_id: str) -> dict:
        check_query(call, TIMELINE_QUERY)
        if user_id not in self.state["users"]:
            return {"errors": [not_found_error("user", user_id)]}
        now = self.store.now()
        tweets = [t for t in self.state["tweets"].values()
                  if user_id in t["mention_ids"] and t["author_id"] != user_id and t.get("visible_at", 0) <= now]
        return self._timeline(call, tweets)

    @endpoint(limit=1500)
    def get_user_tweets(self, call: ApiCall, user_id: str) -> dict:
        check_query(call, TIMELINE_QUERY | {"exclude"})
        if user_id not in self.state["users"]:
            return {"errors": [not_found_error("user", user_id)]}
        exclude = set(filter(None, call.request.args.get("exclude", "").split(",")))
        tweets = [t for t in self.state["tweets"].values()
                  if t["author_id"] == user_id and not ("replies" in exclude and t.get("in_reply_to_user_id"))]
        return self._timeline(call, tweets)

    @endpoint(limit=300)
    def get_tweet(self, call: ApiCall, tweet_id: str) -> dict:
        check_query(call, TWEET_QUERY)
        tweet = self.state["tweets"].get(tweet_id)
        if tweet is None:
            return {"errors": [not_found_error("tweet", tweet_id)]}
        return self._tweets_body(call, [tweet], single=True)

    @endpoint(limit=300)
    def get_tweets(self, call: ApiCall) -> dict:
        check_query(call, TWEET_QUERY | {"ids"})
        ids = [i for i in call.request.args.get("ids", "").split(",") if i]
        if not ids or len(ids) > 100:
            raise invalid("ids", call.request.args.get("ids", ""), "The `ids` query parameter value must list between 1 and 100 ids")
        found = [self.state["tweets"][i] for i in ids if i in self.state["tweets"]]
        body = self._tweets_body(call, found) if found else {}
        missing = [not_found_error("tweet", i) for i in ids if i not in self.state["tweets"]]
        if missing:
            body["errors"] = missing
        return body

    @endpoint(limit=200)
    def create_tweet(self, call: ApiCall) -> tuple[dict, int]:
        body = request_json(call.request)
        text = body.get("text", "")
        media_ids = [str(m) for m in (body.get("media") or {}).get("media_ids") or []]
        if not isinstance(text, str) or (not text.strip() and not media_ids):
            raise invalid("text", text, "Your Tweet must have text or media.")
        if weighted_length(text) > MAX_TWEET_WEIGHT:
            raise invalid("text", len(text), f"The length of the `text` field in the request body [{weighted_length(text)}] is not between 0 and 280")
        if len(media_ids) > 4:
            raise invalid("media.media_ids", ",".join(media_ids), "A Tweet can have at most 4 media items")
        for media_id in media_ids:
            media = self.state["media"].get(media_id)
            if media is None or media["owner_id"] != call.user_id:
                raise invalid("media.media_ids", media_id, f"Your media IDs are invalid: [{media_id}]")
        parent = None
        reply_to = str((body.get("reply") or {}).get("in_reply_to_tweet_id") or "")
        if reply_to:
            parent = self.state["tweets"].get(reply_to)
            if parent is None:
                raise forbidden("You attempted to reply to a Tweet that is deleted or not visible to you.")
        quoted = None
        quote_id = str(body.get("quote_tweet_id") or "")
        if quote_id:
            quoted = self.state["tweets"].get(quote_id)
            if quoted is None:
                raise invalid("quote_tweet_id", quote_id, f"The quoted Tweet [{quote_id}] does not exist or is not visible to you.")
        full_text = self._reply_text(text, parent, call.user_id)
        now = self.store.now()
        for other in self.state["tweets"].values():
            if other["author_id"] == call.user_id and other["text"] == full_text and other["created_at"] > now - DUPLICATE_WINDOW:
                raise forbidden(DUPLICATE_DETAIL)
        tweet = self._add_tweet(call.user_id, full_text, reply_to=parent, media_ids=media_ids, auto_prefix=False)
        if quoted is not None:  # a quote Tweet: X lists it among the Tweet's referenced_tweets as "quoted"
            tweet.setdefault("referenced_tweets", []).append({"type": "quoted", "id": quoted["id"]})
        return {"data": {"id": tweet["id"], "text": tweet["text"], "edit_history_tweet_ids": [tweet["id"]]}}, 201

    @endpoint(limit=50)
    def delete_tweet(self, call: ApiCall, tweet_id: str) -> dict:
        tweet = self.state["tweets"].get(tweet_id)
        if tweet is None:
            raise XError(404, {**not_found_error("tweet", tweet_id), "status": 404})
        if tweet["author_id"] != call.user_id:
            raise forbidden("You are not allowed to delete a Tweet you did not create.")
        del self.state["tweets"][tweet_id]
        return {"data": {"deleted": True}}

    @endpoint(limit=50)
    def like(self, call: ApiCall, user_id: str) -> dict:
        return {"data": {"liked": self._react(call, user_id, request_json(call.request).get("tweet_id"), "likes", True)}}

    @endpoint(limit=50)
    def unlike(self, call: ApiCall, user_id: str, tweet_id: str) -> dict:
        return {"data": {"liked": self._react(call, user_id, tweet_id, "likes", False)}}

    @endpoint(limit=50)
    def retweet(self, call: ApiCall, user_id: str) -> dict:
        return {"data": {"retweeted": self._react(call, user_id, request_json(call.request).get("tweet_id"), "retweets", True)}}

    @endpoint(limit=50)
    def unretweet(self, call: ApiCall, user_id: str, tweet_id: str) -> dict:
        return {"data": {"retweeted": self._react(call, user_id, tweet_id, "retweets", False)}}

    def _react(self, call: ApiCall, user_id: str, tweet_id: Any, kind: str, on: bool) -> bool:
        if user_id != call.user_id:
            raise forbidden("You are not permitted to perform this action on behalf of another user.")
        tweet = self.state["tweets"].get(str(tweet_id or ""))
        if tweet is None:
            if on:
                raise invalid("tweet_id", tweet_id, f"The `tweet_id` [{tweet_id}] does not exist or is not visible")
            return False
        if on and user_id not in tweet[kind]:
            tweet[kind].append(user_id)
        elif not on and user_id in tweet[kind]:
            tweet[kind].remove(user_id)
        return on

    @endpoint(limit=500)
    def media_upload(self, call: ApiCall) -> dict:
        request = call.request
        upload = request.files.get("media")
        category = request.form.get("media_category", "")
        if upload is None:
            raise invalid("media", "", "The `media` field is required")
        if category not in MEDIA_CATEGORIES:
            raise invalid("media_category", category, f"The `media_category` [{category}] is not one of {sorted(MEDIA_CATEGORIES)}")
        mime = request.form.get("media_type") or upload.mimetype or ""
        if mime not in MEDIA_TYPES:
            raise invalid("media_type", mime, f"The `media_type` [{mime}] is not supported for one-shot uploads")
        content = upload.read()
        if not content or len(content) > MAX_IMAGE_BYTES:
            raise invalid("media", len(content), "Images must be between 1 byte and 5 MB")
        media_id = self.store.next_id()
        self.state["media"][media_id] = {"id": media_id, "media_key": f"3_{media_id}", "owner_id": call.user_id,
                                         "mime": mime, "size": len(content), "alt_text": "", "category": category}
        return {"data": {"id": media_id, "media_key": f"3_{media_id}", "size": len(content), "expires_after_secs": 86400,
                         "image": {"image_type": mime}}}

    @endpoint(limit=500)
    def media_metadata(self, call: ApiCall) -> dict:
        body = request_json(call.request)
        media = self.state["media"].get(str(body.get("id", "")))
        if media is None or media["owner_id"] != call.user_id:
            raise invalid("id", body.get("id", ""), f"The media id [{body.get('id', '')}] is invalid")
        alt = ((body.get("metadata") or {}).get("alt_text") or {}).get("text", "")
        if not isinstance(alt, str) or len(alt) > 1000:
            raise invalid("metadata.alt_text.text", "", "Alt text must be at most 1000 characters")
        media["alt_text"] = alt
        return {"data": {"id": media["id"], "associated_metadata": {"alt_text": {"text": alt}}}}

    def _add_tweet(self, author_id: str, text: str, *, reply_to: dict | None = None, media_ids: list[str] = (),
                   at: float | None = None, auto_prefix: bool = True) -> dict:
        if auto_prefix:
            text = self._reply_text(text, reply_to, author_id)
        tweet_id = self.store.next_id()
        tweet = {
            "id": tweet_id, "text": text, "author_id": author_id, "created_at": self.store.now() if at is None else at,
            "conversation_id": reply_to["conversation_id"] if reply_to else tweet_id,
            "mention_ids": self._mentioned_ids(text), "media_keys": [self.state["media"][m]["media_key"] for m in media_ids],
            "likes": [], "retweets": [], "impressions": 0,
        }
        if self.state.get("index_delay"):
            tweet["visible_at"] = tweet["created_at"] + self.state["index_delay"]
        if reply_to:
            tweet["in_reply_to_user_id"] = reply_to["author_id"]
            tweet["referenced_tweets"] = [{"type": "replied_to", "id": reply_to["id"]}]
        self.state["tweets"][tweet_id] = tweet
        return tweet

    def _reply_text(self, text: str, parent: dict | None, author_id: str) -> str:
        """X puts the replied-to author's @username in front of a reply, unless it is already there."""
        if parent is None or parent["author_id"] == author_id:
            return text
        username = self.state["users"][parent["author_id"]]["username"]
        if text.lower().startswith(f"@{username.lower()}"):
            return text
        return f"@{username} {text}"

    def _mentioned_ids(self, text: str) -> list[str]:
        found = []
        for match in MENTION.finditer(text):
            user = self._user_named(match.group(1))
            if user is not None and user["id"] not in found:
                found.append(user["id"])
        return found

    def _timeline(self, call: ApiCall, tweets: list[dict]) -> dict:
        args = call.request.args
        for parameter in ("since_id", "until_id"):
            if args.get(parameter) and not args[parameter].isdigit():
                raise invalid(parameter, args[parameter], f"The `{parameter}` query parameter value [{args[parameter]}] is not valid")
        if args.get("since_id"):
            tweets = [t for t in tweets if int(t["id"]) > int(args["since_id"])]
        if args.get("until_id"):
            tweets = [t for t in tweets if int(t["id"]) < int(args["until_id"])]
        if args.get("start_time"):
            tweets = [t for t in tweets if t["created_at"] >= parse_time(args["start_time"], "start_time")]
        if args.get("end_time"):
            tweets = [t for t in tweets if t["created_at"] <= parse_time(args["end_time"], "end_time")]
        page, meta = paginate(call, tweets, low=5, high=100, default=10, newest_oldest=True)
        body = self._tweets_body(call, page) if page else {}
        body["meta"] = meta
        return body

    def _tweets_body(self, call: ApiCall, tweets: list[dict], single: bool = False) -> dict:
        fields = requested_fields(call, "tweet.fields")
        expansions = requested_expansions(call, TWEET_EXPANSIONS)
        for tweet in tweets:
            # Every read by another account counts as a view.
            if tweet["author_id"] != call.user_id:
                tweet["impressions"] += 1
        data = [self._render_tweet(tweet, fields) for tweet in tweets]
        body: dict[str, Any] = {"data": data[0] if single else data}
        includes: dict[str, list] = {}
        user_ids: list[str] = []
        if "author_id" in expansions:
            user_ids += [t["author_id"] for t in tweets]
        if "in_reply_to_user_id" in expansions:
            user_ids += [t["in_reply_to_user_id"] for t in tweets if t.get("in_reply_to_user_id")]
        if "entities.mentions.username" in expansions:
            user_ids += [u for t in tweets for u in t["mention_ids"]]
        if "referenced_tweets.id" in expansions:
            referenced = [self.state["tweets"][r["id"]] for t in tweets for r in t.get("referenced_tweets", [])
                          if r["id"] in self.state["tweets"]]
            if referenced:
                includes["tweets"] = [self._render_tweet(r, fields) for r in unique(referenced)]
                if "referenced_tweets.id.author_id" in expansions:
                    user_ids += [r["author_id"] for r in referenced]
        users = self._render_users(call, user_ids)
        if users:
            includes["users"] = users
        if "attachments.media_keys" in expansions:
            media_fields = requested_fields(call, "media.fields")
            by_key = {m["media_key"]: m for m in self.state["media"].values()}
            media = [_render_media(by_key[k], media_fields) for t in tweets for k in t["media_keys"] if k in by_key]
            if media:
                includes["media"] = media
        if includes:
            body["includes"] = includes
        return body

    def _render_tweet(self, tweet: dict, fields: set[str]) -> dict:
        out: dict[str, Any] = {"id": tweet["id"], "text": tweet["text"], "edit_history_tweet_ids": [tweet["id"]]}
        if "created_at" in fields:
            out["created_at"] = iso_time(tweet["created_at"])
        if "author_id" in fields:
            out["author_id"] = tweet["author_id"]
        if "conversation_id" in fields:
            out["conversation_id"] = tweet["conversation_id"]
        if "in_reply_to_user_id" in fields and tweet.get("in_reply_to_user_id"):
            out["in_reply_to_user_id"] = tweet["in_reply_to_user_id"]
        if "referenced_tweets" in fields and tweet.get("referenced_tweets"):
            out["referenced_tweets"] = tweet["referenced_tweets"]
        if "attachments" in fields and tweet["media_keys"]:
            out["attachments"] = {"media_keys": tweet["media_keys"]}
        if "entities" in fields:
            entities = self._entities(tweet["text"])
            if entities:
                out["entities"] = entities
        if "public_metrics" in fields:
            out["public_metrics"] = self._tweet_metrics(tweet)
        if "lang" in fields:
            out["lang"] = "en"
        if "possibly_sensitive" in fields:
            out["possibly_sensitive"] = False
        if "reply_settings" in fields:
            out["reply_settings"] = "everyone"
        return out

    def _tweet_metrics(self, tweet: dict) -> dict:
        def referring(kind: str) -> int:
            return sum(1 for t in self.state["tweets"].values()
                       if any(r["type"] == kind and r["id"] == tweet["id"] for r in t.get("referenced_tweets", [])))

        replies, quotes = referring("replied_to"), referring("quoted")
        likes, retweets = len(tweet["likes"]), len(tweet["retweets"])
        return {"retweet_count": retweets, "reply_count": replies, "like_count": likes, "quote_count": quotes,
                "bookmark_count": 0,
                "impression_count": tweet["impressions"] + 12 * likes + 30 * retweets + 8 * replies + 20 * quotes}

    def _entities(self, text: str) -> dict:
        mentions = []
        for match in MENTION.finditer(text):
            user = self._user_named(match.group(1))
            mention = {"start": match.start(), "end": match.end(), "username": match.group(1)}
            if user is not None:
                mention["id"] = user["id"]
            mentions.append(mention)
        return {"mentions": mentions} if mentions else {}


def _render_media(media: dict, fields: set[str]) -> dict:
    out = {"media_key": media["media_key"], "type": "photo"}
    if "alt_text" in fields and media["alt_text"]:
        out["alt_text"] = media["alt_text"]
    return out

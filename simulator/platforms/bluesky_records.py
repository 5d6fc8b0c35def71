"""Bluesky repositories and the AppView reads built from them, for the simulator's Sim (simulator/platforms/bluesky.py).

Records (posts, likes, reposts, follows) live in one dict keyed by AT-URI with TID record keys and CIDs; blobs
beside them. Notifications, post views with their counts, threads and profiles are derived from the records on
each read, as the AppView derives them, newest first with `<ms>::<cid>` cursors.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import regex
from werkzeug.wrappers import Request, Response

from simulator.platforms.base import json_response, request_json

POST = "app.bsky.feed.post"
LIKE = "app.bsky.feed.like"
REPOST = "app.bsky.feed.repost"
FOLLOW = "app.bsky.graph.follow"
COLLECTIONS = (POST, LIKE, REPOST, FOLLOW)
FACET_MENTION = "app.bsky.richtext.facet#mention"
FACET_LINK = "app.bsky.richtext.facet#link"
AUTHOR_FEED_FILTERS = ("posts_with_replies", "posts_no_replies", "posts_with_media", "posts_and_author_threads")
MAX_BLOB_BYTES = 5_000_000
MAX_IMAGE_BYTES = 2_000_000
_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
_RKEY = regex.compile(r"^[A-Za-z0-9._:~-]{1,512}$")


class XrpcError(Exception):
    def __init__(self, status: int, error: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.error, self.message, self.headers = status, error, message, headers or {}


@dataclass
class XrpcCall:
    request: Request
    viewer: str | None  # the DID the request is authenticated as
    base: str  # the service URL as the client reaches it
    headers: dict[str, str] = field(default_factory=dict)


class RecordsMixin:
    """Repo writes, blobs, notifications, feed views and profiles. Needs `state` and `store` (PlatformSim)."""

    # ----------------------------------------------------------------------------------- repo
    def create_record(self, call: XrpcCall) -> dict:
        body = request_json(call.request)
        self._own_repo(body.get("repo"), call.viewer)
        collection, record, rkey = body.get("collection"), body.get("record"), body.get("rkey")
        if collection not in COLLECTIONS:
            raise XrpcError(400, "InvalidRequest", f"Invalid collection: {collection}")
        if not isinstance(record, dict):
            raise XrpcError(400, "InvalidRequest", 'Input must have the property "record"')
        # The PDS fills in a missing $type and refuses a different one.
        if record.setdefault("$type", collection) != collection:
            raise XrpcError(400, "InvalidRequest", f"Invalid $type: expected {collection}, got {record['$type']}")
        if rkey is not None and (not isinstance(rkey, str) or not _RKEY.match(rkey) or rkey in (".", "..")):
            raise XrpcError(400, "InvalidRequest", "Input/rkey must be a valid Record Key")
        self._validate(collection, record, call.viewer)
        uri = f"at://{call.viewer}/{collection}/{rkey}" if rkey else None
        if uri and uri in self.state["records"]:
            raise XrpcError(400, "InvalidRequest", f"Record already exists: {uri}")
        stored = self._put_record(call.viewer, collection, record, rkey=rkey)
        rev = self._tid()
        return {"uri": stored["uri"], "cid": stored["cid"], "commit": {"cid": _cid(rev.encode()), "rev": rev},
                "validationStatus": "valid"}

    def delete_record(self, call: XrpcCall) -> dict:
        body = request_json(call.request)
        self._own_repo(body.get("repo"), call.viewer)
        if not body.get("collection") or not body.get("rkey"):
            raise XrpcError(400, "InvalidRequest", 'Input must have the properties "repo", "collection", "rkey"')
        # Deleting is "ensure it doesn't exist": a missing record is not an error.
        self.state["records"].pop(f"at://{call.viewer}/{body['collection']}/{body['rkey']}", None)
        rev = self._tid()
        return {"commit": {"cid": _cid(rev.encode()), "rev": rev}}

    def get_record(self, call: XrpcCall) -> dict:
        args = call.request.args
        account = self._account(args.get("repo", ""))
        uri = f"at://{account['did'] if account else args.get('repo', '')}/{args.get('collection', '')}/{args.get('rkey', '')}"
        record = self.state["records"].get(uri)
        if record is None:
            raise XrpcError(400, "RecordNotFound", f"Could not locate record: {uri}")
        return {"uri": uri, "cid": record["cid"], "value": record["value"]}

    def upload_blob(self, call: XrpcCall) -> dict:
        data = call.request.get_data()
        if not data:
            raise XrpcError(400, "InvalidRequest", "Request body is empty")
        if len(data) > MAX_BLOB_BYTES:
            raise XrpcError(400, "BlobTooLarge", f"This file is too large. It is {len(data)} bytes but the maximum size is {MAX_BLOB_BYTES} bytes.")
        mime_type = call.request.mimetype or "application/octet-stream"
        cid = _cid(data, codec=0x55)
        self.state["blobs"][cid] = {"did": call.viewer, "mimeType": mime_type, "size": len(data),
                                    "data": base64.b64encode(data).decode()}
        return {"blob": {"$type": "blob", "ref": {"$link": cid}, "mimeType": mime_type, "size": len(data)}}

    def get_blob(self, call: XrpcCall) -> Response:
        blob = self.state["blobs"].get(call.request.args.get("cid", ""))
        if blob is None or blob["did"] != call.request.args.get("did"):
            raise XrpcError(400, "BlobNotFound", "Blob not found")
        return Response(base64.b64decode(blob["data"]), mimetype=blob["mimeType"])

    def _own_repo(self, repo: Any, viewer: str) -> None:
        account = self._account(repo) if isinstance(repo, str) else None
        if account is None or account["did"] != viewer:
            raise XrpcError(400, "InvalidRequest", "Invalid repo: it must be the authenticated account's handle or DID")

    def _validate(self, collection: str, record: dict, did: str) -> None:
        def invalid(detail: str) -> XrpcError:
            return XrpcError(400, "InvalidRequest", f"Invalid {collection} record: {detail}")

        if not isinstance(record.get("createdAt"), str):
            raise invalid('Record must have the property "createdAt"')
        if collection in (LIKE, REPOST) and not _is_strong_ref(record.get("subject")):
            raise invalid("Record/subject must be a strong reference (uri and cid)")
        if collection == FOLLOW and not str(record.get("subject", "")).startswith("did:"):
            raise invalid("Record/subject must be a valid did")
        if collection != POST:
            return
        text = record.get("text")
        if not isinstance(text, str):
            raise invalid('Record must have the property "text"')
        if len(regex.findall(r"\X", text)) > 300:
            raise invalid("Record/text must not be longer than 300 graphemes")
        size = len(text.encode("utf-8"))
        if size > 3000:
            raise invalid("Record/text must not be longer than 3000 characters")
        for facet in record.get("facets") or []:
            index = facet.get("index") or {}
            start, end = index.get("byteStart"), index.get("byteEnd")
            if not isinstance(start, int) or not isinstance(end, int) or not 0 <= start <= end <= size:
                raise invalid("Record/facets/index must lie within the text's UTF-8 bytes")
            for feature in facet.get("features") or []:
                kind = feature.get("$type")
                if kind == FACET_MENTION and not str(feature.get("did") or "").startswith("did:"):
                    raise invalid("Record/facets/features/did must be a valid did")
                if kind == FACET_LINK and not isinstance(feature.get("uri"), str):
                    raise invalid("Record/facets/features/uri must be a string")
        reply = record.get("reply")
        if reply is not None and not (isinstance(reply, dict) and _is_strong_ref(reply.get("root")) and _is_strong_ref(reply.get("parent"))):
            raise invalid("Record/reply must have root and parent strong references")
        embed = record.get("embed")
        if embed is None:
            return
        kind = embed.get("$type") if isinstance(embed, dict) else None
        if kind == "app.bsky.embed.images":
            images = embed.get("images")
            if not isinstance(images, list) or not 1 <= len(images) <= 4:
                raise invalid("Record/embed/images must have between 1 and 4 images")
            for image in images:
                if not isinstance(image.get("alt"), str):
                    raise invalid('Record/embed/images/image must have the property "alt"')
                self._check_blob(image.get("image"), did, MAX_IMAGE_BYTES)
        elif kind == "app.bsky.embed.external":
            external = embed.get("external") or {}
            if not all(isinstance(external.get(key), str) for key in ("uri", "title", "description")):
                raise invalid("Record/embed/external must have uri, title and description")
            if external.get("thumb") is not None:
                self._check_blob(external["thumb"], did, 1_000_000)
        elif kind == "app.bsky.embed.record":
            if not _is_strong_ref(embed.get("record")):
                raise invalid("Record/embed/record must be a strong reference")
        else:
            raise invalid(f"Record/embed has an unsupported $type {kind!r}")

    def _check_blob(self, blob: Any, did: str, max_size: int) -> None:
        cid = ((blob or {}).get("ref") or {}).get("$link") if isinstance(blob, dict) else None
        stored = self.state["blobs"].get(cid or "")
        if stored is None or stored["did"] != did:
            raise XrpcError(400, "InvalidRequest", f"Could not find blob: {cid}")
        if not stored["mimeType"].startswith("image/"):
            raise XrpcError(400, "InvalidRequest", f"Wrong type of file. It is {stored['mimeType']} but it must match image/*.")
        if stored["size"] > max_size:
            raise XrpcError(400, "InvalidRequest", f"This file is too large. It is {stored['size']} bytes but the maximum size is {max_size} bytes.")

    # --------------------------------------------------------------------------- notifications
    def list_notifications(self, call: XrpcCall) -> dict:
        args = call.request.args
        limit = page_limit(args)
        reasons = set(args.getlist("reasons"))
        items = [n for n in self._notifications(call.viewer) if not reasons or n[1] in reasons]
        items.sort(key=lambda n: _sort_key(n[0]), reverse=True)
        if args.get("cursor"):
            after = _parse_cursor(args["cursor"])
            items = [n for n in items if _sort_key(n[0]) < after]
        page = items[:limit]
        seen_at = self.state["seen"].get(call.viewer, "")
        body: dict[str, Any] = {
            "notifications": [self._notification_view(rec, reason, subject, seen_at, call.base) for rec, reason, subject in page],
            "priority": False,
        }
        if len(items) > limit:
            body["cursor"] = _cursor(page[-1][0])
        if seen_at:
            body["seenAt"] = seen_at
        return body

    def get_unread_count(self, call: XrpcCall) -> dict:
        seen_at = self.state["seen"].get(call.viewer, "")
        return {"count": sum(1 for rec, _, _ in self._notifications(call.viewer) if rec["indexedAt"] > seen_at)}

    def update_seen(self, call: XrpcCall) -> None:
        seen_at = request_json(call.request).get("seenAt")
        if not isinstance(seen_at, str):
            raise XrpcError(400, "InvalidRequest", 'Input must have the property "seenAt"')
        self.state["seen"][call.viewer] = seen_at

    def _notifications(self, did: str) -> list[tuple[dict, str, str | None]]:
        """What the AppView would notify `did` of: (record, reason, reasonSubject), in no particular order."""
        found = []
        for rec in self.state["records"].values():
            if rec["did"] == did:
                continue
            value, collection = rec["value"], rec["collection"]
            if collection == POST:
                reply = value.get("reply") or {}
                parent, root = (reply.get("parent") or {}).get("uri", ""), (reply.get("root") or {}).get("uri", "")
                quoted = _quoted_uri(value.get("embed"))
                if _did_of(parent) == did:
                    found.append((rec, "reply", parent))
                elif _did_of(root) == did:
                    found.append((rec, "reply", root))
                elif _did_of(quoted) == did:
                    found.append((rec, "quote", quoted))
                elif any(feature.get("$type") == FACET_MENTION and feature.get("did") == did
                         for facet in value.get("facets") or [] for feature in facet.get("features") or []):
                    found.append((rec, "mention", None))
            elif collection in (LIKE, REPOST):
                subject = value["subject"]["uri"]
                if _did_of(subject) == did:
                    found.append((rec, "like" if collection == LIKE else "repost", subject))
            elif collection == FOLLOW and value.get("subject") == did:
                found.append((rec, "follow", None))
        return found

    def _notification_view(self, rec: dict, reason: str, subject: str | None, seen_at: str, base: str) -> dict:
        view = {"uri": rec["uri"], "cid": rec["cid"], "author": self._profile(rec["did"], base, "view"), "reason": reason}
        if subject:
            view["reasonSubject"] = subject
        view.update(isRead=bool(seen_at) and rec["indexedAt"] <= seen_at, record=rec["value"], labels=[],
                    indexedAt=rec["indexedAt"])
        return view

    # ------------------------------------------------------------------------------ feed views
    def get_posts(self, call: XrpcCall) -> dict:
        uris = call.request.args.getlist("uris")
        if not uris:
            raise XrpcError(400, "InvalidRequest", 'Error: Params must have the property "uris"')
        if len(uris) > 25:
            raise XrpcError(400, "InvalidRequest", "Error: uris must not have more than 25 elements")
        records = self.state["records"]
        return {"posts": [self._post_view(records[uri], call) for uri in uris if uri in records and records[uri]["collection"] == POST]}

    def get_author_feed(self, call: XrpcCall) -> dict:
        """An account's own posts, newest first (the filters the product uses; reposts are not simulated)."""
        args = call.request.args
        account = self._account(args.get("actor", ""))
        if account is None:
            raise XrpcError(400, "InvalidRequest", "Profile not found")
        filter_ = args.get("filter", "posts_with_replies")
        if filter_ not in AUTHOR_FEED_FILTERS:
            raise XrpcError(400, "InvalidRequest", f"Invalid filter: {filter_}")
        posts = [
            rec for rec in self.state["records"].values()
            if rec["did"] == account["did"] and rec["collection"] == POST
            and not (filter_ == "posts_no_replies" and rec["value"].get("reply"))
            and not (filter_ == "posts_with_media" and (rec["value"].get("embed") or {}).get("$type") != "app.bsky.embed.images")
        ]
        posts.sort(key=_sort_key, reverse=True)
        if args.get("cursor"):
            after = _parse_cursor(args["cursor"])
            posts = [rec for rec in posts if _sort_key(rec) < after]
        limit = page_limit(args)
        page = posts[:limit]
        body: dict[str, Any] = {"feed": [{"post": self._post_view(rec, call)} for rec in page]}
        if len(posts) > limit:
            body["cursor"] = _cursor(page[-1])
        return body

    def get_post_thread(self, call: XrpcCall) -> dict:
        args = call.request.args
        uri = args.get("uri", "")
        rec = self.state["records"].get(uri)
        if rec is None or rec["collection"] != POST:
            raise XrpcError(400, "NotFound", f"Post not found: {uri}")
        depth = _int_arg(args, "depth", 6, 0, 1000)
        parent_height = _int_arg(args, "parentHeight", 80, 0, 1000)
        return {"thread": self._thread(rec, call, depth=depth, parent_height=parent_height)}

    def _thread(self, rec: dict, call: XrpcCall, *, depth: int, parent_height: int, with_replies: bool = True) -> dict:
        node: dict[str, Any] = {"$type": "app.bsky.feed.defs#threadViewPost", "post": self._post_view(rec, call)}
        parent_uri = ((rec["value"].get("reply") or {}).get("parent") or {}).get("uri")
        if parent_uri and parent_height > 0:
            parent = self.state["records"].get(parent_uri)
            node["parent"] = (
                self._thread(parent, call, depth=0, parent_height=parent_height - 1, with_replies=False)
                if parent else {"$type": "app.bsky.feed.defs#notFoundPost", "uri": parent_uri, "notFound": True}
            )
        if with_replies:
            node["replies"] = [
                self._thread(child, call, depth=depth - 1, parent_height=0)
                for child in self._replies_to(rec["uri"])
            ] if depth > 0 else []
        return node

    def _replies_to(self, uri: str) -> list[dict]:
        return [r for r in self.state["records"].values()
                if r["collection"] == POST and ((r["value"].get("reply") or {}).get("parent") or {}).get("uri") == uri]

    def _post_view(self, rec: dict, call: XrpcCall) -> dict:
        uri = rec["uri"]
        counts = {"replyCount": 0, "repostCount": 0, "likeCount": 0, "quoteCount": 0}
        viewer_state: dict[str, Any] = {"threadMuted": False, "embeddingDisabled": False}
        for other in self.state["records"].values():
            value = other["value"]
            if other["collection"] == POST:
                if ((value.get("reply") or {}).get("parent") or {}).get("uri") == uri:
                    counts["replyCount"] += 1
                if _quoted_uri(value.get("embed")) == uri:
                    counts["quoteCount"] += 1
            elif other["collection"] in (LIKE, REPOST) and value["subject"]["uri"] == uri:
                key = "likeCount" if other["collection"] == LIKE else "repostCount"
                counts[key] += 1
                if other["did"] == call.viewer:
                    viewer_state["like" if other["collection"] == LIKE else "repost"] = other["uri"]
        view = {"uri": uri, "cid": rec["cid"], "author": self._profile(rec["did"], call.base, "basic"), "record": rec["value"]}
        embed = self._embed_view(rec["did"], rec["value"].get("embed"), call.base)
        if embed:
            view["embed"] = embed
        view.update(counts, bookmarkCount=0, indexedAt=rec["indexedAt"], viewer=viewer_state, labels=[])
        return view

    def _embed_view(self, did: str, embed: dict | None, base: str) -> dict | None:
        if not embed:
            return None
        if embed.get("$type") == "app.bsky.embed.images":
            images = []
            for image in embed["images"]:
                url = f"{base}/xrpc/com.atproto.sync.getBlob?did={did}&cid={image['image']['ref']['$link']}"
                images.append({"thumb": url, "fullsize": url, "alt": image["alt"]})
            return {"$type": "app.bsky.embed.images#view", "images": images}
        if embed.get("$type") == "app.bsky.embed.external":
            external = {key: embed["external"][key] for key in ("uri", "title", "description")}
            return {"$type": "app.bsky.embed.external#view", "external": external}
        if embed.get("$type") == "app.bsky.embed.record":
            quoted = self.state["records"].get(embed["record"]["uri"])
            if quoted is None:
                return {"$type": "app.bsky.embed.record#view",
                        "record": {"$type": "app.bsky.embed.record#viewNotFound", "uri": embed["record"]["uri"], "notFound": True}}
            return {"$type": "app.bsky.embed.record#view", "record": {
                "$type": "app.bsky.embed.record#viewRecord", "uri": quoted["uri"], "cid": quoted["cid"],
                "author": self._profile(quoted["did"], base, "basic"), "value": quoted["value"], "indexedAt": quoted["indexedAt"]}}
        return None

    # -------------------------------------------------------------------------------- profiles
    def get_profile(self, call: XrpcCall) -> dict:
        account = self._account(call.request.args.get("actor", ""))
        if account is None:
            raise XrpcError(400, "InvalidRequest", "Profile not found")
        return self._profile(account["did"], call.base, "detailed")

    def _profile(self, did: str, base: str, shape: str) -> dict:
        """app.bsky.actor.defs#profileViewBasic ("basic"), #profileView ("view") or #profileViewDetailed, or the chat
        member view ("chat")."""
        account = self.state["accounts"][did]
        view: dict[str, Any] = {"did": did, "handle": account["handle"], "displayName": account["displayName"]}
        if shape in ("view", "detailed"):
            view["description"] = account["description"]
        view["avatar"] = f"{base}/img/avatar/{did}"
        view["associated"] = {"lists": 0, "feedgens": 0, "starterPacks": 0, "labeler": False,
                              "chat": {"allowIncoming": "all"}}
        if shape in ("view", "detailed"):
            view["indexedAt"] = account["createdAt"]
        view.update(createdAt=account["createdAt"], viewer={"muted": False, "blockedBy": False}, labels=[])
        if shape == "chat":
            view["chatDisabled"] = False
        if shape == "detailed":
            records = self.state["records"].values()
            view.update(
                followersCount=account["base_followers"] + sum(1 for r in records if r["collection"] == FOLLOW and r["value"]["subject"] == did),
                followsCount=account["base_follows"] + sum(1 for r in records if r["collection"] == FOLLOW and r["did"] == did),
                postsCount=sum(1 for r in records if r["collection"] == POST and r["did"] == did),
            )
        return view

    def avatar_image(self, request: Request, did: str) -> Response:
        account = self.state["accounts"].get(did)
        if account is None:
            return json_response({"error": "NotFound", "message": "No such avatar"}, 404)
        initials = html.escape("".join(word[0] for word in account["displayName"].split()[:2]).upper())
        hue = int(hashlib.sha256(did.encode()).hexdigest()[:2], 16) * 360 // 256
        svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="96" height="96" viewBox="0 0 96 96">'
               f'<rect width="96" height="96" fill="hsl({hue},55%,40%)"/><text x="48" y="58" font-size="34" '
               f'text-anchor="middle" fill="#fff" font-family="sans-serif">{initials}</text></svg>')
        return Response(svg, mimetype="image/svg+xml")

    # ------------------------------------------------------------------------- shared helpers
    def _account(self, identifier: str, *, by_email: bool = False) -> dict | None:
        identifier = identifier.lower()
        for account in self.state["accounts"].values():
            if identifier in (account["did"], account["handle"]) or (by_email and identifier == account["email"]):
                return account
        return None

    def _tid(self) -> str:
        """A TID: microseconds since the epoch and a clock id, base32-sortable, strictly increasing."""
        micros = max(int(self.store.now() * 1_000_000), self.state.get("last_tid", 0) + 1)
        self.state["last_tid"] = micros
        value = (micros << 10) | 7
        chars = []
        for _ in range(13):
            chars.append(_TID_ALPHABET[value & 31])
            value >>= 5
        return "".join(reversed(chars))

    def _put_record(self, did: str, collection: str, value: dict, *, rkey: str | None = None) -> dict:
        value.setdefault("$type", collection)
        rkey = rkey or self._tid()
        # Strictly increasing milliseconds, so records keep the order they were made in (and cursors are exact).
        ms = max(int(self.store.now() * 1000), self.state.get("last_ms", 0) + 1)
        self.state["last_ms"] = ms
        uri = f"at://{did}/{collection}/{rkey}"
        stored = {"uri": uri, "cid": _cid(json.dumps(value, sort_keys=True).encode() + uri.encode()), "did": did,
                  "collection": collection, "rkey": rkey, "value": value, "indexedAt": iso_time(ms / 1000), "ms": ms}
        self.state["records"][uri] = stored
        return stored

    def _find_post(self, post_id: str, owner: str = "") -> dict:
        """A post by AT-URI, or by its record key (as typed on the public page)."""
        records = self.state["records"]
        if post_id in records and records[post_id]["collection"] == POST:
            return records[post_id]
        for rec in records.values():
            if rec["collection"] == POST and rec["rkey"] == post_id and (not owner or rec["did"] == owner):
                return rec
        raise ValueError(f"there is no post {post_id!r}")


# ------------------------------------------------------------------------------------ module helpers
def iso_time(ts: float) -> str:
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _cid(data: bytes, codec: int = 0x71) -> str:
    """A CIDv1 (sha2-256) in base32: dag-cbor records start "bafyrei", raw blobs "bafkrei"."""
    raw = bytes([0x01, codec, 0x12, 0x20]) + hashlib.sha256(data).digest()
    return "b" + base64.b32encode(raw).decode().lower().rstrip("=")


def strong_ref(rec: dict) -> dict:
    return {"uri": rec["uri"], "cid": rec["cid"]}


def _is_strong_ref(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("uri"), str) and isinstance(value.get("cid"), str)


def _did_of(uri: str | None) -> str:
    return uri[5:].split("/", 1)[0] if uri and uri.startswith("at://") else ""


def _quoted_uri(embed: dict | None) -> str:
    if not isinstance(embed, dict):
        return ""
    if embed.get("$type") == "app.bsky.embed.record":
        return (embed.get("record") or {}).get("uri", "")
    if embed.get("$type") == "app.bsky.embed.recordWithMedia":
        return ((embed.get("record") or {}).get("record") or {}).get("uri", "")
    return ""


def _sort_key(rec: dict) -> tuple[int, str]:
    return rec["ms"], rec["cid"]


def _cursor(rec: dict) -> str:
    ms, cid = _sort_key(rec)
    return f"{ms}::{cid}"


def _parse_cursor(cursor: str) -> tuple[int, str]:
    ms, _, cid = cursor.partition("::")
    try:
        return int(ms), cid
    except ValueError:
        raise XrpcError(400, "InvalidRequest", "Malformed cursor") from None


def page_limit(args) -> int:
    return _int_arg(args, "limit", 50, 1, 100)


def _int_arg(args, name: str, default: int, minimum: int, maximum: int) -> int:
    raw = args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise XrpcError(400, "InvalidRequest", f"Error: {name} must be an integer") from None
    if not minimum <= value <= maximum:
        raise XrpcError(400, "InvalidRequest", f"Error: {name} must be between {minimum} and {maximum}")
    return value

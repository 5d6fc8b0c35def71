"""Facebook Pages on the simulated Graph API: the Page node, /feed (read and publish), /photos (by URL or a
multipart upload, with alt_text_custom), posts, comments and replies, likes, reactions, shares, /tagged and post
insights. Shapes follow comments_p1.json, feed_fields_p1.json, single_post_data.json and single_default_page.json.
"""

from __future__ import annotations

import json
import re
import struct
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request

from simulator.platforms.graph_api import (
    MISSING,
    PLACEHOLDER,
    Field,
    GraphError,
    duplicate_error,
    fb_time,
    invalid_parameter,
    json_param,
    missing_permission,
    truthy,
)

if TYPE_CHECKING:
    from simulator.platforms.graph import Viewer

FACEBOOK_MAX_CHARACTERS = 63206
IMAGE_TYPES = {b"\x89PNG": "image/png", b"\xff\xd8\xff": "image/jpeg", b"GIF8": "image/gif", b"RIFF": "image/webp"}
POST_METRICS = {
    "post_impressions": ("Lifetime Post Total Impressions", "Lifetime: The number of times your Page's post entered a "
                                                           "person's screen. (Total Count)"),
    "post_impressions_unique": ("Lifetime Post Total Reach", "Lifetime: The number of people who had your Page's post "
                                                             "enter their screen. (Unique Users)"),
    "post_clicks": ("Lifetime Post Clicks", "Lifetime: The number of clicks anywhere in your post on News Feed from "
                                            "users that matched the audience targeting on the post. (Total Count)"),
    "post_reactions_like_total": ("Lifetime \"like\" reactions", "Lifetime: Total \"like\" reactions of a post."),
}
PAGE_METRICS = {
    "page_impressions": ("Daily Total Impressions", "Daily: The number of times any content from your Page or about "
                                                    "your Page entered a person's screen. (Total Count)"),
    "page_impressions_unique": ("Daily Total Reach", "Daily: The number of people who had any content from your Page "
                                                     "or about your Page enter their screen. (Unique Users)"),
}


def image_type(content: bytes) -> str:
    for magic, mime in IMAGE_TYPES.items():
        if content.startswith(magic):
            return mime
    return ""


def image_size(content: bytes) -> tuple[int, int]:
    if content[:8] == b"\x89PNG\r\n\x1a\n" and len(content) >= 24:
        return struct.unpack(">II", content[16:24])
    if content[:4] == b"GIF8" and len(content) >= 10:
        return struct.unpack("<HH", content[6:10])
    return 1080, 1080


class PagesMixin:
    ROUTES = {
        ("page", "feed", "GET"): "page_feed",
        ("page", "posts", "GET"): "page_posts",
        ("page", "published_posts", "GET"): "page_posts",
        ("page", "tagged", "GET"): "page_tagged",
        ("page", "feed", "POST"): "publish_feed",
        ("page", "photos", "POST"): "publish_photo",
        ("user", "feed", "GET"): "user_feed",
        ("user", "feed", "POST"): "user_publish",
        ("post", "", "DELETE"): "delete_post",
        ("post", "comments", "GET"): "list_comments",
        ("post", "comments", "POST"): "create_comment",
        ("comment", "comments", "GET"): "list_comments",
        ("comment", "comments", "POST"): "create_comment",
        ("comment", "", "DELETE"): "delete_comment",
        ("comment", "", "POST"): "update_comment",
        ("post", "likes", "GET"): "list_likes",
        ("post", "likes", "POST"): "like",
        ("post", "likes", "DELETE"): "unlike",
        ("comment", "likes", "POST"): "like",
        ("comment", "likes", "DELETE"): "unlike",
        ("post", "reactions", "GET"): "list_reactions",
        ("post", "insights", "GET"): "post_insights",
        ("page", "insights", "GET"): "page_insights",
        ("photo", "", "DELETE"): "delete_photo",
    }
    DEFAULT_FIELDS = {
        "page": ("name", "id"),
        "post": ("created_time", "message", "id"),
        "photo": ("created_time", "id"),
        "comment": ("created_time", "from", "message", "id"),
        "reaction": ("id", "name", "type"),
    }
    EDGE_FIELDS = {"photo": ("images",)}

    # ------------------------------------------------------------------------------------- creation
    def new_post(self, *, author_id: str, target_id: str, message: str, link: str = "", created: float | None = None,
                 photo_ids: list[str] | None = None, tags: list[str] | None = None, shared_from: str = "") -> dict[str, Any]:
        created = self.store.now() if created is None else created
        post_id = f"{target_id}_{self.new_id()}"
        post = {
            "id": post_id, "author_id": author_id, "target_id": target_id, "message": message, "link": link,
            "created": created, "updated": created, "photo_ids": photo_ids or [], "tags": tags or [],
            "likes": [], "shares": [], "shared_from": shared_from, "impressions": 0, "clicks": 0, "deleted": False,
        }  # fmt: skip
        self.state["posts"][post_id] = post
        return post

    def new_comment(self, *, post: dict[str, Any], parent: dict[str, Any] | None, author_id: str, message: str) -> dict[str, Any]:
        now = self.store.now()
        # Facebook threads one level deep: a reply to a reply joins the first comment's thread.
        if parent is not None and parent.get("parent_id"):
            parent = self.state["comments"][parent["parent_id"]]
        comment_id = f"{post['id'].split('_')[-1]}_{self.new_id()}"
        comment = {"id": comment_id, "post_id": post["id"], "parent_id": parent["id"] if parent else "",
                   "author_id": author_id, "message": message, "created": now, "likes": [], "hidden": False,
                   "deleted": False}
        self.state["comments"][comment_id] = comment
        post["updated"] = now
        return comment

    def add_like(self, obj: dict[str, Any], actor_id: str) -> None:
        if actor_id not in obj["likes"]:
            obj["likes"].append(actor_id)

    def share_post(self, post: dict[str, Any], user_id: str) -> dict[str, Any]:
        post["shares"].append(user_id)
        return self.new_post(author_id=user_id, target_id=user_id, message="", link=self.post_permalink(post),
                             shared_from=post["id"])

    def post_permalink(self, post: dict[str, Any]) -> str:
        owner, number = post["id"].split("_", 1)
        return f"https://www.facebook.com/{owner}/posts/{number}"

    def comment_permalink(self, comment: dict[str, Any]) -> str:
        post = self.state["posts"][comment["post_id"]]
        number = comment["id"].split("_")[-1]
        if comment["parent_id"]:
            parent_number = comment["parent_id"].split("_")[-1]
            return f"{self.post_permalink(post)}/?comment_id={parent_number}&reply_comment_id={number}"
        return f"{self.post_permalink(post)}/?comment_id={number}"

    def tag_pages(self, message: str) -> tuple[str, list[str]]:
        """@[page-id] becomes the Page's name and a tag; so does @username or @Page Name written out."""
        tags: list[str] = []

        def replace(match: re.Match) -> str:
            page = self.state["pages"].get(match.group(1))
            if page is None:
                return match.group(0)
            tags.append(page["id"])
            return page["name"]

        message = re.sub(r"@\[(\d+)\]", replace, message)
        lowered = message.lower()
        for page in self.state["pages"].values():
            named = f"@{page['username']}" in lowered or f"@{page['name'].lower()}" in lowered
            if named and page["id"] not in tags:
                tags.append(page["id"])
        return message, tags

    # --------------------------------------------------------------------------------------- fields
    def fields_page(self, page: dict[str, Any], viewer: Viewer) -> dict[str, Any]:
        def access_token(f: Field) -> Any:
            if viewer.kind == "user" and viewer.user_id in page["managers"] and page["id"] in viewer.pages:
                return self.page_token_for(viewer, page["id"])
            return MISSING

        def instagram(f: Field) -> Any:
            if not page.get("ig_id"):
                return MISSING
            return self.ref(page["ig_id"], f.children or [Field("id")], viewer, instagram=True)

        def posts(f: Field, authored: bool) -> dict[str, Any]:
            return self.edge_field("post", self.page_posts_of(page["id"], authored_only=authored), f, viewer)

        managing = viewer.page_id == page["id"] or viewer.user_id in page["managers"]
        return {
            "id": lambda f: page["id"],
            "name": lambda f: page["name"],
            "username": lambda f: page["username"],
            "about": lambda f: page["about"],
            "category": lambda f: page["category"],
            "category_list": lambda f: [{"id": "2235", "name": page["category"]}],
            "fan_count": lambda f: page["fan_count"],
            "followers_count": lambda f: page["followers_count"],
            "link": lambda f: f"https://www.facebook.com/{page['username']}",
            "verification_status": lambda f: "not_verified",
            "talking_about_count": lambda f: page["fan_count"] // 20,
            "engagement": lambda f: {"count": page["fan_count"], "social_sentence": f"{page['fan_count']:,} people like this."},
            "picture": lambda f: {"data": {"height": 50, "is_silhouette": False, "width": 50,
                                           "url": self.image_url({"blob": PLACEHOLDER})}},
            "access_token": access_token,
            "tasks": lambda f: ["ANALYZE", "ADVERTISE", "MESSAGING", "MODERATE", "CREATE_CONTENT", "MANAGE"] if managing else MISSING,
            "instagram_business_account": instagram,
            "connected_instagram_account": instagram,
            "feed": lambda f: posts(f, False),
            "posts": lambda f: posts(f, True),
            "published_posts": lambda f: posts(f, True),
        }

    def fields_post(self, post: dict[str, Any], viewer: Viewer) -> dict[str, Any]:
        comments = [c for c in self.visible_comments(viewer) if c["post_id"] == post["id"]]
        photos = [self.state["photos"][p] for p in post["photo_ids"] if p in self.state["photos"]]

        def comments_field(f: Field) -> dict[str, Any]:
            chosen = self.order_comments(comments, f.modifiers.get("filter", "toplevel"), f.modifiers.get("order", "chronological"))
            return self.edge_field("comment", chosen, f, viewer, summary=self.comment_summary(chosen, f.modifiers.get("order")))

        def reactions_field(f: Field) -> dict[str, Any]:
            wanted = f.modifiers.get("type", "").upper()
            likers = post["likes"] if wanted in ("", "LIKE") else []
            return self.edge_field("reaction", [self.reaction(a) for a in likers], f, viewer,
                                   summary={"total_count": len(likers),
                                            "viewer_reaction": "LIKE" if viewer.actor_id in post["likes"] else "NONE"})

        def status_type(f: Field) -> str:
            if post["shared_from"]:
                return "shared_story"
            return "added_photos" if photos else ("shared_story" if post["link"] else "mobile_status_update")

        return {
            "id": lambda f: post["id"],
            "message": lambda f: post["message"] or MISSING,
            "created_time": lambda f: fb_time(post["created"]),
            "updated_time": lambda f: fb_time(post["updated"]),
            "permalink_url": lambda f: self.post_permalink(post),
            "from": lambda f: self.ref(post["author_id"], f.children, viewer),
            "link": lambda f: post["link"] or MISSING,
            "full_picture": lambda f: self.image_url(photos[0]["image"]) if photos else MISSING,
            "status_type": status_type,
            "is_published": lambda f: True,
            "message_tags": lambda f: self.message_tags(post) or MISSING,
            "shares": lambda f: {"count": len(post["shares"])} if post["shares"] else MISSING,
            "likes": lambda f: self.edge_field("reaction", [self.reaction(a, typed=False) for a in post["likes"]], f,
                                               viewer, summary=self.like_summary(post, viewer)),
            "reactions": reactions_field,
            "comments": comments_field,
            "attachments": lambda f: self.attachments(post, photos) or MISSING,
        }

    def fields_photo(self, photo: dict[str, Any], viewer: Viewer) -> dict[str, Any]:
        width, height = photo.get("size", [1080, 1080])
        return {
            "id": lambda f: photo["id"],
            "created_time": lambda f: fb_time(photo["created"]),
            "name": lambda f: photo["caption"] or MISSING,
            "alt_text": lambda f: photo["alt_text_custom"] or "May be an image",
            "alt_text_custom": lambda f: photo["alt_text_custom"] or MISSING,
            "images": lambda f: [{"height": height, "width": width, "source": self.image_url(photo["image"])}],
            "link": lambda f: f"https://www.facebook.com/photo.php?fbid={photo['id']}",
            "page_story_id": lambda f: photo["post_id"] or MISSING,
            "from": lambda f: self.ref(photo["page_id"], f.children, viewer),
        }

    def fields_comment(self, comment: dict[str, Any], viewer: Viewer) -> dict[str, Any]:
        post = self.state["posts"][comment["post_id"]]
        owner_page = self.owner_page_of("post", post)
        # `from` shows only to the Page that owns the post, to the author, and for comments by Pages.
        sees_author = viewer.page_id == owner_page or viewer.actor_id == comment["author_id"] or (
            comment["author_id"] in self.state["pages"])
        replies = [c for c in self.visible_comments(viewer) if c["parent_id"] == comment["id"]]
        parent = self.state["comments"].get(comment["parent_id"])
        return {
            "id": lambda f: comment["id"],
            "message": lambda f: comment["message"],
            "created_time": lambda f: fb_time(comment["created"]),
            "from": lambda f: self.ref(comment["author_id"], f.children, viewer) if sees_author else MISSING,
            "like_count": lambda f: len(comment["likes"]),
            "comment_count": lambda f: len(replies),
            "permalink_url": lambda f: self.comment_permalink(comment),
            "parent": lambda f: self.render("comment", parent, f.children or [Field("created_time"), Field("message"), Field("id")], viewer) if parent else MISSING,
            "is_hidden": lambda f: comment["hidden"],
            "can_hide": lambda f: viewer.page_id == owner_page,
            "can_reply_privately": lambda f: viewer.page_id == owner_page,
            "user_likes": lambda f: viewer.actor_id in comment["likes"],
            "object": lambda f: self.render("post", post, f.children or [Field("id")], viewer),
            "comments": lambda f: self.edge_field("comment", replies, f, viewer, summary=self.comment_summary(replies, None)),
            "likes": lambda f: self.edge_field("reaction", [self.reaction(a, typed=False) for a in comment["likes"]], f,
                                               viewer, summary=self.like_summary(comment, viewer)),
        }

    def fields_reaction(self, reaction: dict[str, Any], viewer: Viewer) -> dict[str, Any]:
        return {"id": lambda f: reaction["id"], "name": lambda f: reaction["name"],
                "type": lambda f: reaction.get("type", MISSING)}

    def reaction(self, actor_id: str, *, typed: bool = True) -> dict[str, Any]:
        page = self.state["pages"].get(actor_id)
        user = self.state["users"].get(actor_id, {})
        body = {"id": actor_id, "name": (page or user).get("name", "")}
        if typed:
            body["type"] = "LIKE"
        return body

    def like_summary(self, obj: dict[str, Any], viewer: Viewer) -> dict[str, Any]:
        return {"total_count": len(obj["likes"]), "can_like": True, "has_liked": viewer.actor_id in obj["likes"]}

    def comment_summary(self, comments: list[dict[str, Any]], order: str | None) -> dict[str, Any]:
        return {"order": order or "chronological", "total_count": len(comments), "can_comment": True}

    def message_tags(self, post: dict[str, Any]) -> list[dict[str, Any]]:
        tags = []
        for page_id in post["tags"]:
            name = self.state["pages"][page_id]["name"]
            offset = post["message"].find(name)
            if offset >= 0:
                tags.append({"id": page_id, "name": name, "type": "page", "offset": offset, "length": len(name)})
        return tags

    def attachments(self, post: dict[str, Any], photos: list[dict[str, Any]]) -> dict[str, Any]:
        data = []
        for photo in photos:
            width, height = photo.get("size", [1080, 1080])
            data.append({"type": "photo", "description": photo["alt_text_custom"] or photo["caption"],
                         "media": {"image": {"height": height, "width": width, "src": self.image_url(photo["image"])}},
                         "target": {"id": photo["id"]}})
        if post["link"] and not photos:
            data.append({"type": "share", "url": post["link"], "title": post["link"]})
        return {"data": data} if data else {}

    # ---------------------------------------------------------------------------------------- reads
    def visible_comments(self, viewer: Viewer) -> list[dict[str, Any]]:
        visible = []
        for comment in self.state["comments"].values():
            if comment["deleted"]:
                continue
            if comment["hidden"] and viewer.page_id != self.owner_page_of("comment", comment) and (
                    viewer.actor_id != comment["author_id"]):
                continue
            visible.append(comment)
        return visible

    def order_comments(self, comments: list[dict[str, Any]], filter_: str, order: str) -> list[dict[str, Any]]:
        if filter_ != "stream":
            comments = [c for c in comments if not c["parent_id"]]
        ordered = sorted(comments, key=lambda c: (c["created"], int(c["id"].split("_")[-1])))
        return ordered[::-1] if order == "reverse_chronological" else ordered

    def page_posts_of(self, page_id: str, *, authored_only: bool) -> list[dict[str, Any]]:
        posts = [p for p in self.state["posts"].values() if p["target_id"] == page_id and not p["deleted"]
                 and (not authored_only or p["author_id"] == page_id)]
        return sorted(posts, key=lambda p: (p["created"], int(p["id"].split("_")[-1])), reverse=True)

    def page_feed(self, kind: str, page: dict[str, Any], viewer: Viewer, params: dict[str, Any], request: Request) -> Any:
        return self.edge_response(request, params, "post", self.page_posts_of(page["id"], authored_only=False), viewer, timed=True)

    def page_posts(self, kind: str, page: dict[str, Any], viewer: Viewer, params: dict[str, Any], request: Request) -> Any:
        return self.edge_response(request, params, "post", self.page_posts_of(page["id"], authored_only=True), viewer, timed=True)

    def page_tagged(self, kind: str, page: dict[str, Any], viewer: Viewer, params: dict[str, Any], request: Request) -> Any:
        self.require_page(viewer, page["id"], "pages_read_engagement")
        posts = [p for p in self.state["posts"].values() if page["id"] in p["tags"] and not p["deleted"]]
        posts.sort(key=lambda p: (p["created"], int(p["id"].split("_")[-1])), reverse=True)
        return self.edge_response(request, params, "post", posts, viewer, timed=True)

    def user_feed(self, kind: str, user: dict[str, Any], viewer: Viewer, params: dict[str, Any], request: Request) -> Any:
        posts = [p for p in self.state["posts"].values() if p["target_id"] == user["id"] and not p["deleted"]]
        posts.sort(key=lambda p: (p["created"], int(p["id"].split("_")[-1])), reverse=True)
        return self.edge_response(request, params, "post", posts, viewer, timed=True)

    def list_comments(self, kind: str, obj: dict[str, Any], viewer: Viewer, params: dict[str, Any], request: Request) -> Any:
        visible = self.visible_comments(viewer)
        if kind == "post":
            comments = [c for c in visible if c["post_id"] == obj["id"]]
            comments = self.order_comments(comments, params.get("filter", "toplevel"), params.get("order", "chronological"))
        else:
            comments = self.order_comments([c for c in visible if c["parent_id"] == obj["id"]], "stream",
                                           params.get("order", "chronological"))
        return self.edge_response(request, params, "comment", comments, viewer,
                                  summary=self.comment_summary(comments, params.get("order")))

    def list_likes(self, kind: str, post: dict[str, Any], viewer: Viewer, params: dict[str, Any], request: Request) -> Any:
        likes = [self.reaction(a, typed=False) for a in post["likes"]]
        return self.edge_response(request, params, "reaction", likes, viewer, summary=self.like_summary(post, viewer))

    def list_reactions(self, kind: str, post: dict[str, Any], viewer: Viewer, params: dict[str, Any], request: Request) -> Any:
        likes = [self.reaction(a) for a in post["likes"]]
        summary = {"total_count": len(likes), "viewer_reaction": "LIKE" if viewer.actor_id in post["likes"] else "NONE"}
        return self.edge_response(request, params, "reaction", likes, viewer, summary=summary)

    def post_insights(self, kind: str, post: dict[str, Any], viewer: Viewer, params: dict[str, Any], request: Request) -> Any:
        self.require_page(viewer, self.owner_page_of("post", post), "read_insights")
        metrics = [m for m in str(params.get("metric", "")).split(",") if m]
        if not metrics:
            raise invalid_parameter("The parameter metric is required")
        unknown = [m for m in metrics if m not in POST_METRICS]
        if unknown:
            raise invalid_parameter(f"The value must be a valid insights metric: {unknown[0]}")
        comments = sum(1 for c in self.state["comments"].values() if c["post_id"] == post["id"] and not c["deleted"])
        impressions = post["impressions"] + 10 * len(post["likes"]) + 8 * comments + 20 * len(post["shares"])
        values = {
            "post_impressions": impressions,
            "post_impressions_unique": impressions * 4 // 5,
            "post_clicks": post["clicks"] + len(post["likes"]) + comments,
            "post_reactions_like_total": len(post["likes"]),
        }
        return {"data": [{"name": m, "period": "lifetime", "values": [{"value": values[m]}], "title": POST_METRICS[m][0],
                          "description": POST_METRICS[m][1], "id": f"{post['id']}/insights/{m}/lifetime"} for m in metrics]}

    def page_insights(self, kind: str, page: dict[str, Any], viewer: Viewer, params: dict[str, Any], request: Request) -> Any:
        """Page insights, period=day: the last two days' values (the newest last), as the Graph API lists them."""
        self.require_page(viewer, page["id"], "read_insights")
        metrics = [m for m in str(params.get("metric", "")).split(",") if m]
        if not metrics:
            raise invalid_parameter("The parameter metric is required")
        unknown = [m for m in metrics if m not in PAGE_METRICS]
        if unknown:
            raise invalid_parameter(f"The value must be a valid insights metric: {unknown[0]}")
        if params.get("period", "day") != "day":
            raise invalid_parameter("period must be one of the following values: day")
        posts = [p for p in self.state["posts"].values() if p["target_id"] == page["id"] and not p.get("deleted")]
        impressions = sum(p["impressions"] + 10 * len(p["likes"]) + 20 * len(p["shares"]) for p in posts)
        values = {"page_impressions": impressions, "page_impressions_unique": impressions * 4 // 5}
        now = self.store.now()
        return {"data": [{
            "name": m, "period": "day",
            "values": [{"value": values[m] // 3, "end_time": fb_time(now - 86400)}, {"value": values[m], "end_time": fb_time(now)}],
            "title": PAGE_METRICS[m][0], "description": PAGE_METRICS[m][1], "id": f"{page['id']}/insights/{m}/day",
        } for m in metrics]}  # fmt: skip

    # --------------------------------------------------------------------------------------- writes
    def publish_feed(self, kind: str, page: dict[str, Any], viewer: Viewer, params: dict[str, Any], request: Request) -> Any:
        self.require_page(viewer, page["id"], "pages_manage_posts")
        message = str(params.get("message", ""))
        link = str(params.get("link", ""))
        photos = [self.state["photos"][photo_id] for photo_id in self.attached_media(params, page["id"])]
        if not message.strip() and not link and not photos:
            raise invalid_parameter("Missing message or attachment")
        if len(message) > FACEBOOK_MAX_CHARACTERS:
            raise invalid_parameter(f"Param message must be at most {FACEBOOK_MAX_CHARACTERS} characters long.")
        if link and not re.match(r"^https?://[^\s/]+", link):
            raise invalid_parameter("The link you are trying to share is not a valid URL.")
        self.refuse_duplicate(page["id"], message, link, photos)
        post = self.new_post(author_id=page["id"], target_id=page["id"], message=message, link=link,
                             photo_ids=[p["id"] for p in photos])
        for photo in photos:
            photo["post_id"] = post["id"]
        return {"id": post["id"]}

    def refuse_duplicate(self, page_id: str, message: str, link: str, photos: list[dict[str, Any]]) -> None:
        latest = next(iter(self.page_posts_of(page_id, authored_only=True)), None)
        if latest is not None and not photos and not latest["photo_ids"] and message and (
                latest["message"], latest["link"]) == (message, link):
            raise duplicate_error()

    def attached_media(self, params: dict[str, Any], page_id: str) -> list[str]:
        """Unpublished photos to put in one post: attached_media=[{"media_fbid": id}] or attached_media[0]={...}."""
        raw = params.get("attached_media")
        entries: list[Any] = []
        if isinstance(raw, list):
            entries = list(raw)
        elif isinstance(raw, str) and raw.strip():
            try:
                parsed = json.loads(raw)
            except ValueError:
                raise invalid_parameter('Param attached_media must be a list of {"media_fbid": id}') from None
            entries = parsed if isinstance(parsed, list) else [parsed]
        index = 0
        while f"attached_media[{index}]" in params:
            entries.append(json_param(params, f"attached_media[{index}]"))
            index += 1
        ids = []
        for position, entry in enumerate(entries):
            photo_id = str(entry.get("media_fbid", "")) if isinstance(entry, dict) else ""
            photo = self.state["photos"].get(photo_id)
            if photo is None or photo["deleted"] or photo["page_id"] != page_id or photo["post_id"]:
                raise invalid_parameter(f"Param attached_media[{position}] must be an unpublished photo of this Page")
            ids.append(photo_id)
        return ids

    def publish_photo(self, kind: str, page: dict[str, Any], viewer: Viewer, params: dict[str, Any], request: Request) -> Any:
        self.require_page(viewer, page["id"], "pages_manage_posts")
        upload = request.files.get("source")
        if upload is not None:
            content = upload.read()
            mime = image_type(content)
            if not mime:
                raise GraphError(324, "(#324) Missing or invalid image file")
            image = {"blob": self.store_blob(content, mime)}
            size = list(image_size(content))
        elif params.get("url"):
            url = str(params["url"])
            if not re.match(r"^https?://", url):
                raise GraphError(324, "(#324) Missing or invalid image file")
            blob = self.blob_for_url(url)
            image = {"blob": blob} if blob else {"url": url}
            size = list(image_size(self.blobs[blob][0])) if blob else [1080, 1080]
        else:
            raise GraphError(324, "(#324) Requires upload file")
        caption = str(params.get("caption") or params.get("message") or "")
        alt_text = str(params.get("alt_text_custom", ""))
        if len(alt_text) > 1000:
            raise invalid_parameter("Param alt_text_custom must be at most 1000 characters long.")
        published = truthy(params.get("published", "true"))
        photo = {"id": self.new_id(), "page_id": page["id"], "image": image, "size": size, "caption": caption,
                 "alt_text_custom": alt_text, "created": self.store.now(), "post_id": "",
                 "temporary": truthy(params.get("temporary")), "deleted": False}
        self.state["photos"][photo["id"]] = photo
        if not published:
            return {"id": photo["id"]}
        post = self.new_post(author_id=page["id"], target_id=page["id"], message=caption, photo_ids=[photo["id"]])
        photo["post_id"] = post["id"]
        return {"id": photo["id"], "post_id": post["id"]}

    def user_publish(self, kind: str, user: dict[str, Any], viewer: Viewer, params: dict[str, Any], request: Request) -> Any:
        if viewer.kind != "user" or viewer.user_id != user["id"]:
            raise missing_permission("publish_to_groups")
        message, tags = self.tag_pages(str(params.get("message", "")))
        link = str(params.get("link", ""))
        if not message.strip() and not link:
            raise invalid_parameter("Missing message or attachment")
        post = self.new_post(author_id=user["id"], target_id=user["id"], message=message, link=link, tags=tags)
        return {"id": post["id"]}

    def delete_post(self, kind: str, post: dict[str, Any], viewer: Viewer, params: dict[str, Any], request: Request) -> Any:
        if viewer.actor_id != post["author_id"]:
            owner = self.owner_page_of("post", post)
            if not owner:
                raise missing_permission("pages_manage_posts")
            self.require_page(viewer, owner, "pages_manage_posts")
        elif viewer.kind == "page":
            self.require_scope(viewer, "pages_manage_posts")
        post["deleted"] = True
        for photo_id in post["photo_ids"]:
            if photo_id in self.state["photos"]:
                self.state["photos"][photo_id]["deleted"] = True
        return {"success": True}

    def delete_photo(self, kind: str, photo: dict[str, Any], viewer: Viewer, params: dict[str, Any], request: Request) -> Any:
        self.require_page(viewer, photo["page_id"], "pages_manage_posts")
        photo["deleted"] = True
        if photo["post_id"] in self.state["posts"]:
            self.state["posts"][photo["post_id"]]["deleted"] = True
        return {"success": True}

    def create_comment(self, kind: str, obj: dict[str, Any], viewer: Viewer, params: dict[str, Any], request: Request) -> Any:
        post = obj if kind == "post" else self.state["posts"][obj["post_id"]]
        parent = obj if kind == "comment" else None
        message = str(params.get("message", ""))
        if not message.strip() and not params.get("attachment_url"):
            raise invalid_parameter("Missing message or attachment")
        if len(message) > 8000:
            raise invalid_parameter("Param message must be at most 8000 characters long.")
        if viewer.kind == "page":
            self.require_page(viewer, self.owner_page_of("post", post) or viewer.page_id, "pages_manage_engagement")
        elif viewer.kind != "user":
            raise GraphError(2500, "An active access token must be used to comment.")
        comment = self.new_comment(post=post, parent=parent, author_id=viewer.actor_id, message=message)
        return {"id": comment["id"]}

    def delete_comment(self, kind: str, comment: dict[str, Any], viewer: Viewer, params: dict[str, Any], request: Request) -> Any:
        if viewer.actor_id != comment["author_id"]:
            self.require_page(viewer, self.owner_page_of("comment", comment), "pages_manage_engagement")
        comment["deleted"] = True
        return {"success": True}

    def update_comment(self, kind: str, comment: dict[str, Any], viewer: Viewer, params: dict[str, Any], request: Request) -> Any:
        if "is_hidden" in params:
            self.require_page(viewer, self.owner_page_of("comment", comment), "pages_manage_engagement")
            comment["hidden"] = truthy(params["is_hidden"])
        elif "message" in params:
            if viewer.actor_id != comment["author_id"]:
                raise missing_permission("pages_manage_engagement")
            comment["message"] = str(params["message"])
        else:
            raise invalid_parameter("Requires one of the params: message, is_hidden")
        return {"success": True}

    def like(self, kind: str, obj: dict[str, Any], viewer: Viewer, params: dict[str, Any], request: Request) -> Any:
        if viewer.kind == "app":
            raise missing_permission("pages_manage_engagement")
        self.add_like(obj, viewer.actor_id)
        return {"success": True}

    def unlike(self, kind: str, obj: dict[str, Any], viewer: Viewer, params: dict[str, Any], request: Request) -> Any:
        if viewer.actor_id in obj["likes"]:
            obj["likes"].remove(viewer.actor_id)
        return {"success": True}

    # ------------------------------------------------------------------------------- the public page
    def public_write_facebook(self, kind: str, user: dict[str, Any], page: dict[str, Any], text: str, in_reply_to: str) -> str:
        if kind == "dm":
            return self.deliver_message(sender_id=user["id"], page=page, platform="messenger", text=text)["id"]
        target = self.find(in_reply_to.strip()) if in_reply_to.strip() else None
        if in_reply_to.strip() and (target is None or target[0] not in ("post", "comment")):
            raise ValueError(f"There is no Facebook post or comment {in_reply_to!r}.")
        if kind == "mention" and target is None:
            message, tags = self.tag_pages(f"@[{page['id']}] {text}")
            return self.new_post(author_id=user["id"], target_id=user["id"], message=message, tags=tags)["id"]
        if kind not in ("comment", "mention"):
            raise ValueError(f"Unknown action {kind!r}.")
        if target is None:
            latest = next(iter(self.page_posts_of(page["id"], authored_only=True)), None)
            if latest is None:
                raise ValueError(f"{page['name']} has not posted anything to comment on.")
            target = ("post", latest)
        target_kind, obj = target
        post = obj if target_kind == "post" else self.state["posts"][obj["post_id"]]
        if kind == "mention" and page["name"].lower() not in text.lower():
            text = f"@{page['name']} {text}"
        return self.new_comment(post=post, parent=obj if target_kind == "comment" else None, author_id=user["id"],
                                message=text)["id"]

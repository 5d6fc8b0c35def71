"""Instagram professional accounts on the simulated Graph API: the IG user node, /media (containers, carousels)
and /media_publish, media, comments and replies, /tags (posts that mention the account), mentioned_media and
mentioned_comment, media and account insights, and the content publishing limit. Shapes follow the
instagram/apidata bodies (media_default.json, comments_p1.json, insights.json, container_info.json, ...).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request

from simulator.platforms.graph_api import (
    CITIZEN_IG_ID,
    MISSING,
    PLACEHOLDER,
    Field,
    GraphError,
    fb_time,
    invalid_parameter,
    truthy,
)

if TYPE_CHECKING:
    from simulator.platforms.graph import Viewer

CAPTION_LIMIT = 2200
ALT_TEXT_LIMIT = 1000
CAROUSEL_MAX = 10
PUBLISH_QUOTA = 25
_SHORTCODE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_MENTION = re.compile(r"(?<![\w@])@([\w.]+)")
MEDIA_METRICS = {
    "impressions": ("Impressions", "Total number of times the media object has been seen"),
    "reach": ("Reach", "Total number of unique accounts that have seen the media object"),
    "saved": ("Saved", "Total number of unique accounts that have saved the media object"),
    "likes": ("Likes", "The number of likes on your post."),
    "comments": ("Comments", "The number of comments on your post."),
    "total_interactions": ("Post interactions", "The number of likes, saves, comments and shares on your post."),
}
ACCOUNT_METRICS = {
    "impressions": ("Impressions", "Total number of times this profile has been seen"),
    "reach": ("Reach", "Total number of unique accounts that have seen this profile"),
    "profile_views": ("Profile Views", "Total number of unique accounts that have viewed this profile within the "
                                       "specified period"),
}


def shortcode(media_id: str) -> str:
    number, letters = int(media_id), []
    while number:
        number, rest = divmod(number, 64)
        letters.append(_SHORTCODE_ALPHABET[rest])
    return "".join(reversed(letters))[-11:].rjust(11, "A")


class InstagramMixin:
    ROUTES = {
        ("ig_user", "media", "GET"): "ig_list_media",
        ("ig_user", "media", "POST"): "ig_create_container",
        ("ig_user", "media_publish", "POST"): "ig_publish",
        ("ig_user", "tags", "GET"): "ig_tags",
        ("ig_user", "insights", "GET"): "ig_account_insights",
        ("ig_user", "content_publishing_limit", "GET"): "ig_publishing_limit",
        ("ig_user", "mentions", "POST"): "ig_reply_to_mention",
        ("ig_media", "comments", "GET"): "ig_list_comments",
        ("ig_media", "comments", "POST"): "ig_create_comment",
        ("ig_media", "insights", "GET"): "ig_media_insights",
        ("ig_media", "likes", "POST"): "ig_like",
        ("ig_comment", "replies", "GET"): "ig_list_replies",
        ("ig_comment", "replies", "POST"): "ig_create_comment",
        ("ig_comment", "likes", "POST"): "ig_like",
        ("ig_comment", "", "DELETE"): "ig_delete_comment",
        ("ig_comment", "", "POST"): "ig_hide_comment",
    }
    DEFAULT_FIELDS = {"ig_user": ("id",), "ig_media": ("id",), "ig_container": ("id",),
                      "ig_comment": ("timestamp", "text", "id")}
    EDGE_FIELDS = {"ig_media": ("children",)}

    # ------------------------------------------------------------------------------------- creation
    def new_media(self, *, ig_id: str, caption: str, image: dict[str, Any], alt_text: str = "", created: float | None = None,
                  children: list[dict[str, Any]] | None = None, carousel_parent: str = "") -> dict[str, Any]:
        media_id = self.new_id()
        mentioned = {m.lower().rstrip(".") for m in _MENTION.findall(caption)}
        tags = [a["id"] for a in self.state["ig_users"].values() if a["username"] in mentioned and a["id"] != ig_id]
        media = {
            "id": media_id, "ig_id": ig_id, "caption": caption, "image": image, "alt_text": alt_text,
            "media_type": "CAROUSEL_ALBUM" if children else "IMAGE", "children": [], "carousel_parent": carousel_parent,
            "created": self.store.now() if created is None else created, "likes": [], "tags": tags,
            "comments_enabled": True, "impressions": 0, "reach": 0, "deleted": False,
        }  # fmt: skip
        self.state["ig_media"][media_id] = media
        for child in children or []:
            item = self.new_media(ig_id=ig_id, caption="", image=child["image"], alt_text=child["alt_text"],
                                  created=media["created"], carousel_parent=media_id)
            media["children"].append(item["id"])
        return media

    def new_ig_comment(self, *, media: dict[str, Any], parent: dict[str, Any] | None, author_id: str, text: str) -> dict[str, Any]:
        # Instagram threads one level deep: a reply to a reply joins the first comment's thread.
        if parent is not None and parent["parent_id"]:
            parent = self.state["ig_comments"][parent["parent_id"]]
        comment = {"id": self.new_id(), "media_id": media["id"], "parent_id": parent["id"] if parent else "",
                   "author_id": author_id, "text": text, "created": self.store.now(), "likes": [], "hidden": False,
                   "deleted": False}
        self.state["ig_comments"][comment["id"]] = comment
        return comment

    def owns_ig(self, viewer: Viewer, account: dict[str, Any]) -> bool:
        if viewer.kind == "page":
            return bool(account["page_id"]) and account["page_id"] == viewer.page_id
        if viewer.kind == "user":
            if account.get("user_id") == viewer.user_id:
                return True
            page = self.state["pages"].get(account["page_id"], {})
            return viewer.user_id in page.get("managers", []) and page.get("id") in viewer.pages
        return False

    def require_ig_owner(self, viewer: Viewer, account: dict[str, Any], *permissions: str) -> None:
        if not self.owns_ig(viewer, account):
            if viewer.kind == "page":
                raise GraphError(200, "(#200) The user hasn't authorized the application to perform this action: this "
                                      "Page access token is not linked to that Instagram account.", status=403)
            raise GraphError(10, "(#10) Application does not have permission for this action", status=403)
        # The citizen acts on its own personal account; permissions matter for business accounts.
        if account["page_id"]:
            self.require_scope(viewer, "instagram_basic", *permissions)

    def listed_media(self, ig_id: str) -> list[dict[str, Any]]:
        media = [m for m in self.state["ig_media"].values() if m["ig_id"] == ig_id and not m["deleted"]
                 and not m["carousel_parent"]]
        return sorted(media, key=lambda m: (m["created"], int(m["id"])), reverse=True)

    def ig_comments_of(self, viewer: Viewer, *, media_id: str = "", parent_id: str = "") -> list[dict[str, Any]]:
        found = []
        for comment in self.state["ig_comments"].values():
            if comment["deleted"] or (media_id and comment["media_id"] != media_id):
                continue
            if comment["parent_id"] != parent_id:
                continue
            media = self.state["ig_media"][comment["media_id"]]
            owner = self.state["ig_users"][media["ig_id"]]
            if comment["hidden"] and not self.owns_ig(viewer, owner):
                continue
            found.append(comment)
        return found

    # --------------------------------------------------------------------------------------- fields
    def fields_ig_user(self, account: dict[str, Any], viewer: Viewer) -> dict[str, Any]:
        def mentioned(f: Field, kind: str) -> Any:
            object_id = f.modifiers.get("media_id" if kind == "ig_media" else "comment_id", "")
            collection = self.state["ig_media" if kind == "ig_media" else "ig_comments"]
            obj = collection.get(object_id)
            text = (obj or {}).get("caption" if kind == "ig_media" else "text", "")
            if obj is None or obj["deleted"] or f"@{account['username']}" not in text.lower():
                raise invalid_parameter(f"The {kind.removeprefix('ig_')} with id {object_id} does not mention this account.")
            return self.render(kind, obj, f.children, viewer)

        return {
            "id": lambda f: account["id"],
            "ig_id": lambda f: int(account["id"][-10:]),
            "username": lambda f: account["username"],
            "name": lambda f: account["name"],
            "biography": lambda f: account["biography"],
            "website": lambda f: f"https://{account['username']}.example/" if account["page_id"] else MISSING,
            "followers_count": lambda f: account["followers_count"],
            "follows_count": lambda f: account["follows_count"],
            "media_count": lambda f: len(self.listed_media(account["id"])),
            "profile_picture_url": lambda f: self.image_url({"blob": PLACEHOLDER}),
            "media": lambda f: self.edge_field("ig_media", self.listed_media(account["id"]), f, viewer),
            "mentioned_media": lambda f: mentioned(f, "ig_media"),
            "mentioned_comment": lambda f: mentioned(f, "ig_comment"),
        }

    def fields_ig_media(self, media: dict[str, Any], viewer: Viewer) -> dict[str, Any]:
        account = self.state["ig_users"][media["ig_id"]]
        comments = [c for c in self.state["ig_comments"].values() if c["media_id"] == media["id"] and not c["deleted"]]
        children = [self.state["ig_media"][c] for c in media["children"]]
        first_image = children[0]["image"] if children else media["image"]
        return {
            "id": lambda f: media["id"],
            "caption": lambda f: media["caption"] or MISSING,
            "alt_text": lambda f: media["alt_text"] or MISSING,
            "comments_count": lambda f: len(comments),
            "like_count": lambda f: len(media["likes"]),
            "media_type": lambda f: media["media_type"],
            "media_product_type": lambda f: "FEED",
            "media_url": lambda f: self.image_url(first_image),
            "permalink": lambda f: f"https://www.instagram.com/p/{shortcode(media['id'])}/",
            "shortcode": lambda f: shortcode(media["id"]),
            "timestamp": lambda f: fb_time(media["created"]),
            "username": lambda f: account["username"],
            "owner": lambda f: {"id": account["id"]},
            "is_comment_enabled": lambda f: media["comments_enabled"],
            "children": lambda f: self.edge_field("ig_media", children, f, viewer) if children else MISSING,
            "comments": lambda f: self.edge_field("ig_comment", self.newest_first(self.ig_comments_of(viewer, media_id=media["id"])), f, viewer),
        }

    def fields_ig_container(self, container: dict[str, Any], viewer: Viewer) -> dict[str, Any]:
        published = bool(container["media_id"])
        return {
            "id": lambda f: container["id"],
            "status": lambda f: "Published: Media has been published." if published else
                                "Finished: Media has been uploaded and it is ready to be published.",
            "status_code": lambda f: "PUBLISHED" if published else "FINISHED",
        }

    def fields_ig_comment(self, comment: dict[str, Any], viewer: Viewer) -> dict[str, Any]:
        author = self.state["ig_users"].get(comment["author_id"], {"id": comment["author_id"], "username": ""})
        media = self.state["ig_media"][comment["media_id"]]
        return {
            "id": lambda f: comment["id"],
            "text": lambda f: comment["text"],
            "timestamp": lambda f: fb_time(comment["created"]),
            "username": lambda f: author["username"],
            "like_count": lambda f: len(comment["likes"]),
            "from": lambda f: {"id": author["id"], "username": author["username"]},
            "parent_id": lambda f: comment["parent_id"] or MISSING,
            "hidden": lambda f: comment["hidden"],
            "media": lambda f: self.render("ig_media", media, f.children or [Field("id")], viewer),
            "replies": lambda f: self.edge_field("ig_comment", self.oldest_first(self.ig_comments_of(viewer, parent_id=comment["id"])), f, viewer),
        }

    @staticmethod
    def newest_first(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(items, key=lambda i: (i["created"], int(i["id"])), reverse=True)

    @staticmethod
    def oldest_first(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(items, key=lambda i: (i["created"], int(i["id"])))

    # ---------------------------------------------------------------------------------------- reads
    def ig_list_media(self, kind: str, account: dict[str, Any], viewer: Viewer, params: dict[str, Any], request: Request) -> Any:
        self.require_ig_owner(viewer, account)
        return self.edge_response(request, params, "ig_media", self.listed_media(account["id"]), viewer)

    def ig_tags(self, kind: str, account: dict[str, Any], viewer: Viewer, params: dict[str, Any], request: Request) -> Any:
        self.require_ig_owner(viewer, account)
        tagged = [m for m in self.state["ig_media"].values() if account["id"] in m["tags"] and not m["deleted"]]
        return self.edge_response(request, params, "ig_media", self.newest_first(tagged), viewer)

    def ig_list_comments(self, kind: str, media: dict[str, Any], viewer: Viewer, params: dict[str, Any], request: Request) -> Any:
        self.require_ig_owner(viewer, self.state["ig_users"][media["ig_id"]])
        comments = self.newest_first(self.ig_comments_of(viewer, media_id=media["id"]))
        return self.edge_response(request, params, "ig_comment", comments, viewer)

    def ig_list_replies(self, kind: str, comment: dict[str, Any], viewer: Viewer, params: dict[str, Any], request: Request) -> Any:
        media = self.state["ig_media"][comment["media_id"]]
        self.require_ig_owner(viewer, self.state["ig_users"][media["ig_id"]])
        replies = self.oldest_first(self.ig_comments_of(viewer, parent_id=comment["id"]))
        return self.edge_response(request, params, "ig_comment", replies, viewer)

    def ig_media_insights(self, kind: str, media: dict[str, Any], viewer: Viewer, params: dict[str, Any], request: Request) -> Any:
        self.require_ig_owner(viewer, self.state["ig_users"][media["ig_id"]], "instagram_manage_insights")
        metrics = self.metrics_param(params, MEDIA_METRICS)
        comments = sum(1 for c in self.state["ig_comments"].values() if c["media_id"] == media["id"] and not c["deleted"])
        impressions = media["impressions"] + 10 * len(media["likes"]) + 6 * comments
        values = {"impressions": impressions, "reach": max(media["reach"], impressions * 4 // 5), "saved": 0,
                  "likes": len(media["likes"]), "comments": comments, "total_interactions": len(media["likes"]) + comments}
        return {"data": [{"name": m, "period": "lifetime", "values": [{"value": values[m]}], "title": MEDIA_METRICS[m][0],
                          "description": MEDIA_METRICS[m][1], "id": f"{media['id']}/insights/{m}/lifetime"} for m in metrics]}

    def ig_account_insights(self, kind: str, account: dict[str, Any], viewer: Viewer, params: dict[str, Any], request: Request) -> Any:
        self.require_ig_owner(viewer, account, "instagram_manage_insights")
        metrics = self.metrics_param(params, ACCOUNT_METRICS)
        if params.get("period", "day") != "day":
            raise invalid_parameter("period must be one of the following values: day")
        media = self.listed_media(account["id"])
        impressions = sum(m["impressions"] + 10 * len(m["likes"]) for m in media)
        values = {"impressions": impressions, "reach": impressions * 4 // 5, "profile_views": len(media) * 3}
        now = self.store.now()
        days = [now - 86400, now]
        return {"data": [{
            "name": m, "period": "day",
            "values": [{"value": values[m] // 3, "end_time": fb_time(days[0])}, {"value": values[m], "end_time": fb_time(days[1])}],
            "title": ACCOUNT_METRICS[m][0], "description": ACCOUNT_METRICS[m][1], "id": f"{account['id']}/insights/{m}/day",
        } for m in metrics]}  # fmt: skip

    def metrics_param(self, params: dict[str, Any], known: dict[str, Any]) -> list[str]:
        metrics = [m for m in str(params.get("metric", "")).split(",") if m]
        if not metrics:
            raise invalid_parameter("The parameter metric is required")
        for position, metric in enumerate(metrics):
            if metric not in known:
                raise invalid_parameter(f"metric[{position}] must be one of the following values: {', '.join(known)}")
        return metrics

    def ig_publishing_limit(self, kind: str, account: dict[str, Any], viewer: Viewer, params: dict[str, Any], request: Request) -> Any:
        self.require_ig_owner(viewer, account)
        return {"data": [{"config": {"quota_total": PUBLISH_QUOTA, "quota_duration": 86400},
                          "quota_usage": len(self.recent_publishes(account))}]}

    def recent_publishes(self, account: dict[str, Any]) -> list[float]:
        cutoff = self.store.now() - 86400
        account["publish_log"] = [t for t in account["publish_log"] if t > cutoff]
        return account["publish_log"]

    # --------------------------------------------------------------------------------------- writes
    def ig_create_container(self, kind: str, account: dict[str, Any], viewer: Viewer, params: dict[str, Any], request: Request) -> Any:
        self.require_ig_owner(viewer, account, "instagram_content_publish")
        media_type = str(params.get("media_type", "IMAGE")).upper()
        caption = str(params.get("caption", ""))
        alt_text = str(params.get("alt_text", ""))
        if len(caption) > CAPTION_LIMIT:
            raise invalid_parameter(f"Param caption must be at most {CAPTION_LIMIT} characters long.", subcode=2207010)
        if len(alt_text) > ALT_TEXT_LIMIT:
            raise invalid_parameter(f"Param alt_text must be at most {ALT_TEXT_LIMIT} characters long.")
        container = {"id": self.new_id(), "ig_id": account["id"], "caption": caption, "alt_text": alt_text, "image": {},
                     "children": [], "is_carousel_item": truthy(params.get("is_carousel_item")), "media_id": "",
                     "created": self.store.now()}
        if media_type == "CAROUSEL":
            children = [c for c in str(params.get("children", "")).split(",") if c]
            if not 2 <= len(children) <= CAROUSEL_MAX:
                raise invalid_parameter(f"A carousel needs between 2 and {CAROUSEL_MAX} children.", subcode=2207004)
            for child_id in children:
                child = self.state["ig_containers"].get(child_id)
                if child is None or child["ig_id"] != account["id"] or not child["is_carousel_item"]:
                    raise invalid_parameter(f"Param children must be carousel item containers: {child_id}")
            container["children"] = children
        elif media_type == "IMAGE":
            url = str(params.get("image_url", ""))
            if not url:
                raise invalid_parameter("The parameter image_url is required.")
            if not re.match(r"^https?://[^\s/]+", url):
                raise GraphError(9004, "(#9004) Only photo or video can be accepted as media type.", subcode=2207052,
                                 error_user_title="Media download has failed.",
                                 error_user_msg="The media could not be fetched from this URI.")
            blob = self.blob_for_url(url)
            container["image"] = {"blob": blob} if blob else {"url": url}
        else:
            raise invalid_parameter(f"The media type {media_type} is not supported by this simulator.", subcode=2207023)
        self.state["ig_containers"][container["id"]] = container
        return {"id": container["id"]}

    def ig_publish(self, kind: str, account: dict[str, Any], viewer: Viewer, params: dict[str, Any], request: Request) -> Any:
        self.require_ig_owner(viewer, account, "instagram_content_publish")
        container = self.state["ig_containers"].get(str(params.get("creation_id", "")))
        if container is None or container["ig_id"] != account["id"] or container["media_id"] or container["is_carousel_item"]:
            raise GraphError(9007, "(#9007) Media ID is not available", subcode=2207006,
                             error_user_title="Media not found", error_user_msg="The media could not be found.")
        if len(self.recent_publishes(account)) >= PUBLISH_QUOTA:
            raise GraphError(9, "(#9) Application request limit reached", subcode=2207042,
                             error_user_title="Publishing limit reached",
                             error_user_msg="You reached the maximum number of posts the Content Publishing API may "
                                            "publish for this account in 24 hours.")
        children = [self.state["ig_containers"][c] for c in container["children"]]
        media = self.new_media(ig_id=account["id"], caption=container["caption"], image=container["image"],
                               alt_text=container["alt_text"],
                               children=[{"image": c["image"], "alt_text": c["alt_text"]} for c in children])
        container["media_id"] = media["id"]
        account["publish_log"].append(self.store.now())
        return {"id": media["id"]}

    def ig_create_comment(self, kind: str, obj: dict[str, Any], viewer: Viewer, params: dict[str, Any], request: Request) -> Any:
        media = obj if kind == "ig_media" else self.state["ig_media"][obj["media_id"]]
        owner = self.state["ig_users"][media["ig_id"]]
        message = str(params.get("message", ""))
        if not message.strip():
            raise invalid_parameter("The parameter message is required.")
        if len(message) > CAPTION_LIMIT:
            raise invalid_parameter(f"Param message must be at most {CAPTION_LIMIT} characters long.")
        if self.owns_ig(viewer, owner):
            if owner["page_id"]:
                self.require_scope(viewer, "instagram_manage_comments")
            author_id = owner["id"]
        elif viewer.kind == "user" and self.state["users"][viewer.user_id].get("ig_id"):
            author_id = self.state["users"][viewer.user_id]["ig_id"]
        else:
            raise GraphError(10, "(#10) Application does not have permission for this action", status=403)
        if not media["comments_enabled"]:
            raise invalid_parameter("Comments are disabled for this media.")
        comment = self.new_ig_comment(media=media, parent=obj if kind == "ig_comment" else None, author_id=author_id,
                                      text=message)
        return {"id": comment["id"]}

    def ig_reply_to_mention(self, kind: str, account: dict[str, Any], viewer: Viewer, params: dict[str, Any], request: Request) -> Any:
        """POST /{ig-user-id}/mentions: comment on someone else's media (or comment) that mentions the account."""
        self.require_ig_owner(viewer, account, "instagram_manage_comments")
        media = self.state["ig_media"].get(str(params.get("media_id", "")))
        comment = self.state["ig_comments"].get(str(params.get("comment_id", ""))) if params.get("comment_id") else None
        message = str(params.get("message", ""))
        mentioned = f"@{account['username']}"
        if media is None or media["deleted"]:
            raise invalid_parameter("The parameter media_id is required and must be a media that mentions you.")
        if comment is not None:
            if comment["media_id"] != media["id"] or mentioned not in comment["text"].lower():
                raise invalid_parameter("The comment does not mention this account.")
        elif account["id"] not in media["tags"]:
            raise invalid_parameter("The media does not mention this account.")
        if not message.strip():
            raise invalid_parameter("The parameter message is required.")
        reply = self.new_ig_comment(media=media, parent=comment, author_id=account["id"], text=message)
        return {"id": reply["id"]}

    def ig_delete_comment(self, kind: str, comment: dict[str, Any], viewer: Viewer, params: dict[str, Any], request: Request) -> Any:
        media = self.state["ig_media"][comment["media_id"]]
        owner = self.state["ig_users"][media["ig_id"]]
        author_is_viewer = viewer.kind == "user" and self.state["users"][viewer.user_id].get("ig_id") == comment["author_id"]
        if not author_is_viewer:
            self.require_ig_owner(viewer, owner, "instagram_manage_comments")
        comment["deleted"] = True
        return {"success": True}

    def ig_hide_comment(self, kind: str, comment: dict[str, Any], viewer: Viewer, params: dict[str, Any], request: Request) -> Any:
        media = self.state["ig_media"][comment["media_id"]]
        self.require_ig_owner(viewer, self.state["ig_users"][media["ig_id"]], "instagram_manage_comments")
        if "hide" not in params:
            raise invalid_parameter("The parameter hide is required.")
        comment["hidden"] = truthy(params["hide"])
        return {"success": True}

    def ig_like(self, kind: str, obj: dict[str, Any], viewer: Viewer, params: dict[str, Any], request: Request) -> Any:
        ig_id = self.state["users"].get(viewer.user_id, {}).get("ig_id") if viewer.kind == "user" else ""
        if not ig_id:
            raise GraphError(10, "(#10) Application does not have permission for this action", status=403)
        self.add_like(obj, ig_id)
        return {"success": True}

    # ------------------------------------------------------------------------------- the public page
    def public_write_instagram(self, kind: str, user: dict[str, Any], account: dict[str, Any], text: str, in_reply_to: str) -> str:
        page = self.state["pages"][account["page_id"]]
        author_ig = user.get("ig_id") or CITIZEN_IG_ID
        if kind == "dm":
            return self.deliver_message(sender_id=author_ig, page=page, platform="instagram", text=text)["id"]
        if kind not in ("comment", "mention"):
            raise ValueError(f"Unknown action {kind!r}.")
        mention = f"@{account['username']}"
        if kind == "mention" and mention not in text.lower():
            text = f"{mention} {text}"
        target = None
        if in_reply_to.strip():
            target = self.find(in_reply_to.strip())
            if target is None or target[0] not in ("ig_media", "ig_comment"):
                raise ValueError(f"There is no Instagram post or comment {in_reply_to!r}.")
        elif kind == "mention":
            return self.new_media(ig_id=author_ig, caption=text, image={"blob": PLACEHOLDER},
                                  alt_text="A placeholder picture.")["id"]
        else:
            latest = next(iter(self.listed_media(account["id"])), None)
            if latest is None:
                raise ValueError(f"@{account['username']} has not posted anything to comment on.")
            target = ("ig_media", latest)
        target_kind, obj = target
        media = obj if target_kind == "ig_media" else self.state["ig_media"][obj["media_id"]]
        return self.new_ig_comment(media=media, parent=obj if target_kind == "ig_comment" else None, author_id=author_ig,
                                   text=text)["id"]

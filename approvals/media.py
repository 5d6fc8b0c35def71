"""Images attached to posts: what an upload must be (PNG, JPEG, GIF or WebP by its first bytes, at most 5 MB,
at most four per post) and the write that stores one (bytes in the database, audited).

The type is read from the file's own bytes, never from its name or the browser's Content-Type, so a script
renamed to .png is refused. The dimensions are read from the image header where it is simple to do so
(no image library: nothing here decodes pixels).
"""

from __future__ import annotations

import hashlib
import struct

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from accounts.models import Membership
from accounts.roles import Capability
from approvals.models import Post, PostMedia
from approvals.workflow import EDITABLE, TransitionNotAllowed
from audit.models import EventType
from audit.services import record

MAX_BYTES = 5 * 1024 * 1024
MAX_IMAGES = 4
ACCEPTED = "PNG, JPEG, GIF or WebP"


def sniff(content: bytes) -> str | None:
    """The image's MIME type from its magic bytes, or None when it is none of the four we take."""
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if content.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if content[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if len(content) >= 12 and content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return None


def dimensions(content: bytes, mime_type: str) -> tuple[int | None, int | None]:
    """Width and height from the header, or (None, None) when the header is not one we read."""
    try:
        if mime_type == "image/png" and content[12:16] == b"IHDR":
            return struct.unpack(">II", content[16:24])
        if mime_type == "image/gif":
            return struct.unpack("<HH", content[6:10])
        if mime_type == "image/webp":
            return _webp_dimensions(content)
        if mime_type == "image/jpeg":
            return _jpeg_dimensions(content)
    except struct.error:
        pass
    return None, None


def _webp_dimensions(content: bytes) -> tuple[int | None, int | None]:
    chunk = content[12:16]
    if chunk == b"VP8X":
        width = int.from_bytes(content[24:27], "little") + 1
        height = int.from_bytes(content[27:30], "little") + 1
        return width, height
    if chunk == b"VP8L" and content[20:21] == b"\x2f":
        bits = int.from_bytes(content[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and content[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", content[26:30])
        return width & 0x3FFF, height & 0x3FFF
    return None, None


def _jpeg_dimensions(content: bytes) -> tuple[int | None, int | None]:
    # Walk the segments to the first start-of-frame marker (SOF0..SOF15 but DHT, JPG and DAC).
    position = 2
    while position + 9 < len(content):
        if content[position] != 0xFF:
            return None, None
        marker = content[position + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            position += 2
            continue
        length = struct.unpack(">H", content[position + 2 : position + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", content[position + 5 : position + 9])
            return width, height
        position += 2 + length
    return None, None


def validate_image(content: bytes) -> str:
    """The MIME type of an acceptable image, or ValidationError saying what is wrong with it."""
    if not content:
        raise ValidationError({"image": "Choose an image file to upload."})
    if len(content) > MAX_BYTES:
        raise ValidationError({"image": f"That image is {len(content) / 1024 / 1024:.1f} MB; the limit is 5 MB."})
    mime_type = sniff(content)
    if mime_type is None:
        raise ValidationError({"image": f"That file is not an image we can publish: upload a {ACCEPTED} file."})
    return mime_type


def live_media_ids(post: Post) -> list[int]:
    """The post's images that count towards the limit: those in its current revision, plus those uploaded since
    that no revision has used yet (an upload joins the post when the composer next saves)."""
    used: set[int] = set()
    for media in post.revisions.values_list("media", flat=True):
        used.update(int(item["id"]) for item in media or [] if str(item.get("id", "")).isdigit())
    current = [int(item["id"]) for item in (post.current_revision.media if post.current_revision else [])]
    pending = [pk for pk in PostMedia.objects.filter(post=post).order_by("pk").values_list("pk", flat=True)
               if pk not in used]
    return current + pending


def _lock_editable(actor: Membership, post_id: int) -> Post:
    if actor is None or not actor.can(Capability.EDIT_POSTS):
        raise PermissionDenied("Your role does not allow this.")
    post = (Post.objects.visible_to(actor).select_for_update(of=("self",)).select_related("current_revision")
            .filter(pk=post_id).first())
    if post is None:
        raise Post.DoesNotExist("No such post.")
    if post.status not in EDITABLE:
        raise TransitionNotAllowed("edit", post.status)
    return post


def _store(actor: Membership, post: Post, content: bytes, mime_type: str, filename: str) -> PostMedia:
    if len(live_media_ids(post)) >= MAX_IMAGES:
        raise ValidationError({"image": f"A post can have at most {MAX_IMAGES} images; remove one first."})
    width, height = dimensions(content, mime_type)
    return PostMedia.objects.create(
        organisation_id=post.organisation_id, post=post, content=content, mime_type=mime_type,
        filename=" ".join((filename or "").split())[:200], sha256=hashlib.sha256(content).hexdigest(),
        width=width, height=height, uploaded_by=actor.user,
    )


def _uploaded(media: PostMedia, content: bytes) -> dict:
    return {"id": media.pk, "filename": media.filename, "sha256": media.sha256, "bytes": len(content)}


def _audit_edit(actor: Membership, post: Post, changes: dict) -> None:
    record(
        organisation=post.organisation_id, department=post.department_id, event_type=EventType.POST_EDITED,
        actor=actor.user, target=post, target_repr=f"Post {post.pk}: {post.title}"[:300], changes=changes,
    )


def media_upload(*, actor: Membership, post_id: int, content: bytes, filename: str = "") -> PostMedia:
    """Stores one image on a post the actor may edit; the composer attaches it (with its alt text) on its next save."""
    if actor is None or not actor.can(Capability.EDIT_POSTS):
        raise PermissionDenied("Your role does not allow this.")
    mime_type = validate_image(content)
    with transaction.atomic():
        post = _lock_editable(actor, post_id)
        media = _store(actor, post, content, mime_type, filename)
        _audit_edit(actor, post, {"image_uploaded": _uploaded(media, content)})
    return media


def media_add(*, actor: Membership, post_id: int, content: bytes, filename: str = "",
              alt_text: str = "") -> tuple[PostMedia, Post]:
    """The API's upload: stores the image AND adds it, with its alt text, to the end of the post's images in a
    new revision (approvals lapse after submission, as for any edit). One post.edited event carries both: the
    image stored and the revision it made."""
    from approvals import services

    if actor is None or not actor.can(Capability.EDIT_POSTS):
        raise PermissionDenied("Your role does not allow this.")
    mime_type = validate_image(content)
    with transaction.atomic():
        post = _lock_editable(actor, post_id)
        media = _store(actor, post, content, mime_type, filename)
        draft = services.draft_from(post.current_revision)
        draft.media.append({"id": media.pk, "alt_text": " ".join((alt_text or "").split())})
        changes = services.revise(actor, post, draft)
        _audit_edit(actor, post, {"image_uploaded": _uploaded(media, content), **changes})
    return media, post


def discard_unused(post: Post, media_ids: list[int]) -> list[int]:
    """Deletes, from a post the caller has locked, the images among media_ids that no revision uses; returns the
    ids asked for that no revision used (audited by the caller, in the event of its edit)."""
    used: set[int] = set()
    for media in post.revisions.values_list("media", flat=True):
        used.update(int(item["id"]) for item in media or [] if str(item.get("id", "")).isdigit())
    unused = sorted({pk for pk in media_ids if pk not in used})
    deleted, _ = PostMedia.objects.filter(post=post, pk__in=unused).delete()
    return unused if deleted else []


def media_discard(*, actor: Membership, post_id: int, media_ids: list[int]) -> int:
    """Deletes images uploaded to a post and then removed before any revision used them; others stay for history.
    (The composer's save does this inside post_update, in its one event; this is for a discard on its own.)"""
    if actor is None or not actor.can(Capability.EDIT_POSTS) or not media_ids:
        return 0
    with transaction.atomic():
        post = Post.objects.visible_to(actor).select_for_update(of=("self",)).filter(pk=post_id).first()
        if post is None or post.status not in EDITABLE:
            return 0
        discarded = discard_unused(post, media_ids)
        if discarded:
            _audit_edit(actor, post, {"images_discarded": discarded})
    return len(discarded)

"""Records requests (FOI; issue 6 §6): one post as a downloadable ZIP bundle.

post.html (human readable, self-contained) and post.json: every revision with its content hash (what an
approval approved), every approval decision with the hash it bound to, every comment, every publish target
with its delivery state, and the post's audit events with their hash-chain fields; plus SHA256SUMS. Admins
only (MANAGE_ORGANISATION), audited as RECORDS_REQUEST_EXPORTED with the SHA-256 of the bytes served. Bundle
helpers are shared with inbox.records, including the order: built read-only first (holding no audit lock), then
the one export event in a short transaction (inbox.records.export_audited).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.template.loader import render_to_string
from django.utils import timezone

from accounts.models import Membership
from approvals.models import ApprovalDecision, Comment, Post, PostRevision, PublishTarget
from inbox.records import (
    audit_event_record,
    audit_events_for,
    export_audited,
    header,
    iso,
    label_of,
    require_records_officer,
    user_label,
    zip_bundle,
)


def _revision(revision: PostRevision) -> dict[str, Any]:
    return {
        "id": revision.pk,
        "number": revision.number,
        "title": revision.title,
        "body": revision.body,
        "link": revision.link,
        "variants": revision.variants,
        "channel_ids": revision.channel_ids,
        "media": revision.media,
        "notes": revision.notes,
        "content_hash": revision.content_hash,
        "author": user_label(revision.author),
        "created_at": iso(revision.created_at),
    }


def _decision(decision: ApprovalDecision) -> dict[str, Any]:
    return {
        "id": decision.pk,
        "revision_number": decision.revision.number,
        "revision_hash": decision.revision_hash,
        "hash_matches_revision": decision.revision_hash == decision.revision.content_hash,
        "approver": user_label(decision.approver),
        "decision": decision.decision,
        "comment": decision.comment,
        "created_at": iso(decision.created_at),
    }


def _comment(comment: Comment) -> dict[str, Any]:
    return {
        "id": comment.pk,
        "revision_number": comment.revision.number,
        "parent_id": comment.parent_id,
        "author": user_label(comment.author),
        "text": comment.text,
        "created_at": iso(comment.created_at),
    }


def _target(target: PublishTarget) -> dict[str, Any]:
    return {
        "id": target.pk,
        "channel": {"id": target.channel_id, "platform": target.channel.platform, "handle": target.channel.handle},
        "revision_number": target.revision.number if target.revision_id else None,
        "state": target.state,
        "state_label": target.get_state_display(),
        "attempts": target.attempts,
        "last_error": target.last_error,
        "platform_id": target.platform_id,
        "platform_url": target.platform_url,
        "published_at": iso(target.published_at),
    }


def post_data(membership: Membership, post: Post, now: datetime) -> dict[str, Any]:
    revisions = list(post.revisions.select_related("author").order_by("number"))
    decisions = list(post.decisions.select_related("revision", "approver").order_by("created_at", "id"))
    comments = list(post.comments.select_related("revision", "author").order_by("created_at", "id"))
    targets = list(post.targets.select_related("channel", "revision").order_by("id"))
    events = audit_events_for(membership, [(label_of(Post), [post.pk])])
    return {
        **header(membership, "post", now),
        "post": {
            "id": post.pk,
            "title": post.title,
            "department": post.department.name,
            "author": user_label(post.author),
            "status": post.status,
            "status_label": post.get_status_display(),
            "current_revision_number": post.current_revision.number if post.current_revision_id else None,
            "scheduled_at": iso(post.scheduled_at),
            "submitted_at": iso(post.submitted_at),
            "approved_at": iso(post.approved_at),
            "published_at": iso(post.published_at),
            "break_glass_reason": post.break_glass_reason,
            "break_glass_by": user_label(post.break_glass_by),
            "created_at": iso(post.created_at),
        },
        "revisions": [_revision(revision) for revision in revisions],
        "approvals": [_decision(decision) for decision in decisions],
        "comments": [_comment(comment) for comment in comments],
        "targets": [_target(target) for target in targets],
        "audit_events": [audit_event_record(event) for event in events],
    }


def post_bundle(membership: Membership, post_id: int) -> bytes:
    """The post's records bundle (ZIP bytes), audited with its SHA-256 after it is built.
    Post.DoesNotExist when not visible to the member."""
    require_records_officer(membership)

    def build() -> tuple[Post, bytes]:
        now = timezone.now()
        post = (
            Post.objects.visible_to(membership)
            .select_related("department", "author", "current_revision", "break_glass_by")
            .filter(pk=post_id)
            .first()
        )
        if post is None:
            raise Post.DoesNotExist("Not found.")
        data = post_data(membership, post, now)
        html = render_to_string("approvals/records/post.html", {"data": data})
        return post, zip_bundle("post", html, data)

    return export_audited(build, membership=membership, bundle="post", files=["post.html", "post.json", "SHA256SUMS"],
                          target_repr=lambda post: f"Post {post.pk}: {post.title}"[:300])

"""Serializers of the posts API: read shapes for posts, revisions, approvals, publishing targets, comments,
images and the calendar, and the small input shapes of the write actions. No serializer saves: approvals.api
calls approvals.services.
"""

from __future__ import annotations

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.api import DepartmentBriefSerializer
from approvals.models import PostStatus, TargetState
from inbox.serializers import ChannelBriefSerializer, UserBriefSerializer

MAX_ID = 2**63 - 1
TITLE_MAX = 200
BODY_MAX = 63206
NOTES_MAX = 5000
ALT_TEXT_MAX = 1000
MAX_CHANNELS = 50
from approvals.media import MAX_IMAGES  # noqa: E402  (the per-post limit the upload enforces)


# ------------------------------------------------------------------------------------------- fields
class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 time that names its offset (2025-06-01T09:30:00+01:00 or ...Z): a bare local time is refused,
    since "09:30" means different instants to the caller and to the server."""

    default_error_messages = {
        "naive": "Give the time with its UTC offset, for example 2025-06-01T09:30:00+01:00.",
        "overflow": "That time is out of range.",
    }

    def to_internal_value(self, value):
        if isinstance(value, str):
            try:
                parsed = parse_datetime(value.strip())
            except (ValueError, OverflowError):
                parsed = None
            if parsed is not None and parsed.tzinfo is None:
                self.fail("naive")
        try:
            return super().to_internal_value(value)
        except OverflowError:
            self.fail("overflow")


class FutureDateTimeField(AwareDateTimeField):
    default_error_messages = {"past": "Choose a time in the future."}

    def to_internal_value(self, value):
        when = super().to_internal_value(value)
        if when <= timezone.now():
            self.fail("past")
        return when


# Plain strings in the schema, their values listed in the description: "status" and "state" already name other
# choice sets (conversations, replies), and one enum per field name keeps the schema free of collisions.
@extend_schema_field({"type": "string", "description": "One of: " + ", ".join(PostStatus.values) + "."})
class _StatusField(serializers.CharField):
    pass


@extend_schema_field({"type": "string", "description": "One of: " + ", ".join(TargetState.values) + "."})
class _TargetStateField(serializers.CharField):
    pass


def _id_field(**kwargs) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


# -------------------------------------------------------------------------------------- read shapes
class MediaRefSerializer(serializers.Serializer):
    id = _id_field(help_text="An image uploaded to this post (posts/{id}/media/).")
    alt_text = serializers.CharField(
        max_length=ALT_TEXT_MAX, allow_blank=True, required=False, default="",
        help_text="What the image shows, for people who cannot see it (required by default to submit).",
    )


class StoredMediaSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    alt_text = serializers.CharField(read_only=True)
    sha256 = serializers.CharField(read_only=True)


class RevisionContentSerializer(serializers.Serializer):
    title = serializers.CharField(read_only=True)
    body = serializers.CharField(read_only=True)
    link = serializers.CharField(read_only=True)
    variants = serializers.DictField(
        child=serializers.CharField(), read_only=True,
        help_text='Per platform ("x") or per channel ("channel:12") text replacing the body.',
    )
    channel_ids = serializers.ListField(child=serializers.IntegerField(), read_only=True)
    media = StoredMediaSerializer(many=True, read_only=True)
    notes = serializers.CharField(read_only=True, help_text="Internal notes: not published, not part of the hash.")


class RevisionSerializer(serializers.Serializer):
    number = serializers.IntegerField(read_only=True)
    hash = serializers.CharField(source="content_hash", read_only=True, help_text="sha256 of what approvers approve.")
    author = UserBriefSerializer(read_only=True, allow_null=True)
    created_at = serializers.DateTimeField(read_only=True)
    content = RevisionContentSerializer(source="*", read_only=True)


class TargetSerializer(serializers.Serializer):
    channel = ChannelBriefSerializer(read_only=True)
    state = _TargetStateField(read_only=True)
    state_label = serializers.CharField(source="get_state_display", read_only=True)
    attempts = serializers.IntegerField(read_only=True)
    last_error = serializers.CharField(read_only=True)
    platform_id = serializers.CharField(read_only=True)
    platform_url = serializers.CharField(read_only=True, help_text="The live post, once the platform confirmed it.")
    published_at = serializers.DateTimeField(read_only=True, allow_null=True)


class DecisionSerializer(serializers.Serializer):
    approver = UserBriefSerializer(read_only=True)
    decision = serializers.CharField(read_only=True, help_text="approved or changes_requested.")
    comment = serializers.CharField(read_only=True)
    revision_hash = serializers.CharField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)


class ApprovalsSerializer(serializers.Serializer):
    count = serializers.IntegerField(read_only=True, help_text="Distinct approvals of the current revision.")
    required = serializers.IntegerField(read_only=True, help_text="Approvals the policy and channel rules need.")
    decisions = DecisionSerializer(many=True, read_only=True, help_text="Decisions on the current revision.")


class PauseBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    department = serializers.IntegerField(source="department_id", read_only=True, allow_null=True)
    reason = serializers.CharField(read_only=True)
    starts_at = serializers.DateTimeField(read_only=True)
    ends_at = serializers.DateTimeField(read_only=True, allow_null=True)


class _ChannelsFromContext(serializers.Field):
    """The current revision's channels, from a {channel id: channel} map the view loads once for all rows."""

    def __init__(self, **kwargs):
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, post):
        channels = self.context.get("channels", {})
        revision = post.current_revision
        ids = revision.channel_ids if revision is not None else []
        return [ChannelBriefSerializer(channels[i]).data for i in ids if i in channels]


_ChannelsField = extend_schema_field(ChannelBriefSerializer(many=True))(_ChannelsFromContext)


class PostSerializer(serializers.Serializer):
    """A post as the list shows it (read from PostQuerySet with the current revision joined)."""

    id = serializers.IntegerField(read_only=True)
    title = serializers.CharField(read_only=True)
    status = _StatusField(read_only=True)
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    department = DepartmentBriefSerializer(read_only=True)
    author = UserBriefSerializer(read_only=True, allow_null=True)
    revision = serializers.IntegerField(source="current_revision.number", read_only=True, default=None,
                                        allow_null=True, help_text="The current revision's number.")
    channels = _ChannelsField()
    scheduled_at = serializers.DateTimeField(read_only=True, allow_null=True,
                                             help_text="Null: published as soon as approved.")
    needs_new_time = serializers.BooleanField(
        read_only=True, help_text="Approved after its time passed: an approver must publish now or pick a new time."
    )
    held_late = serializers.BooleanField(read_only=True)
    submitted_at = serializers.DateTimeField(read_only=True, allow_null=True)
    approved_at = serializers.DateTimeField(read_only=True, allow_null=True)
    published_at = serializers.DateTimeField(read_only=True, allow_null=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)


class PostDetailSerializer(PostSerializer):
    """One post with its current revision, approvals so far, per-channel targets and what the caller may do.

    The view sets api_approvals, api_actions and api_pause on the post before serializing.
    """

    current_revision = RevisionSerializer(read_only=True, allow_null=True)
    approvals = ApprovalsSerializer(source="api_approvals", read_only=True)
    targets = TargetSerializer(source="targets.all", many=True, read_only=True)
    break_glass_reason = serializers.CharField(read_only=True)
    break_glass_by = UserBriefSerializer(read_only=True, allow_null=True)
    paused = PauseBriefSerializer(
        source="api_pause", read_only=True, allow_null=True,
        help_text="The publishing pause holding this post's department now, if any.",
    )
    allowed_actions = serializers.ListField(
        source="api_actions", child=serializers.CharField(), read_only=True,
        help_text="What the caller may do now: edit, submit, approve, request_changes, withdraw, schedule, cancel, "
                  "break_glass (approvals.workflow names; the routes spell them with hyphens).",
    )


# --------------------------------------------------------------------------------------- write inputs
class PostUpdateSerializer(serializers.Serializer):
    """A new revision's content. On PATCH, fields left out keep the current revision's values."""

    title = serializers.CharField(max_length=TITLE_MAX, help_text="Internal title (not published).")
    body = serializers.CharField(max_length=BODY_MAX, allow_blank=True, trim_whitespace=False, required=False)
    link = serializers.URLField(max_length=1000, allow_blank=True, required=False)
    channel_ids = serializers.ListField(
        child=_id_field(), max_length=MAX_CHANNELS, required=False,
        help_text="Channels to publish to: ones you may publish to.",
    )
    variants = serializers.DictField(
        child=serializers.CharField(max_length=BODY_MAX, allow_blank=True, trim_whitespace=False),
        required=False,
        help_text='Text replacing the body per platform ("x", "facebook", "instagram", "mastodon", "bluesky") '
                  'or per channel ("channel:12").',
    )
    media = MediaRefSerializer(
        many=True, required=False, max_length=MAX_IMAGES,
        help_text="Images in order: ids of images uploaded to this post (posts/{id}/media/), with alt text.",
    )
    scheduled_at = FutureDateTimeField(
        required=False, allow_null=True,
        help_text="When to publish (ISO 8601 with offset); null: as soon as approved.",
    )
    notes = serializers.CharField(max_length=NOTES_MAX, allow_blank=True, required=False,
                                  help_text="Internal notes for reviewers.")


class PostCreateSerializer(PostUpdateSerializer):
    department = _id_field(help_text="The department the post belongs to (one of yours).")


class ApproveSerializer(serializers.Serializer):
    comment = serializers.CharField(max_length=NOTES_MAX, allow_blank=True, required=False, default="")
    publish_now = serializers.BooleanField(
        required=False, default=False, help_text="Publish as soon as approved, whatever the scheduled time.",
    )
    scheduled_at = AwareDateTimeField(
        required=False, allow_null=True, default=None,
        help_text="A new time (for a post whose time passed in review, or to change it).",
    )


class RequestChangesSerializer(serializers.Serializer):
    comment = serializers.CharField(max_length=NOTES_MAX, help_text="What needs to change.")


class ScheduleSerializer(serializers.Serializer):
    scheduled_at = AwareDateTimeField(allow_null=True, help_text="When to publish; null: now.")


class BreakGlassSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=500, help_text="Why this cannot wait for approval (at least 10 characters); audited and sent "
                                  "to the department's approvers.",
    )


# -------------------------------------------------------------------------------------------- comments
class CommentSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    parent = serializers.IntegerField(source="parent_id", read_only=True, allow_null=True)
    depth = serializers.IntegerField(read_only=True, help_text="0 for a thread's first comment, 1 for a reply, ...")
    revision = serializers.IntegerField(source="revision.number", read_only=True,
                                        help_text="The revision number the comment was made on.")
    author = UserBriefSerializer(read_only=True, allow_null=True)
    text = serializers.CharField(read_only=True)
    mentions = UserBriefSerializer(source="mentions.all", many=True, read_only=True)
    created_at = serializers.DateTimeField(read_only=True)


class CommentCreateSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=5000, help_text="Mention colleagues as @email@example.org or @local-part.")
    parent = _id_field(required=False, allow_null=True, default=None, help_text="The comment this replies to.")


# ------------------------------------------------------------------------------------------------ media
class MediaUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A PNG, JPEG, GIF or WebP image of at most 5 MB.")
    alt_text = serializers.CharField(max_length=ALT_TEXT_MAX, allow_blank=True, required=False, default="")


class MediaSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    filename = serializers.CharField(read_only=True)
    mime_type = serializers.CharField(read_only=True)
    size = serializers.IntegerField(read_only=True, help_text="Bytes.")
    sha256 = serializers.CharField(read_only=True)
    width = serializers.IntegerField(read_only=True, allow_null=True)
    height = serializers.IntegerField(read_only=True, allow_null=True)
    alt_text = serializers.CharField(read_only=True)
    revision = serializers.IntegerField(read_only=True, help_text="The post's revision that now carries the image.")
    status = _StatusField(read_only=True, help_text="The post's status now.")
    created_at = serializers.DateTimeField(read_only=True)


# --------------------------------------------------------------------------------------------- calendar
# The shape of approvals.calendar.feed() (the calendar pages' reads), for the schema.
class FeedChannelSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    platform = serializers.CharField(read_only=True)
    name = serializers.CharField(read_only=True)


class FeedEventSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True, help_text="The post's id.")
    title = serializers.CharField(read_only=True)
    start = serializers.DateTimeField(read_only=True, help_text="Published at, or else scheduled for.")
    status = _StatusField(read_only=True)
    status_label = serializers.CharField(read_only=True)
    published = serializers.BooleanField(read_only=True)
    department = DepartmentBriefSerializer(read_only=True)
    channels = FeedChannelSerializer(many=True, read_only=True)
    url = serializers.URLField(read_only=True, help_text="The post's page.")


class FeedPauseSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    reason = serializers.CharField(read_only=True)
    start = serializers.DateTimeField(read_only=True)
    end = serializers.DateTimeField(read_only=True, allow_null=True, help_text="Null: until lifted.")
    department = DepartmentBriefSerializer(read_only=True, allow_null=True, help_text="Null: the whole organisation.")


class CalendarFeedSerializer(serializers.Serializer):
    timezone = serializers.CharField(read_only=True, help_text="The organisation's time zone.")
    start = serializers.DateTimeField(read_only=True)
    end = serializers.DateTimeField(read_only=True)
    events = FeedEventSerializer(many=True, read_only=True)
    pauses = FeedPauseSerializer(many=True, read_only=True, help_text="Publishing pauses overlapping the range.")

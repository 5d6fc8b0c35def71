"""The posts API under /api/v1/posts/: list (filters, keyset by updated_at), create, detail, update, revisions,
the workflow actions (submit, approve, request-changes, withdraw, schedule, cancel, break-glass), comments,
image upload and a calendar feed. Reads are organisation- and department-scoped through OrgScopedViewSet;
every write goes through approvals.services, which checks roles, separation of duties and the state machine
(approvals.workflow) and audits.

Errors: a field problem is a 400 naming the field; an action the post's status does not allow is a 409 with
the state machine's message; a role or separation-of-duties refusal is a 403; another organisation's (or
another department's) post is a 404, the same as an id that does not exist.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import Prefetch, Q
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, status
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from accounts.models import Department
from accounts.roles import Capability
from approvals import calendar as post_calendar
from approvals import media as post_media
from approvals import services
from approvals.models import (
    ApprovalDecision,
    Comment,
    DecisionKind,
    Post,
    PostRevision,
    PostStatus,
    PublishTarget,
)
from approvals.serializers import (
    ApproveSerializer,
    BreakGlassSerializer,
    CalendarFeedSerializer,
    CommentCreateSerializer,
    CommentSerializer,
    MediaSerializer,
    MediaUploadSerializer,
    PostCreateSerializer,
    PostDetailSerializer,
    PostSerializer,
    PostUpdateSerializer,
    RequestChangesSerializer,
    RevisionSerializer,
    ScheduleSerializer,
)
from approvals.workflow import TransitionNotAllowed, allowed_actions
from channels_app.models import Channel
from inbox.api import TimelinePagination, _page_serializer
from smm.api import OrgScopedViewSet
from smm.pagination import KeysetPagination

MAX_ID = 2**63 - 1

EDIT = Capability.EDIT_POSTS
APPROVE = Capability.APPROVE_POSTS


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "That is not possible in the post's current state."
    default_code = "conflict"


def _is_id(value: str) -> bool:
    # isascii(): "²".isdigit() is True but int("²") fails.
    value = str(value)
    return value.isascii() and value.isdigit() and 0 < int(value) <= MAX_ID


def _ids(params, name: str) -> list[int]:
    """Repeated or comma-separated ids; anything else is a 400 naming the parameter."""
    values = [part.strip() for raw in params.getlist(name) for part in str(raw).split(",") if part.strip()]
    if not all(_is_id(v) for v in values):
        raise exceptions.ValidationError({name: "Must be ids (whole numbers), repeated or comma-separated."})
    return [int(v) for v in values]


# ------------------------------------------------------------------------------------------- paging
class PostPagination(KeysetPagination):
    """Newest change first, by (updated_at, id); refuses cursors it did not give out."""

    @staticmethod
    def _decode(cursor: str):
        at, pk = KeysetPagination._decode(cursor)
        if at.tzinfo is None or not 0 < pk <= MAX_ID:
            raise exceptions.ValidationError({"cursor": "Not a cursor this API gave out."})
        return at, pk


class CommentPagination(TimelinePagination):
    page_size = 50


PostPageSerializer = _page_serializer("PostPage", PostSerializer)
RevisionPageSerializer = _page_serializer("RevisionPage", RevisionSerializer)
CommentPageSerializer = _page_serializer("CommentPage", CommentSerializer)

PAGING_PARAMETERS = [
    OpenApiParameter("cursor", str, description="The `next` link's cursor; leave out for the first page."),
    OpenApiParameter("page_size", int, description="1 to 200; default 50."),
]
LIST_PARAMETERS = [
    OpenApiParameter(
        "status", str, many=True,
        description="Statuses (repeat or comma-separate): " + ", ".join(PostStatus.values) + ". Default: all.",
    ),
    OpenApiParameter("department", int, many=True, description="Department ids."),
    OpenApiParameter("channel", int, many=True, description="Channel ids: posts whose current revision goes there."),
    *PAGING_PARAMETERS,
]
CALENDAR_PARAMETERS = [
    OpenApiParameter(
        "start", str, required=True,
        description="A date (YYYY-MM-DD: midnight in the organisation's time zone) or a date and time with its "
                    "offset, such as 2025-03-30T00:00:00+01:00.",
    ),
    OpenApiParameter(
        "end", str, required=True,
        description=f"Exclusive, written as start; at most {post_calendar.FEED_MAX_DAYS} days after it.",
    ),
    OpenApiParameter("department", int, description="Only this department's posts (and pauses)."),
    OpenApiParameter("channel", int, description="Only posts going to this channel."),
]


def _conflict(message: str):
    return OpenApiResponse(description=message)


ACTION_RESPONSES = {
    200: PostDetailSerializer,
    400: OpenApiResponse(description="A field is not valid (errors names it)."),
    403: OpenApiResponse(description="Your role, or separation of duties, does not allow it."),
    404: OpenApiResponse(description="No such post in your organisation and departments."),
    409: _conflict("The post's status does not allow this action (the message says why)."),
}


# ------------------------------------------------------------------------------------------- images
def _read_upload(upload) -> bytes:
    # Refused before it is read whole: a larger file never sits in memory.
    too_big = {"file": f"An image can be at most {post_media.MAX_BYTES // (1024 * 1024)} MB."}
    if upload.size is not None and upload.size > post_media.MAX_BYTES:
        raise exceptions.ValidationError(too_big)
    content = upload.read(post_media.MAX_BYTES + 1)
    if len(content) > post_media.MAX_BYTES:
        raise exceptions.ValidationError(too_big)
    return content


# --------------------------------------------------------------------------------------------- posts
@extend_schema_view(
    list=extend_schema(
        summary="Posts, newest change first, keyset paged; filter by status, department and channel.",
        parameters=LIST_PARAMETERS,
        responses=PostPageSerializer,
    ),
    retrieve=extend_schema(
        summary="One post: its current revision, approvals so far and needed, per-channel publishing state with "
                "the live post's URL, and the actions the caller may take.",
        responses={200: PostDetailSerializer},
    ),
)
class PostViewSet(OrgScopedViewSet):
    model = Post
    serializer_class = PostDetailSerializer
    # Paged by hand: the list by (updated_at, id), revisions by (created_at, id), comments by thread.
    pagination_class = None
    keyset_field = "updated_at"
    http_method_names = ["get", "post", "patch", "head", "options"]
    capabilities = {
        "create": EDIT,
        "partial_update": EDIT,
        "submit": EDIT,
        "approve": APPROVE,
        "request_changes": APPROVE,
        "withdraw": EDIT,
        "schedule": APPROVE,
        "cancel": EDIT,
        "break_glass": Capability.BREAK_GLASS,
        "media_upload": EDIT,
        # Comments: any member who can see the post (approvals.services.comment_add).
    }

    def handle_exception(self, exc):
        if isinstance(exc, TransitionNotAllowed):
            exc = Conflict(str(exc))
        elif isinstance(exc, (Post.DoesNotExist, Comment.DoesNotExist)):
            # Gone (or moved out of sight) between the read and the service's locked read.
            exc = exceptions.NotFound("Not found.")
        return super().handle_exception(exc)

    def get_object(self):
        # Not a number (or "²", or past bigint): the same 404 as an unknown id.
        if not _is_id(self.kwargs.get("pk", "")):
            raise exceptions.NotFound("Not found.")
        return super().get_object()

    # --------------------------------------------------------------------------------- reading
    def _channels(self, posts) -> dict[int, Channel]:
        ids = {i for p in posts if p.current_revision is not None for i in p.current_revision.channel_ids}
        if not ids:
            return {}
        # The organisation's channels, not only the caller's departments': a post may go to a channel its author
        # was granted elsewhere, and the reader of the post may see where it goes.
        return {c.pk: c for c in Channel.objects.for_organisation(self.membership.organisation_id).filter(pk__in=ids)}

    def _detail(self, post_id: int) -> dict:
        post = (
            Post.objects.visible_to(self.membership)
            .select_related("department", "author", "current_revision__author", "break_glass_by")
            .prefetch_related(
                Prefetch("targets", queryset=PublishTarget.objects.select_related("channel").order_by("channel_id"))
            )
            .get(pk=post_id)
        )
        revision = post.current_revision
        decisions = list(
            ApprovalDecision.objects.filter(post=post, revision=revision).select_related("approver")
            if revision is not None else []
        )
        approved_by = {
            d.approver_id for d in decisions
            if d.decision == DecisionKind.APPROVED and d.revision_hash == revision.content_hash
        }
        post.api_approvals = {
            "count": len(approved_by),
            "required": services.approvals_required(post, revision) if revision is not None else 1,
            "decisions": decisions,
        }
        post.api_actions = self._allowed(post, approved_by)
        post.api_pause = services.paused(post)
        context = {**self.get_serializer_context(), "channels": self._channels([post])}
        return PostDetailSerializer(post, context=context).data

    def _allowed(self, post: Post, approved_by: set[int]) -> list[str]:
        """The workflow actions the caller may take now (the services' own rules, approvals.services.actions_for)."""
        allowed = services.actions_for(self.membership, post, approved_by=approved_by)
        return [name for name in allowed_actions(post.status) if name in allowed]

    def list(self, request):
        params = request.query_params
        qs = self.get_queryset().select_related("department", "author", "current_revision")
        statuses = [s.strip() for raw in params.getlist("status") for s in raw.split(",") if s.strip()]
        if statuses:
            unknown = sorted(set(statuses) - set(PostStatus.values))
            if unknown:
                raise exceptions.ValidationError(
                    {"status": f"Unknown status {', '.join(unknown)[:200]}; use {', '.join(PostStatus.values)}."}
                )
            qs = qs.filter(status__in=statuses)
        departments = _ids(params, "department")
        if departments:
            qs = qs.filter(department_id__in=departments)
        channels = _ids(params, "channel")
        if channels:
            wanted = Q()
            for channel_id in channels:
                wanted |= Q(current_revision__channel_ids__contains=[channel_id])
            qs = qs.filter(wanted)
        paginator = PostPagination()
        rows = paginator.paginate_queryset(qs, request, view=self)
        context = {**self.get_serializer_context(), "channels": self._channels(rows)}
        return paginator.get_paginated_response(PostSerializer(rows, many=True, context=context).data)

    def retrieve(self, request, pk=None):
        # _detail's own scoped read is the lookup (one query, not two): an unknown or foreign id is a 404 there.
        if not _is_id(pk):
            raise exceptions.NotFound("Not found.")
        return Response(self._detail(int(pk)))

    # --------------------------------------------------------------------------------- writing
    @extend_schema(
        summary="Create a draft post (a first revision); optionally with its time.",
        description="Images belong to a post: create it, upload to posts/{id}/media/, then PATCH `media` to order "
                    "them or change their alt text. `scheduled_at` null or absent: published as soon as approved.",
        request=PostCreateSerializer,
        responses={201: PostDetailSerializer, **{k: v for k, v in ACTION_RESPONSES.items() if k in (400, 403)}},
    )
    def create(self, request):
        data = PostCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        wanted = data.validated_data
        department = Department.objects.visible_to(self.membership).active().filter(pk=wanted["department"]).first()
        if department is None:
            raise exceptions.ValidationError({"department": "Choose a live department of your organisation."})
        draft = services.Draft(
            title=wanted["title"],
            body=wanted.get("body", ""),
            link=wanted.get("link", ""),
            channel_ids=wanted.get("channel_ids", []),
            variants=wanted.get("variants", {}),
            media=[dict(m) for m in wanted.get("media", [])],
            notes=wanted.get("notes", ""),
        )
        with transaction.atomic():
            post = services.post_create(actor=self.membership, department=department, draft=draft)
            if wanted.get("scheduled_at") is not None:
                services.post_update(
                    actor=self.membership, post_id=post.pk, draft=draft, scheduled_at=wanted["scheduled_at"]
                )
        return Response(self._detail(post.pk), status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Edit: a new revision from the fields sent (the others kept). Edited after submission, the post goes "
                "back to review and its approvals lapse; the answer carries the new status.",
        request=PostUpdateSerializer,
        responses=ACTION_RESPONSES,
    )
    def partial_update(self, request, pk=None):
        post = self.get_object()
        data = PostUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        wanted = dict(data.validated_data)
        scheduled_at = wanted.pop("scheduled_at", "keep")
        if "media" in wanted:
            wanted["media"] = [dict(m) for m in wanted["media"]]
        draft = services.draft_from(post.current_revision, **wanted)
        services.post_update(actor=self.membership, post_id=post.pk, draft=draft, scheduled_at=scheduled_at)
        return Response(self._detail(post.pk))

    @extend_schema(
        summary="The post's revisions, newest first, each with its number, content hash, author and content.",
        parameters=PAGING_PARAMETERS,
        responses=RevisionPageSerializer,
    )
    @action(detail=True, methods=["get"])
    def revisions(self, request, pk=None):
        post = self.get_object()
        revisions = PostRevision.objects.visible_to(self.membership).filter(post=post).select_related("author")
        paginator = KeysetPagination()
        rows = paginator.paginate_queryset(revisions, request, view=None)
        return paginator.get_paginated_response(RevisionSerializer(rows, many=True).data)

    # ----------------------------------------------------------------------------- the workflow
    def _act(self, call, **kwargs) -> Response:
        post = self.get_object()
        call(actor=self.membership, post_id=post.pk, **kwargs)
        return Response(self._detail(post.pk))

    @extend_schema(summary="Submit for approval (the content is checked per platform, alt text, blocked words).",
                   request=None, responses=ACTION_RESPONSES)
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        return self._act(services.post_submit)

    @extend_schema(
        summary="Approve the current revision. With enough distinct approvals the post is scheduled (at its time, "
                "or now); the author never approves their own post.",
        description="If the post's time passed while it was in review, send publish_now or a new scheduled_at; "
                    "otherwise it is approved and waits (needs_new_time).",
        request=ApproveSerializer,
        responses=ACTION_RESPONSES,
    )
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        post = self.get_object()
        data = ApproveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.post_approve(actor=self.membership, post_id=post.pk, **data.validated_data)
        return Response(self._detail(post.pk))

    @extend_schema(summary="Ask the author for changes (the comment is required and kept on the revision).",
                   request=RequestChangesSerializer, responses=ACTION_RESPONSES)
    @action(detail=True, methods=["post"], url_path="request-changes", url_name="request-changes")
    def request_changes(self, request, pk=None):
        post = self.get_object()
        data = RequestChangesSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.post_request_changes(actor=self.membership, post_id=post.pk, comment=data.validated_data["comment"])
        return Response(self._detail(post.pk))

    @extend_schema(summary="Withdraw to draft (from review, approved or scheduled).", request=None,
                   responses=ACTION_RESPONSES)
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        return self._act(services.post_withdraw)

    @extend_schema(summary="Give an approved post its time, or move a scheduled post's time (null: publish now).",
                   request=ScheduleSerializer, responses=ACTION_RESPONSES)
    @action(detail=True, methods=["post"])
    def schedule(self, request, pk=None):
        post = self.get_object()
        data = ScheduleSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.post_schedule(actor=self.membership, post_id=post.pk, scheduled_at=data.validated_data["scheduled_at"])
        return Response(self._detail(post.pk))

    @extend_schema(summary="Cancel before publishing.", request=None, responses=ACTION_RESPONSES)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return self._act(services.post_cancel)

    @extend_schema(
        summary="Break glass: an admin publishes now without approval, giving a reason (audited; the department's "
                "approvers are told).",
        request=BreakGlassSerializer,
        responses=ACTION_RESPONSES,
    )
    @action(detail=True, methods=["post"], url_path="break-glass", url_name="break-glass")
    def break_glass(self, request, pk=None):
        post = self.get_object()
        data = BreakGlassSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.post_break_glass(actor=self.membership, post_id=post.pk, reason=data.validated_data["reason"])
        return Response(self._detail(post.pk))

    # ---------------------------------------------------------------------------------- comments
    @extend_schema(
        summary="Comments, threaded: each thread's first comment oldest first (keyset paged), followed by its "
                "replies in order with their depth; each names the revision it was made on.",
        parameters=PAGING_PARAMETERS,
        responses=CommentPageSerializer,
    )
    @action(detail=True, methods=["get"])
    def comments(self, request, pk=None):
        post = self.get_object()
        scoped = (
            Comment.objects.visible_to(self.membership)
            .filter(post=post)
            .select_related("author", "revision")
            .prefetch_related("mentions")
        )
        paginator = CommentPagination()
        roots = paginator.paginate_queryset(scoped.filter(parent__isnull=True), request, view=self)
        children: dict[int, list[Comment]] = {}
        if roots:
            for reply in scoped.filter(parent__isnull=False).order_by("created_at", "id"):
                children.setdefault(reply.parent_id, []).append(reply)
        rows: list[Comment] = []

        def walk(comment: Comment, depth: int) -> None:
            comment.depth = depth
            rows.append(comment)
            for reply in children.get(comment.pk, []):
                walk(reply, depth + 1)

        for root in roots:
            walk(root, 0)
        return paginator.get_paginated_response(CommentSerializer(rows, many=True).data)

    @extend_schema(
        summary="Comment on the current revision, or reply to a comment (parent); @mentioned colleagues are told.",
        request=CommentCreateSerializer,
        responses={201: CommentSerializer},
    )
    @comments.mapping.post
    def comment_create(self, request, pk=None):
        post = self.get_object()
        data = CommentCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        made = services.comment_add(
            actor=self.membership, post_id=post.pk, text=data.validated_data["text"],
            parent_id=data.validated_data["parent"],
        )
        comment = Comment.objects.select_related("author", "revision").prefetch_related("mentions").get(pk=made.pk)
        depth, parent_id = 0, comment.parent_id
        while parent_id is not None and depth < 1000:
            depth += 1
            parent_id = Comment.objects.filter(pk=parent_id).values_list("parent_id", flat=True).first()
        comment.depth = depth
        return Response(CommentSerializer(comment).data, status=status.HTTP_201_CREATED)

    # ------------------------------------------------------------------------------------ images
    @extend_schema(
        summary="Upload an image (PNG, JPEG, GIF or WebP, at most 5 MB) with its alt text; it is added to the end "
                "of the post's images in a new revision.",
        request={"multipart/form-data": MediaUploadSerializer},
        responses={201: MediaSerializer, **{k: v for k, v in ACTION_RESPONSES.items() if k != 200}},
    )
    @action(
        detail=True, methods=["post"], url_path="media", url_name="media", parser_classes=[MultiPartParser, FormParser]
    )
    def media_upload(self, request, pk=None):
        post = self.get_object()
        data = MediaUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        content = _read_upload(upload)
        alt_text = " ".join(data.validated_data["alt_text"].split())
        try:
            # Validates the bytes (type by magic bytes, size, images per post), stores them and adds the image to a
            # new revision, with one audit event.
            media, updated = post_media.media_add(
                actor=self.membership, post_id=post.pk, content=content, filename=upload.name or "", alt_text=alt_text
            )
        except DjangoValidationError as error:
            # approvals.media names the field "image"; here it is the multipart field "file".
            if hasattr(error, "error_dict") and "image" in error.error_dict:
                raise exceptions.ValidationError({"file": [m for e in error.error_dict["image"] for m in e.messages]})
            raise
        body = {
            "id": media.pk, "filename": media.filename, "mime_type": media.mime_type, "size": len(content),
            "sha256": media.sha256, "width": media.width, "height": media.height, "alt_text": alt_text,
            "revision": updated.current_revision.number, "status": updated.status, "created_at": media.created_at,
        }
        return Response(MediaSerializer(body).data, status=status.HTTP_201_CREATED)

    # ---------------------------------------------------------------------------------- calendar
    @extend_schema(
        summary=f"Calendar feed: scheduled and published posts whose time falls in [start, end) (at most "
                f"{post_calendar.FEED_MAX_DAYS} days), oldest first, with the publishing pauses overlapping it.",
        description="Times are in the organisation's time zone (named in `timezone`). The same reads as the "
                    "calendar pages (approvals.calendar.feed).",
        parameters=CALENDAR_PARAMETERS,
        responses={200: CalendarFeedSerializer, 400: OpenApiResponse(description="A parameter is not valid.")},
    )
    @action(detail=False, methods=["get"])
    def calendar(self, request):
        try:
            body = post_calendar.feed(self.membership, request.query_params, absolute=request.build_absolute_uri)
        except post_calendar.CalendarError as error:
            raise exceptions.ValidationError(error.errors) from None
        return Response(body)

"""The inbox API under /api/v1/: conversations (list with the inbox page's filters, detail, timeline, replies,
notes, assignment, status, tags, priority) and saved replies. Reads are organisation-scoped through
OrgScopedViewSet; every write goes through a service (inbox.services, inbox.replies, inbox.settings_services).

Paging: the conversation list pages by the inbox page's own keyset (inbox.filters.ConversationFilter: the
same filters, sorts and cursors); a conversation's messages, replies and notes page by (created_at, id)
ascending, oldest first, the order a timeline is read in; saved replies page newest first like every
other list (smm.pagination.KeysetPagination).
"""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Q
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer, extend_schema_view
from rest_framework import exceptions, mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.models import Department, User
from accounts.roles import Capability
from inbox import filters, services
from inbox.filters import COUNT_LIMIT, MAX_PAGE_SIZE, PAGE_SIZE, ConversationFilter, FilterError
from inbox.models import Conversation, ConversationStatus, Message, Note, Reply, SavedReply
from inbox.serializers import (
    REPRESENTATION_COLUMNS,
    AssignSerializer,
    ConversationSerializer,
    MessageSerializer,
    NoteCreateSerializer,
    NoteSerializer,
    PrioritySerializer,
    ReplyCreateSerializer,
    ReplySerializer,
    SavedReplySerializer,
    StatusCountsSerializer,
    StatusSerializer,
    TagsSerializer,
    represent_rows,
)
from smm.api import OrgScopedViewSet
from smm.pagination import KeysetPagination, _replace_query

# The list's default when no status is asked for: the working queue (status=all lists every status).
DEFAULT_STATUS = (ConversationStatus.OPEN,)
# Ids beyond PostgreSQL's bigint would be a database error, not a clear 400.
MAX_ID = 2**63 - 1


# ------------------------------------------------------------------------------------------- paging
class TimelinePagination(KeysetPagination):
    """Pages by (created_at, id) ascending: a conversation's messages, replies and notes, oldest first."""

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        try:
            size = int(request.query_params.get("page_size", self.page_size))
        except ValueError:
            raise exceptions.ValidationError({"page_size": "Must be a whole number."}) from None
        if not 1 <= size <= self.max_page_size:
            raise exceptions.ValidationError({"page_size": f"Must be between 1 and {self.max_page_size}."})
        queryset = queryset.order_by("created_at", "id")
        cursor = request.query_params.get("cursor")
        if cursor:
            at, last_id = self._decode(cursor)
            if not 0 < last_id <= MAX_ID or at.tzinfo is None:
                raise exceptions.ValidationError({"cursor": "Not a cursor this API gave out."})
            queryset = queryset.filter(Q(created_at__gt=at) | Q(created_at=at, id__gt=last_id))
        rows = list(queryset[: size + 1])
        self.has_next = len(rows) > size
        rows = rows[:size]
        self.next_cursor = self._encode(rows[-1].created_at, rows[-1].pk) if self.has_next and rows else None
        return rows


def _page_serializer(name: str, item, **extra) -> type[serializers.Serializer]:
    fields = {
        "next": serializers.URLField(allow_null=True, help_text="The next page, or null on the last one."),
        **extra,
        "results": item(many=True),
    }
    return extend_schema_serializer(many=False)(type(name, (serializers.Serializer,), fields))


ConversationPageSerializer = _page_serializer(
    "ConversationPage",
    ConversationSerializer,
    counts=StatusCountsSerializer(
        allow_null=True,
        help_text=(
            "Conversations per status under the same filters (status aside); on the first page only. "
            f"Each is counted up to {COUNT_LIMIT:,}: a status listed in counts_over_limit has more than that."
        ),
    ),
    counts_over_limit=serializers.ListField(
        child=serializers.ChoiceField(ConversationStatus.choices),
        allow_null=True,
        help_text=f"The statuses with more than {COUNT_LIMIT:,} conversations (shown as \"{COUNT_LIMIT:,}+\").",
    ),
)
MessagePageSerializer = _page_serializer("MessagePage", MessageSerializer)
ReplyPageSerializer = _page_serializer("ReplyPage", ReplySerializer)
NotePageSerializer = _page_serializer("NotePage", NoteSerializer)

PAGING_PARAMETERS = [
    OpenApiParameter("cursor", str, description="The `next` link's cursor; leave out for the first page."),
    OpenApiParameter("page_size", int, description=f"1 to {MAX_PAGE_SIZE}; default {PAGE_SIZE}."),
]
LIST_PARAMETERS = [
    OpenApiParameter("channel", int, many=True, description="Channel ids (repeat or comma-separate)."),
    OpenApiParameter("platform", str, many=True, description="Platforms: x, facebook, instagram, mastodon, bluesky."),
    OpenApiParameter("department", int, many=True, description="Department ids."),
    OpenApiParameter(
        "status", str, many=True,
        description="open, pending, closed (several allowed) or all. Default: open.",
    ),
    OpenApiParameter("assignee", str, description='"me", "unassigned" or a member\'s user id.'),
    OpenApiParameter("tag", int, many=True, description="Tag ids: conversations with any of them."),
    OpenApiParameter("priority", str, many=True, description="low, normal, high, urgent (or 0 to 3)."),
    OpenApiParameter("flagged", bool, description="Only flagged (true) or unflagged (false) conversations."),
    OpenApiParameter("overdue", bool, description="Past a service-level due time and not closed (true), or not."),
    OpenApiParameter("q", str, description="Text in message bodies or the contact's name or handle (2 to 200 characters)."),
    OpenApiParameter(
        "sort", str, enum=["oldest", "newest"],
        description="oldest (default): flagged first, then longest waiting; newest: latest message first.",
    ),
    OpenApiParameter("counts", bool, description="false leaves out the per-status counts (default true); "
                     "they are always left out (null) while searching with q."),
    *PAGING_PARAMETERS,
]


def _check_ids(params, names: tuple[str, ...]) -> None:
    """Refuse ids that could not be database keys, so they are a 400, not a database error."""
    errors = {}
    for name in names:
        for value in params.getlist(name):
            for part in str(value).split(","):
                part = part.strip()
                if part.isdigit() and int(part) > MAX_ID:
                    errors[name] = "No such id."
    if errors:
        raise exceptions.ValidationError(errors)


def _service(call, /, **kwargs):
    """Calls a service; a conversation gone (or moved out of sight) since it was read is a 404."""
    try:
        return call(**kwargs)
    except ObjectDoesNotExist:
        raise exceptions.NotFound("Not found.") from None


WORK = Capability.WORK_INBOX


# ------------------------------------------------------------------------------------ conversations
@extend_schema_view(
    list=extend_schema(
        summary="Conversations, with the inbox page's filters, sorts and keyset paging.",
        parameters=LIST_PARAMETERS,
        responses=ConversationPageSerializer,
    ),
    retrieve=extend_schema(summary="One conversation with its contact, channel, department, assignee and tags."),
)
class ConversationViewSet(OrgScopedViewSet):
    model = Conversation
    serializer_class = ConversationSerializer
    # Paged by hand: the list by ConversationFilter's keyset, the timelines by TimelinePagination.
    pagination_class = None
    capabilities = {
        "reply_create": WORK,
        "note_create": WORK,
        "assign": WORK,
        "set_status": WORK,
        "set_tags": WORK,
        "set_priority": WORK,
    }

    def get_queryset(self):
        qs = super().get_queryset()
        if self.action == "retrieve":
            return qs.for_list()
        return qs

    def get_object(self):
        pk = self.kwargs.get("pk", "")
        # Not a number, or one past bigint: the same 404 as an unknown id.
        if not str(pk).isdigit() or int(pk) > MAX_ID:
            raise exceptions.NotFound("Not found.")
        return super().get_object()

    def _read(self, conversation_id: int) -> dict:
        # Re-read after a write, whole; the writer was allowed to change it, so it is theirs to see.
        conversation = Conversation.objects.for_list().get(pk=conversation_id)
        return ConversationSerializer(conversation, context=self.get_serializer_context()).data

    # ------------------------------------------------------------------------------------- reads
    def list(self, request):
        _check_ids(request.query_params, ("channel", "department", "tag", "assignee"))
        try:
            wanted = ConversationFilter.from_params(request.query_params, default_status=DEFAULT_STATUS)
            # Plain values, not model instances: see inbox.serializers.REPRESENTATION_COLUMNS.
            scoped = wanted.apply(self.get_queryset(), self.membership)
            rows, next_cursor = wanted.page(scoped, columns=REPRESENTATION_COLUMNS)
        except FilterError as error:
            raise exceptions.ValidationError(error.errors) from None
        counts = over_limit = None
        # Not while searching: counting a common word per status reads every matching message (hundreds of
        # milliseconds on a large organisation); the page says so too.
        if not wanted.cursor and not wanted.q and request.query_params.get("counts", "").lower() not in (
            "0", "false", "no", "off"
        ):
            # The tabs' counts: the same filters with any status, over the member's visible conversations
            # (a conversation with two of the asked-for tags counts once).
            capped = wanted.counts(Conversation.objects.visible_to(self.membership), self.membership)
            limit = filters.COUNT_LIMIT
            counts = {value: min(n, limit) for value, n in capped.items()}
            over_limit = [value for value, n in capped.items() if n > limit]
        next_url = None
        if next_cursor:
            next_url = request.build_absolute_uri(
                request.path + "?" + _replace_query(request.query_params, cursor=next_cursor)
            )
        return Response(
            {
                "next": next_url,
                "counts": counts,
                "counts_over_limit": over_limit,
                "results": represent_rows(rows, now=timezone.now()),
            }
        )

    def retrieve(self, request, pk=None):
        return Response(self.get_serializer(self.get_object()).data)

    def _timeline(self, request, queryset, serializer_class):
        paginator = TimelinePagination()
        rows = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(serializer_class(rows, many=True).data)

    @extend_schema(
        summary="The conversation's messages (inbound and ours), oldest first, keyset paged.",
        parameters=PAGING_PARAMETERS,
        responses=MessagePageSerializer,
    )
    @action(detail=True, methods=["get"])
    def messages(self, request, pk=None):
        conversation = self.get_object()
        messages = Message.objects.visible_to(self.membership).filter(conversation=conversation).timeline()
        return self._timeline(request, messages, MessageSerializer)

    # ----------------------------------------------------------------------------------- replies
    @extend_schema(
        summary="Replies written on this conversation with their delivery state, oldest first.",
        parameters=PAGING_PARAMETERS,
        responses=ReplyPageSerializer,
    )
    @action(detail=True, methods=["get"])
    def replies(self, request, pk=None):
        conversation = self.get_object()
        replies = (
            Reply.objects.visible_to(self.membership)
            .filter(conversation=conversation)
            .select_related("author", "approved_by")
        )
        return self._timeline(request, replies, ReplySerializer)

    @extend_schema(
        summary="Reply to the conversation (public or by direct message); it is sent once, in the background.",
        description="Answers 201 with the reply in its first state: pending (queued to send) or awaiting_approval.",
        request=ReplyCreateSerializer,
        responses={201: ReplySerializer},
    )
    @replies.mapping.post
    def reply_create(self, request, pk=None):
        conversation = self.get_object()
        data = ReplyCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        # Imported here: inbox.replies is written alongside this module (slice "replies").
        from inbox.replies import reply_create

        reply = _service(
            reply_create,
            actor=self.membership,
            conversation_id=conversation.pk,
            text=data.validated_data["text"],
            mode=data.validated_data["mode"],
        )
        reply = Reply.objects.select_related("author", "approved_by").get(pk=reply.pk)
        return Response(ReplySerializer(reply).data, status=status.HTTP_201_CREATED)

    # ------------------------------------------------------------------------------------- notes
    @extend_schema(
        summary="Internal notes on the conversation, oldest first.",
        parameters=PAGING_PARAMETERS,
        responses=NotePageSerializer,
    )
    @action(detail=True, methods=["get"])
    def notes(self, request, pk=None):
        conversation = self.get_object()
        notes = (
            Note.objects.visible_to(self.membership)
            .filter(conversation=conversation)
            .select_related("author")
            .prefetch_related("mentions")
        )
        return self._timeline(request, notes, NoteSerializer)

    @extend_schema(
        summary="Add an internal note; people @mentioned who can see the conversation are notified.",
        request=NoteCreateSerializer,
        responses={201: NoteSerializer},
    )
    @notes.mapping.post
    def note_create(self, request, pk=None):
        conversation = self.get_object()
        data = NoteCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        note = _service(
            services.note_add, actor=self.membership, conversation_id=conversation.pk, text=data.validated_data["text"]
        )
        note = Note.objects.select_related("author").prefetch_related("mentions").get(pk=note.pk)
        return Response(NoteSerializer(note).data, status=status.HTTP_201_CREATED)

    # ---------------------------------------------------------------------------- state changes
    @extend_schema(
        summary="Assign to a person (a user id or \"me\"), unassign (null), and/or move to another department.",
        request=AssignSerializer,
        responses=ConversationSerializer,
    )
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        conversation = self.get_object()
        data = AssignSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        wanted = data.validated_data
        kwargs: dict = {}
        if "department" in wanted:
            department = Department.objects.visible_to(self.membership).filter(pk=wanted["department"]).first()
            if department is None:
                raise exceptions.ValidationError({"department": "Choose a department of this organisation."})
            kwargs["department"] = department
        if "assignee" in wanted:
            if wanted["assignee"] is None:
                kwargs["unassign"] = True
            else:
                user_id = self.membership.user_id if wanted["assignee"] == "me" else wanted["assignee"]
                assignee = User.objects.filter(
                    pk=user_id,
                    memberships__organisation_id=self.membership.organisation_id,
                    memberships__is_active=True,
                ).first()
                if assignee is None:
                    raise exceptions.ValidationError({"assignee": "Choose an active member of this organisation."})
                kwargs["assignee"] = assignee
        _service(services.conversation_assign, actor=self.membership, conversation_id=conversation.pk, **kwargs)
        return Response(self._read(conversation.pk))

    @extend_schema(summary="Set the status: open, pending or closed.", request=StatusSerializer,
                   responses=ConversationSerializer)
    @action(detail=True, methods=["post"], url_path="status", url_name="status")
    def set_status(self, request, pk=None):
        conversation = self.get_object()
        data = StatusSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        _service(
            services.conversation_set_status,
            actor=self.membership, conversation_id=conversation.pk, status=data.validated_data["status"],
        )
        return Response(self._read(conversation.pk))

    @extend_schema(
        summary="Replace the tags (tags) or add and remove some (add, remove); tags are created on first use.",
        request=TagsSerializer,
        responses=ConversationSerializer,
    )
    @action(detail=True, methods=["post"], url_path="tags", url_name="tags")
    def set_tags(self, request, pk=None):
        conversation = self.get_object()
        data = TagsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        wanted = data.validated_data
        _service(
            services.conversation_set_tags,
            actor=self.membership,
            conversation_id=conversation.pk,
            names=wanted.get("tags"),
            add=wanted.get("add", ()),
            remove=wanted.get("remove", ()),
        )
        return Response(self._read(conversation.pk))

    @extend_schema(summary="Set the priority: low, normal, high or urgent.", request=PrioritySerializer,
                   responses=ConversationSerializer)
    @action(detail=True, methods=["post"], url_path="priority", url_name="priority")
    def set_priority(self, request, pk=None):
        conversation = self.get_object()
        data = PrioritySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        _service(
            services.conversation_set_priority,
            actor=self.membership, conversation_id=conversation.pk, priority=data.validated_data["priority"],
        )
        return Response(self._read(conversation.pk))


# ------------------------------------------------------------------------------------ saved replies
@extend_schema_view(
    list=extend_schema(
        summary="Saved replies the member may use: the organisation's and their departments'.",
        parameters=[
            OpenApiParameter(
                "department", int,
                description="Only those for this department (and the organisation-wide ones), as the reply box shows.",
            ),
        ],
    ),
    create=extend_schema(summary="Create a saved reply (inbox managers, for their own departments)."),
    partial_update=extend_schema(summary="Change a saved reply (inbox managers, for their own departments)."),
    destroy=extend_schema(summary="Delete a saved reply (inbox managers, for their own departments)."),
)
class SavedReplyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrgScopedViewSet):
    model = SavedReply
    serializer_class = SavedReplySerializer
    capabilities = {
        "create": Capability.MANAGE_INBOX,
        "partial_update": Capability.MANAGE_INBOX,
        "destroy": Capability.MANAGE_INBOX,
    }
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        qs = super().get_queryset().select_related("department")
        if self.action == "list":
            department = self.request.query_params.get("department", "")
            if department:
                if not department.isdigit() or int(department) > MAX_ID:
                    raise exceptions.ValidationError({"department": "Must be a department id."})
                qs = qs.for_department(int(department))
        return qs

    def get_object(self):
        pk = self.kwargs.get("pk", "")
        if not str(pk).isdigit() or int(pk) > MAX_ID:
            raise exceptions.NotFound("Not found.")
        return super().get_object()

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "membership": self.membership}

    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        from inbox.settings_services import saved_reply_create

        data = serializer.validated_data
        saved = saved_reply_create(
            actor=self.membership, department=data.get("department"), title=data["title"], body=data["body"]
        )
        return Response(self.get_serializer(saved).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        saved = self.get_object()
        serializer = self.get_serializer(saved, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        from inbox.settings_services import saved_reply_update

        data = serializer.validated_data
        saved = saved_reply_update(
            actor=self.membership,
            saved_reply=saved,
            title=data.get("title", saved.title),
            body=data.get("body", saved.body),
            department=data["department"] if "department" in data else saved.department,
        )
        return Response(self.get_serializer(saved).data)

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        saved = self.get_object()
        from inbox.settings_services import saved_reply_delete

        saved_reply_delete(actor=self.membership, saved_reply=saved)
        return Response(status=status.HTTP_204_NO_CONTENT)


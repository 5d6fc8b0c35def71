"""Serializers of the inbox API: read shapes for conversations, messages, replies, notes and saved replies,
and the small input shapes of the write actions. No serializer saves: inbox.api calls the services.
"""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.api import DepartmentBriefSerializer
from accounts.models import Department
from inbox.models import (
    Contact,
    Conversation,
    ConversationStatus,
    Message,
    Note,
    Priority,
    Reply,
    ReplyMode,
    SavedReply,
    Tag,
)


# ---------------------------------------------------------------------------------------- brief shapes
class UserBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(source="__str__", read_only=True)
    email = serializers.EmailField(read_only=True)


class ChannelBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    platform = serializers.CharField(read_only=True)
    handle = serializers.CharField(read_only=True)
    display_name = serializers.CharField(read_only=True)


class ContactSerializer(serializers.ModelSerializer):
    class Meta:
        model = Contact
        fields = ["id", "platform", "platform_user_id", "handle", "name", "avatar_url", "first_seen_at", "last_seen_at"]
        read_only_fields = fields


class TagSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tag
        fields = ["id", "name"]
        read_only_fields = fields


# --------------------------------------------------------------------------------------- conversations
_DATETIME = serializers.DateTimeField()


class _Timestamps:
    """DRF's DateTimeField output (ISO 8601 in the current time zone, "Z" for UTC) for many values at once: the
    zone is looked up once per row instead of once per value (half of a list page's serialising time went to
    DRF's per-value time-zone lookups). A naive value, which USE_TZ never gives, takes DRF's own path."""

    def __init__(self) -> None:
        self.zone = timezone.get_current_timezone()

    def __call__(self, value):
        if value is None:
            return None
        if value.tzinfo is None:
            return _DATETIME.to_representation(value)
        text = value.astimezone(self.zone).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text


class ConversationSerializer(serializers.ModelSerializer):
    """One conversation as the list and the detail show it. The detail reads it through
    ConversationQuerySet.for_list(); the list reads REPRESENTATION_COLUMNS as plain values (represent_rows)."""

    channel = ChannelBriefSerializer(read_only=True)
    contact = ContactSerializer(read_only=True)
    department = DepartmentBriefSerializer(read_only=True)
    assignee = UserBriefSerializer(read_only=True, allow_null=True)
    tags = serializers.SerializerMethodField()
    priority_label = serializers.CharField(source="get_priority_display", read_only=True)
    overdue = serializers.SerializerMethodField()

    class Meta:
        model = Conversation
        fields = [
            "id",
            "kind",
            "platform",
            "channel",
            "contact",
            "department",
            "assignee",
            "status",
            "priority",
            "priority_label",
            "tags",
            "flagged",
            "sentiment",
            "risk_terms",
            "waiting_since",
            "queue_at",
            "last_message_at",
            "last_inbound_at",
            "last_message_preview",
            "message_count",
            "first_response_due_at",
            "first_responded_at",
            "resolution_due_at",
            "overdue",
            "closed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(TagSerializer(many=True))
    def get_tags(self, conversation: Conversation) -> list[dict]:
        return _tag_list(_tags_of(conversation))

    def to_representation(self, c: Conversation) -> dict:
        """The same dict DRF's generic path builds (a test compares them), about five times faster: the
        conversation's values as the list reads them (REPRESENTATION_COLUMNS), then `represent`."""
        return represent(_columns_of(c), _tags_of(c), _Timestamps(), self.context.get("now"))

    def generic_representation(self, c: Conversation) -> dict:
        """DRF's own field-by-field output, kept for the test that pins to_representation to it."""
        return super().to_representation(c)

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_overdue(self, conversation: Conversation) -> bool:
        return is_overdue(_columns_of(conversation), self.context.get("now") or timezone.now())


# The values one conversation's representation reads. The list reads only these, as plain values (values()):
# building a conversation, its channel, contact, department, assignee and tags as model instances was most of a
# list page's Python time.
REPRESENTATION_COLUMNS = (
    "id", "kind", "platform", "status", "priority", "flagged", "sentiment", "risk_terms", "waiting_since", "queue_at",
    "last_message_at", "last_inbound_at", "last_message_preview", "message_count", "first_response_due_at",
    "first_responded_at", "resolution_due_at", "closed_at", "created_at", "updated_at",
    "channel_id", "channel__platform", "channel__handle", "channel__display_name",
    "contact_id", "contact__platform", "contact__platform_user_id", "contact__handle", "contact__name",
    "contact__avatar_url", "contact__first_seen_at", "contact__last_seen_at",
    "department_id", "department__name", "assignee_id", "assignee__email", "assignee__full_name",
)  # fmt: skip
PRIORITY_LABELS = {value: str(label) for value, label in Priority.choices}


def _columns_of(c: Conversation) -> dict:
    """A conversation instance's REPRESENTATION_COLUMNS, as values() would give them."""
    row = {}
    for name in REPRESENTATION_COLUMNS:
        if "__" in name:
            related, attribute = name.split("__", 1)
            related = getattr(c, related)
            row[name] = None if related is None else getattr(related, attribute)
        else:
            row[name] = getattr(c, name)
    return row


def _tags_of(c: Conversation) -> list[tuple[int, str]]:
    # listed_tags: for_list()'s prefetch as a plain list (a related manager per row costs a queryset clone).
    tags = getattr(c, "listed_tags", None)
    return [(t.pk, t.name) for t in (c.tags.all() if tags is None else tags)]


def _tag_list(tags: list[tuple[int, str]]) -> list[dict]:
    # Sorted here (by name, ignoring case), so the order costs no query.
    return [{"id": pk, "name": name} for pk, name in sorted(tags, key=lambda tag: tag[1].lower())]


def is_overdue(row: dict, now) -> bool:
    """The same rule as the list's `overdue` filter (inbox.filters.ConversationFilter.apply)."""
    if row["status"] == ConversationStatus.CLOSED:
        return False
    first_due, resolution_due = row["first_response_due_at"], row["resolution_due_at"]
    first = first_due is not None and row["first_responded_at"] is None and first_due < now
    return bool(first or (resolution_due is not None and resolution_due < now))


def represent(row: dict, tags: list[tuple[int, str]], dt: _Timestamps, now=None) -> dict:
    """One conversation's API representation from its REPRESENTATION_COLUMNS and its (id, name) tags."""
    assignee_id = row["assignee_id"]
    return {
        "id": row["id"],
        "kind": row["kind"],
        "platform": row["platform"],
        "channel": {"id": row["channel_id"], "platform": row["channel__platform"], "handle": row["channel__handle"],
                    "display_name": row["channel__display_name"]},
        "contact": {
            "id": row["contact_id"], "platform": row["contact__platform"],
            "platform_user_id": row["contact__platform_user_id"], "handle": row["contact__handle"],
            "name": row["contact__name"], "avatar_url": row["contact__avatar_url"],
            "first_seen_at": dt(row["contact__first_seen_at"]), "last_seen_at": dt(row["contact__last_seen_at"]),
        },
        "department": {"id": row["department_id"], "name": row["department__name"]},
        "assignee": None if assignee_id is None else {
            "id": assignee_id, "name": row["assignee__full_name"] or row["assignee__email"],  # User.__str__
            "email": row["assignee__email"],
        },
        "status": row["status"],
        "priority": row["priority"],
        "priority_label": PRIORITY_LABELS.get(row["priority"], row["priority"]),
        "tags": _tag_list(tags),
        "flagged": row["flagged"],
        "sentiment": row["sentiment"],
        "risk_terms": row["risk_terms"],
        "waiting_since": dt(row["waiting_since"]),
        "queue_at": dt(row["queue_at"]),
        "last_message_at": dt(row["last_message_at"]),
        "last_inbound_at": dt(row["last_inbound_at"]),
        "last_message_preview": row["last_message_preview"],
        "message_count": row["message_count"],
        "first_response_due_at": dt(row["first_response_due_at"]),
        "first_responded_at": dt(row["first_responded_at"]),
        "resolution_due_at": dt(row["resolution_due_at"]),
        "overdue": is_overdue(row, now or timezone.now()),
        "closed_at": dt(row["closed_at"]),
        "created_at": dt(row["created_at"]),
        "updated_at": dt(row["updated_at"]),
    }  # fmt: skip


def represent_rows(rows: list[dict], *, now=None) -> list[dict]:
    """The list's conversations (values() rows of REPRESENTATION_COLUMNS) with their tags, read in one query."""
    tags: dict[int, list[tuple[int, str]]] = {row["id"]: [] for row in rows}
    if tags:
        through = Conversation.tags.through.objects.filter(conversation_id__in=list(tags)).order_by()
        for conversation_id, tag_id, name in through.values_list("conversation_id", "tag_id", "tag__name"):
            tags[conversation_id].append((tag_id, name))
    dt, now = _Timestamps(), now or timezone.now()
    return [represent(row, tags[row["id"]], dt, now) for row in rows]


class StatusCountsSerializer(serializers.Serializer):
    open = serializers.IntegerField()
    pending = serializers.IntegerField()
    closed = serializers.IntegerField()


# ------------------------------------------------------------------------------------------- timeline
class MessageSerializer(serializers.ModelSerializer):
    author = ContactSerializer(read_only=True, allow_null=True)
    sent_by = UserBriefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Message
        fields = [
            "id",
            "direction",
            "kind",
            "text",
            "author",
            "sent_by",
            "platform_message_id",
            "in_reply_to_id",
            "url",
            "created_at",
            "received_at",
            "sentiment",
            "flagged",
        ]
        read_only_fields = fields


class ReplySerializer(serializers.ModelSerializer):
    author = UserBriefSerializer(read_only=True, allow_null=True)
    approved_by = UserBriefSerializer(read_only=True, allow_null=True)
    state_label = serializers.CharField(source="get_state_display", read_only=True)

    class Meta:
        model = Reply
        fields = [
            "id",
            "conversation",
            "mode",
            "text",
            "author",
            "automatic",
            "in_reply_to_id",
            "state",
            "state_label",
            "attempts",
            "last_error",
            "platform_id",
            "platform_url",
            "sent_at",
            "approved_by",
            "decided_at",
            "created_at",
        ]
        read_only_fields = fields


class NoteSerializer(serializers.ModelSerializer):
    author = UserBriefSerializer(read_only=True, allow_null=True)
    mentions = UserBriefSerializer(many=True, read_only=True)

    class Meta:
        model = Note
        fields = ["id", "conversation", "text", "author", "mentions", "created_at"]
        read_only_fields = fields


# -------------------------------------------------------------------------------------- write inputs
class ReplyCreateSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=63206, trim_whitespace=False, allow_blank=True)
    mode = serializers.ChoiceField(choices=ReplyMode.choices, default=ReplyMode.PUBLIC)


class NoteCreateSerializer(serializers.Serializer):
    text = serializers.CharField(
        max_length=5000, allow_blank=True, help_text="Mention colleagues as @email@example.org or @local-part."
    )


class AssigneeField(serializers.Field):
    """A member's user id, "me", or null (unassign)."""

    default_error_messages = {"invalid": 'Use a member\'s user id, "me" or null.'}

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if data == "me":
            return "me"
        if isinstance(data, bool):
            self.fail("invalid")
        if isinstance(data, int) and data > 0:
            return data
        if isinstance(data, str) and data.isdigit() and 0 < int(data) < 2**63:
            return int(data)
        self.fail("invalid")

    def to_representation(self, value):
        return value


@extend_schema_field(
    {"oneOf": [{"type": "integer"}, {"type": "string", "enum": ["me"]}], "nullable": True,
     "description": 'A member\'s user id, "me", or null to unassign.'}
)
class _AssigneeSchemaField(AssigneeField):
    pass


class AssignSerializer(serializers.Serializer):
    assignee = _AssigneeSchemaField(required=False)
    department = serializers.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, help_text="Move the conversation to this department."
    )

    def validate(self, attrs):
        if "assignee" not in attrs and "department" not in attrs:
            raise serializers.ValidationError({"assignee": "Send an assignee, a department, or both."})
        return attrs


# A plain string in the schema: the choice set is named once, on Conversation.status (one enum per name).
@extend_schema_field({"type": "string", "description": "open, pending or closed."})
class _StatusChoiceField(serializers.ChoiceField):
    pass


class StatusSerializer(serializers.Serializer):
    status = _StatusChoiceField(choices=ConversationStatus.choices)


class PriorityField(serializers.Field):
    default_error_messages = {"invalid": "Choose low, normal, high or urgent (or 0 to 3)."}

    def to_internal_value(self, data):
        by_name = {label.lower(): value for value, label in Priority.choices}
        if isinstance(data, bool):
            self.fail("invalid")
        if isinstance(data, int) and data in Priority.values:
            return data
        if isinstance(data, str):
            if data.isdigit() and int(data) in Priority.values:
                return int(data)
            if data.lower() in by_name:
                return by_name[data.lower()]
        self.fail("invalid")

    def to_representation(self, value):
        return value


@extend_schema_field(
    {"oneOf": [{"type": "integer", "minimum": 0, "maximum": 3},
               {"type": "string", "enum": ["low", "normal", "high", "urgent"]}],
     "description": "0 low, 1 normal, 2 high, 3 urgent (or the name)."}
)
class _PrioritySchemaField(PriorityField):
    pass


class PrioritySerializer(serializers.Serializer):
    priority = _PrioritySchemaField()


class TagsSerializer(serializers.Serializer):
    """Either `tags` (replace them all) or `add` and/or `remove` (names; tags are created on first use)."""

    tags = serializers.ListField(
        child=serializers.CharField(max_length=200, allow_blank=True), max_length=100, required=False,
        help_text="Replace the conversation's tags with these names.",
    )
    add = serializers.ListField(
        child=serializers.CharField(max_length=200, allow_blank=True), max_length=100, required=False,
    )
    remove = serializers.ListField(
        child=serializers.CharField(max_length=200, allow_blank=True), max_length=100, required=False,
    )

    def validate(self, attrs):
        if "tags" in attrs and ("add" in attrs or "remove" in attrs):
            raise serializers.ValidationError({"tags": "Send tags (replace) or add/remove, not both."})
        if not attrs:
            raise serializers.ValidationError({"tags": "Send tags, or add and/or remove."})
        return attrs


# ------------------------------------------------------------------------------------- saved replies
class SavedReplySerializer(serializers.ModelSerializer):
    department = serializers.PrimaryKeyRelatedField(
        queryset=Department.objects.none(), allow_null=True, required=False,
        help_text="The department it belongs to; null for the whole organisation.",
    )
    department_name = serializers.CharField(source="department.name", read_only=True, default=None)

    class Meta:
        model = SavedReply
        fields = ["id", "title", "body", "department", "department_name", "created_at"]
        read_only_fields = ["id", "department_name", "created_at"]
        # The model's unique constraint is checked by the service (a clear message, not a database error).
        validators: list = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        membership = self.context.get("membership")
        # Choices narrowed to the organisation: another organisation's department id is "does not exist".
        self.fields["department"].queryset = Department.objects.visible_to(membership).active()

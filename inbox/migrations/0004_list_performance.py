"""Indexes for the inbox list's target (issue 4: p95 at most 30 ms on 1M messages / 200k conversations).

- Text search: Django's `icontains` on PostgreSQL is `UPPER(col) LIKE UPPER('%q%')`, which the trigram
  indexes of 0002 (on the plain columns) cannot serve: the search was a sequential scan of every message.
  These trigram indexes are on UPPER(col) instead, and 0002's are dropped. PostgreSQL only, like 0002.
- Status counts: the queue index includes the list's filter columns, so a capped count with a filter is an
  index-only scan.
- status=all: the queue order without the status column (every queue index started with status, so the
  list sorted the whole organisation).
- Assignee filters (me, unassigned, a member): the assignee index gains the queue order, so the first page
  is read in order instead of sorted (it replaces the narrower index of the same name: no extra write cost).
"""

from django.conf import settings
from django.db import migrations, models

OLD_INDEXES = [
    ("inbox_message_text_trgm", "inbox_message", "text"),
    ("inbox_contact_name_trgm", "inbox_contact", "name"),
    ("inbox_contact_handle_trgm", "inbox_contact", "handle"),
]
INDEXES = [
    ("inbox_message_text_upper_trgm", "inbox_message", "text"),
    ("inbox_contact_name_upper_trgm", "inbox_contact", "name"),
    ("inbox_contact_handle_upper_trgm", "inbox_contact", "handle"),
]


def _create(schema_editor, indexes, *, upper: bool) -> None:
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, table, column in indexes:
        expression = f"UPPER({column})" if upper else column
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ({expression} gin_trgm_ops)")


def _drop(schema_editor, indexes) -> None:
    for name, _table, _column in indexes:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    _create(schema_editor, INDEXES, upper=True)
    _drop(schema_editor, OLD_INDEXES)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    _create(schema_editor, OLD_INDEXES, upper=False)
    _drop(schema_editor, INDEXES)


class Migration(migrations.Migration):
    dependencies = [
        ("inbox", "0003_delete_notification"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
        migrations.RemoveIndex(model_name="conversation", name="conversation_queue_idx"),
        migrations.AddIndex(
            model_name="conversation",
            index=models.Index(
                fields=["organisation", "status", "-flagged", "queue_at", "id"],
                include=[
                    "department",
                    "channel",
                    "platform",
                    "assignee",
                    "priority",
                    "first_response_due_at",
                    "first_responded_at",
                    "resolution_due_at",
                ],
                name="conversation_queue_idx",
            ),
        ),
        migrations.RemoveIndex(model_name="conversation", name="conversation_assignee_idx"),
        migrations.AddIndex(
            model_name="conversation",
            index=models.Index(fields=["organisation", "-flagged", "queue_at", "id"], name="conversation_queue_all_idx"),
        ),
        migrations.AddIndex(
            model_name="conversation",
            index=models.Index(
                fields=["organisation", "assignee", "status", "-flagged", "queue_at", "id"],
                name="conversation_assignee_idx",
            ),
        ),
    ]

"""Trigram indexes for the inbox's text search (message bodies, contact names and handles).

PostgreSQL only: embedded mode (SQLite) searches with a plain scan, which is fine at demo sizes.
"""

from django.db import migrations

INDEXES = [
    ("inbox_message_text_trgm", "inbox_message", "text"),
    ("inbox_contact_name_trgm", "inbox_contact", "name"),
    ("inbox_contact_handle_trgm", "inbox_contact", "handle"),
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, table, column in INDEXES:
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ({column} gin_trgm_ops)")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _table, _column in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("inbox", "0001_initial")]
    operations = [migrations.RunPython(create, drop)]

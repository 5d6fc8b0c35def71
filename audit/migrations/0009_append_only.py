"""Issue 6: chain the events written before the hash chain, then make the audit tables append-only.

(a) Backfill: each organisation's existing events (and the no-organisation ones), in (occurred_at, id)
    order, get sequence 1..n, prev_hash and hash (audit/chain.py), and their chain head is created.
(b) PostgreSQL only: a trigger rejects UPDATE and DELETE on audit_auditevent and audit_auditcheckpoint.
    TRUNCATE is not refused by a trigger: Django's test runner and `flush` empty tables with TRUNCATE;
    the deployment role simply has no TRUNCATE privilege (docs/audit.md).
"""

from django.db import migrations

from audit import chain

BATCH = 1000

CREATE_TRIGGERS = """
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only: % on % is not allowed', TG_OP, TG_TABLE_NAME
        USING HINT = 'The audit trail is never edited; see docs/audit.md.';
END
$$;
CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_checkpoint_append_only BEFORE UPDATE OR DELETE ON audit_auditcheckpoint
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
"""

DROP_TRIGGERS = """
DROP TRIGGER IF EXISTS audit_event_append_only ON audit_auditevent;
DROP TRIGGER IF EXISTS audit_checkpoint_append_only ON audit_auditcheckpoint;
DROP FUNCTION IF EXISTS audit_refuse_change();
"""


def backfill_chain(apps, schema_editor):
    AuditEvent = apps.get_model("audit", "AuditEvent")
    AuditChainHead = apps.get_model("audit", "AuditChainHead")
    fields = [name for name in chain.HASHED_FIELDS if name not in ("sequence", "prev_hash")]
    organisation_ids = AuditEvent.objects.filter(sequence__isnull=True).values_list("organisation_id", flat=True)
    for organisation_id in sorted(set(organisation_ids), key=lambda pk: (pk is not None, pk or 0)):
        head, _ = AuditChainHead.objects.get_or_create(organisation_id=organisation_id)
        if AuditEvent.objects.filter(organisation_id=organisation_id, sequence__isnull=False).exists():
            raise RuntimeError(f"organisation {organisation_id} has chained and unchained audit events")
        rows = (
            AuditEvent.objects.filter(organisation_id=organisation_id)
            .order_by("occurred_at", "id")
            .values("id", *fields)
        )
        sequence, previous, batch = head.sequence, head.head_hash or chain.GENESIS, []
        for row in rows.iterator(chunk_size=BATCH):
            sequence += 1
            row.update(sequence=sequence, prev_hash=previous)
            previous = chain.event_hash(row)
            batch.append(AuditEvent(id=row["id"], sequence=sequence, prev_hash=row["prev_hash"], hash=previous))
            if len(batch) >= BATCH:
                AuditEvent.objects.bulk_update(batch, ["sequence", "prev_hash", "hash"])
                batch = []
        AuditEvent.objects.bulk_update(batch, ["sequence", "prev_hash", "hash"])
        AuditChainHead.objects.filter(pk=head.pk).update(sequence=sequence, head_hash=previous)


def create_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE_TRIGGERS, params=None)


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_TRIGGERS, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0007_more_event_types"),
    ]

    operations = [
        migrations.RunPython(backfill_chain, migrations.RunPython.noop),
        migrations.RunPython(create_triggers, drop_triggers),
    ]

"""Issue 6: AuditAnchor, where a chain starts after purge_audit removed its oldest events, append-only like
the events and checkpoints (the trigger function audit_refuse_change() comes from 0009); and audit.purged."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


CREATE_TRIGGER = """
CREATE TRIGGER audit_anchor_append_only BEFORE UPDATE OR DELETE ON audit_auditanchor
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
"""
DROP_TRIGGER = "DROP TRIGGER IF EXISTS audit_anchor_append_only ON audit_auditanchor;"


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE_TRIGGER, params=None)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_TRIGGER, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0003_notification'),
        ('audit', '0009_append_only'),
    ]

    operations = [
        migrations.AlterField(
            model_name='auditevent',
            name='event_type',
            field=models.CharField(choices=[('auth.sign_in', 'Signed in'), ('auth.sign_in_failed', 'Sign-in failed'), ('auth.lockout', 'Locked out after failed sign-ins'), ('auth.sign_out', 'Signed out'), ('auth.session_expired', 'Session ended after inactivity'), ('auth.password_reset_requested', 'Password reset requested'), ('auth.password_changed', 'Password changed'), ('auth.two_factor_enrolled', 'Two-factor authentication enrolled'), ('auth.two_factor_reset', 'Two-factor authentication reset'), ('auth.backup_codes_regenerated', 'Backup codes regenerated'), ('auth.api_token_created', 'API token created'), ('auth.api_token_revoked', 'API token revoked'), ('member.invitation_sent', 'Invitation sent'), ('member.invitation_revoked', 'Invitation revoked'), ('member.invitation_accepted', 'Invitation accepted'), ('member.role_changed', "Member's role changed"), ('member.departments_changed', "Member's departments changed"), ('member.deactivated', 'Member deactivated'), ('member.reactivated', 'Member reactivated'), ('department.created', 'Department created'), ('department.renamed', 'Department renamed'), ('department.archived', 'Department archived'), ('department.restored', 'Department restored'), ('channel.connected', 'Channel connected'), ('channel.reconnected', 'Channel reconnected'), ('channel.disconnected', 'Channel disconnected'), ('channel.needs_reauth', 'Channel needs reconnecting'), ('channel.rate_limited', 'Channel rate limited'), ('channel.recovered', 'Channel healthy again'), ('channel.grant_changed', 'Channel grant changed'), ('channel.credentials_reencrypted', 'Channel credentials re-encrypted'), ('conversation.assigned', 'Conversation assigned'), ('conversation.status_changed', 'Conversation status changed'), ('conversation.tags_changed', 'Conversation tags changed'), ('conversation.priority_changed', 'Conversation priority changed'), ('conversation.reopened', 'Conversation reopened by a new message'), ('conversation.note_added', 'Internal note added'), ('reply.created', 'Reply written'), ('reply.approved', 'Reply approved'), ('reply.rejected', 'Reply rejected'), ('reply.sent', 'Reply sent'), ('reply.failed', 'Reply failed'), ('reply.unknown', 'Reply outcome unknown'), ('reply.reconciled', 'Reply outcome reconciled'), ('reply.retried', 'Reply retried'), ('inbox.quarantined', 'Inbound item quarantined'), ('inbox.webhook_rejected', 'Webhook rejected (bad signature)'), ('inbox.settings_changed', 'Inbox settings changed'), ('inbox.saved_reply_changed', 'Saved reply changed'), ('post.created', 'Post created'), ('post.edited', 'Post edited (new revision)'), ('post.submitted', 'Post submitted for approval'), ('post.approved', 'Post approved'), ('post.changes_requested', 'Changes requested on a post'), ('post.withdrawn', 'Post withdrawn'), ('post.cancelled', 'Post cancelled'), ('post.scheduled', 'Post scheduled'), ('post.status_changed', 'Post status changed'), ('post.break_glass', 'BREAK GLASS: post published without approval'), ('post.commented', 'Comment on a post'), ('post.publishing', 'Post publishing started'), ('post.finished', 'Post publishing finished'), ('post.held_late', 'Late post held for a decision'), ('post.target_published', 'Post published on a channel'), ('post.target_failed', 'Post failed on a channel'), ('post.target_unknown', 'Post outcome on a channel unknown'), ('post.target_reconciled', 'Post outcome on a channel reconciled'), ('post.target_retried', 'Post retried on a channel'), ('publishing.paused', 'Publishing paused'), ('publishing.resumed', 'Publishing resumed'), ('publishing.settings_changed', 'Publishing settings changed'), ('audit.viewed', 'Audit trail read'), ('audit.exported', 'Audit trail exported'), ('audit.checkpoint', 'Audit checkpoint signed'), ('audit.purged', 'Audit events past retention purged'), ('retention.run', 'Retention run'), ('retention.settings_changed', 'Retention settings changed'), ('contact.erased', 'Contact erased'), ('legal_hold.set', 'Legal hold set'), ('legal_hold.released', 'Legal hold released'), ('records.exported', 'Records request exported'), ('organisation.created', 'Organisation created'), ('organisation.settings_changed', 'Organisation settings changed')], max_length=60),
        ),
        migrations.CreateModel(
            name='AuditAnchor',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('up_to_sequence', models.BigIntegerField()),
                ('anchor_hash', models.CharField(max_length=64)),
                ('events_removed', models.BigIntegerField()),
                ('archive_reference', models.CharField(max_length=300)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('signature', models.CharField(max_length=64)),
                ('organisation', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='accounts.organisation')),
            ],
            options={
                'ordering': ['-up_to_sequence', '-id'],
                'constraints': [models.UniqueConstraint(fields=('organisation', 'up_to_sequence'), name='audit_one_anchor_per_sequence')],
            },
        ),
        migrations.RunPython(create_trigger, drop_trigger),
    ]

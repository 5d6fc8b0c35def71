"""Retention, erasure and legal holds (issue 6 §6): per-organisation retention periods, legal-hold flags on
conversations and contacts, and the redacted/erased timestamps that mark emptied content (inbox.retention,
inbox.erasure). The partial index serves the nightly retention run and shrinks as content is redacted.
"""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_notification"),
        ("inbox", "0004_list_performance"),
    ]

    operations = [
        migrations.AddField(
            model_name="contact", name="legal_hold", field=models.BooleanField(default=False)
        ),
        migrations.AddField(
            model_name="contact", name="legal_hold_reason", field=models.CharField(blank=True, max_length=500)
        ),
        migrations.AddField(
            model_name="contact", name="redacted_at", field=models.DateTimeField(blank=True, null=True)
        ),
        migrations.AddField(model_name="contact", name="erased_at", field=models.DateTimeField(blank=True, null=True)),
        migrations.AddField(
            model_name="conversation", name="legal_hold", field=models.BooleanField(default=False)
        ),
        migrations.AddField(
            model_name="conversation", name="legal_hold_reason", field=models.CharField(blank=True, max_length=500)
        ),
        migrations.AddField(
            model_name="message", name="redacted_at", field=models.DateTimeField(blank=True, null=True)
        ),
        migrations.AddField(model_name="reply", name="redacted_at", field=models.DateTimeField(blank=True, null=True)),
        migrations.AddField(model_name="note", name="redacted_at", field=models.DateTimeField(blank=True, null=True)),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(
                condition=models.Q(("redacted_at__isnull", True)),
                fields=["organisation", "created_at"],
                name="message_retention_idx",
            ),
        ),
        migrations.CreateModel(
            name="RetentionPolicy",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("message_retention_days", models.PositiveIntegerField(default=730)),
                ("audit_retention_days", models.PositiveIntegerField(default=2555)),
                ("updated_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "organisation",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="accounts.organisation"
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("message_retention_days__gte", 30), ("message_retention_days__lte", 36500)),
                        name="retention_message_days_range",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("audit_retention_days__gte", 365), ("audit_retention_days__lte", 36500)),
                        name="retention_audit_days_range",
                    ),
                ],
            },
        ),
    ]

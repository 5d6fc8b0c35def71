"""`python manage.py purge_audit --org SLUG --before DATE --archive-reference REF [--yes]`: remove an organisation's
audit events older than DATE once they are past its audit retention period, leaving a signed anchor so that
`verify_audit` still proves the rest of the chain (audit/purge.py, docs/retention.md). Run as the table owner.

Without --yes it only checks and says what it would remove."""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Organisation
from audit.purge import PurgeRefused, audit_purge, clean_reference, plan
from audit.verification import verify_chain


class Command(BaseCommand):
    help = "Delete an organisation's audit events past their retention period, leaving a signed anchor."

    def add_arguments(self, parser):
        parser.add_argument("--org", metavar="SLUG", required=True, help="The organisation whose events go.")
        parser.add_argument("--before", metavar="YYYY-MM-DD", required=True,
                            help="Remove events before the start of this day (organisation's time zone).")
        parser.add_argument("--archive-reference", metavar="REF", required=True,
                            help="Where the exported events are archived (kept in the anchor and the audit event).")
        parser.add_argument("--yes", action="store_true", help="Delete; without it, only say what would go.")

    def handle(self, *args, org, before, archive_reference, yes=False, **options):
        organisation = Organisation.objects.filter(slug=org).first()
        if organisation is None:
            raise CommandError(f"No organisation with the slug {org!r}.")
        try:
            day = date.fromisoformat(before)
        except ValueError:
            raise CommandError(f"--before {before!r} is not a date (YYYY-MM-DD).") from None
        try:
            reference = clean_reference(archive_reference)
            if not yes:
                self.dry_run(organisation, day)
                return
            anchor, event = audit_purge(organisation=organisation, before=day, archive_reference=reference)
        except PurgeRefused as exc:
            raise CommandError(f"Purge refused: {exc}") from None
        self.stdout.write(
            self.style.SUCCESS(
                f"{organisation.slug}: removed {anchor.events_removed} events up to sequence {anchor.up_to_sequence};"
                f" anchor {anchor.anchor_hash} signed; recorded as audit event {event.pk} (sequence {event.sequence})."
            )
        )

    def dry_run(self, organisation, day: date) -> None:
        report = verify_chain(organisation.pk)
        if not report.ok:
            raise PurgeRefused(f"The chain of {organisation.slug} does not verify: {report.problem}")
        the_plan = plan(organisation, day)
        if the_plan.up_to_sequence is None:
            raise PurgeRefused(f"{organisation.slug} has no audit events before {day.isoformat()} (after any anchor).")
        self.stdout.write(
            f"{organisation.slug}: would remove {the_plan.events} events (sequence {the_plan.first_sequence} to"
            f" {the_plan.up_to_sequence}) older than {the_plan.cutoff.isoformat()}; retention period"
            f" {the_plan.retention_days} days. The chain verifies: {report.summary}.\n"
            "Nothing deleted: run again with --yes to purge."
        )

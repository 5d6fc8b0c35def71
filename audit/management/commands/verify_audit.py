"""`python manage.py verify_audit [--org SLUG]`: recompute each audit hash chain (from its newest signed anchor, if
events were purged) and check it against its latest signed checkpoint. Exits non-zero naming the first broken,
missing or reordered link of each chain that fails; prints each chain's event count and head when all hold
(docs/audit.md)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Organisation
from audit.verification import verify_chain


class Command(BaseCommand):
    help = "Recompute the audit trail's hash chains and compare them with the signed anchors and checkpoints."

    def add_arguments(self, parser):
        parser.add_argument("--org", metavar="SLUG", help="Only this organisation's chain (default: every chain).")

    def handle(self, *args, org=None, **options):
        if org is not None:
            organisation = Organisation.objects.filter(slug=org).first()
            if organisation is None:
                raise CommandError(f"No organisation with the slug {org!r}.")
            chains = [(organisation.pk, organisation.slug)]
        else:
            chains = [(pk, slug) for pk, slug in Organisation.objects.order_by("slug").values_list("pk", "slug")]
            chains.append((None, "(no organisation)"))
        problems = []
        for organisation_id, name in chains:
            report = verify_chain(organisation_id)
            if report.ok:
                self.stdout.write(f"{name}: {report.summary}")
            else:
                problems.append(f"{name}: {report.problem}")
        if problems:
            raise CommandError("Audit trail verification FAILED\n" + "\n".join(problems))
        self.stdout.write(self.style.SUCCESS(f"Audit trail verified: {len(chains)} chain(s) intact."))

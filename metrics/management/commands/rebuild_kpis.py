"""`python manage.py rebuild_kpis [--org SLUG]`: rebuild the KPI rollups (ContactDaily, AgentDaily, ResponseFact)
of one or every organisation from its messages, e.g. after a deployment that changes how a KPI is counted
(metrics.rollups.rebuild). Prints what it rebuilt; exits non-zero naming any organisation that failed.

Rollups are derived data: rebuilding them writes no audit event (docs/kpis.md). Snapshots and post metrics are
what the platforms reported and cannot be rebuilt; they are left as they are.
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Organisation
from metrics import rollups


class Command(BaseCommand):
    help = "Rebuild the KPI rollups of one organisation (--org SLUG) or of all, from the messages."

    def add_arguments(self, parser):
        parser.add_argument("--org", metavar="SLUG", help="Only this organisation (default: every organisation).")

    def handle(self, *args, org=None, **options):
        organisations = Organisation.objects.order_by("slug")
        if org is not None:
            organisations = organisations.filter(slug=org)
            if not organisations.exists():
                raise CommandError(f"No organisation with the slug {org!r}.")
        failed = []
        count = 0
        for pk, slug in organisations.values_list("pk", "slug"):
            started = time.monotonic()
            try:
                result = rollups.rebuild(pk)
            except Exception as exc:  # noqa: BLE001 - report it and go on with the others
                failed.append(f"{slug}: {type(exc).__name__}: {exc}")
                continue
            seconds = time.monotonic() - started
            if result.skipped:
                failed.append(f"{slug}: skipped, a refresh was running for it; run the command again")
                continue
            count += 1
            self.stdout.write(f"{slug}: rebuilt from {result.conversations} conversation(s), "
                              f"{result.days} day(s) of rollups, in {seconds:.1f} s")
        if failed:
            raise CommandError("Rebuild FAILED for:\n" + "\n".join(failed))
        self.stdout.write(self.style.SUCCESS(f"KPI rollups rebuilt for {count} organisation(s)."))

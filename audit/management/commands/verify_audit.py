"""`python manage.py verify_audit [--org SLUG]`: recompute each audit hash chain and check it against its
latest signed checkpoint. Exits non-zero naming the first broken, missing or reordered link of each
chain that fails; prints each chain's event count and head when all hold (docs/audit.md)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Organisation
from audit import chain
from audit.models import AuditChainHead, AuditCheckpoint, AuditEvent

ROW_FIELDS = ("id", "hash", *chain.HASHED_FIELDS)
CHUNK = 2000


class Command(BaseCommand):
    help = "Recompute the audit trail's hash chains and compare them with the signed checkpoints."

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
            problem = self.verify_chain(organisation_id, name)
            if problem:
                problems.append(f"{name}: {problem}")
        if problems:
            raise CommandError("Audit trail verification FAILED\n" + "\n".join(problems))
        self.stdout.write(self.style.SUCCESS(f"Audit trail verified: {len(chains)} chain(s) intact."))

    def verify_chain(self, organisation_id: int | None, name: str) -> str | None:
        events = AuditEvent.objects.filter(organisation_id=organisation_id)
        unchained = events.filter(sequence__isnull=True).count()
        if unchained:
            return f"{unchained} event(s) have no sequence: they are outside the chain"
        latest = (
            AuditCheckpoint.objects.filter(organisation_id=organisation_id).order_by("-sequence", "-created_at").first()
        )
        checkpoint = None
        if latest is not None:
            checkpoint = chain.Checkpoint(
                organisation_id, latest.sequence, latest.head_hash, latest.signature, latest.created_at
            )
        # The head first, then the events up to it: events committed while this runs (a live system) are
        # after the cut and are neither missing nor extra.
        head = AuditChainHead.objects.filter(organisation_id=organisation_id).first()
        head_sequence, head_hash = (head.sequence, head.head_hash or chain.GENESIS) if head else (0, chain.GENESIS)
        rows = (
            events.filter(sequence__lte=head_sequence).order_by("sequence").values(*ROW_FIELDS).iterator(chunk_size=CHUNK)
        )
        result = chain.verify(organisation_id, rows, checkpoint=checkpoint)
        if not result.ok:
            return result.problem
        if head_sequence != result.count:
            return (
                f"the chain head records sequence {head_sequence} but the chain ends at sequence {result.count}"
                " (newest events deleted, or the head was edited)"
            )
        if head_hash != result.head_hash:
            return f"the chain head's hash is not the hash of sequence {result.count} (newest event replaced?)"
        checked = f"checkpoint at sequence {checkpoint.sequence} matches" if checkpoint else "no checkpoint yet"
        self.stdout.write(f"{name}: {result.count} events, head {result.head_hash}, {checked}")
        return None

"""One chain checked against the database: the newest anchor, the events after it, the latest checkpoint and the
chain head. Used by `manage.py verify_audit` and, before it deletes anything, by `manage.py purge_audit`."""

from __future__ import annotations

from dataclasses import dataclass

from audit import chain
from audit.models import AuditAnchor, AuditChainHead, AuditCheckpoint, AuditEvent

ROW_FIELDS = ("id", "hash", *chain.HASHED_FIELDS)
CHUNK = 2000


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    # The first problem, in a sentence (None when the chain holds); else what was checked.
    problem: str | None
    summary: str = ""
    # The sequence the chain reaches (its head) when it holds.
    end: int = 0
    head_hash: str = ""


def as_anchor(row: AuditAnchor) -> chain.Anchor:
    return chain.Anchor(
        row.organisation_id,
        row.up_to_sequence,
        row.anchor_hash,
        row.events_removed,
        row.archive_reference,
        row.created_at,
        row.signature,
    )


def verify_chain(organisation_id: int | None) -> ChainReport:
    events = AuditEvent.objects.filter(organisation_id=organisation_id)
    unchained = events.filter(sequence__isnull=True).count()
    if unchained:
        return ChainReport(False, f"{unchained} event(s) have no sequence: they are outside the chain")
    # Every anchor's signature is checked (a forged old one is tampering too); the newest is where the chain starts.
    anchors = [as_anchor(row) for row in AuditAnchor.objects.filter(organisation_id=organisation_id)]
    for anchor in anchors[1:]:
        if not chain.anchor_signature_ok(anchor):
            return ChainReport(
                False, f"anchor at sequence {anchor.up_to_sequence} has a bad signature (forged, or another key)"
            )
    anchor = anchors[0] if anchors else None
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
    rows = events.filter(sequence__lte=head_sequence).order_by("sequence").values(*ROW_FIELDS).iterator(chunk_size=CHUNK)
    result = chain.verify(organisation_id, rows, checkpoint=checkpoint, anchor=anchor)
    if not result.ok:
        return ChainReport(False, result.problem)
    if head_sequence != result.end:
        return ChainReport(
            False,
            f"the chain head records sequence {head_sequence} but the chain ends at sequence {result.end}"
            " (newest events deleted, or the head was edited)",
        )
    if head_hash != result.head_hash:
        return ChainReport(False, f"the chain head's hash is not the hash of sequence {result.end} (newest event replaced?)")
    if checkpoint is not None and anchor is not None and checkpoint.sequence <= anchor.up_to_sequence:
        checked = "no checkpoint after the anchor yet"
    elif checkpoint is not None:
        checked = f"checkpoint at sequence {checkpoint.sequence} matches"
    else:
        checked = "no checkpoint yet"
    summary = f"{result.count} events, head {result.head_hash}, {checked}"
    if anchor is not None:
        summary += (
            f", starts after the anchor at sequence {anchor.up_to_sequence} of {chain.format_time(anchor.created_at)}"
            f" ({anchor.events_removed} events purged, archive {anchor.archive_reference})"
        )
    return ChainReport(True, None, summary, result.end, result.head_hash)

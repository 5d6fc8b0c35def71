"""Audit export: one organisation's trail, filtered, as CSV or JSON Lines, streamed in chain (sequence) order.

Rows come from a server-side cursor (`QuerySet.iterator(chunk_size=CHUNK)`: a named cursor on PostgreSQL, inside
a transaction so it is not materialised WITH HOLD) and leave as bytes in ~64 KB pieces, so a million events
export in constant memory. Each event carries every hashed field (audit/chain.py `canonical`) exactly as it
was hashed, plus `hash`, so an auditor recomputes the chain offline with scripts/verify_audit_export.py.

The file opens with a header (organisation, filters, who exported it and when, and the signed anchor the chain
starts after when old events were purged, else null) and ends with a trailer
(event count, the chain head, the newest signed checkpoint). The head is read first and the rows are bounded
by its sequence: events are append-only, so the file is one consistent cut of the chain even while new events
are written. The format is documented for auditors in docs/audit-export.md.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import transaction

from audit import chain
from audit.models import AuditAnchor, AuditChainHead, AuditCheckpoint, AuditEvent
from audit.queries import AuditFilter

FORMAT_NAME = "civic-desk-audit-export"
FORMAT_VERSION = 1
# Rows per round trip of the named cursor; the benchmark (bench/audit_export.py) chose it.
CHUNK = 2000
# Bytes gathered before one piece is handed to the server.
PIECE = 64 * 1024

# The fields audit/chain.py hashes (chain.HASHED_FIELDS), in the order the CSV shows them (the hash sorts keys).
HASHED_FIELDS = (
    "sequence",
    "prev_hash",
    "occurred_at",
    "organisation_id",
    "department_id",
    "actor_id",
    "actor_label",
    "event_type",
    "target_type",
    "target_id",
    "target_repr",
    "changes",
    "request_id",
    "ip",
    "user_agent",
)
# The fields read per row: the hashed ones and the stored hash.
_DB_FIELDS = (*HASHED_FIELDS, "hash")
_OCCURRED_AT = HASHED_FIELDS.index("occurred_at")
_CHANGES = HASHED_FIELDS.index("changes")
# CSV: the first column says what a row is: "header", "event" or "trailer". Header and trailer rows carry
# their JSON object (the same as the JSON Lines file's first and last lines) in the second column.
CSV_COLUMNS = ("record_type", *HASHED_FIELDS, "hash")
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection): such a cell gets a
# leading apostrophe, and so does a cell that already starts with one, so the verifier removes exactly one.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")

CONTENT_TYPES = {"jsonl": "application/jsonl; charset=utf-8", "csv": "text/csv; charset=utf-8"}


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _canonical_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def timestamp(value: datetime) -> str:
    """A time as the chain hashes and signs it: ISO 8601 in UTC with microseconds and a Z."""
    return chain.format_time(value)


def event_record(row: tuple) -> dict[str, Any]:
    """One values_list row (_DB_FIELDS) as the exported event: the hashed fields as hashed, then the hash."""
    record = dict(zip(_DB_FIELDS, row, strict=True))
    record["occurred_at"] = timestamp(record["occurred_at"])
    if record["ip"] is not None:
        record["ip"] = str(record["ip"])
    return record


def csv_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


@dataclass
class ChainCut:
    """The chain head the export is bounded by, the newest checkpoint at or before it (and after the anchor),
    and the newest anchor: where the chain starts once old events were purged (manage.py purge_audit)."""

    sequence: int
    head_hash: str
    checkpoint: dict[str, Any] | None
    anchor: dict[str, Any] | None = None


def chain_cut(organisation_id: int) -> ChainCut:
    head = AuditChainHead.objects.filter(organisation_id=organisation_id).values_list("sequence", "head_hash").first()
    if head is None:
        # No head row yet (a chain written before the head table): the newest event is the head.
        head = (
            AuditEvent.objects.filter(organisation_id=organisation_id, sequence__isnull=False)
            .order_by("-sequence")
            .values_list("sequence", "hash")
            .first()
        ) or (0, chain.GENESIS)
    sequence, head_hash = head
    anchor = (
        AuditAnchor.objects.filter(organisation_id=organisation_id, up_to_sequence__lte=sequence)
        .values("up_to_sequence", "anchor_hash", "events_removed", "archive_reference", "created_at", "signature")
        .first()
    )
    if anchor is not None:
        anchor["created_at"] = timestamp(anchor["created_at"])
    # A checkpoint at or below the anchor signs events that are gone: it proves nothing about this file.
    above = anchor["up_to_sequence"] if anchor else 0
    checkpoint = (
        AuditCheckpoint.objects.filter(organisation_id=organisation_id, sequence__lte=sequence, sequence__gt=above)
        .order_by("-sequence", "-created_at", "-id")
        .values("sequence", "head_hash", "signature", "created_at")
        .first()
    )
    if checkpoint is not None:
        checkpoint["created_at"] = timestamp(checkpoint["created_at"])
    return ChainCut(sequence=sequence, head_hash=head_hash or chain.GENESIS, checkpoint=checkpoint, anchor=anchor)


@dataclass
class AuditExport:
    """What one export shows: built by the view after the access checks, streamed by `stream()`."""

    membership: Any
    flt: AuditFilter
    fmt: str  # "jsonl" or "csv"
    exported_by: str
    exported_at: datetime

    @property
    def organisation(self):
        return self.membership.organisation

    @property
    def filters(self) -> dict[str, Any]:
        used = self.flt.used()
        used.pop("cursor", None)  # an export is a range, not a page
        return used

    @property
    def complete(self) -> bool:
        """The whole chain: no filter and a member who sees every department."""
        return not self.filters and self.membership.sees_all_departments

    def header(self, cut: ChainCut | None = None) -> dict[str, Any]:
        organisation = self.organisation
        return {
            "type": "header",
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "organisation": {"id": organisation.pk, "slug": organisation.slug, "name": organisation.name},
            "filters": self.filters,
            "departments": None if self.membership.sees_all_departments else sorted(self.membership.department_ids),
            "complete": self.complete,
            "exported_at": timestamp(self.exported_at),
            "exported_by": self.exported_by,
            "hashed_fields": list(HASHED_FIELDS),
            "anchor": cut.anchor if cut is not None else None,
        }

    @staticmethod
    def trailer(count: int, cut: ChainCut) -> dict[str, Any]:
        return {
            "type": "trailer",
            "count": count,
            "chain_head": {"sequence": cut.sequence, "hash": cut.head_hash},
            "checkpoint": cut.checkpoint,
        }

    def queryset(self, cut: ChainCut):
        qs = self.flt.apply(AuditEvent.objects.visible_to(self.membership))
        # Chain order, bounded by the head read first (served by audit_unique_sequence_per_chain).
        return qs.filter(sequence__lte=cut.sequence).order_by("sequence").values_list(*_DB_FIELDS)

    def filename(self) -> str:
        return f"audit-{self.organisation.slug}-{self.exported_at.astimezone(UTC):%Y%m%dT%H%M%SZ}.{self.fmt}"

    # ------------------------------------------------------------------------------------ stream
    def stream(self) -> Iterator[bytes]:
        # A named cursor lives in a transaction; in autocommit Django would declare it WITH HOLD and
        # PostgreSQL would materialise every row before the first one is sent.
        with transaction.atomic():
            cut = chain_cut(self.organisation.pk)
            lines = self._csv_lines(cut) if self.fmt == "csv" else self._jsonl_lines(cut)
            piece: list[str] = []
            size = 0
            for line in lines:
                piece.append(line)
                size += len(line)
                if size >= PIECE:
                    yield "".join(piece).encode()
                    piece, size = [], 0
            if piece:
                yield "".join(piece).encode()

    def _rows(self, cut: ChainCut) -> Iterator[tuple]:
        return self.queryset(cut).iterator(chunk_size=CHUNK)

    def _jsonl_lines(self, cut: ChainCut) -> Iterator[str]:
        yield _json(self.header(cut)) + "\n"
        count = 0
        dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        for row in self._rows(cut):
            count += 1
            record = event_record(row)
            yield '{"type":"event",' + dumps(record)[1:] + "\n"
        yield _json(self.trailer(count, cut)) + "\n"

    def _csv_lines(self, cut: ChainCut) -> Iterator[str]:
        writer = csv.writer(_Echo(), lineterminator="\r\n")
        # A byte order mark, so spreadsheets read the file as UTF-8; the verifier reads it as utf-8-sig.
        yield "\ufeff" + writer.writerow(CSV_COLUMNS)
        yield writer.writerow(["header", csv_cell(_json(self.header(cut)))])
        count = 0
        writerow, formula, fmt_time = writer.writerow, frozenset(_FORMULA_START), chain.format_time
        for row in self._rows(cut):
            count += 1
            cells = list(row)
            cells[_OCCURRED_AT] = fmt_time(cells[_OCCURRED_AT])
            cells[_CHANGES] = _canonical_json(cells[_CHANGES])
            # Same as csv_cell(), inline: this loop is the export's hot path (bench/audit_export.py).
            yield writerow(["event", *[("'" + v if v[:1] in formula else v) if v.__class__ is str else v for v in cells]])
        yield writer.writerow(["trailer", csv_cell(_json(self.trailer(count, cut)))])


class _Echo:
    """csv.writer's file: writerow() returns the line instead of storing it."""

    def write(self, value: str) -> str:
        return value

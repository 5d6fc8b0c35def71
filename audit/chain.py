"""The audit hash chain: canonical form of an event, its hash, verification, checkpoint signatures.

Each organisation has one chain (events with no organisation form their own). Event n stores the hash
of event n-1 (`prev_hash`, GENESIS for the first) and its own hash, sha256 over `canonical()`: the
JSON of HASHED_FIELDS with sorted keys, no spaces, UTF-8, `occurred_at` as ISO-8601 UTC with
microseconds ("2026-11-27T13:06:00.123456Z"). Changing, deleting, inserting or reordering any event
breaks a link; deleting the newest events is caught by the signed checkpoints (audit/tasks.py).
Events purged after their retention period (manage.py purge_audit) leave a signed anchor: verification then
starts after it, from the anchor's sequence and hash instead of sequence 1 and GENESIS.

docs/audit.md describes the format for auditors; scripts/verify_audit_export.py re-implements it with
the standard library only, so change nothing here without changing both (and every stored hash).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

GENESIS = "0" * 64

HASHED_FIELDS = (
    "organisation_id",
    "sequence",
    "prev_hash",
    "occurred_at",
    "actor_id",
    "actor_label",
    "event_type",
    "target_type",
    "target_id",
    "target_repr",
    "changes",
    "department_id",
    "request_id",
    "ip",
    "user_agent",
)


def format_time(value: datetime) -> str:
    """ISO-8601 in UTC with exactly six fractional digits and a Z: the form that is hashed and signed."""
    if value.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(event_fields: dict[str, Any]) -> bytes:
    fields = {name: event_fields.get(name) for name in HASHED_FIELDS}
    occurred_at = fields["occurred_at"]
    if isinstance(occurred_at, datetime):
        fields["occurred_at"] = format_time(occurred_at)
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def event_hash(fields: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(fields)).hexdigest()


# The three hashed fields only known once the chain head is locked, in the order sorted keys put them.
LINK_FIELDS = ("occurred_at", "prev_hash", "sequence")


def canonical_around_link(event_fields: dict[str, Any]) -> tuple[bytes, bytes, bytes, bytes]:
    """canonical() cut into four pieces around the link fields, so that a writer can hash the event once it
    holds the head lock without building the JSON again (audit/services.py joins them in PostgreSQL):

        canonical(fields) == p0 + format_time(occurred_at) + p1 + prev_hash + p2 + str(sequence) + p3

    (p0 ends with `"occurred_at":"`, p1 with `"prev_hash":"`, p2 with `"sequence":`). The pieces come from
    canonical() itself, with a random stand-in in each link field, so the format is defined once."""
    while True:
        token = secrets.token_hex(16)
        text = canonical({**event_fields, **{name: f"{token}{i}" for i, name in enumerate(LINK_FIELDS)}})
        # The sequence is a bare number in the JSON, the other two are strings: cut its quotes away too.
        cuts = (f"{token}0".encode(), f"{token}1".encode(), f'"{token}2"'.encode())
        # A field that happens to contain a stand-in would cut in the wrong place: draw another token.
        if all(text.count(cut) == 1 for cut in cuts):
            p0, rest = text.split(cuts[0])
            p1, rest = rest.split(cuts[1])
            p2, p3 = rest.split(cuts[2])
            return p0, p1, p2, p3


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    # Events checked (after the anchor, when there is one).
    count: int
    head_hash: str
    # What is wrong, in a sentence that names the sequence, and that sequence; None when the chain holds.
    problem: str | None = None
    sequence: int | None = None
    # The sequence the chain reaches: the last event checked, or the anchor's when no event follows it.
    end: int = 0


@dataclass(frozen=True)
class Anchor:
    """Where a purged chain now starts: the last removed event's sequence and hash, signed (purge_audit)."""

    organisation_id: int
    up_to_sequence: int
    anchor_hash: str
    events_removed: int
    archive_reference: str
    created_at: datetime
    signature: str


@dataclass(frozen=True)
class Checkpoint:
    organisation_id: int | None
    sequence: int
    head_hash: str
    signature: str
    created_at: datetime


def verify(
    organisation_id: int | None,
    rows: Iterable[dict[str, Any]],
    *,
    checkpoint: Checkpoint | None = None,
    anchor: Anchor | None = None,
) -> VerifyResult:
    """Recompute one chain from `rows` (dicts with HASHED_FIELDS and `hash`, in sequence order) and stop at
    the first broken link. With an anchor (its signature checked first) the chain starts after it: the first
    event must be sequence anchor + 1 with prev_hash equal to the anchor's hash. With a checkpoint, also prove
    that the chain still reaches the signed head; a checkpoint at or below the anchor proves nothing and is
    ignored."""
    expected = 1
    previous = GENESIS
    if anchor is not None:
        if anchor.organisation_id != organisation_id or not anchor_signature_ok(anchor):
            return _broken(
                0, previous, anchor.up_to_sequence,
                f"anchor at sequence {anchor.up_to_sequence} has a bad signature (forged, or another key)",
                end=0,
            )
        expected = anchor.up_to_sequence + 1
        previous = anchor.anchor_hash
        if checkpoint is not None and checkpoint.sequence <= anchor.up_to_sequence:
            checkpoint = None
    first = expected
    count = 0
    checkpoint_hash_seen: str | None = None
    for row in rows:
        sequence = row["sequence"]
        if row.get("organisation_id") != organisation_id:
            return _broken(count, previous, sequence, f"sequence {sequence} belongs to another chain", expected - 1)
        if sequence is None:
            return _broken(
                count, previous, None, f"an event (id {row.get('id')}) has no sequence: it is outside the chain",
                expected - 1,
            )
        if sequence > expected:
            missing = f"{expected}" if sequence == expected + 1 else f"{expected} to {sequence - 1}"
            return _broken(
                count, previous, expected, f"missing link: sequence {missing} not found (deleted?)", expected - 1
            )
        if sequence < expected:
            where = " (at or below the anchor)" if anchor is not None and sequence < first else ""
            return _broken(
                count, previous, sequence,
                f"reordered link: sequence {sequence} appears twice or out of order{where}", expected - 1,
            )
        if row["prev_hash"] != previous:
            after = (
                f"the anchor's hash (sequence {sequence - 1}, purged)"
                if anchor is not None and sequence == first
                else f"the hash of sequence {sequence - 1}"
            )
            return _broken(
                count,
                previous,
                sequence,
                f"broken link at sequence {sequence}: its prev_hash is not {after}"
                " (events deleted, inserted or reordered)",
                expected - 1,
            )
        recomputed = event_hash(row)
        if recomputed != row["hash"]:
            return _broken(
                count, previous, sequence, f"altered event at sequence {sequence}: its contents do not match its hash",
                expected - 1,
            )
        previous = recomputed
        count += 1
        expected += 1
        if checkpoint is not None and sequence == checkpoint.sequence:
            checkpoint_hash_seen = recomputed
    end = expected - 1
    if checkpoint is not None:
        problem = _checkpoint_problem(organisation_id, checkpoint, end, checkpoint_hash_seen)
        if problem:
            return VerifyResult(False, count, previous, problem, checkpoint.sequence, end)
    return VerifyResult(True, count, previous, end=end)


def _broken(count: int, head_hash: str, sequence: int | None, problem: str, end: int) -> VerifyResult:
    return VerifyResult(False, count, head_hash, problem, sequence, end)


def _checkpoint_problem(
    organisation_id: int | None, checkpoint: Checkpoint, end: int, hash_at_checkpoint: str | None
) -> str | None:
    expected_signature = checkpoint_signature(
        organisation_id, checkpoint.sequence, checkpoint.head_hash, checkpoint.created_at
    )
    if not hmac.compare_digest(expected_signature, checkpoint.signature):
        return f"checkpoint at sequence {checkpoint.sequence} has a bad signature (forged, or another key)"
    if end < checkpoint.sequence:
        return (
            f"missing newest events: the checkpoint of {format_time(checkpoint.created_at)} signed sequence"
            f" {checkpoint.sequence}, the chain ends at sequence {end}"
        )
    if hash_at_checkpoint != checkpoint.head_hash:
        return f"checkpoint mismatch: the event at sequence {checkpoint.sequence} is not the one the checkpoint signed"
    return None


def checkpoint_message(organisation_id: int | None, sequence: int, head_hash: str, created_at: datetime) -> bytes:
    org = "" if organisation_id is None else str(organisation_id)
    return f"{org}:{sequence}:{head_hash}:{format_time(created_at)}".encode()


def checkpoint_signature(organisation_id: int | None, sequence: int, head_hash: str, created_at: datetime) -> str:
    """HMAC-SHA256 hex of "<organisation id or empty>:<sequence>:<head hash>:<created_at>" with AUDIT_CHECKPOINT_KEY."""
    key = settings.AUDIT_CHECKPOINT_KEY.encode()
    return hmac.new(
        key, checkpoint_message(organisation_id, sequence, head_hash, created_at), hashlib.sha256
    ).hexdigest()


def anchor_message(
    organisation_id: int,
    up_to_sequence: int,
    anchor_hash: str,
    events_removed: int,
    created_at: datetime,
    archive_reference: str,
) -> bytes:
    """"anchor:<organisation id>:<up_to_sequence>:<anchor hash>:<events removed>:<created_at>:<archive reference>".

    The "anchor:" prefix keeps a checkpoint's signature from passing as an anchor's (a checkpoint names a
    sequence and hash too); the free-text reference comes last, so a colon in it cannot shift the other fields.
    """
    return (
        f"anchor:{organisation_id}:{up_to_sequence}:{anchor_hash}:{events_removed}:{format_time(created_at)}:"
        f"{archive_reference}"
    ).encode()


def anchor_signature(anchor: Anchor) -> str:
    """HMAC-SHA256 hex of anchor_message() with AUDIT_CHECKPOINT_KEY."""
    key = settings.AUDIT_CHECKPOINT_KEY.encode()
    message = anchor_message(
        anchor.organisation_id,
        anchor.up_to_sequence,
        anchor.anchor_hash,
        anchor.events_removed,
        anchor.created_at,
        anchor.archive_reference,
    )
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def anchor_signature_ok(anchor: Anchor) -> bool:
    return hmac.compare_digest(anchor_signature(anchor), anchor.signature)

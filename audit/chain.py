"""The audit hash chain: canonical form of an event, its hash, verification, checkpoint signatures.

Each organisation has one chain (events with no organisation form their own). Event n stores the hash
of event n-1 (`prev_hash`, GENESIS for the first) and its own hash, sha256 over `canonical()`: the
JSON of HASHED_FIELDS with sorted keys, no spaces, UTF-8, `occurred_at` as ISO-8601 UTC with
microseconds ("2026-11-27T13:06:00.123456Z"). Changing, deleting, inserting or reordering any event
breaks a link; deleting the newest events is caught by the signed checkpoints (audit/tasks.py).

docs/audit.md describes the format for auditors; scripts/verify_audit_export.py re-implements it with
the standard library only, so change nothing here without changing both (and every stored hash).
"""

from __future__ import annotations

import hashlib
import hmac
import json
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


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    count: int
    head_hash: str
    # What is wrong, in a sentence that names the sequence, and that sequence; None when the chain holds.
    problem: str | None = None
    sequence: int | None = None


@dataclass(frozen=True)
class Checkpoint:
    organisation_id: int | None
    sequence: int
    head_hash: str
    signature: str
    created_at: datetime


def verify(
    organisation_id: int | None, rows: Iterable[dict[str, Any]], *, checkpoint: Checkpoint | None = None
) -> VerifyResult:
    """Recompute one chain from `rows` (dicts with HASHED_FIELDS and `hash`, in sequence order) and stop at
    the first broken link. With a checkpoint, also prove that the chain still reaches the signed head."""
    expected = 1
    previous = GENESIS
    count = 0
    checkpoint_hash_seen: str | None = None
    for row in rows:
        sequence = row["sequence"]
        if row.get("organisation_id") != organisation_id:
            return _broken(count, previous, sequence, f"sequence {sequence} belongs to another chain")
        if sequence is None:
            return _broken(
                count, previous, None, f"an event (id {row.get('id')}) has no sequence: it is outside the chain"
            )
        if sequence > expected:
            missing = f"{expected}" if sequence == expected + 1 else f"{expected} to {sequence - 1}"
            return _broken(count, previous, expected, f"missing link: sequence {missing} not found (deleted?)")
        if sequence < expected:
            return _broken(
                count, previous, sequence, f"reordered link: sequence {sequence} appears twice or out of order"
            )
        if row["prev_hash"] != previous:
            return _broken(
                count,
                previous,
                sequence,
                f"broken link at sequence {sequence}: its prev_hash is not the hash of sequence {sequence - 1}"
                " (events deleted, inserted or reordered)",
            )
        recomputed = event_hash(row)
        if recomputed != row["hash"]:
            return _broken(
                count, previous, sequence, f"altered event at sequence {sequence}: its contents do not match its hash"
            )
        previous = recomputed
        count += 1
        expected += 1
        if checkpoint is not None and sequence == checkpoint.sequence:
            checkpoint_hash_seen = recomputed
    if checkpoint is not None:
        problem = _checkpoint_problem(organisation_id, checkpoint, count, checkpoint_hash_seen)
        if problem:
            return VerifyResult(False, count, previous, problem, checkpoint.sequence)
    return VerifyResult(True, count, previous)


def _broken(count: int, head_hash: str, sequence: int | None, problem: str) -> VerifyResult:
    return VerifyResult(False, count, head_hash, problem, sequence)


def _checkpoint_problem(
    organisation_id: int | None, checkpoint: Checkpoint, count: int, hash_at_checkpoint: str | None
) -> str | None:
    expected_signature = checkpoint_signature(
        organisation_id, checkpoint.sequence, checkpoint.head_hash, checkpoint.created_at
    )
    if not hmac.compare_digest(expected_signature, checkpoint.signature):
        return f"checkpoint at sequence {checkpoint.sequence} has a bad signature (forged, or another key)"
    if count < checkpoint.sequence:
        return (
            f"missing newest events: the checkpoint of {format_time(checkpoint.created_at)} signed sequence"
            f" {checkpoint.sequence}, the chain ends at sequence {count}"
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

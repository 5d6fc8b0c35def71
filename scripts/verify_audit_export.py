#!/usr/bin/env python3
"""Verify a Civic Desk audit export offline: standard library only, no Django, no database.

    python3 scripts/verify_audit_export.py audit-alpha-20261127T130600Z.jsonl [--key KEY]
    python3 scripts/verify_audit_export.py audit-alpha-20261127T130600Z.csv [--key KEY]

For every event it recomputes the hash over the canonical form (the rules below, copied from audit/chain.py),
checks the link to the previous event wherever two events with consecutive sequence numbers are both in the
file, checks the trailer's chain head and checkpoint against the events, and with --key (the value of the
organisation's AUDIT_CHECKPOINT_KEY, exactly as set in the server's environment) the checkpoint's HMAC
signature. A complete export (header "complete": true) must hold the whole chain, 1 to the head, without gaps;
after old events were purged (manage.py purge_audit) the header carries the signed anchor and the chain starts
after it: the first event is the anchor's sequence + 1 and its prev_hash is the anchor's hash.

Exit status: 0 when everything checked holds, 1 at the first problem (printed with its line and sequence),
2 when the file cannot be read as an export. docs/audit-export.md explains what a pass proves.

Canonical form (audit/chain.py): the JSON object of exactly these fields
    organisation_id, sequence, prev_hash, occurred_at, actor_id, actor_label, event_type, target_type,
    target_id, target_repr, changes, department_id, request_id, ip, user_agent
with keys sorted, separators "," and ":" (no spaces), non-ASCII characters as themselves, UTF-8 encoded;
occurred_at as "YYYY-MM-DDTHH:MM:SS.ffffffZ" (UTC). hash = lowercase hex SHA-256 of those bytes. The first
event's prev_hash is 64 zeros. Checkpoint signature = hex HMAC-SHA256 with the key (UTF-8) of
"<organisation id>:<sequence>:<head hash>:<created_at>". Anchor signature = hex HMAC-SHA256 with the same key of
"anchor:<organisation id>:<up_to_sequence>:<anchor hash>:<events removed>:<created_at>:<archive reference>".
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import hmac
import json
import sys
from collections.abc import Iterator
from typing import Any

GENESIS = "0" * 64
FORMAT_NAME = "civic-desk-audit-export"
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
# CSV: the columns in the file's order; which are whole numbers (empty = null) and which may be null text.
CSV_COLUMNS = (
    "record_type",
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
    "hash",
)
CSV_INTEGERS = {"sequence", "organisation_id", "department_id", "actor_id"}
CSV_NULLABLE_TEXT = {"ip"}


class Problem(Exception):
    """The file does not verify: the first thing wrong, with where."""


class Unreadable(Exception):
    """The file is not an audit export this script understands."""


def canonical(fields: dict[str, Any]) -> bytes:
    data = {name: fields.get(name) for name in HASHED_FIELDS}
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def event_hash(fields: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(fields)).hexdigest()


def checkpoint_signature(key: bytes, organisation_id: Any, sequence: int, head_hash: str, created_at: str) -> str:
    org = "" if organisation_id is None else str(organisation_id)
    return hmac.new(key, f"{org}:{sequence}:{head_hash}:{created_at}".encode(), hashlib.sha256).hexdigest()


def anchor_signature(key: bytes, organisation_id: Any, anchor: dict[str, Any]) -> str:
    message = (
        f"anchor:{organisation_id}:{anchor['up_to_sequence']}:{anchor['anchor_hash']}:{anchor['events_removed']}:"
        f"{anchor['created_at']}:{anchor['archive_reference']}"
    )
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


# ------------------------------------------------------------------------------------------ reading
def read_jsonl(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                raise Problem(f"line {number}: empty line (an export has none)")
            try:
                record = json.loads(line)
            except ValueError as exc:
                if number == 1:
                    raise Unreadable("the first line is not JSON") from None
                raise Problem(f"line {number}: not JSON ({exc})") from None
            if not isinstance(record, dict):
                raise Problem(f"line {number}: not a JSON object")
            yield number, record


def _csv_text(value: str) -> str:
    # The export puts an apostrophe before a cell a spreadsheet would run as a formula (and before one
    # that starts with an apostrophe): remove exactly one.
    return value[1:] if value.startswith("'") else value


def read_csv(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        columns = next(reader, None)
        if columns is None or tuple(columns) != CSV_COLUMNS:
            raise Unreadable("the first row is not the export's column names")
        for row in reader:
            number = reader.line_num
            if not row:
                continue
            kind = row[0]
            if kind in ("header", "trailer"):
                try:
                    record = json.loads(_csv_text(row[1]))
                except (IndexError, ValueError):
                    raise Problem(f"line {number}: the {kind} row does not carry its JSON object") from None
                if not isinstance(record, dict):
                    raise Problem(f"line {number}: the {kind} row does not carry a JSON object")
                yield number, record
                continue
            if kind != "event" or len(row) != len(CSV_COLUMNS):
                raise Problem(f"line {number}: not an export row (record_type {kind!r}, {len(row)} cells)")
            record: dict[str, Any] = {"type": "event"}
            for name, cell in zip(CSV_COLUMNS[1:], row[1:], strict=True):
                if name in CSV_INTEGERS:
                    try:
                        record[name] = int(cell) if cell != "" else None
                    except ValueError:
                        raise Problem(f"line {number}: {name} {cell!r} is not a whole number") from None
                elif name in CSV_NULLABLE_TEXT and cell == "":
                    record[name] = None
                elif name == "changes":
                    try:
                        record[name] = json.loads(_csv_text(cell))
                    except ValueError:
                        raise Problem(f"line {number}: changes is not JSON") from None
                else:
                    record[name] = _csv_text(cell)
            yield number, record


def is_csv(path: str) -> bool:
    with open(path, "rb") as handle:
        start = handle.read(64)
    return start.removeprefix(b"\xef\xbb\xbf").startswith(b"record_type,")


# ----------------------------------------------------------------------------------------- verifying
def last_line(path: str) -> str:
    """The file's last non-empty line, read from the end (the trailer), so one pass over the events suffices."""
    with open(path, "rb") as handle:
        handle.seek(0, 2)
        end = handle.tell()
        block, data = 8192, b""
        while end > 0:
            start = max(0, end - block)
            handle.seek(start)
            data = handle.read(end - start) + data
            end = start
            lines = data.rstrip(b"\r\n").split(b"\n")
            if len(lines) > 1 or end == 0:
                return lines[-1].rstrip(b"\r").decode("utf-8")
    return ""


def peek_trailer(path: str, csv_mode: bool) -> dict[str, Any]:
    line = last_line(path)
    try:
        if csv_mode:
            row = next(csv.reader([line]))
            if row[:1] != ["trailer"] or len(row) < 2:
                raise ValueError("not a trailer row")
            trailer = json.loads(_csv_text(row[1]))
        else:
            trailer = json.loads(line)
    except (ValueError, IndexError, StopIteration):
        trailer = None
    if not isinstance(trailer, dict) or trailer.get("type") != "trailer":
        raise Problem("the trailer is missing from the end of the file: the file was cut short or edited")
    return trailer


class Summary:
    def __init__(self) -> None:
        self.header: dict[str, Any] = {}
        self.trailer: dict[str, Any] = {}
        self.count = 0
        self.links = 0
        self.first: int | None = None
        self.last: int | None = None
        self.gaps = 0
        self.notes: list[str] = []


def _head_and_checkpoint(trailer: dict[str, Any]) -> tuple[int, str, dict[str, Any] | None]:
    head = trailer.get("chain_head")
    if not isinstance(head, dict):
        raise Problem("trailer: the chain head is missing")
    head_sequence, head_hash = head.get("sequence"), head.get("hash")
    if not isinstance(head_sequence, int) or isinstance(head_sequence, bool) or not isinstance(head_hash, str):
        raise Problem("trailer: the chain head is missing")
    checkpoint = trailer.get("checkpoint")
    if checkpoint is None:
        return head_sequence, head_hash, None
    if not isinstance(checkpoint, dict) or not {"sequence", "head_hash", "signature", "created_at"} <= checkpoint.keys():
        raise Problem("trailer: the checkpoint lacks sequence, head_hash, signature or created_at")
    cp_sequence = checkpoint["sequence"]
    if not isinstance(cp_sequence, int) or isinstance(cp_sequence, bool) or not 0 < cp_sequence <= head_sequence:
        raise Problem(f"trailer: checkpoint sequence {cp_sequence!r} is not within the chain (head {head_sequence})")
    if cp_sequence == head_sequence and checkpoint["head_hash"] != head_hash:
        raise Problem("trailer: the checkpoint and the chain head disagree about the same sequence")
    return head_sequence, head_hash, checkpoint


ANCHOR_FIELDS = {"up_to_sequence", "anchor_hash", "events_removed", "archive_reference", "created_at", "signature"}


def _anchor(header: dict[str, Any]) -> dict[str, Any] | None:
    anchor = header.get("anchor")
    if anchor is None:
        return None
    if not isinstance(anchor, dict) or not ANCHOR_FIELDS <= anchor.keys():
        raise Problem("header: the anchor lacks " + ", ".join(sorted(ANCHOR_FIELDS)))
    up_to = anchor["up_to_sequence"]
    if not isinstance(up_to, int) or isinstance(up_to, bool) or up_to < 1 or not isinstance(anchor["anchor_hash"], str):
        raise Problem(f"header: anchor sequence {up_to!r} is not a positive whole number")
    return anchor


def verify(records: Iterator[tuple[int, dict[str, Any]]], read_trailer: Any, key: bytes | None) -> Summary:
    summary = Summary()
    first = next(records, None)
    if first is None:
        raise Unreadable("the file is empty")
    number, header = first
    if header.get("type") != "header" or header.get("format") != FORMAT_NAME:
        raise Unreadable(f"line {number}: the first record is not a {FORMAT_NAME} header")
    summary.header = header
    organisation_id = (header.get("organisation") or {}).get("id")
    complete = header.get("complete") is True
    anchor = _anchor(header)
    # The chain starts after the anchor (events purged after their retention period), else at sequence 1.
    start = anchor["up_to_sequence"] + 1 if anchor else 1
    start_hash = anchor["anchor_hash"] if anchor else GENESIS
    trailer_hint = read_trailer()
    head_sequence, head_hash, checkpoint = _head_and_checkpoint(trailer_hint)
    if anchor is not None:
        if head_sequence < anchor["up_to_sequence"]:
            raise Problem("header: the anchor is beyond the chain head in the trailer")
        if checkpoint is not None and checkpoint["sequence"] <= anchor["up_to_sequence"]:
            raise Problem("trailer: the checkpoint is at or below the anchor: it signs purged events")
    # Sequence -> the hash the trailer says it has: checked when that event goes by.
    expected_hashes = {head_sequence: ("the chain head", head_hash)}
    if checkpoint is not None:
        expected_hashes.setdefault(checkpoint["sequence"], ("the signed checkpoint", checkpoint["head_hash"]))
    previous_sequence: int | None = None
    previous_hash = ""
    trailer: dict[str, Any] | None = None

    for number, record in records:
        if trailer is not None:
            raise Problem(f"line {number}: a record after the trailer")
        kind = record.get("type")
        if kind == "trailer":
            trailer = record
            continue
        if kind != "event":
            raise Problem(f"line {number}: unknown record type {kind!r}")
        missing = [name for name in (*HASHED_FIELDS, "hash") if name not in record]
        if missing:
            raise Problem(f"line {number}: the event lacks {', '.join(missing)}")
        sequence = record["sequence"]
        if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 1:
            raise Problem(f"line {number}: sequence {sequence!r} is not a positive whole number")
        where = f"line {number}, sequence {sequence}"
        if record["organisation_id"] != organisation_id:
            raise Problem(f"{where}: the event belongs to another organisation's chain")
        if event_hash(record) != record["hash"]:
            raise Problem(f"{where}: altered event: its contents do not match its hash")
        if sequence < start:
            raise Problem(f"{where}: at or below the anchor (sequence {start - 1}): those events were purged")
        if sequence == 1 and record["prev_hash"] != GENESIS:
            raise Problem(f"{where}: the first event's prev_hash is not the genesis value (64 zeros)")
        if anchor is not None and sequence == start and record["prev_hash"] != start_hash:
            raise Problem(f"{where}: broken link: prev_hash is not the anchor's hash (sequence {start - 1}, purged)")
        if sequence > head_sequence:
            raise Problem(f"{where}: beyond the chain head in the trailer (sequence {head_sequence})")
        if previous_sequence is None:
            if complete and sequence != start:
                after = f" (after the anchor at sequence {start - 1})" if anchor else ""
                raise Problem(f"{where}: missing events: a complete export starts at sequence {start}{after}")
        elif sequence <= previous_sequence:
            raise Problem(f"{where}: out of order or repeated (after sequence {previous_sequence})")
        elif sequence == previous_sequence + 1:
            if record["prev_hash"] != previous_hash:
                raise Problem(
                    f"{where}: broken link: prev_hash is not the hash of sequence {previous_sequence}"
                    " (an event was changed, inserted or removed)"
                )
            summary.links += 1
        elif complete:
            gap = previous_sequence + 1
            gap_text = f"{gap}" if sequence == gap + 1 else f"{gap} to {sequence - 1}"
            raise Problem(f"{where}: missing events: sequence {gap_text} not in this complete export")
        else:
            summary.gaps += 1
        if sequence in expected_hashes and expected_hashes[sequence][1] != record["hash"]:
            raise Problem(f"{where}: this event is not the one {expected_hashes[sequence][0]} names")
        if summary.first is None:
            summary.first = sequence
        summary.last = previous_sequence = sequence
        previous_hash = record["hash"]
        summary.count += 1

    if trailer is None or trailer != trailer_hint:
        raise Problem("the trailer is missing: the file was cut short")
    summary.trailer = trailer
    if trailer.get("count") != summary.count:
        raise Problem(
            f"trailer: it counts {trailer.get('count')} events, the file holds {summary.count} (events removed or added)"
        )
    if complete and (summary.last or start - 1) != head_sequence:
        raise Problem(
            f"trailer: a complete export ends at the chain head, sequence {head_sequence}; the file ends at"
            f" {summary.last} (newest events removed)"
        )
    if anchor is not None:
        if key is None:
            summary.notes.append("anchor signature NOT checked: give --key to check it")
        elif not hmac.compare_digest(anchor_signature(key, organisation_id, anchor), str(anchor["signature"])):
            raise Problem(
                f"anchor at sequence {anchor['up_to_sequence']}: the signature does not match this key"
                " (wrong key, or the anchor was forged)"
            )
        else:
            summary.notes.append(f"anchor signature checked: the chain starts after sequence {anchor['up_to_sequence']}")
    if checkpoint is None:
        summary.notes.append("no signed checkpoint yet: the newest events are not covered by a signature")
    elif key is None:
        summary.notes.append("checkpoint signature NOT checked: give --key to check it")
    else:
        expected = checkpoint_signature(
            key, organisation_id, checkpoint["sequence"], checkpoint["head_hash"], str(checkpoint["created_at"])
        )
        if not hmac.compare_digest(expected, str(checkpoint["signature"])):
            raise Problem(
                f"checkpoint at sequence {checkpoint['sequence']}: the signature does not match this key"
                " (wrong key, or the checkpoint was forged)"
            )
        summary.notes.append(
            f"checkpoint signature checked: sequence {checkpoint['sequence']} signed at {checkpoint['created_at']}"
        )
    return summary


# ------------------------------------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify a Civic Desk audit export (CSV or JSON Lines) offline.")
    parser.add_argument("file", help="the exported .jsonl or .csv file")
    parser.add_argument("--key", help="AUDIT_CHECKPOINT_KEY, as set on the server, to check the checkpoint signature")
    args = parser.parse_args(argv)
    key = args.key.encode() if args.key else None
    try:
        csv_mode = is_csv(args.file)
        records = read_csv(args.file) if csv_mode else read_jsonl(args.file)
        summary = verify(records, lambda: peek_trailer(args.file, csv_mode), key)
    except OSError as exc:
        print(f"Cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except UnicodeDecodeError:
        print(f"Cannot read {args.file}: not UTF-8 text", file=sys.stderr)
        return 2
    except Unreadable as exc:
        print(f"Not an audit export: {exc}", file=sys.stderr)
        return 2
    except Problem as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    header, trailer = summary.header, summary.trailer
    organisation = header.get("organisation") or {}
    head = trailer.get("chain_head") or {}
    print(f"Organisation: {organisation.get('name')} ({organisation.get('slug')}, id {organisation.get('id')})")
    print(f"Exported: {header.get('exported_at')} by {header.get('exported_by')}")
    print(f"Filters: {json.dumps(header.get('filters') or {}, ensure_ascii=False)}")
    if header.get("departments") is not None:
        print(f"Limited to departments: {header.get('departments')}")
    print(f"Chain head: sequence {head.get('sequence')}, hash {head.get('hash')}")
    anchor = header.get("anchor")
    if anchor:
        print(
            f"Anchor: events up to sequence {anchor['up_to_sequence']} were purged on {anchor['created_at']}"
            f" ({anchor['events_removed']} events, archive {anchor['archive_reference']})"
        )
    span = f"sequences {summary.first} to {summary.last}" if summary.count else "no events"
    print(f"Events: {summary.count} ({span}); every hash recomputed; {summary.links} links checked")
    if header.get("complete") is True:
        start = f"the anchor (sequence {anchor['up_to_sequence']})" if anchor else "sequence 1"
        print(f"Complete export: the whole chain from {start} to the head is present and unbroken.")
    else:
        print(
            f"Filtered export: {summary.gaps} gaps left by the filters; each event's own hash and every link"
            " between consecutive events verified. Events outside the filters are not in this file."
        )
    for note in summary.notes:
        print(f"Note: {note}")
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())

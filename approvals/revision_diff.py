"""What changed between two revisions of a post, field by field, as runs of kept, added and removed text.

Text is compared word by word (difflib over words, spaces and punctuation), lists such as channels and images
line by line. The template marks runs with <ins>/<del> and words a screen reader hears ("added", "removed"),
so the difference never rests on colour alone.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from approvals.models import PostMedia, PostRevision
from channels_app.models import Channel, Platform

# Past this many words a field is compared line by line: difflib is quadratic at worst.
WORD_DIFF_LIMIT = 4000
_TOKENS = re.compile(r"\s+|\w+|[^\w\s]", re.UNICODE)


@dataclass
class Run:
    kind: str  # "same", "added" or "removed"
    text: str


@dataclass
class FieldDiff:
    label: str
    runs: list[Run] = field(default_factory=list)
    changed: bool = False
    # Line-level fields (lists) render each line on its own.
    by_line: bool = False


def _merge(runs: list[Run]) -> list[Run]:
    merged: list[Run] = []
    for run in runs:
        if not run.text:
            continue
        if merged and merged[-1].kind == run.kind:
            merged[-1].text += run.text
        else:
            merged.append(Run(run.kind, run.text))
    return merged


def diff_text(before: str, after: str, *, by_line: bool = False) -> list[Run]:
    a, b = _TOKENS.findall(before), _TOKENS.findall(after)
    lines = by_line or len(a) > WORD_DIFF_LIMIT or len(b) > WORD_DIFF_LIMIT
    if lines:
        # Every line ends with a newline here, so a last line and the same line followed by more compare equal.
        a = [line + "\n" for line in before.splitlines()]
        b = [line + "\n" for line in after.splitlines()]
    runs: list[Run] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            runs.append(Run("same", "".join(a[i1:i2])))
            continue
        if op in ("delete", "replace"):
            runs.append(Run("removed", "".join(a[i1:i2])))
        if op in ("insert", "replace"):
            runs.append(Run("added", "".join(b[j1:j2])))
    runs = _merge(runs)
    if lines and runs and runs[-1].text.endswith("\n"):
        runs[-1].text = runs[-1].text[:-1]
    return runs


def _channel_lines(revision: PostRevision, names: dict[int, str]) -> str:
    return "\n".join(names.get(pk, f"Channel {pk} (removed)") for pk in revision.channel_ids or [])


def _media_lines(revision: PostRevision, files: dict[int, str]) -> str:
    lines = []
    for n, item in enumerate(revision.media or [], start=1):
        alt = (item.get("alt_text") or "").strip() or "(no alt text)"
        lines.append(f"Image {n}: {files.get(item.get('id'), 'image')} – alt text: {alt}")
    return "\n".join(lines)


def _variant_label(key: str, names: dict[int, str]) -> str:
    if key.startswith("channel:"):
        tail = key.split(":", 1)[1]
        name = names.get(int(tail)) if tail.isascii() and tail.isdigit() else None
        return f"Text for {name or 'a removed channel'} only"
    return f"Text for {Platform(key).label if key in Platform.values else key}"


def compare(before: PostRevision, after: PostRevision) -> list[FieldDiff]:
    """Every field of the two revisions, each with its runs; `changed` says whether it differs."""
    channel_ids = {*(before.channel_ids or []), *(after.channel_ids or [])}
    names = {c.pk: str(c) for c in Channel.objects.for_organisation(after.organisation_id).filter(pk__in=channel_ids)}
    media_ids = {item.get("id") for item in [*(before.media or []), *(after.media or [])]}
    files = dict(PostMedia.objects.filter(post_id=after.post_id, pk__in=media_ids).values_list("pk", "filename"))
    files = {pk: name or f"image {pk}" for pk, name in files.items()}
    pairs: list[tuple[str, str, str, bool]] = [
        ("Internal title", before.title, after.title, False),
        ("Text", before.body, after.body, False),
        ("Link", before.link, after.link, False),
        ("Channels", _channel_lines(before, names), _channel_lines(after, names), True),
    ]
    keys = sorted({*(before.variants or {}), *(after.variants or {})}, key=lambda k: (k.startswith("channel:"), k))
    for key in keys:
        pairs.append((_variant_label(key, names), (before.variants or {}).get(key, ""),
                      (after.variants or {}).get(key, ""), False))
    pairs.append(("Images and alt text", _media_lines(before, files), _media_lines(after, files), True))
    pairs.append(("Internal notes", before.notes, after.notes, False))
    diffs = []
    for label, a, b, by_line in pairs:
        runs = diff_text(a or "", b or "", by_line=by_line)
        diffs.append(FieldDiff(label=label, runs=runs, changed=(a or "") != (b or ""), by_line=by_line))
    return diffs

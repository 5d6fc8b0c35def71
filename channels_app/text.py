"""Text rules per platform: how long a post is as each platform counts it, whether it may be sent, and, for
Bluesky, the rich-text facets the post must carry.

One entry point, `validate_text(platform, text, ...)`, over one small function per platform. Everything here is
a pure function (no database, no network), so the composer's counter, the API and the connectors all ask the
same question and get the same answer.

- X: weighted length exactly as twitter-text counts it (the `twitter-text-parser` package, current config:
  every URL 23, CJK and emoji 2, an emoji sequence counts once, limit 280).
- Mastodon: the instance's limit (500 by default) in grapheme clusters, after the server's own rewrite: every
  http(s) URL counts `characters_reserved_per_url` (23) and a remote mention @user@domain counts as "@user"
  (Mastodon's StatusLengthValidator).
- Bluesky: 300 grapheme clusters and 3,000 UTF-8 bytes (app.bsky.feed.post lexicon), plus link, mention and
  tag facets at UTF-8 byte offsets, detected as the reference client does (@atproto/api `detectFacets`).
- Instagram: captions up to 2,200 characters, 30 hashtags and 20 @-tags; a post needs an image.
- Facebook: 63,206 characters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

import regex
from twitter_text import extract_urls_with_indices, parse_tweet
from twitter_text.config import config as twitter_text_config
from twitter_text.regexp.latin_accent_chars import latin_accent_chars
from twitter_text.regexp.valid_cctld import valid_cctld
from twitter_text.regexp.valid_gtld import valid_gtld

X = "x"
MASTODON = "mastodon"
BLUESKY = "bluesky"
INSTAGRAM = "instagram"
FACEBOOK = "facebook"

X_MAX_WEIGHTED_LENGTH: int = twitter_text_config["defaults"]["max_weighted_tweet_length"]
MASTODON_MAX_CHARACTERS = 500
MASTODON_CHARACTERS_PER_URL = 23
BLUESKY_MAX_GRAPHEMES = 300
BLUESKY_MAX_BYTES = 3000
BLUESKY_MAX_TAG_LENGTH = 64
INSTAGRAM_MAX_CHARACTERS = 2200
INSTAGRAM_MAX_HASHTAGS = 30
INSTAGRAM_MAX_MENTIONS = 20
FACEBOOK_MAX_CHARACTERS = 63206

FACET_LINK = "app.bsky.richtext.facet#link"
FACET_MENTION = "app.bsky.richtext.facet#mention"
FACET_TAG = "app.bsky.richtext.facet#tag"


@dataclass(frozen=True)
class TextCheck:
    """The verdict on one text for one platform. `length` is counted the platform's way, against `limit`."""

    platform: str
    length: int
    limit: int
    valid: bool
    errors: list[str] = field(default_factory=list)
    # Bluesky only: app.bsky.richtext.facet objects, ordered by byteStart. Mention facets carry the handle and
    # did=None: the connector resolves the handle to a DID before publishing.
    facets: list[dict[str, Any]] = field(default_factory=list)

    @property
    def remaining(self) -> int:
        return self.limit - self.length


def validate_text(
    platform: str, text: str, *, has_image: bool = False, limits: Mapping[str, Any] | None = None
) -> TextCheck:
    """Check `text` against `platform`'s rules.

    `limits` overrides the defaults where a platform says its own: `max_characters` (any platform; for Mastodon
    the instance's configuration.statuses.max_characters) and `characters_reserved_per_url` (Mastodon). Other
    keys are ignored, so a Mastodon instance's `configuration["statuses"]` can be passed as it is.
    """
    try:
        check = _CHECKS[platform]
    except KeyError:
        raise ValueError(f"Unknown platform {platform!r}; expected one of {', '.join(_CHECKS)}.") from None
    return check(text, has_image=has_image, limits=limits or {})


def grapheme_count(text: str) -> int:
    """User-perceived characters (extended grapheme clusters): a family emoji, a flag or "é" each count one."""
    return len(_GRAPHEME.findall(text))


# --- X ----------------------------------------------------------------------------------------------------


def check_x(text: str, *, has_image: bool = False, limits: Mapping[str, Any]) -> TextCheck:
    limit = _max_characters(limits, X_MAX_WEIGHTED_LENGTH)
    options = {**twitter_text_config["defaults"], "max_weighted_tweet_length": limit}
    parsed = parse_tweet(text, options)
    errors = []
    if _is_blank(text) and not has_image:
        errors.append("Write something or add an image: an X post can't be empty.")
    elif parsed.weightedLength > limit:
        errors.append(
            f"This post is {parsed.weightedLength:,} characters as X counts them (every link counts as 23, "
            f"emoji and Chinese, Japanese or Korean characters as 2); X allows {limit:,}."
        )
    elif not parsed.valid and not _is_blank(text):
        errors.append("This post contains a character X does not accept (U+FFFE, U+FEFF or U+FFFF).")
    return _verdict(X, parsed.weightedLength, limit, errors)


# --- Mastodon ---------------------------------------------------------------------------------------------

# Mastodon's Account::MENTION_RE: @username, optionally @domain, not inside a word or a URL path.
_MASTODON_USERNAME = r"[a-z0-9_]+(?:[a-z0-9_.-]+[a-z0-9_]+)?"
_MASTODON_MENTION = regex.compile(
    rf"(?<![=/\w])@((?P<username>{_MASTODON_USERNAME})(?:@(?P<domain>[\w.-]+\w+))?)", regex.I
)
# twitter-text's end_mention_match: a mention followed by another @, a Latin accent or "://" is not one.
_MASTODON_NOT_A_MENTION_END = regex.compile(rf"[@＠{latin_accent_chars.pattern}]|://")
_MASTODON_MAX_DOMAIN_LENGTH = 253


def check_mastodon(text: str, *, has_image: bool = False, limits: Mapping[str, Any]) -> TextCheck:
    limit = _max_characters(limits, MASTODON_MAX_CHARACTERS)
    per_url = _positive_int(limits, "characters_reserved_per_url", MASTODON_CHARACTERS_PER_URL)
    length = mastodon_length(text, characters_per_url=per_url)
    errors = []
    if _is_blank(text) and not has_image:
        errors.append("Write something or add an image: a Mastodon post can't be empty.")
    elif length > limit:
        errors.append(
            f"This post is {length:,} characters as Mastodon counts them (every link counts as {per_url}); "
            f"this server allows {limit:,}."
        )
    return _verdict(MASTODON, length, limit, errors)


def mastodon_length(text: str, *, characters_per_url: int = MASTODON_CHARACTERS_PER_URL) -> int:
    """Length as Mastodon's StatusLengthValidator counts it: URLs replaced by a fixed-width placeholder, remote
    mentions cut to their local part, then grapheme clusters counted."""
    if _is_blank(text):
        return 0
    entities = [(e["indices"][0], e["indices"][1], "x" * characters_per_url) for e in _mastodon_urls(text)]
    for match in _MASTODON_MENTION.finditer(text):
        domain = match.group("domain")
        if _MASTODON_NOT_A_MENTION_END.match(text, match.end()):
            continue
        if domain and len(domain) > _MASTODON_MAX_DOMAIN_LENGTH:
            continue
        entities.append((match.start(), match.end(), "@" + match.group("username")))
    countable = []
    position = 0
    for start, end, replacement in _without_overlaps(entities):
        countable.append(text[position:start])
        countable.append(replacement)
        position = end
    countable.append(text[position:])
    return grapheme_count("".join(countable))


def _mastodon_urls(text: str) -> list[dict[str, Any]]:
    # Mastodon extracts URLs with twitter-text, only those written with their protocol.
    return extract_urls_with_indices(text, extract_urls_without_protocol=False)


def _without_overlaps(entities: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    # twitter-text's remove_overlapping_entities: by start, an entity overlapping the one kept before it is dropped.
    kept: list[tuple[int, int, str]] = []
    for entity in sorted(entities, key=lambda e: e[0]):
        if kept and kept[-1][1] > entity[0]:
            continue
        kept.append(entity)
    return kept


# --- Bluesky ----------------------------------------------------------------------------------------------

# The patterns of @atproto/api's rich-text detection. JavaScript's \b and \d are ASCII-only; spelled out here.
_ASCII_WORD_BOUNDARY = r"(?:(?<=[A-Za-z0-9_])(?![A-Za-z0-9_])|(?<![A-Za-z0-9_])(?=[A-Za-z0-9_]))"
_BSKY_MENTION = regex.compile(rf"(?:^|\s|\()@([a-zA-Z0-9.-]+){_ASCII_WORD_BOUNDARY}")
_BSKY_LINK = regex.compile(
    r"(?:^|\s|\()((https?://\S+)|(?P<domain>[a-z][a-z0-9]*(?:\.[a-z0-9]+)+)\S*)", regex.I | regex.M
)
_BSKY_TAG_STOP = r"\s\u00AD\u2060\u200A\u200B\u200C\u200D\u20e2"
_BSKY_TAG = regex.compile(
    rf"(^|\s)[#＃]((?!\ufe0f)[^{_BSKY_TAG_STOP}]*[^0-9\p{{P}}{_BSKY_TAG_STOP}]+[^{_BSKY_TAG_STOP}]*)?"
)
_TRAILING_PUNCTUATION = regex.compile(r"\p{P}+$")


def check_bluesky(text: str, *, has_image: bool = False, limits: Mapping[str, Any]) -> TextCheck:
    limit = _max_characters(limits, BLUESKY_MAX_GRAPHEMES)
    length = grapheme_count(text)
    size = len(_utf8(text))
    errors = []
    if _is_blank(text) and not has_image:
        errors.append("Write something or add an image: a Bluesky post can't be empty.")
    elif length > limit:
        errors.append(f"This post is {length:,} characters long; Bluesky allows {limit:,}.")
    if size > BLUESKY_MAX_BYTES:
        errors.append(
            f"This post is too large for Bluesky: its text takes {size:,} bytes and Bluesky allows "
            f"{BLUESKY_MAX_BYTES:,} (emoji and non-Latin characters take several bytes each)."
        )
    return _verdict(BLUESKY, length, limit, errors, bluesky_facets(text))


def bluesky_facets(text: str) -> list[dict[str, Any]]:
    """Links, @handle mentions and #tags as app.bsky.richtext.facet objects at UTF-8 byte offsets."""
    # offsets[i] is the UTF-8 byte offset of code point i; the facet lexicon counts bytes, Python counts points.
    offsets = [0, *accumulate(len(_utf8(char)) for char in text)]
    facets = []

    def add(start: int, end: int, feature: dict[str, Any]) -> None:
        facets.append({"index": {"byteStart": offsets[start], "byteEnd": offsets[end]}, "features": [feature]})

    for match in _BSKY_MENTION.finditer(text):
        handle = match.group(1)
        if _has_known_tld(handle) or handle.endswith(".test"):
            add(match.start(1) - 1, match.end(1), {"$type": FACET_MENTION, "did": None, "handle": handle})

    for match in _BSKY_LINK.finditer(text):
        uri, start, end = match.group(1), match.start(1), match.end(1)
        if not uri.startswith("http"):
            domain = match.group("domain")
            if not domain or not _has_known_tld(domain):
                continue
            uri = f"https://{uri}"
        # Trailing punctuation ends the sentence, not the link; so does a ")" the link did not open.
        if uri[-1] in ".,;:!?":
            uri, end = uri[:-1], end - 1
        if uri.endswith(")") and "(" not in uri:
            uri, end = uri[:-1], end - 1
        add(start, end, {"$type": FACET_LINK, "uri": uri})

    for match in _BSKY_TAG.finditer(text):
        tag = match.group(2)
        if not tag:
            continue
        tag = _TRAILING_PUNCTUATION.sub("", tag.strip())
        # The reference client limits the tag in UTF-16 code units.
        if not tag or len(tag.encode("utf-16-le", "surrogatepass")) // 2 > BLUESKY_MAX_TAG_LENGTH:
            continue
        start = match.end(1)
        add(start, start + 1 + len(tag), {"$type": FACET_TAG, "tag": tag})

    facets.sort(key=lambda facet: facet["index"]["byteStart"])
    return facets


def _has_known_tld(name: str) -> bool:
    tld = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return bool(tld) and bool(valid_gtld.fullmatch(tld) or valid_cctld.fullmatch(tld))


# --- Instagram and Facebook -------------------------------------------------------------------------------

_INSTAGRAM_HASHTAG = regex.compile(r"(?<![\w&#＃])[#＃]\w+")
_INSTAGRAM_MENTION = regex.compile(r"(?<![\w@])@[\w.]+")


def check_instagram(text: str, *, has_image: bool = False, limits: Mapping[str, Any]) -> TextCheck:
    limit = _max_characters(limits, INSTAGRAM_MAX_CHARACTERS)
    length = len(text)
    errors = []
    if not has_image:
        errors.append("Instagram posts need an image.")
    if length > limit:
        errors.append(f"This caption is {length:,} characters long; Instagram allows {limit:,}.")
    hashtags = len(_INSTAGRAM_HASHTAG.findall(text))
    if hashtags > INSTAGRAM_MAX_HASHTAGS:
        errors.append(f"This caption has {hashtags} hashtags; Instagram allows {INSTAGRAM_MAX_HASHTAGS}.")
    mentions = len(_INSTAGRAM_MENTION.findall(text))
    if mentions > INSTAGRAM_MAX_MENTIONS:
        errors.append(f"This caption tags {mentions} accounts; Instagram allows {INSTAGRAM_MAX_MENTIONS}.")
    return _verdict(INSTAGRAM, length, limit, errors)


def check_facebook(text: str, *, has_image: bool = False, limits: Mapping[str, Any]) -> TextCheck:
    limit = _max_characters(limits, FACEBOOK_MAX_CHARACTERS)
    length = len(text)
    errors = []
    if _is_blank(text) and not has_image:
        errors.append("Write something or add an image: a Facebook post can't be empty.")
    elif length > limit:
        errors.append(f"This post is {length:,} characters long; Facebook allows {limit:,}.")
    return _verdict(FACEBOOK, length, limit, errors)


# --- shared -----------------------------------------------------------------------------------------------

_GRAPHEME = regex.compile(r"\X")

_CHECKS: dict[str, Callable[..., TextCheck]] = {
    X: check_x,
    MASTODON: check_mastodon,
    BLUESKY: check_bluesky,
    INSTAGRAM: check_instagram,
    FACEBOOK: check_facebook,
}
PLATFORMS = tuple(_CHECKS)


def _verdict(
    platform: str, length: int, limit: int, errors: list[str], facets: list[dict[str, Any]] | None = None
) -> TextCheck:
    return TextCheck(platform, length, limit, not errors, errors, facets or [])


def _is_blank(text: str) -> bool:
    return not text.strip()


def _utf8(text: str) -> bytes:
    # surrogatepass: a lone surrogate (possible in text decoded from JSON) must not crash the counter.
    return text.encode("utf-8", "surrogatepass")


def _max_characters(limits: Mapping[str, Any], default: int) -> int:
    return _positive_int(limits, "max_characters", default)


def _positive_int(limits: Mapping[str, Any], key: str, default: int) -> int:
    value = limits.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"limits[{key!r}] must be a positive whole number, not {value!r}.")
    return value

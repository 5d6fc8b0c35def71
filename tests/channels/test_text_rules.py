"""Text rules per platform: lengths as each platform counts them, the limits at their boundaries, and Bluesky's
facets at UTF-8 byte offsets. Pure functions: no database."""

from __future__ import annotations

import dataclasses

import pytest

from channels_app.text import PLATFORMS, TextCheck, bluesky_facets, grapheme_count, validate_text

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # man, woman, girl, boy joined by ZWJ
FLAG_FR = "\U0001f1eb\U0001f1f7"
FLAG_SCOTLAND = "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"
THUMBS_UP_MEDIUM = "\U0001f44d\U0001f3fd"
CAFE_COMPOSED = "caf\u00e9"
CAFE_DECOMPOSED = "cafe\u0301"
LONG_URL = "https://www.example.gov.uk/services/parking/permits/residents/apply?ref=newsletter&utm_source=council"


def facet_text(text: str, facet: dict) -> str:
    index = facet["index"]
    return text.encode("utf-8")[index["byteStart"] : index["byteEnd"]].decode("utf-8")


# --- every platform ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("platform", ["x", "mastodon", "bluesky", "facebook"])
@pytest.mark.parametrize("text", ["", "   \n\t"])
def test_empty_text_is_invalid_without_an_image_and_valid_with_one(platform, text):
    check = validate_text(platform, text)
    article_and_name = {"x": "an X", "mastodon": "a Mastodon", "bluesky": "a Bluesky", "facebook": "a Facebook"}
    assert not check.valid
    assert check.errors == [f"Write something or add an image: {article_and_name[platform]} post can't be empty."]
    # The platforms accept a post that is only an image.
    assert validate_text(platform, text, has_image=True).valid


def test_every_platform_has_a_rule():
    assert set(PLATFORMS) == {"x", "mastodon", "bluesky", "instagram", "facebook"}
    for platform in PLATFORMS:
        check = validate_text(platform, "Bin collections move to Tuesday this week.", has_image=True)
        assert check == TextCheck(platform, 42, check.limit, True, [], [])


def test_unknown_platform_is_refused():
    with pytest.raises(ValueError, match="Unknown platform 'myspace'"):
        validate_text("myspace", "hello")


@pytest.mark.parametrize("limits", [{"max_characters": 0}, {"max_characters": "500"}, {"max_characters": True}])
def test_nonsense_limits_are_refused(limits):
    with pytest.raises(ValueError, match="max_characters"):
        validate_text("mastodon", "hello", limits=limits)


def test_a_check_is_frozen_and_says_what_is_left():
    check = validate_text("x", "hello")
    assert check.remaining == 275
    with pytest.raises(dataclasses.FrozenInstanceError):
        check.valid = False


# --- X ----------------------------------------------------------------------------------------------------


def test_x_allows_exactly_280_characters():
    assert validate_text("x", "a" * 280).valid
    check = validate_text("x", "a" * 281)
    assert (check.length, check.limit, check.valid) == (281, 280, False)
    assert check.errors == [
        "This post is 281 characters as X counts them (every link counts as 23, emoji and Chinese, Japanese or "
        "Korean characters as 2); X allows 280."
    ]


def test_x_counts_every_url_as_23_whatever_its_length():
    assert validate_text("x", LONG_URL).length == 23
    assert validate_text("x", "Apply: http://t.co").length == 7 + 23
    text = "a" * 256 + " " + LONG_URL
    assert validate_text("x", text).length == 280
    assert validate_text("x", text).valid
    assert not validate_text("x", "a" + text).valid


def test_x_weighs_cjk_as_two_and_an_emoji_sequence_as_two():
    assert validate_text("x", "市" * 140).length == 280
    assert validate_text("x", "市" * 140).valid
    assert not validate_text("x", "市" * 141).valid
    assert validate_text("x", FAMILY).length == 2
    assert validate_text("x", FLAG_FR).length == 2
    assert validate_text("x", CAFE_COMPOSED).length == 4


def test_x_refuses_characters_twitter_text_calls_invalid():
    check = validate_text("x", "hello \ufffe")
    assert not check.valid
    assert check.errors == ["This post contains a character X does not accept (U+FFFE, U+FEFF or U+FFFF)."]


def test_x_limit_can_be_raised_for_long_posts():
    check = validate_text("x", "a" * 1000, limits={"max_characters": 25_000})
    assert (check.length, check.limit, check.valid) == (1000, 25_000, True)


# --- Mastodon ---------------------------------------------------------------------------------------------


def test_mastodon_allows_exactly_500_characters_by_default():
    assert validate_text("mastodon", "a" * 500).valid
    check = validate_text("mastodon", "a" * 501)
    assert (check.length, check.limit, check.valid) == (501, 500, False)
    assert check.errors == [
        "This post is 501 characters as Mastodon counts them (every link counts as 23); this server allows 500."
    ]


def test_mastodon_counts_every_http_url_as_23():
    assert validate_text("mastodon", LONG_URL).length == 23
    assert validate_text("mastodon", "see http://a.co").length == 4 + 23
    text = "a" * 476 + " " + LONG_URL
    assert validate_text("mastodon", text).length == 500
    assert validate_text("mastodon", text).valid
    assert not validate_text("mastodon", "a" + text).valid


def test_mastodon_counts_a_url_without_protocol_as_written():
    assert validate_text("mastodon", "www.example.gov.uk/parking").length == len("www.example.gov.uk/parking")


def test_mastodon_counts_a_remote_mention_as_its_local_part():
    assert validate_text("mastodon", "@alice@mastodon.social").length == len("@alice")
    assert validate_text("mastodon", "Thanks @alice@mastodon.social!").length == len("Thanks @alice!")
    assert validate_text("mastodon", "@alice").length == len("@alice")
    # An e-mail address is not a mention.
    assert validate_text("mastodon", "mail bob@example.com").length == len("mail bob@example.com")


def test_mastodon_counts_graphemes():
    assert validate_text("mastodon", FAMILY + FLAG_FR + CAFE_DECOMPOSED).length == 1 + 1 + 4
    assert validate_text("mastodon", FAMILY * 500).valid
    assert not validate_text("mastodon", FAMILY * 501).valid


def test_mastodon_uses_the_instance_limit_and_url_reservation():
    limits = {"max_characters": 1000, "characters_reserved_per_url": 23, "max_media_attachments": 4}
    assert validate_text("mastodon", "a" * 1000, limits=limits).valid
    check = validate_text("mastodon", "a" * 1001, limits=limits)
    assert (check.length, check.limit, check.valid) == (1001, 1000, False)
    assert check.errors[0].endswith("this server allows 1,000.")
    assert validate_text("mastodon", LONG_URL, limits={"characters_reserved_per_url": 30}).length == 30


# --- Bluesky ----------------------------------------------------------------------------------------------


def test_bluesky_allows_exactly_300_graphemes():
    assert validate_text("bluesky", "a" * 300).valid
    check = validate_text("bluesky", "a" * 301)
    assert (check.length, check.limit, check.valid) == (301, 300, False)
    assert check.errors == ["This post is 301 characters long; Bluesky allows 300."]


@pytest.mark.parametrize(
    ("text", "graphemes"),
    [
        (FAMILY, 1),
        (FLAG_FR, 1),
        (FLAG_FR + FLAG_FR, 2),
        (FLAG_SCOTLAND, 1),
        (THUMBS_UP_MEDIUM, 1),
        (CAFE_COMPOSED, 4),
        (CAFE_DECOMPOSED, 4),
        ("1\ufe0f\u20e3", 1),
        ("Ελλάδα", 6),
    ],
)
def test_bluesky_counts_grapheme_clusters(text, graphemes):
    assert grapheme_count(text) == graphemes
    assert validate_text("bluesky", text).length == graphemes


def test_bluesky_counts_combined_emoji_once_at_the_boundary():
    assert validate_text("bluesky", FLAG_FR * 300).valid
    assert not validate_text("bluesky", FLAG_FR * 301).valid
    assert validate_text("bluesky", "e\u0301" * 300).valid
    assert not validate_text("bluesky", "e\u0301" * 301).valid


def test_bluesky_refuses_text_over_3000_bytes_even_within_300_graphemes():
    check = validate_text("bluesky", FAMILY * 150)
    assert check.length == 150
    assert not check.valid
    assert check.errors == [
        "This post is too large for Bluesky: its text takes 3,750 bytes and Bluesky allows 3,000 "
        "(emoji and non-Latin characters take several bytes each)."
    ]


def test_bluesky_facets_sit_at_utf8_byte_offsets():
    text = f"{CAFE_COMPOSED} \U0001f44b https://example.com/a. @alice.bsky.social #Civic"
    check = validate_text("bluesky", text)
    assert check.valid
    assert check.facets == [
        {
            "index": {"byteStart": 11, "byteEnd": 32},
            "features": [{"$type": "app.bsky.richtext.facet#link", "uri": "https://example.com/a"}],
        },
        {
            "index": {"byteStart": 34, "byteEnd": 52},
            "features": [{"$type": "app.bsky.richtext.facet#mention", "did": None, "handle": "alice.bsky.social"}],
        },
        {
            "index": {"byteStart": 53, "byteEnd": 59},
            "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "Civic"}],
        },
    ]
    # The character offset of the link (7) is not its byte offset (11).
    assert text.index("https") == 7
    assert [facet_text(text, facet) for facet in check.facets] == [
        "https://example.com/a",
        "@alice.bsky.social",
        "#Civic",
    ]


def test_bluesky_facets_after_decomposed_accents_and_family_emoji():
    text = f"{CAFE_DECOMPOSED} {FAMILY} {LONG_URL}"
    [facet] = bluesky_facets(text)
    assert facet["index"] == {"byteStart": 6 + 1 + 25 + 1, "byteEnd": 6 + 1 + 25 + 1 + len(LONG_URL)}
    assert facet_text(text, facet) == LONG_URL


def test_bluesky_links_drop_trailing_punctuation_and_an_unopened_parenthesis():
    text = "Details (example.com/bins) and https://example.org/a_(b) and https://example.net!"
    assert [facet["features"][0]["uri"] for facet in bluesky_facets(text)] == [
        "https://example.com/bins",
        "https://example.org/a_(b)",
        "https://example.net",
    ]
    assert [facet_text(text, facet) for facet in bluesky_facets(text)] == [
        "example.com/bins",
        "https://example.org/a_(b)",
        "https://example.net",
    ]


def test_bluesky_mentions_need_a_handle_with_a_real_domain():
    text = "@everyone @bob.test @carol.example.com mail dave@example.com"
    facets = bluesky_facets(text)
    assert [facet["features"][0] for facet in facets] == [
        {"$type": "app.bsky.richtext.facet#mention", "did": None, "handle": "bob.test"},
        {"$type": "app.bsky.richtext.facet#mention", "did": None, "handle": "carol.example.com"},
    ]
    assert [facet_text(text, facet) for facet in facets] == ["@bob.test", "@carol.example.com"]


def test_bluesky_tags_skip_numbers_and_strip_punctuation():
    text = "#Bins, #2024 #Zürich! #\U0001f3d7\ufe0f #a" + "x" * 64
    facets = bluesky_facets(text)
    assert [facet["features"][0]["tag"] for facet in facets] == ["Bins", "Zürich", "\U0001f3d7\ufe0f"]
    assert [facet_text(text, facet) for facet in facets] == ["#Bins", "#Zürich", "#\U0001f3d7\ufe0f"]


def test_bluesky_text_without_links_mentions_or_tags_has_no_facets():
    assert validate_text("bluesky", "Library opens at 9.").facets == []
    assert validate_text("x", "#Civic https://example.com").facets == []


# --- Instagram --------------------------------------------------------------------------------------------


def test_instagram_needs_an_image():
    check = validate_text("instagram", "Our new library", has_image=False)
    assert not check.valid
    assert check.errors == ["Instagram posts need an image."]


def test_instagram_image_without_caption_is_fine():
    check = validate_text("instagram", "", has_image=True)
    assert (check.length, check.valid, check.errors) == (0, True, [])


def test_instagram_allows_a_caption_of_exactly_2200_characters():
    assert validate_text("instagram", "a" * 2200, has_image=True).valid
    check = validate_text("instagram", "a" * 2201, has_image=True)
    assert (check.length, check.limit, check.valid) == (2201, 2200, False)
    assert check.errors == ["This caption is 2,201 characters long; Instagram allows 2,200."]


def test_instagram_allows_30_hashtags_and_20_tagged_accounts():
    assert validate_text("instagram", " ".join(f"#tag{i}" for i in range(30)), has_image=True).valid
    check = validate_text("instagram", " ".join(f"#tag{i}" for i in range(31)), has_image=True)
    assert check.errors == ["This caption has 31 hashtags; Instagram allows 30."]
    assert validate_text("instagram", " ".join(f"@user{i}" for i in range(20)), has_image=True).valid
    check = validate_text("instagram", " ".join(f"@user{i}" for i in range(21)) + " info@example.com", has_image=True)
    assert check.errors == ["This caption tags 21 accounts; Instagram allows 20."]


# --- Facebook ---------------------------------------------------------------------------------------------


def test_facebook_allows_exactly_63206_characters():
    assert validate_text("facebook", "a" * 63_206).valid
    check = validate_text("facebook", "a" * 63_207)
    assert (check.length, check.limit, check.valid) == (63_207, 63_206, False)
    assert check.errors == ["This post is 63,207 characters long; Facebook allows 63,206."]

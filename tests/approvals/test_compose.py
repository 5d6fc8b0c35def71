"""The composer through its views: create and edit, scope, images, the organisation's time zone, the live checks,
autosave, edits after submission, the revision diff, roles and tenants, and garbage input."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from approvals import services
from approvals.forms import parse_local_datetime
from approvals.models import BlockedWord, Post, PostMedia, PostRevision, PostStatus
from audit.models import AuditEvent, EventType
from tests.approvals_factories import make_post
from tests.inbox_factories import make_channel

pytestmark = pytest.mark.django_db

# The smallest valid PNG (1×1 pixel).
TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000b49444154789c6360000200000500017a5eab3f0000000049454e44ae426082"
)
NEW = reverse("approvals:post_new")
CHECK = reverse("approvals:post_check")


@pytest.fixture
def desk(personas):
    a = personas.a
    a.organisation.timezone = "Europe/London"
    a.organisation.save(update_fields=["timezone"])
    return {
        "a": a,
        "x": make_channel(a, department="Communications", platform="x", handle="@alpha_x"),
        "mastodon": make_channel(a, department="Communications", platform="mastodon", handle="@alpha@social.example"),
        "bluesky": make_channel(a, department="Communications", platform="bluesky", handle="@alpha.bsky.social"),
        "instagram": make_channel(a, department="Communications", platform="instagram", handle="@alpha_gram"),
        "other_dept": make_channel(a, department="Customer Services", platform="facebook", handle="Alpha Help"),
    }


def _form(desk, **overrides) -> dict:
    data = {
        "title": "Bin collections",
        "department": str(desk["a"].departments["Communications"].pk),
        "body": "Bins are collected on Monday.",
        "link": "",
        "channels": [str(desk["x"].pk)],
        "schedule": "approved",
        "scheduled_at": "",
        "notes": "",
    }
    data.update(overrides)
    return data


def _png(name="photo.png", content=TINY_PNG):
    return SimpleUploadedFile(name, content, content_type="image/png")


# ------------------------------------------------------------------------------------------ compose
def test_editor_composes_a_post_and_it_is_saved_as_revision_one(desk, login):
    client = login(desk["a"].members["editor"])
    page = client.get(NEW)
    assert page.status_code == 200
    content = page.content.decode()
    assert "@alpha_x" in content and "(X)" in content
    # Channels the editor may not publish to are not offered.
    assert "Alpha Help" not in content
    assert "Europe/London" in content

    response = client.post(NEW, _form(desk, notes="Check with the depot", link="https://alpha.example/bins"))
    post = Post.objects.get()
    assert response.status_code == 302 and response.url == reverse("approvals:post_edit", kwargs={"pk": post.pk})
    revision = post.current_revision
    assert (revision.number, revision.title, revision.body) == (1, "Bin collections", "Bins are collected on Monday.")
    assert revision.channel_ids == [desk["x"].pk] and revision.link == "https://alpha.example/bins"
    assert revision.notes == "Check with the depot" and post.scheduled_at is None
    assert AuditEvent.objects.filter(event_type=EventType.POST_CREATED, target_id=str(post.pk)).count() == 1


def test_title_is_required(desk, login):
    client = login(desk["a"].members["editor"])
    response = client.post(NEW, _form(desk, title="   "))
    assert response.status_code == 400
    assert "Give the post an internal title." in response.content.decode()
    assert 'aria-invalid="true"' in response.content.decode()
    assert not Post.objects.exists()


def test_a_channel_the_editor_may_not_publish_to_is_refused(desk, login):
    client = login(desk["a"].members["editor"])
    response = client.post(NEW, _form(desk, channels=[str(desk["other_dept"].pk)]))
    assert response.status_code == 400
    assert "Choose channels you may publish to." in response.content.decode()
    assert not Post.objects.exists()


def test_an_editor_cannot_write_for_another_department_but_an_admin_can(desk, login):
    a = desk["a"]
    other = str(a.departments["Customer Services"].pk)
    response = login(a.members["editor"]).post(NEW, _form(desk, department=other))
    assert response.status_code == 400 and "Choose one of your departments." in response.content.decode()
    assert not Post.objects.exists()
    response = login(a.members["admin"]).post(NEW, _form(desk, department=other, channels=[str(desk["other_dept"].pk)]))
    assert response.status_code == 302
    assert Post.objects.get().department_id == int(other)


def test_link_must_be_a_web_address(desk, login):
    response = login(desk["a"].members["editor"]).post(NEW, _form(desk, link="javascript:alert(1)"))
    assert response.status_code == 400 and "full web address" in response.content.decode()


def test_variants_are_saved_for_chosen_platforms_and_channels_only(desk, login):
    client = login(desk["a"].members["editor"])
    x, mastodon = desk["x"], desk["mastodon"]
    client.post(NEW, _form(desk, channels=[str(x.pk)], variant_x="Short for X",
                           **{f"variant_channel_{x.pk}": "Only on @alpha_x", "variant_mastodon": "Not chosen"}))
    revision = Post.objects.get().current_revision
    assert revision.variants == {"x": "Short for X", f"channel:{x.pk}": "Only on @alpha_x"}
    assert services.text_for(revision, x) == "Only on @alpha_x"
    assert mastodon.pk not in revision.channel_ids


# ------------------------------------------------------------------------------------------- images
def _draft_post(desk):
    return make_post(desk["a"], [desk["x"]])


def test_image_upload_then_alt_text_saved_with_the_revision_and_served_for_previews(desk, login):
    client = login(desk["a"].members["editor"])
    post = _draft_post(desk)
    url = reverse("approvals:post_media_upload", kwargs={"pk": post.pk})
    response = client.post(url, {"image": _png()}, HTTP_ACCEPT="application/json")
    assert response.status_code == 201
    media = PostMedia.objects.get(pk=response.json()["id"])
    assert (media.mime_type, media.width, media.height, media.filename) == ("image/png", 1, 1, "photo.png")
    # The composer lists the new upload, ready for its alt text.
    page = client.get(reverse("approvals:post_edit", kwargs={"pk": post.pk})).content.decode()
    assert f'name="alt_{media.pk}"' in page
    client.post(reverse("approvals:post_edit", kwargs={"pk": post.pk}),
                _form(desk, media=[str(media.pk)], **{f"alt_{media.pk}": "A  bin lorry  at the depot"}))
    post.refresh_from_db()
    assert post.current_revision.media == [{"id": media.pk, "alt_text": "A bin lorry at the depot", "sha256": media.sha256}]
    served = client.get(reverse("approvals:post_media", kwargs={"pk": media.pk}))
    assert served.status_code == 200 and served["Content-Type"] == "image/png"
    assert served.content == TINY_PNG and served["X-Content-Type-Options"] == "nosniff"


def test_upload_refuses_a_file_that_is_not_an_image_by_its_bytes(desk, login):
    client = login(desk["a"].members["editor"])
    post = _draft_post(desk)
    url = reverse("approvals:post_media_upload", kwargs={"pk": post.pk})
    response = client.post(url, {"image": _png("evil.png", b"<script>alert(1)</script>")}, HTTP_ACCEPT="application/json")
    assert response.status_code == 400 and "PNG, JPEG, GIF or WebP" in response.json()["message"]
    # Without JavaScript: back to the composer with the message.
    response = client.post(url, {"image": _png("evil.png", b"GIF8")}, follow=True)
    assert "not an image we can publish" in response.content.decode()
    assert not PostMedia.objects.exists()


def test_upload_refuses_an_image_over_5_mb(desk, login):
    client = login(desk["a"].members["editor"])
    post = _draft_post(desk)
    big = TINY_PNG + b"\0" * (5 * 1024 * 1024)
    response = client.post(reverse("approvals:post_media_upload", kwargs={"pk": post.pk}), {"image": _png("big.png", big)},
                           HTTP_ACCEPT="application/json")
    assert response.status_code == 400 and "the limit is 5 MB" in response.json()["message"]
    assert not PostMedia.objects.exists()


def test_a_post_takes_at_most_four_images(desk, login):
    client = login(desk["a"].members["editor"])
    post = _draft_post(desk)
    url = reverse("approvals:post_media_upload", kwargs={"pk": post.pk})
    for n in range(4):
        assert client.post(url, {"image": _png(f"{n}.png")}, HTTP_ACCEPT="application/json").status_code == 201
    response = client.post(url, {"image": _png("5.png")}, HTTP_ACCEPT="application/json")
    assert response.status_code == 400 and "at most 4 images" in response.json()["message"]
    assert PostMedia.objects.filter(post=post).count() == 4


def test_jpeg_gif_and_webp_are_recognised_by_their_bytes():
    from approvals.media import dimensions, sniff

    jpeg = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffc0001108002a0040030122000211010311 01".replace(" ", ""))
    assert sniff(jpeg) == "image/jpeg" and dimensions(jpeg, "image/jpeg") == (64, 42)
    gif = b"GIF89a\x10\x00\x08\x00" + b"\0" * 10
    assert sniff(gif) == "image/gif" and dimensions(gif, "image/gif") == (16, 8)
    webp = b"RIFF\x00\x00\x00\x00WEBPVP8X" + b"\0" * 8 + (99).to_bytes(3, "little") + (49).to_bytes(3, "little")
    assert sniff(webp) == "image/webp" and dimensions(webp, "image/webp") == (100, 50)
    assert sniff(b"%PDF-1.7") is None


def test_another_organisations_image_is_a_404(desk, login, personas):
    post = _draft_post(desk)
    from approvals.media import media_upload

    media = media_upload(actor=desk["a"].members["editor"], post_id=post.pk, content=TINY_PNG)
    outsider = login(personas.outsider)
    assert outsider.get(reverse("approvals:post_media", kwargs={"pk": media.pk})).status_code == 404
    upload = outsider.post(reverse("approvals:post_media_upload", kwargs={"pk": post.pk}), {"image": _png()})
    assert upload.status_code == 404
    # An agent of another department of the same organisation does not see it either.
    agent = login(desk["a"].members["agent"])
    assert agent.get(reverse("approvals:post_media", kwargs={"pk": media.pk})).status_code == 404


# ---------------------------------------------------------------------------------------- time zone
@pytest.mark.parametrize(
    ("typed", "utc"),
    [
        ("2030-07-01T09:30", datetime(2030, 7, 1, 8, 30, tzinfo=UTC)),  # British Summer Time: UTC+1
        ("2030-01-15T09:30", datetime(2030, 1, 15, 9, 30, tzinfo=UTC)),  # Greenwich Mean Time: UTC
        ("2030-10-27T01:30", datetime(2030, 10, 27, 0, 30, tzinfo=UTC)),  # repeated hour: the first (BST)
    ],
)
def test_scheduled_time_is_read_in_the_organisations_zone(desk, login, typed, utc):
    client = login(desk["a"].members["editor"])
    assert client.post(NEW, _form(desk, schedule="at", scheduled_at=typed)).status_code == 302
    post = Post.objects.get()
    assert post.scheduled_at == utc
    # Shown back as it was typed.
    assert f'value="{typed}"' in client.get(reverse("approvals:post_edit", kwargs={"pk": post.pk})).content.decode()


def test_scheduled_time_in_another_zone_is_converted_from_that_zone(desk, login):
    desk["a"].organisation.timezone = "America/New_York"
    desk["a"].organisation.save(update_fields=["timezone"])
    client = login(desk["a"].members["editor"])
    assert client.post(NEW, _form(desk, schedule="at", scheduled_at="2030-07-01T09:30")).status_code == 302
    assert Post.objects.get().scheduled_at == datetime(2030, 7, 1, 13, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("2030-03-31T01:30", "the clocks go forward"),
        ("2001-01-01T09:00", "Choose a time in the future."),
        ("", "Give the date and time"),
        ("2030-13-45T99:99", "does not exist"),
        ("tomorrow at nine", "Give the date and time as"),
    ],
)
def test_impossible_scheduled_times_are_refused(desk, login, typed, message):
    response = login(desk["a"].members["editor"]).post(NEW, _form(desk, schedule="at", scheduled_at=typed))
    assert response.status_code == 400 and message in response.content.decode()
    assert not Post.objects.exists()


def _years_from_now(years: int) -> str:
    now = timezone.now()
    return f"{now.year + years}-{now.month:02d}-{min(now.day, 28):02d}T12:00"


@pytest.mark.parametrize(
    ("zone", "typed"),
    [
        # Ahead of UTC: 1 January of year 1 at midnight in Berlin is before year 1 in UTC.
        ("Europe/Berlin", "0001-01-01T00:00"),
        # Behind UTC: the last evening of year 9999 in New York is year 10000 in UTC.
        ("America/New_York", "9999-12-31T23:59"),
        ("America/New_York", "1999-12-31T23:59"),
        ("Europe/Berlin", "_six_years"),
    ],
)
def test_scheduled_times_outside_the_next_five_years_are_refused_not_a_500(desk, login, zone, typed):
    desk["a"].organisation.timezone = zone
    desk["a"].organisation.save(update_fields=["timezone"])
    typed = _years_from_now(6) if typed == "_six_years" else typed
    client = login(desk["a"].members["editor"])
    response = client.post(NEW, _form(desk, schedule="at", scheduled_at=typed))
    assert response.status_code == 400
    assert "Choose a date within the next five years." in response.content.decode()
    response = client.post(NEW, _form(desk, schedule="at", scheduled_at=typed, autosave="1"))
    assert response.status_code == 400 and "five years" in response.json()["message"]
    post = _draft_post(desk)
    response = client.post(reverse("approvals:post_edit", kwargs={"pk": post.pk}),
                           _form(desk, schedule="at", scheduled_at=typed))
    assert response.status_code == 400
    assert Post.objects.get().scheduled_at is None
    # Four years ahead is still fine.
    assert client.post(NEW, _form(desk, schedule="at", scheduled_at=_years_from_now(4))).status_code == 302


def test_the_one_time_parser_refuses_the_edges_of_the_calendar_in_every_zone():
    for zone in ("Pacific/Kiritimati", "Etc/GMT+12", "America/New_York", "Europe/Berlin", "UTC"):
        for typed in ("0001-01-01T00:00", "9999-12-31T23:59", "9999-12-31T23:59:59", "1999-12-31 23:59"):
            with pytest.raises(ValidationError) as error:
                parse_local_datetime(typed, zone)
            assert error.value.messages == ["Choose a date within the next five years."], (zone, typed)
        assert parse_local_datetime("2030-01-15T09:30", ZoneInfo(zone)).tzinfo is UTC


# ------------------------------------------------------------------------------------ check endpoint
def _check(client, desk, **overrides) -> dict:
    response = client.post(CHECK, _form(desk, **overrides))
    assert response.status_code == 200
    return response.json()


def _row(result, channel):
    return next(row for row in result["channels"] if row["id"] == channel.pk)


def test_check_counts_x_the_way_x_does(desk, login):
    client = login(desk["a"].members["editor"])
    result = _check(client, desk, body="Hello https://example.org/a/very/long/path/indeed 😀")
    row = _row(result, desk["x"])
    # "Hello " 6 + the link 23 + " " 1 + the emoji 2.
    assert (row["length"], row["limit"], row["valid"]) == (32, 280, True)
    over = _row(_check(client, desk, body="漢" * 141), desk["x"])
    assert over["length"] == 282 and over["over"] and "X allows 280" in over["errors"][0]


def test_check_counts_mastodon_and_bluesky(desk, login):
    client = login(desk["a"].members["editor"])
    m, b = desk["mastodon"], desk["bluesky"]
    result = _check(client, desk, body="a" * 501, channels=[str(m.pk), str(b.pk)])
    assert (_row(result, m)["length"], _row(result, m)["limit"]) == (501, 500)
    assert "this server allows 500" in _row(result, m)["errors"][0]
    assert _row(result, b)["over"]
    family = "👨‍👩‍👧"
    result = _check(client, desk, body=family * 3, channels=[str(b.pk)])
    assert (_row(result, b)["length"], _row(result, b)["limit"], _row(result, b)["valid"]) == (3, 300, True)


def test_check_says_instagram_needs_an_image_and_is_content_with_one(desk, login):
    client = login(desk["a"].members["editor"])
    ig = desk["instagram"]
    result = _check(client, desk, channels=[str(ig.pk)])
    assert "Instagram posts need an image." in _row(result, ig)["errors"]
    post = make_post(desk["a"], [ig])
    from approvals.media import media_upload

    media = media_upload(actor=desk["a"].members["editor"], post_id=post.pk, content=TINY_PNG)
    result = _check(client, desk, channels=[str(ig.pk)], post=str(post.pk), media=[str(media.pk)])
    assert _row(result, ig)["errors"] == []
    # Alt text is required by default: the verdict says so before submission does.
    assert any("needs alt text" in p for p in result["problems"])
    result = _check(client, desk, channels=[str(ig.pk)], post=str(post.pk), media=[str(media.pk)],
                    **{f"alt_{media.pk}": "Our new bins"})
    assert not any("alt text" in p for p in result["problems"])
    assert result["media"][0]["alt_text"] == "Our new bins"


def test_check_reports_blocked_and_review_words(desk, login):
    a = desk["a"]
    BlockedWord.objects.create(organisation=a.organisation, phrase="guaranteed", action="block")
    BlockedWord.objects.create(organisation=a.organisation, phrase="ceasefire", action="review")
    client = login(a.members["editor"])
    result = _check(client, desk, body="Results GUARANTEED after the ceasefire", channels=[str(desk["x"].pk)])
    assert result["blocked"] == ["guaranteed"] and result["review"] == ["ceasefire"]
    assert any("guaranteed" in p for p in result["problems"]) and not result["ok"]
    clean = _check(client, desk, body="Bins on Monday")
    assert clean["blocked"] == [] and clean["review"] == [] and clean["ok"]
    # The page renders the same verdict without JavaScript.
    post = make_post(a, [desk["x"]], body="Results guaranteed")
    page = client.get(reverse("approvals:post_edit", kwargs={"pk": post.pk})).content.decode()
    assert "Remove blocked words before submitting: guaranteed." in page


def test_check_gives_each_channels_text_with_link_and_variants(desk, login):
    client = login(desk["a"].members["editor"])
    x, m = desk["x"], desk["mastodon"]
    result = _check(client, desk, channels=[str(x.pk), str(m.pk)], link="https://alpha.example/bins",
                    variant_mastodon="Longer text for the fediverse")
    assert _row(result, x)["text"] == "Bins are collected on Monday.\nhttps://alpha.example/bins"
    assert _row(result, m)["text"] == "Longer text for the fediverse\nhttps://alpha.example/bins"


def test_check_ignores_channels_the_editor_may_not_publish_to(desk, login):
    result = _check(login(desk["a"].members["editor"]), desk, channels=[str(desk["other_dept"].pk), "²", "x"])
    assert result["channels"] == [] and "Choose at least one channel." in result["problems"]


# -------------------------------------------------------------------------------------------- autosave
def test_autosave_creates_the_post_then_saves_without_duplicate_revisions(desk, login):
    client = login(desk["a"].members["editor"])
    first = client.post(NEW, _form(desk, autosave="1"))
    assert first.status_code == 201
    data = first.json()
    post = Post.objects.get()
    assert data["post"] == post.pk and data["revision"] == 1
    assert data["edit_url"] == reverse("approvals:post_edit", kwargs={"pk": post.pk})
    assert len(data["saved_at"]) == 5 and data["saved_at"][2] == ":"
    autosave = data["autosave_url"]
    again = client.post(autosave, _form(desk, autosave="1"))
    assert again.status_code == 200 and again.json()["revision"] == 1
    assert PostRevision.objects.filter(post=post).count() == 1
    changed = client.post(autosave, _form(desk, body="Bins are collected on Tuesday.", autosave="1"))
    assert changed.json()["revision"] == 2
    assert PostRevision.objects.filter(post=post).count() == 2
    assert AuditEvent.objects.filter(event_type=EventType.POST_EDITED, target_id=str(post.pk)).count() == 1


def test_autosave_with_an_invalid_form_answers_why_in_json(desk, login):
    client = login(desk["a"].members["editor"])
    response = client.post(NEW, _form(desk, title="", autosave="1"))
    assert response.status_code == 400 and response.json()["message"] == "Give the post an internal title."
    assert not Post.objects.exists()


def test_autosave_stops_once_the_post_is_submitted(desk, login):
    a = desk["a"]
    post = _draft_post(desk)
    services.post_submit(actor=a.members["editor"], post_id=post.pk)
    response = login(a.members["editor"]).post(reverse("approvals:post_autosave", kwargs={"pk": post.pk}),
                                               _form(desk, body="Changed"))
    assert response.status_code == 409
    assert PostRevision.objects.filter(post=post).count() == 1


# -------------------------------------------------------------------------------------- after submission
def test_editing_an_approved_post_makes_a_new_revision_and_puts_it_back_in_review(desk, login):
    a = desk["a"]
    post = _draft_post(desk)
    services.post_submit(actor=a.members["editor"], post_id=post.pk)
    services.post_approve(actor=a.members["approver"], post_id=post.pk)
    post.refresh_from_db()
    assert post.status == PostStatus.SCHEDULED
    client = login(a.members["editor"])
    page = client.get(reverse("approvals:post_edit", kwargs={"pk": post.pk})).content.decode()
    assert "any approvals it has no longer apply" in page
    response = client.post(reverse("approvals:post_edit", kwargs={"pk": post.pk}), _form(desk, body="Now on Tuesday."),
                           follow=True)
    assert "back in review" in response.content.decode()
    post.refresh_from_db()
    assert post.status == PostStatus.IN_REVIEW and post.current_revision.number == 2
    assert services.approval_count(post) == 0


def test_an_approved_posts_time_is_not_moved_by_an_editor_without_a_content_change(desk, login):
    a = desk["a"]
    post = _draft_post(desk)
    services.post_submit(actor=a.members["editor"], post_id=post.pk)
    services.post_approve(actor=a.members["approver"], post_id=post.pk)
    post.refresh_from_db()
    before = post.scheduled_at
    response = login(a.members["editor"]).post(reverse("approvals:post_edit", kwargs={"pk": post.pk}),
                                               _form(desk, schedule="at", scheduled_at="2031-01-01T10:00"))
    assert response.status_code == 400 and "ask an approver" in response.content.decode()
    post.refresh_from_db()
    assert post.scheduled_at == before and post.status == PostStatus.SCHEDULED


def test_a_cancelled_post_cannot_be_edited(desk, login):
    a = desk["a"]
    post = _draft_post(desk)
    services.post_cancel(actor=a.members["editor"], post_id=post.pk)
    client = login(a.members["editor"])
    response = client.get(reverse("approvals:post_edit", kwargs={"pk": post.pk}), follow=True)
    assert "Edit is not possible while the post is cancelled." in response.content.decode()
    response = client.post(reverse("approvals:post_edit", kwargs={"pk": post.pk}), _form(desk, body="x"))
    assert response.status_code == 302
    assert PostRevision.objects.filter(post=post).count() == 1


# -------------------------------------------------------------------------------------------- revisions
def test_revision_history_lists_revisions_and_shows_a_diff(desk, login):
    a = desk["a"]
    post = make_post(a, [desk["x"]], body="Bins are collected on Monday.")
    services.post_update(actor=a.members["editor"], post_id=post.pk,
                         draft=services.Draft(title="Bin collections", body="Bins are collected on Tuesday morning.",
                                              channel_ids=[desk["x"].pk, desk["mastodon"].pk]))
    client = login(a.members["viewer"])
    url = reverse("approvals:post_revisions", kwargs={"pk": post.pk})
    page = client.get(url).content.decode()
    assert post.current_revision.content_hash[:12] in page
    assert "Changes from revision 1 to revision 2" in page
    assert '<del><span class="visually-hidden">[removed: </span>Monday<span class="visually-hidden">]</span></del>' in page
    assert '<ins><span class="visually-hidden">[added: </span>Tuesday morning<span class="visually-hidden">]</span></ins>' in page
    assert "[added: </span>Mastodon @alpha@social.example" in page
    same = client.get(url, {"a": "2", "b": "2"}).content.decode()
    assert "Nothing changed between these revisions." in same
    reverse_order = client.get(url, {"a": "2", "b": "1"}).content.decode()
    assert "[added: </span>Monday" in reverse_order


def test_revision_history_with_nonsense_numbers_says_so(desk, login):
    post = _draft_post(desk)
    client = login(desk["a"].members["viewer"])
    url = reverse("approvals:post_revisions", kwargs={"pk": post.pk})
    for a_value, b_value in [("²", "1"), ("99", "1"), ("-1", "x"), ("1" * 40, "1")]:
        response = client.get(url, {"a": a_value, "b": b_value})
        assert response.status_code == 400
        assert "Choose two revisions of this post to compare." in response.content.decode()


# ------------------------------------------------------------------------------------ roles and tenants
@pytest.mark.parametrize("role", ["viewer", "agent", "approver", "manager"])
def test_roles_without_edit_posts_cannot_compose(desk, login, role):
    member = desk["a"].members[role]
    member.departments.add(desk["a"].departments["Communications"])
    post = _draft_post(desk)
    client = login(member)
    assert client.post(NEW, _form(desk)).status_code == 403
    assert client.post(CHECK, _form(desk)).status_code == 403
    assert client.post(reverse("approvals:post_edit", kwargs={"pk": post.pk}), _form(desk)).status_code == 403
    assert client.post(reverse("approvals:post_autosave", kwargs={"pk": post.pk}), _form(desk)).status_code == 403
    upload = client.post(reverse("approvals:post_media_upload", kwargs={"pk": post.pk}), {"image": _png()})
    assert upload.status_code == 403
    assert Post.objects.count() == 1 and PostRevision.objects.count() == 1 and not PostMedia.objects.exists()
    # They may still read the history.
    assert client.get(reverse("approvals:post_revisions", kwargs={"pk": post.pk})).status_code == 200


def test_other_organisation_gets_404_everywhere(desk, login, personas):
    post = _draft_post(desk)
    client = login(personas.outsider)
    for name in ("approvals:post_edit", "approvals:post_revisions"):
        assert client.get(reverse(name, kwargs={"pk": post.pk})).status_code == 404
    for name in ("approvals:post_edit", "approvals:post_autosave"):
        assert client.post(reverse(name, kwargs={"pk": post.pk}), {"title": "Mine now"}).status_code == 404
    # Naming A's post in a check reveals nothing of it either.
    result = client.post(CHECK, {"post": str(post.pk), "media": ["1"], "channels": [str(desk["x"].pk)]}).json()
    assert result["channels"] == [] and result["media"] == []
    assert PostRevision.objects.filter(post=post).count() == 1


def test_a_department_editor_cannot_edit_another_departments_post(desk, login, personas):
    a = desk["a"]
    post = make_post(a, [desk["other_dept"]], author_role="admin", department="Customer Services")
    assert login(a.members["editor"]).get(reverse("approvals:post_edit", kwargs={"pk": post.pk})).status_code == 404


# -------------------------------------------------------------------------------------------- garbage
GARBAGE = {
    "title": "x" * 5000, "department": "²", "body": "lone NUL \x00", "link": "http://" + "a" * 2000,
    "channels": ["²", "-1", "99999999999999999999", "abc"], "schedule": "sometime", "scheduled_at": "２０３０-01-01T09:00",
    "notes": "n" * 6000, "media": ["²", "x", "-5", "123456789012345"], "variant_x": "v", "alt_²": "alt",
}


def test_garbage_never_causes_a_500(desk, login):
    client = login(desk["a"].members["editor"])
    post = _draft_post(desk)
    for url in (NEW, reverse("approvals:post_edit", kwargs={"pk": post.pk})):
        response = client.post(url, GARBAGE)
        assert response.status_code == 400, url
    assert client.post(NEW, {**GARBAGE, "autosave": "1"}).status_code == 400
    assert client.post(reverse("approvals:post_autosave", kwargs={"pk": post.pk}), GARBAGE).status_code == 400
    assert client.post(CHECK, GARBAGE).status_code == 200
    assert client.post(CHECK, {"post": "²", "body": "é" * 80000}).status_code == 200
    assert client.post(reverse("approvals:post_media_upload", kwargs={"pk": post.pk}), {}).status_code == 302
    assert client.post(reverse("approvals:post_media_upload", kwargs={"pk": post.pk}), {"image": "text, not a file"},
                       HTTP_ACCEPT="application/json").status_code == 400
    # A media id of another post in this organisation cannot be attached.
    other = _draft_post(desk)
    from approvals.media import media_upload

    media = media_upload(actor=desk["a"].members["editor"], post_id=other.pk, content=TINY_PNG)
    response = client.post(reverse("approvals:post_edit", kwargs={"pk": post.pk}), _form(desk, media=[str(media.pk)]))
    assert response.status_code == 400 and "An image is missing" in response.content.decode()
    # NUL characters (which PostgreSQL refuses) in the free-form fields are dropped, not a 500.
    response = client.post(reverse("approvals:post_edit", kwargs={"pk": post.pk}),
                           _form(desk, variant_x="a\x00b", body="ok"))
    assert response.status_code in (302, 400)

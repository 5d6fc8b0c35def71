"""The posts journey end to end (issue 5): an editor composes a post for X and Facebook with an image and its alt
text and submits it; an approver (a second browser) requests changes; the editor edits it (a new revision) and
submits it again; the approver approves it and moves its time close; a real Celery worker publishes it to the
simulator at its time (beat's sweep is run by a small thread, as beat would); the post page links to both live
posts, the calendar shows it, and the simulator holds exactly one post on each platform, with the image and its
alt text.

Timing: the composer and the post page take times to the minute (<input type="datetime-local">, step 60 s). The
editor schedules the post about three minutes ahead in the organisation's zone (so it cannot pass while in
review); once it is approved and scheduled, the approver uses "Move to a new time" to bring it to the next whole
minute at least WAIT_AT_LEAST ahead. The post must then go out at that time: not before it, and within 15 s after.
"""

from __future__ import annotations

import struct
import threading
import time
import zlib
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from accounts.models import Membership
from approvals.models import Post, PostStatus, PublishTarget, TargetState
from approvals.tasks import sweep_due_posts
from tests.approvals_factories import demo_channel
from tests.browser.checks import check_page
from tests.browser.flows import sign_in
from tests.conftest import PASSWORD, add_member, make_organisation

pytestmark = pytest.mark.browser

EDITOR = "eden.editor@southmere.example"
APPROVER = "ash.approver@southmere.example"
TITLE = "Library summer reading"
FIRST_BODY = "The summer reading challenge starts on Saturday at every library."
SECOND_BODY = "The summer reading challenge starts on Saturday 19 July at all nine libraries. Free to join!"
ALT_TEXT = "Two children reading picture books on beanbags in Southmere library"
CHANGES = "Please give the date and say how many libraries take part."
# The nearest whole minute the approver moves the post to is at least this far ahead (time to click Schedule).
WAIT_AT_LEAST = timedelta(seconds=10)
# Issue 5 §3: in normal running a post goes out within 15 s of its scheduled time.
ON_TIME = timedelta(seconds=15)


def tiny_png(width: int = 4, height: int = 3) -> bytes:
    """A real, decodable RGB PNG (no imaging library in the project)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    # Each row: filter byte 0, then RGB pixels.
    rows = b"".join(b"\x00" + b"".join(bytes((40 * x, 120, 200 - 30 * y)) for x in range(width))
                    for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


@pytest.fixture
def southmere(transactional_db, sim):
    org = make_organisation("southmere", "Southmere Council", ["Communications", "Customer Services"])
    editor: Membership = add_member(org, "editor", EDITOR, ["Communications"])
    approver: Membership = add_member(org, "approver", APPROVER, ["Communications"])
    x = demo_channel(org, "x")
    facebook = demo_channel(org, "facebook")
    return org, editor, approver, x, facebook


@pytest.fixture
def beat(celery_worker):
    """Runs beat's publishing sweep every 2 s while the test runs; the real worker does the publishing."""
    stop = threading.Event()

    def sweep():
        while not stop.is_set():
            sweep_due_posts.delay()
            stop.wait(2)

    thread = threading.Thread(target=sweep, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(5)


def _signed_in(new_page, live_server, email: str):
    page = new_page()
    sign_in(page, email, PASSWORD, check=False)
    page.wait_for_url(f"{live_server.url}/")
    return page


def _local_minute(when: datetime, zone: ZoneInfo) -> str:
    """What a person types into a datetime-local field in the organisation's zone."""
    return when.astimezone(zone).strftime("%Y-%m-%dT%H:%M")


def _next_whole_minute(after: datetime) -> datetime:
    start = after + WAIT_AT_LEAST
    return (start + timedelta(minutes=1)).replace(second=0, microsecond=0)


def _status(page) -> str:
    return page.locator("#post-status").inner_text()


def test_compose_review_approve_and_publish_on_time(new_page, live_server, sim, southmere, beat, tmp_path):
    org, editor_member, approver_member, x, facebook = southmere
    zone = ZoneInfo(org.organisation.timezone)
    image = tmp_path / "reading.png"
    image.write_bytes(tiny_png())

    # ---- The editor composes the post: X and Facebook, text, a time in the organisation's zone.
    editor = _signed_in(new_page, live_server, EDITOR)
    editor.goto("/posts/new/")
    assert editor.get_by_role("heading", level=1).inner_text() == "New post"
    check_page(editor)
    editor.get_by_label("Internal title").fill(TITLE)
    editor.get_by_label(f"{x.handle} (X)").check()
    editor.get_by_label(f"{facebook.handle} (Facebook)").check()
    editor.get_by_label("Text", exact=True).fill(FIRST_BODY)
    editor.get_by_role("radio", name="At a date and time").check()
    first_time = _local_minute(timezone.now() + timedelta(minutes=3), zone)
    editor.get_by_label(f"Date and time ({zone.key} time)").fill(first_time)
    editor.get_by_role("button", name="Save draft").click()
    editor.wait_for_url("**/posts/*/edit/")
    post = Post.objects.get(title=TITLE)
    assert editor.url.endswith(f"/posts/{post.pk}/edit/")
    assert editor.locator(".messages").inner_text() == "Draft saved (revision 1)."
    assert editor.get_by_role("heading", level=1).inner_text() == f"Edit post: {TITLE}"
    check_page(editor)

    # The image, uploaded through the composer's file input, then described.
    editor.get_by_label("Add an image").set_input_files(str(image))
    editor.get_by_role("button", name="Upload image").click()
    alt = editor.get_by_label("Alt text for image 1 (reading.png)", exact=False)
    alt.wait_for()
    assert editor.locator("#media-upload-status").inner_text() == "Image uploaded. Describe it in its alt text."
    alt.fill(ALT_TEXT)
    editor.get_by_role("button", name="Save draft").click()
    editor.wait_for_url(f"**/posts/{post.pk}/edit/")
    post.refresh_from_db()
    revision = post.current_revision
    assert [m["alt_text"] for m in revision.media] == [ALT_TEXT]
    assert sorted(revision.channel_ids) == sorted([x.pk, facebook.pk])
    submitted = revision.number  # the first save made revision 1; saving the image's alt text, the next

    editor.goto(f"/posts/{post.pk}/")
    assert _status(editor) == "Draft"
    editor.get_by_role("button", name="Submit for approval").click()
    editor.wait_for_url(f"**/posts/{post.pk}/")
    assert _status(editor) == "In review"

    # ---- The approver finds it in their queue and asks for changes.
    approver = _signed_in(new_page, live_server, APPROVER)
    approver.goto("/posts/queue/")
    assert approver.get_by_role("heading", level=1).inner_text() == "Approval queue"
    check_page(approver)
    approver.get_by_role("link", name=TITLE).click()
    approver.wait_for_url(f"**/posts/{post.pk}/")
    assert approver.get_by_role("button", name=f"Approve revision {submitted}").is_visible()
    check_page(approver)
    content = approver.get_by_role("region", name="What it says on each channel")
    assert FIRST_BODY in content.inner_text()
    assert approver.get_by_role("img", name=ALT_TEXT).is_visible()
    approver.get_by_label("What needs to change (required)").fill(CHANGES)
    approver.get_by_role("button", name="Request changes").click()
    approver.wait_for_url(f"**/posts/{post.pk}/")
    assert _status(approver) == "Changes requested"

    # ---- The editor sees the request, edits (revision 2) and submits again.
    editor.goto(f"/posts/{post.pk}/")
    assert _status(editor) == "Changes requested"
    assert CHANGES in editor.locator("main").inner_text()
    editor.get_by_role("link", name="Edit this post").first.click()
    editor.wait_for_url(f"**/posts/{post.pk}/edit/")
    editor.get_by_label("Text", exact=True).fill(SECOND_BODY)
    assert editor.get_by_label("Alt text for image 1", exact=False).input_value() == ALT_TEXT
    editor.get_by_role("button", name="Save draft").click()
    editor.wait_for_url(f"**/posts/{post.pk}/edit/")
    post.refresh_from_db()
    edited = post.current_revision.number
    assert edited == submitted + 1 and post.current_revision.body == SECOND_BODY
    editor.goto(f"/posts/{post.pk}/")
    editor.get_by_role("button", name="Submit for approval").click()
    editor.wait_for_url(f"**/posts/{post.pk}/")
    assert _status(editor) == "In review"

    # ---- The approver approves the new revision, then brings its time close.
    approver.goto(f"/posts/{post.pk}/")
    assert SECOND_BODY in approver.get_by_role("region", name="What it says on each channel").inner_text()
    approver.get_by_label("Comment with your approval (optional)").fill("Thanks, good to go.")
    approver.get_by_role("button", name=f"Approve revision {edited}").click()
    approver.wait_for_url(f"**/posts/{post.pk}/")
    assert _status(approver) == "Scheduled"
    post.refresh_from_db()
    assert _local_minute(post.scheduled_at, zone) == first_time

    due = _next_whole_minute(timezone.now())
    approver.get_by_label(f"Move to a new time ({zone.key})").fill(_local_minute(due, zone))
    approver.get_by_role("button", name="Schedule", exact=True).click()
    approver.wait_for_url(f"**/posts/{post.pk}/")
    post.refresh_from_db()
    assert post.scheduled_at == due, (post.scheduled_at, due)
    assert post.status == PostStatus.SCHEDULED

    # ---- It goes out at its time, on both channels, through the worker.
    deadline = time.monotonic() + (due - timezone.now()).total_seconds() + ON_TIME.total_seconds() + 5
    while post.status != PostStatus.PUBLISHED and time.monotonic() < deadline:
        time.sleep(0.5)
        post.refresh_from_db()
    targets = {t.channel_id: t for t in PublishTarget.objects.filter(post=post)}
    assert post.status == PostStatus.PUBLISHED, (post.status, [(t.state, t.last_error) for t in targets.values()])
    assert set(targets) == {x.pk, facebook.pk}
    for target in targets.values():
        assert target.state == TargetState.SENT
        assert target.revision.number == edited
        assert due <= target.published_at <= due + ON_TIME, (target.published_at, due)

    # ---- The post page links to both live posts.
    editor.goto(f"/posts/{post.pk}/")
    assert _status(editor) == "Published"
    publishing = editor.get_by_role("region", name="Publishing")
    x_link = publishing.get_by_role("link", name="View on X")
    facebook_link = publishing.get_by_role("link", name="View on Facebook")
    assert x_link.get_attribute("href") == targets[x.pk].platform_url
    assert facebook_link.get_attribute("href") == targets[facebook.pk].platform_url
    assert targets[x.pk].platform_id in targets[x.pk].platform_url
    check_page(editor)

    # ---- The calendar's month view shows it, published.
    approver.goto("/posts/calendar/")
    event = approver.locator(".cal-event", has_text=TITLE)
    assert event.count() == 1
    assert "Published" in event.inner_text()
    check_page(approver)

    # ---- On the simulator: exactly one post on each platform, with the text, the image and its alt text.
    state = sim.state()
    tweets = [t for t in state["x"]["tweets"].values() if "summer reading challenge" in t["text"]]
    assert len(tweets) == 1, tweets
    tweet = tweets[0]
    assert tweet["id"] == targets[x.pk].platform_id
    assert tweet["author_id"] == x.account_id
    assert tweet["text"] == SECOND_BODY
    media_by_key = {m["media_key"]: m for m in state["x"]["media"].values()}
    assert [media_by_key[k]["alt_text"] for k in tweet["media_keys"]] == [ALT_TEXT]

    fb_posts = [p for p in state["graph"]["posts"].values() if "summer reading challenge" in p["message"]]
    assert len(fb_posts) == 1, fb_posts
    fb_post = fb_posts[0]
    assert fb_post["id"] == targets[facebook.pk].platform_id
    assert fb_post["author_id"] == facebook.account_id
    assert fb_post["message"] == SECOND_BODY
    photos = [state["graph"]["photos"][p] for p in fb_post["photo_ids"]]
    assert [p["alt_text_custom"] for p in photos] == [ALT_TEXT]

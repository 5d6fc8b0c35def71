"""The composer and the revision history in Chromium: axe, keyboard, 320 px; the live counter; autosave."""

from __future__ import annotations

import re

import pytest

from approvals import services
from approvals.models import Post, PostRevision
from tests.approvals_factories import make_post
from tests.browser.checks import check_page
from tests.browser.flows import sign_in
from tests.conftest import PASSWORD, add_member, make_organisation
from tests.inbox_factories import make_channel

pytestmark = pytest.mark.browser

EDITOR_EMAIL = "erin.editor@westmere.example"


@pytest.fixture
def westmere(transactional_db):
    org = make_organisation("westmere", "Westmere Council", ["Communications", "Customer Services"])
    add_member(org, "editor", EDITOR_EMAIL, ["Communications"])
    x = make_channel(org, department="Communications", platform="x", handle="@westmere")
    mastodon = make_channel(org, department="Communications", platform="mastodon", handle="@westmere@social.example")
    return org, x, mastodon


def _focus_by_tabbing(page, element_id: str, limit: int = 80) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
    raise AssertionError(f"#{element_id} was not reached with the Tab key in {limit} presses")


def test_new_post_by_keyboard_counter_follows_typing_and_autosave_announces(new_page, live_server, westmere):
    org, x, _ = westmere
    page = new_page()
    sign_in(page, EDITOR_EMAIL, PASSWORD, check=False)
    page.wait_for_url(f"{live_server.url}/")
    page.goto("/posts/new/")
    assert page.get_by_role("heading", level=1).inner_text() == "New post"
    check_page(page)

    _focus_by_tabbing(page, "id_title")
    page.keyboard.type("Bank holiday bins")
    _focus_by_tabbing(page, f"channel-{x.pk}")
    page.keyboard.press("Space")
    _focus_by_tabbing(page, "id_body")
    page.keyboard.type("Hello https://example.org/a/very/long/path 😀")
    counter = page.locator(f"#counters li[data-channel='{x.pk}'] .composer-counter__count")
    counter.wait_for()
    page.wait_for_function(
        "el => el.textContent.trim() === '32 of 280 characters'",
        arg=counter.element_handle(),
    )
    # The preview shows the text the channel would publish.
    assert "Hello https://example.org" in page.locator("#preview-cards").inner_text()

    # Autosave creates the post, the address becomes its edit page, and the save is announced politely.
    status = page.locator("#autosave-status")
    assert status.get_attribute("aria-live") == "polite"
    page.wait_for_function("() => document.getElementById('autosave-status').textContent.startsWith('Draft saved at')",
                           timeout=15_000)
    assert re.match(r"Draft saved at \d\d:\d\d \(revision 1\)\.", status.inner_text())
    post = Post.objects.get()
    assert page.url.endswith(f"/posts/{post.pk}/edit/")
    assert post.current_revision.body.startswith("Hello https://example.org")
    # Nothing changed since: no second revision after another autosave period.
    page.wait_for_timeout(6000)
    assert PostRevision.objects.filter(post=post).count() == 1

    # Too long for X: the counter says so and the errors are in words.
    page.locator("#id_body").fill("漢" * 141)
    page.wait_for_function(
        "() => (document.querySelector('#counters .composer-counter__count') || {}).textContent === '282 of 280 characters'"
    )
    assert "X allows 280" in page.locator("#counters").inner_text()


def test_composer_with_errors_and_edit_page_and_revision_history_pass_axe(new_page, live_server, westmere):
    org, x, mastodon = westmere
    post = make_post(org, [x], body="Bins are collected on Monday.")
    services.post_update(actor=org.members["editor"], post_id=post.pk,
                         draft=services.Draft(title="Bin collections", body="Bins are collected on Tuesday.",
                                              channel_ids=[x.pk, mastodon.pk], variants={"mastodon": "Longer text"}))
    page = new_page()
    sign_in(page, EDITOR_EMAIL, PASSWORD, check=False)
    page.wait_for_url(f"{live_server.url}/")

    page.goto(f"/posts/{post.pk}/edit/")
    assert page.get_by_role("heading", level=1).inner_text() == "Edit post: Bin collections"
    check_page(page)

    # A refused save: the error summary, the invalid field and the kept text.
    page.goto(f"/posts/{post.pk}/edit/")
    page.get_by_label("Internal title").fill("")
    page.get_by_role("button", name="Save draft").click()
    page.wait_for_load_state("load")
    assert "Give the post an internal title." in page.get_by_role("alert").first.inner_text()
    assert page.get_by_label("Internal title").get_attribute("aria-invalid") == "true"
    assert page.locator("#id_body").input_value() == "Bins are collected on Tuesday."
    check_page(page)

    page.goto("/posts/new/")
    page.get_by_role("radio", name="At a date and time").check()
    page.get_by_role("button", name="Save draft").click()
    page.wait_for_load_state("load")
    assert page.get_by_role("alert").first.is_visible()
    check_page(page)

    page.goto(f"/posts/{post.pk}/revisions/")
    assert "Changes from revision 1 to revision 2" in page.content()
    check_page(page)
    assert "removed" in page.locator("del").first.inner_text()

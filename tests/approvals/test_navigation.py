"""The main navigation offers the posts pages each role can use, and no others."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "role, queue, rules",
    [("admin", True, True), ("manager", False, True), ("approver", True, False), ("editor", False, False),
     ("agent", False, False), ("viewer", False, False)],
)
def test_posts_links_by_role(personas, login, client, role, queue, rules):
    login(personas.a.members[role])
    nav = client.get("/").content.decode().split('aria-label="Main"')[1].split("</nav>")[0]
    assert 'href="/posts/"' in nav and 'href="/posts/calendar/"' in nav
    assert ('href="/posts/queue/"' in nav) is queue
    assert ('href="/posts/pauses/"' in nav) is rules
    assert ('href="/posts/settings/"' in nav) is rules
    for link in ("/posts/", "/posts/calendar/", *(["/posts/queue/"] if queue else []),
                 *(["/posts/pauses/", "/posts/settings/"] if rules else [])):
        assert client.get(link).status_code == 200, link

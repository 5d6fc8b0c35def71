"""Connect flows end to end through the simulator: the product's pages, the platform's pages, the callback."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlparse

import requests
from django.urls import reverse

from audit.models import AuditEvent, EventType
from channels_app.models import Channel


def _start(client, personas, **data):
    return client.post(
        reverse("channels_app:connect_start"),
        {"department": personas.a.departments["Communications"].pk, **data},
    )


class _Consent(HTMLParser):
    """Collects the links and forms of a platform's consent page."""

    def __init__(self):
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self.forms: list[dict] = []
        self._text: list[str] = []
        self._recent: list[str] = []
        self._href: str | None = None
        self._in_form = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self._href, self._text = attrs["href"], []
        elif tag == "form":
            # The account a form approves may be named just before it (a heading) or inside it.
            self.forms.append({"action": attrs.get("action") or "", "method": (attrs.get("method") or "get").lower(),
                               "fields": [], "buttons": [], "text": "".join(self._recent)})
            self._in_form = True
        elif tag == "button" and self.forms and attrs.get("name"):
            self.forms[-1]["buttons"].append((attrs["name"], attrs.get("value") or ""))
        elif tag == "input" and self.forms and attrs.get("name"):
            if attrs.get("type") in ("checkbox", "radio") and "checked" not in attrs:
                return
            self.forms[-1]["fields"].append((attrs["name"], attrs.get("value") or ""))

    def handle_data(self, data):
        self._text.append(data)
        self._recent.append(data)
        if self._in_form:
            self.forms[-1]["text"] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._in_form, self._recent = False, []
        if tag == "a" and self._href is not None:
            self.links.append((self._href, "".join(self._text)))
            self._href = None


def approve_on_platform(authorize_url: str, account_hint: str) -> str:
    """Acts as the person on the platform's consent page: approves for the account and returns the redirect to us."""
    page = requests.get(authorize_url, timeout=10, allow_redirects=False)
    assert page.status_code == 200, page.text[:300]
    consent = _Consent()
    consent.feed(page.text)
    for form in consent.forms:
        buttons = [b for b in form["buttons"] if b[1] not in ("deny", "cancel")]
        if account_hint in (form["text"] + " ".join(v for _, v in form["fields"] + buttons)).lower():
            target = urljoin(authorize_url, form["action"] or authorize_url)
            data = form["fields"] + buttons[:1]
            if form["method"] == "post":
                answer = requests.post(target, data=data, timeout=10, allow_redirects=False)
            else:
                answer = requests.get(target, params=data, timeout=10, allow_redirects=False)
            assert answer.status_code in (302, 303), answer.text[:300]
            return answer.headers["Location"]
    for href, text in consent.links:
        if account_hint in (href + text).lower():
            answer = requests.get(urljoin(authorize_url, href), timeout=10, allow_redirects=False)
            assert answer.status_code in (302, 303), answer.text[:300]
            return answer.headers["Location"]
    raise AssertionError(f"no approval for {account_hint} on the consent page")


def follow_callback(client, location: str):
    parsed = urlparse(location)
    return client.get(parsed.path, {key: values[0] for key, values in parse_qs(parsed.query).items()})


def test_bluesky_connects_with_an_app_password(sim, personas, login, client):
    from simulator.platforms.bluesky import DEMO_ACCOUNTS

    account = DEMO_ACCOUNTS[0]
    login(personas.a.members["admin"])
    response = _start(client, personas, platform="bluesky", handle=account["handle"],
                      app_password=account["credentials"]["app_password"])
    assert response.status_code == 302, response.content.decode()[:500]
    channel = Channel.objects.get(platform="bluesky")
    assert channel.account_id == account["account_id"] and channel.handle == account["handle"]
    assert channel.credentials["app_password"] == account["credentials"]["app_password"]
    assert AuditEvent.objects.filter(event_type=EventType.CHANNEL_CONNECTED, target_id=str(channel.pk)).exists()


def test_bluesky_wrong_app_password_connects_nothing_and_says_why(sim, personas, login, client):
    login(personas.a.members["admin"])
    response = _start(client, personas, platform="bluesky", handle="democouncil.bsky.social", app_password="wrong-pass-word")
    assert response.status_code == 200
    assert "The platform refused" in response.content.decode()
    assert not Channel.objects.exists()


def test_mastodon_connects_through_the_instance_oauth_pages(sim, personas, login, client):
    login(personas.a.members["admin"])
    response = _start(client, personas, platform="mastodon", instance_url=f"{sim.url}/mastodon")
    assert response.status_code == 302, response.content.decode()[:500]
    back = approve_on_platform(response["Location"], "democouncil")
    done = follow_callback(client, back)
    assert done.status_code == 302 and done["Location"] == reverse("channels_app:channel_list")
    channel = Channel.objects.get(platform="mastodon")
    assert "democouncil" in channel.handle and channel.instance_url == f"{sim.url}/mastodon"
    assert channel.credentials.get("access_token")


def test_mastodon_refuses_a_private_address(sim, personas, login, client):
    login(personas.a.members["admin"])
    response = _start(client, personas, platform="mastodon", instance_url="https://10.0.0.5")
    assert response.status_code == 200
    assert 'id="id_instance_url_error"' in response.content.decode()
    assert not Channel.objects.exists()


def test_callback_with_a_state_from_elsewhere_connects_nothing(sim, personas, login, client):
    login(personas.a.members["admin"])
    response = client.get(reverse("channels_app:connect_callback", args=["mastodon"]), {"state": "forged", "code": "x"})
    assert response.status_code == 400
    assert not Channel.objects.exists()


def test_x_connects_through_oauth_with_pkce(sim, personas, login, client):
    login(personas.a.members["admin"])
    response = _start(client, personas, platform="x")
    assert response.status_code == 302
    query = parse_qs(urlparse(response["Location"]).query)
    assert query["code_challenge_method"] == ["S256"] and query["state"]
    back = approve_on_platform(response["Location"], "democouncil")
    done = follow_callback(client, back)
    assert done.status_code == 302, done.content.decode()[:300]
    channel = Channel.objects.get(platform="x")
    assert channel.handle.lstrip("@") == "democouncil"
    assert channel.credentials["refresh_token"]


def test_ten_concurrent_refreshes_of_one_x_channel_make_one_refresh_call(sim, personas, login, client, transactional_db):
    import threading
    import time

    from django.db import connection

    from channels_app import services

    login(personas.a.members["admin"])
    response = _start(client, personas, platform="x")
    follow_callback(client, approve_on_platform(response["Location"], "democouncil"))
    channel = Channel.objects.get(platform="x")
    expired = {**channel.credentials, "expires_at": int(time.time()) - 5}
    channel.credentials = expired
    channel.save(update_fields=["credentials_encrypted"])
    before = len(sim.calls("x", "/2/oauth2/token"))

    errors = []

    def worker():
        try:
            services.x_refresh_if_needed(Channel.objects.get(pk=channel.pk))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert len(sim.calls("x", "/2/oauth2/token")) - before == 1
    fresh = Channel.objects.get(pk=channel.pk).credentials
    assert fresh["access_token"] != expired["access_token"] and float(fresh["expires_at"]) > time.time()


def test_facebook_login_then_picking_a_page_and_its_instagram_account(sim, personas, login, client):
    login(personas.a.members["admin"])
    response = _start(client, personas, platform="facebook")
    assert response.status_code == 302
    back = approve_on_platform(response["Location"], "allow")
    picker = follow_callback(client, back)
    assert picker.status_code == 302
    page = client.get(picker["Location"])
    html = page.content.decode()
    assert page.status_code == 200 and "Facebook Page: Demo Council" in html
    values = [v for v in re.findall(r'name="account" value="([^"]+)"', html) if v]
    facebook = next(v for v in values if v.startswith("facebook:"))
    instagram = next(v for v in values if v.startswith("instagram:"))
    done = client.post(picker["Location"], {"account": [facebook, instagram]})
    assert done.status_code == 302
    assert set(Channel.objects.values_list("platform", flat=True)) == {"facebook", "instagram"}
    instagram_channel = Channel.objects.get(platform="instagram")
    assert instagram_channel.credentials["ig_user_id"] == instagram.split(":", 1)[1]
    # The picker works once: the flow is gone from the session.
    assert client.get(picker["Location"]).status_code == 400

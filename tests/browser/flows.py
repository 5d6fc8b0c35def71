"""Steps several browser tests share: signing in through the real form, codes, and e-mailed links."""

from __future__ import annotations

import re
import time

from django.core import mail
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from tests.browser.checks import check_page

SIGN_IN_PATH = "/accounts/sign-in/"
CODE_PATH = "/accounts/sign-in/code/"


def confirmed_authenticator(user: User) -> TOTPDevice:
    """The person's authenticator app, already set up (what enrolment leaves behind)."""
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)


def current_code(device: TOTPDevice) -> str:
    """The 6-digit code the person's authenticator app shows right now."""
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def path_of(page) -> str:
    return re.sub(r"^https?://[^/]+", "", page.url).split("#")[0]


def sign_in(page, email: str, password: str, authenticator: TOTPDevice | None = None, check: bool = True) -> None:
    """Signs in through the sign-in form (and the code form when the person has an authenticator)."""
    page.goto(SIGN_IN_PATH)
    if check:
        check_page(page)
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    if authenticator is not None:
        page.wait_for_url(f"**{CODE_PATH}**")
        assert page.get_by_role("heading", level=1).inner_text() == "Enter your code"
        if check:
            check_page(page)
        page.get_by_label("Code from your authenticator app, or a backup code").fill(current_code(authenticator))
        page.get_by_role("button", name="Continue").click()


def wait_for_email(to: str, timeout: float = 10.0):
    """The first message in Django's locmem outbox addressed to `to`, waiting for the Celery worker."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in list(mail.outbox):
            if to in message.to:
                return message
        time.sleep(0.1)
    sent = [(m.to, m.subject) for m in mail.outbox]
    raise AssertionError(f"No e-mail to {to} within {timeout:.0f}s; the outbox holds {sent or 'nothing'}")


def link_in(message, base_url: str) -> str:
    links = re.findall(r"https?://\S+", message.body)
    ours = [link for link in links if link.startswith(base_url)]
    assert len(ours) == 1, f"Expected one link to {base_url} in the e-mail, found {links}:\n{message.body}"
    return ours[0]

"""The client address in the audit trail: never client-chosen behind our proxy, never anything but an address.

Behind our TLS proxy (BEHIND_TLS_PROXY=1 sets SECURE_PROXY_SSL_HEADER) the right-most X-Forwarded-For
entry is the one the proxy appended; whatever the client sent is to its left. A value that is not an
address must never reach the inet column (it used to make sign-in a 500).
"""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from audit.models import AuditEvent, EventType
from smm.middleware import client_ip
from tests.conftest import PASSWORD

LOGIN = "/accounts/sign-in/"
PROXY_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")


@pytest.fixture
def behind_proxy(settings):
    settings.SECURE_PROXY_SSL_HEADER = PROXY_HEADER


def ip_of(remote_addr: str | None = "10.0.0.2", forwarded: str | None = None) -> str | None:
    meta = {}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    request = RequestFactory().get("/", **meta)
    if remote_addr is None:
        del request.META["REMOTE_ADDR"]
    else:
        request.META["REMOTE_ADDR"] = remote_addr
    return client_ip(request)


def test_behind_the_proxy_the_right_most_forwarded_address_is_used(behind_proxy):
    # The client sent "203.0.113.66"; our proxy appended the address it saw.
    assert ip_of(forwarded="203.0.113.66, 198.51.100.7") == "198.51.100.7"


def test_behind_the_proxy_a_forwarded_value_that_is_not_an_address_falls_back_to_the_peer(behind_proxy):
    assert ip_of(forwarded="not-an-ip") == "10.0.0.2"
    assert ip_of(forwarded="198.51.100.7, not-an-ip") == "10.0.0.2"
    assert ip_of(forwarded="fe80::1%eth0") == "10.0.0.2"


def test_without_the_proxy_forwarded_addresses_are_ignored():
    assert ip_of(forwarded="198.51.100.7") == "10.0.0.2"


def test_a_peer_address_that_is_not_an_address_gives_none(behind_proxy):
    assert ip_of(remote_addr="not-an-ip") is None
    assert ip_of(remote_addr="not-an-ip", forwarded="still-not-an-ip") is None
    assert ip_of(remote_addr=None) is None
    assert ip_of(remote_addr="") is None


def test_addresses_are_stored_in_canonical_form(behind_proxy):
    assert ip_of(forwarded=" 2001:DB8::0001 ") == "2001:db8::1"
    assert ip_of(remote_addr="2001:0db8:0:0:0:0:0:2") == "2001:db8::2"


def _sign_in(client, password=PASSWORD, **meta):
    return client.post(LOGIN, {"email": "editor@alpha.example", "password": password}, **meta)


def test_sign_in_with_a_bogus_forwarded_address_succeeds_and_records_the_peer(client, personas, behind_proxy):
    response = _sign_in(client, HTTP_X_FORWARDED_FOR="not-an-ip", REMOTE_ADDR="10.0.0.2")

    assert response.status_code == 302
    assert AuditEvent.objects.get(event_type=EventType.SIGN_IN).ip == "10.0.0.2"


def test_sign_in_records_the_address_our_proxy_saw_not_the_one_the_client_claims(client, personas, behind_proxy):
    _sign_in(client, HTTP_X_FORWARDED_FOR="203.0.113.66, 198.51.100.7", REMOTE_ADDR="10.0.0.2")

    assert AuditEvent.objects.get(event_type=EventType.SIGN_IN).ip == "198.51.100.7"


@pytest.mark.parametrize("password", [PASSWORD, "not the password"])
def test_sign_in_with_a_peer_address_that_is_not_an_address_is_not_a_500(client, personas, password):
    response = _sign_in(client, password=password, REMOTE_ADDR="not-an-ip")

    assert response.status_code in (200, 302)
    event = AuditEvent.objects.filter(event_type__in=[EventType.SIGN_IN, EventType.SIGN_IN_FAILED]).get()
    assert event.ip is None

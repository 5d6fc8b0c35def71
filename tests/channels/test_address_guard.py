"""The Mastodon server address guard: https on a public address only, so the connect form cannot be used to make
Civic Desk call internal hosts; the configured simulator is the one exception. The test machines have no DNS, so
host names are resolved by a stand-in for getaddrinfo passed as `resolve`."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from django.core.exceptions import ValidationError

from channels_app.address_guard import check_instance_url, is_public_address


def resolver(*addresses: str):
    """A getaddrinfo that answers every name with these addresses."""

    def resolve(host, port, type=0, **kwargs):
        resolve.asked.append(host)
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses
        ]

    resolve.asked = []
    return resolve


def refused(url: str, **kwargs) -> str:
    with pytest.raises(ValidationError) as caught:
        check_instance_url(url, **kwargs)
    return " ".join(caught.value.messages)


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/",
        "https://127.1/",
        "https://2130706433/",
        "https://localhost/",
        "https://10.0.0.5/",
        "https://172.16.0.1/",
        "https://172.31.255.255/",
        "https://192.168.1.10/",
        "https://169.254.169.254/latest/meta-data/",
        "https://100.64.0.1/",
        "https://0.0.0.0/",
        "https://224.0.0.1/",
        "https://240.0.0.1/",
        "https://[::1]/",
        "https://[fe80::1]/",
        "https://[fc00::1]/",
        "https://[::]/",
        "https://[::ffff:10.0.0.1]/",
        "https://[::ffff:127.0.0.1]/",
        "https://[2002:c0a8:0101::1]/",
        "https://[64:ff9b::a9fe:a9fe]/",
    ],
)
def test_private_loopback_link_local_and_reserved_addresses_are_refused(url):
    assert "private or internal network" in refused(url)


def test_host_name_resolving_to_a_private_address_is_refused_without_saying_which():
    message = refused("https://mastodon.internal.example", resolve=resolver("10.1.2.3"))
    assert "private or internal network" in message and "10.1.2.3" not in message


def test_host_name_with_any_private_address_among_public_ones_is_refused():
    assert "private or internal" in refused("https://split.example", resolve=resolver("93.184.215.14", "192.168.0.2"))
    assert "private or internal" in refused("https://v6.example", resolve=resolver("2606:2800:21f:cb07::1", "fd00::5"))


def test_plain_http_on_a_public_host_is_refused():
    assert "https://" in refused("http://93.184.215.14/")
    assert "https://" in refused("ftp://social.example.gov.uk", resolve=resolver("93.184.215.14"))


def test_user_info_in_the_address_is_refused():
    assert "user name or password" in refused("https://admin:secret@93.184.215.14/")
    assert "user name or password" in refused("https://social.example@127.0.0.1/")


def test_unresolvable_or_malformed_addresses_are_refused():
    def no_such_host(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    assert "could not find a server" in refused("https://nowhere.example", resolve=no_such_host)
    assert "valid web address" in refused("https://93.184.215.14:99999/")
    assert "valid web address" in refused("https://")
    assert "Enter the address" in refused("   ")


def test_public_literal_address_is_accepted_and_normalised():
    assert check_instance_url("https://93.184.215.14/") == "https://93.184.215.14"
    assert check_instance_url("https://93.184.215.14:8443/some/path?x=1#f") == "https://93.184.215.14:8443"
    assert check_instance_url("https://[2606:2800:21f:cb07::1]/") == "https://[2606:2800:21f:cb07::1]"


def test_public_host_name_is_accepted_normalised_and_resolved_once():
    resolve = resolver("93.184.215.14")
    assert check_instance_url("Social.Example.GOV.uk./@someone", resolve=resolve) == "https://social.example.gov.uk"
    assert resolve.asked == ["social.example.gov.uk"]
    assert (
        check_instance_url("https://bücher.example", resolve=resolver("93.184.215.14"))
        == "https://xn--bcher-kva.example"
    )


def test_the_configured_simulator_is_accepted_over_http_on_loopback(settings):
    settings.SIM_URL = "http://127.0.0.1:8001"
    settings.MASTODON_SIM_INSTANCE_URL = "http://127.0.0.1:8001/mastodon"
    assert check_instance_url("http://127.0.0.1:8001/mastodon") == "http://127.0.0.1:8001/mastodon"
    assert check_instance_url("http://127.0.0.1:8001/mastodon/") == "http://127.0.0.1:8001/mastodon"
    assert check_instance_url("http://127.0.0.1:8001") == "http://127.0.0.1:8001/mastodon"
    # Only that origin: another port or host name on loopback is still refused.
    assert "https://" in refused("http://127.0.0.1:8002/mastodon")
    assert "private or internal" in refused("https://127.0.0.1:8001/mastodon")
    assert "private or internal" in refused("https://localhost:8001/mastodon")


def test_without_a_configured_simulator_loopback_is_refused(settings):
    settings.SIM_URL = ""
    settings.MASTODON_SIM_INSTANCE_URL = ""
    assert "https://" in refused("http://127.0.0.1:8001/mastodon")


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.215.14", True),
        ("2606:2800:21f:cb07::1", True),
        ("8.8.8.8", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("169.254.169.254", False),
        ("::ffff:169.254.169.254", False),
        ("::ffff:93.184.215.14", False),  # IPv4-mapped forms are not routed on the internet either
        ("ff02::1", False),
        ("192.0.2.1", False),  # documentation range
    ],
)
def test_is_public_address(address, public):
    assert is_public_address(ipaddress.ip_address(address)) is public

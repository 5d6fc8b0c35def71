"""The Mastodon connect form names a server by URL and we then call it from inside our network, so the URL is
checked first (server-side request forgery): https only, a host name without user info, and every address the
name resolves to must be a public one. The one exception is the configured simulator (SIM_URL), which the
demo and the tests run on loopback over http; that is configuration, not a guess about the URL.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

EXAMPLE = "https://social.example.gov.uk"
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def check_instance_url(url: str, *, resolve: Callable = socket.getaddrinfo) -> str:
    """The normalised base URL of a Mastodon server (https://host[:port], no path), or ValidationError.

    `resolve` is socket.getaddrinfo; tests pass another resolver because the test machines have no DNS.
    """
    raw = (url or "").strip()
    if not raw:
        raise ValidationError(
            "Enter the address of the Mastodon server, for example %(example)s.", params={"example": EXAMPLE}
        )
    if "://" not in raw:
        raw = f"https://{raw}"
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise _invalid() from None
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ValidationError("Enter the server's address without a user name or password in it.")
    simulator = _simulator_url(parts.scheme, parts.hostname, port)
    if simulator:
        return simulator
    if parts.scheme.lower() != "https":
        raise ValidationError(
            "Use the server's https:// address, for example %(example)s: other kinds of address are not allowed.",
            params={"example": EXAMPLE},
        )
    host = parts.hostname or ""
    if not host:
        raise _invalid()
    literal = _literal_address(host)
    if literal is None:
        try:
            host = host.rstrip(".").encode("idna").decode("ascii").lower()
        except UnicodeError:
            raise _invalid() from None
        if not host or len(host) > 253 or any(not label or len(label) > 63 for label in host.split(".")):
            raise _invalid()
    else:
        _require_public([literal])
    try:
        infos = resolve(host, port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise ValidationError(
            "We could not find a server at %(host)s. Check the address.", params={"host": host}
        ) from None
    addresses = [_parse_address(info[4][0]) for info in infos]
    if not addresses:
        raise ValidationError("We could not find a server at %(host)s. Check the address.", params={"host": host})
    _require_public(addresses)
    netloc = f"[{literal.compressed}]" if isinstance(literal, ipaddress.IPv6Address) else host
    if port and port != 443:
        netloc = f"{netloc}:{port}"
    return f"https://{netloc}"


def is_public_address(address: Address) -> bool:
    """True only for globally routable unicast addresses, looking inside IPv4-mapped, 6to4, Teredo and NAT64 forms."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None and not is_public_address(embedded):
            return False
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
    )


def _require_public(addresses: list[Address]) -> None:
    # Every address must be public: a name that resolves to one public and one internal address is refused,
    # and the message does not say which internal address it found.
    if not all(is_public_address(a) for a in addresses):
        raise ValidationError(
            "This address belongs to a private or internal network. Enter the public address of your Mastodon server."
        )


def _simulator_url(scheme: str, host: str | None, port: int | None) -> str:
    """The simulator's Mastodon base URL when the URL is on the configured simulator's origin, else ""."""
    target = getattr(settings, "MASTODON_SIM_INSTANCE_URL", "")
    for configured in (target, getattr(settings, "SIM_URL", "")):
        if configured and _origin(scheme, host, port) == _origin_of(configured):
            return target.rstrip("/")
    return ""


def _origin_of(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        return _origin(parts.scheme, parts.hostname, parts.port)
    except ValueError:
        return None


def _origin(scheme: str, host: str | None, port: int | None) -> tuple[str, str, int] | None:
    scheme = (scheme or "").lower()
    if not host or scheme not in ("http", "https"):
        return None
    return scheme, host.lower().rstrip("."), port or (443 if scheme == "https" else 80)


def _literal_address(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def _parse_address(value: str) -> Address:
    # getaddrinfo gives IPv6 link-local addresses with their zone ("fe80::1%eth0").
    return ipaddress.ip_address(value.split("%", 1)[0])


def _invalid() -> ValidationError:
    return ValidationError("Enter a valid web address, for example %(example)s.", params={"example": EXAMPLE})

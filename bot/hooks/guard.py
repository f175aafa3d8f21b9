"""Server-side request forgery: webhooks never reach private, loopback or reserved addresses.

A target is checked when it is subscribed and again right before each delivery (DNS can change
in between), and the request is pinned to the address checked: it connects to that IP, with the
host name kept for the `Host` header and TLS (SNI and certificate). Redirects are never
followed. `CAMTAY_WEBHOOKS_ALLOW_PRIVATE=true` lifts the address rule (development, tests).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain"})
RESOLVE_SECONDS = 5.0
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(ValueError):
    """The target is not allowed; the message says why."""


@dataclass(frozen=True)
class Target:
    url: str
    scheme: str
    host: str
    port: int
    address: Address
    """The checked address the request connects to."""


def forbidden(address: Address) -> bool:
    """Private, loopback, link-local, multicast, reserved or unspecified (IPv4-mapped too)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


def check_url(url: str, *, development: bool) -> tuple[str, str, int]:
    """The scheme, host and port of an acceptable URL: https, or http to localhost while
    developing; no user name or password in it."""
    if len(url) > 2000:
        raise Refused("the URL is longer than 2000 characters")
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError as error:
        raise Refused("the URL's port is not a number from 1 to 65535") from error
    host = (parts.hostname or "").rstrip(".").lower()
    if parts.scheme not in ("https", "http") or not host:
        raise Refused("the URL must be https://host/…")
    if parts.username is not None or parts.password is not None:
        raise Refused("the URL must not carry a user name or password")
    if parts.scheme == "http" and not (development and _loopback_name(host)):
        raise Refused("the URL must use https (http only to localhost, in development)")
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80)


def _loopback_name(host: str) -> bool:
    if host in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def resolve(url: str, *, allow_private: bool, development: bool) -> Target:
    """Check the URL and the addresses its host has now; the first allowed one is used.

    Any forbidden address refuses the whole host (a name that also points inside is suspect).
    """
    scheme, host, port = check_url(url, development=development)
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        loop = asyncio.get_running_loop()
        try:
            found = await asyncio.wait_for(
                loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_SECONDS
            )
        except (OSError, TimeoutError) as error:
            raise LookupError(f"cannot resolve {host}: {error}") from error
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in found]
    if not addresses:
        raise LookupError(f"{host} has no address")
    if not allow_private:
        bad = [address for address in addresses if forbidden(address)]
        if bad:
            raise Refused(f"{host} is a private, loopback or reserved address ({bad[0]})")
    return Target(url=url, scheme=scheme, host=host, port=port, address=addresses[0])

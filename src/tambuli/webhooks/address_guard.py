"""Refusing client-supplied push URLs that point into our own network (SSRF).

API clients choose `clientPushURL`, so a POST to it must not reach loopback, private networks or
cloud metadata services. The caller connects to the addresses returned here, not to the name
again, so a DNS answer that changes between check and connect (rebinding) cannot slip through.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

MAX_URL_LENGTH = 2000
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Host, then an optional port; a bracketed host must be followed by nothing but the port.
_AUTHORITY = re.compile(r"(?P<host>\[[^\]]*\]|[^:\[\]]*)(?::(?P<port>[^:]*))?")
_NAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?")
# Only strings made of these reach inet_aton, which otherwise ignores text after a space.
_INET_ATON_FORM = re.compile(r"[0-9a-fA-FxX.]+")

# Metadata services hand out cloud credentials; these stay refused even when private is allowed:
# AWS/GCP/Azure/Oracle IPv4, Azure WireServer, Alibaba, AWS IPv6, GCP IPv6.
_METADATA_V4 = ["169.254.169.254", "168.63.129.16", "100.100.100.200"]
_METADATA = frozenset(map(ipaddress.ip_address, [*_METADATA_V4, "fd00:ec2::254", "fd20:ce::254"]))
# Explicit IANA special-purpose ranges, because is_global differs between Python patch releases
# (3.11.7 calls 239.0.0.1 and 2002::1 global, for instance).
_REFUSED_RANGES = {
    "unspecified": "0.0.0.0/8 ::/128",
    "loopback": "127.0.0.0/8 ::1/128",
    "private": "10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 fc00::/7",
    "carrier-grade NAT shared space": "100.64.0.0/10",
    "link-local": "169.254.0.0/16 fe80::/10",
    "multicast": "224.0.0.0/4 ff00::/8",
    "reserved for documentation": "192.0.2.0/24 198.51.100.0/24 203.0.113.0/24 2001:db8::/32",
    "reserved": "192.0.0.0/24 192.88.99.0/24 198.18.0.0/15 240.0.0.0/4 64:ff9b:1::/48 100::/64",
    "deprecated site-local": "fec0::/10",
}
_REFUSED_NETWORKS = tuple(
    (ipaddress.ip_network(network), reason)
    for reason, networks in _REFUSED_RANGES.items()
    for network in networks.split()
)
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
# getaddrinfo's answers for "no such name" and "the name has no address"; EAI_NODATA is not
# defined everywhere.
_NO_SUCH_NAME = frozenset(
    code for code in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", None)) if code is not None
)


class UnresolvedHost(Exception):
    """The host name could not be resolved now; a later attempt may succeed."""


class UnknownHost(Exception):
    """The DNS says the host name does not exist; asking again will not change that soon."""


class UnsafeAddress(Exception):
    """A push destination that Tambuli refuses to connect to; the message says which and why."""


def _split_destination(url: str) -> tuple[str, int]:
    """The host (without brackets, ASCII, lower case) and port of an acceptable push URL."""
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"URL is longer than {MAX_URL_LENGTH} characters")
    # urlsplit silently drops tabs and newlines, which would let "127.0.0.1\t" look like a name.
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in url):
        raise ValueError("URL must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
    except ValueError as error:
        raise ValueError(f"URL cannot be parsed: {error}") from None
    if parts.scheme not in _DEFAULT_PORTS:
        raise ValueError("URL must start with http:// or https://")
    if "@" in parts.netloc:
        raise ValueError("URL must not contain a user name or password")
    authority = _AUTHORITY.fullmatch(parts.netloc)
    if authority is None or not authority["host"]:
        raise ValueError("URL must name a host")
    host, port_text = authority["host"], authority["port"]
    if port_text is None:
        port = _DEFAULT_PORTS[parts.scheme]
    elif not (port_text.isascii() and port_text.isdigit()) or not 1 <= int(port_text) <= 65535:
        raise ValueError("URL port must be a number from 1 to 65535")
    else:
        port = int(port_text)
    if host.startswith("["):
        # RFC 6874 writes the zone separator as "%25" inside brackets; nothing else is decoded.
        inner = host[1:-1].replace("%25", "%", 1)
        try:
            ipaddress.IPv6Address(inner)
        except ValueError:
            raise ValueError("URL host in brackets must be an IPv6 address") from None
        return inner, port
    try:
        # The IDNA codec folds full-width digits and dots, so "１２７。0.0.1" becomes 127.0.0.1.
        host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise ValueError("URL host is not a valid domain name") from None
    if len(host.rstrip(".")) > 253 or _NAME.fullmatch(host) is None:
        raise ValueError("URL host is not a valid domain name or IP address")
    return host, port


def check_webhook_url(url: str) -> str:
    """The URL unchanged if it is an acceptable push URL, else ValueError saying why not."""
    _split_destination(url)
    return url


def _parse_address(text: str) -> IPAddress | None:
    """An IP address written in any form the system resolver accepts as a literal, else None."""
    text = text.removesuffix(".")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    # inet_aton reads "127.1", "0x7f.1", "017700000001" and "2130706433" as 127.0.0.1, and so
    # would getaddrinfo, bypassing any check that only looks at dotted quads.
    if _INET_ATON_FORM.fullmatch(text) is None:
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except OSError:
        return None


def _without_zone(address: ipaddress.IPv6Address) -> ipaddress.IPv6Address:
    """The address without its zone id, which would make it unequal to every listed address."""
    return ipaddress.IPv6Address(str(address).partition("%")[0])


def _embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[str, list[ipaddress.IPv4Address]]:
    """The kind of IPv6 wrapper around IPv4 addresses, and the IPv4 addresses it reaches."""
    if address.ipv4_mapped is not None:
        return "an IPv4-mapped", [address.ipv4_mapped]
    if address in _NAT64:
        # ipaddress calls 64:ff9b::a00:1 global although the translator delivers it to 10.0.0.1.
        return "a NAT64", [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    if address.sixtofour is not None:
        return "a 6to4", [address.sixtofour]
    if address.teredo is not None:
        return "a Teredo", list(address.teredo)
    if address in _IPV4_COMPATIBLE and int(address) > 1:
        return "an IPv4-compatible", [ipaddress.IPv4Address(int(address))]
    return "", []


def _refusal(address: IPAddress) -> str | None:
    """Why address is not a public destination, or None when it is."""
    if isinstance(address, ipaddress.IPv6Address):
        address = _without_zone(address)
        kind, embedded = _embedded_ipv4(address)
        # A wrapper is judged by what it reaches; every embedded address has to be public.
        for inner in embedded:
            reason = _refusal(inner)
            if reason is not None:
                return f"{kind} address of {inner}, which is {reason}"
        if embedded:
            return None
    if address in _METADATA:
        return "a cloud metadata service"
    for network, reason in _REFUSED_NETWORKS:
        if address in network:
            return reason
    if isinstance(address, ipaddress.IPv6Address) and address not in _GLOBAL_UNICAST:
        return "outside IPv6 global unicast space"
    if not address.is_global:
        return "not globally routable"
    return None


def _is_metadata(address: IPAddress) -> bool:
    """Whether address is, or wraps, a cloud metadata service address."""
    if isinstance(address, ipaddress.IPv6Address):
        address = _without_zone(address)
        if any(inner in _METADATA for inner in _embedded_ipv4(address)[1]):
            return True
    return address in _METADATA


def is_public_address(address: str) -> bool:
    """Whether an IP address (any literal form, wrappers unwrapped) is safe to push to."""
    parsed = _parse_address(address.strip("[]"))
    # Anything that is not an address at all is not a public address: fail closed.
    return parsed is not None and _refusal(parsed) is None


async def resolve_system(host: str, port: int) -> list[str]:
    """The addresses the operating system resolves host to, in its order, without repeats."""
    if host.rstrip(".").lower().rsplit(".", 1)[-1] == "invalid":
        # RFC 6761 reserves .invalid and lets resolver libraries say "no such name" at once,
        # so such a lookup never leaves the machine.
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known (.invalid)")
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def resolve_webhook_destination(
    url: str, *, allow_private: bool, resolve: Resolver = resolve_system
) -> list[str]:
    """The checked addresses to connect to for url.

    UnsafeAddress when any address is refused, UnknownHost when the name does not exist,
    UnresolvedHost when the name cannot be resolved now, ValueError when the URL is malformed.
    """
    host, port = _split_destination(url)
    literal = _parse_address(host)
    if literal is not None:
        # A literal never goes to the resolver, whose own filtering it would otherwise bypass.
        addresses = [literal]
    else:
        try:
            answers = await resolve(host, port)
        except UnicodeError as error:
            raise UnsafeAddress(f"cannot resolve {host!r}: {error}") from None
        except socket.gaierror as error:
            if error.errno in _NO_SUCH_NAME:
                # The DNS answered that the name does not exist (NXDOMAIN): a mistyped URL,
                # not an outage, so retrying for a day would only delay the failure.
                raise UnknownHost(f"{host!r} does not exist: {error}") from None
            # Timeouts and unreachable resolvers pass; the caller retries the push later.
            raise UnresolvedHost(f"cannot resolve {host!r}: {error}") from None
        except OSError as error:
            raise UnresolvedHost(f"cannot resolve {host!r}: {error}") from None
        if not answers:
            raise UnresolvedHost(f"{host!r} resolves to no addresses")
        addresses = []
        for answer in answers:
            try:
                addresses.append(ipaddress.ip_address(answer))
            except ValueError:
                raise UnsafeAddress(f"{host!r} resolved to {answer!r}, not an address") from None
    # Every answer is checked: the HTTP client may try any of them, so one bad answer spoils all.
    for address in addresses:
        reason = _refusal(address)
        if reason is not None and (not allow_private or _is_metadata(address)):
            subject = (
                str(address) if host == str(address) else f"{host!r} resolves to {address}, which"
            )
            raise UnsafeAddress(f"{subject} is refused: it is {reason}")
    return list(dict.fromkeys(str(address) for address in addresses))

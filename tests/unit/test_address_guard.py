"""The SSRF guard for push URLs: URL syntax, literal addresses, wrappers and resolved names.

Every address here is only parsed or handed over by a fake resolver; nothing is contacted.
"""

from __future__ import annotations

import ipaddress
import re
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tambuli.webhooks.address_guard import (
    Resolver,
    UnknownHost,
    UnresolvedHost,
    UnsafeAddress,
    check_webhook_url,
    is_public_address,
    resolve_system,
    resolve_webhook_destination,
)


async def never_resolve(host: str, port: int) -> list[str]:
    """Stands in for DNS where a literal must be judged without any lookup."""
    raise AssertionError(f"literal {host!r} was sent to the resolver")


def answering(*addresses: str, calls: list[tuple[str, int]] | None = None) -> Resolver:
    """A fake resolver that gives the same answer for every name and records what it was asked."""

    async def resolve(host: str, port: int) -> list[str]:
        if calls is not None:
            calls.append((host, port))
        return list(addresses)

    return resolve


REFUSED_LITERALS = [
    ("127.0.0.1", "loopback"),
    ("127.255.0.9", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.254", "private"),
    ("192.168.1.1", "private"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("100.127.255.254", "carrier-grade NAT"),
    ("169.254.169.254", "cloud metadata"),
    ("168.63.129.16", "cloud metadata"),
    ("100.100.100.200", "cloud metadata"),
    ("169.254.10.10", "link-local"),
    ("0.0.0.0", "unspecified"),  # noqa: S104
    ("0", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("255.255.255.255", "reserved"),
    ("240.0.0.1", "reserved"),
    ("198.18.0.1", "reserved"),
    ("192.0.2.10", "documentation"),
    ("2130706433", "loopback"),
    ("0x7f.1", "loopback"),
    ("0x7f000001", "loopback"),
    ("127.1", "loopback"),
    ("017700000001", "loopback"),
    ("0177.0.0.1", "loopback"),
    ("127.0.0.01", "loopback"),
    ("127.0.0.1.", "loopback"),
    ("０x7f.1", "loopback"),
    ("[::1]", "loopback"),
    ("[::]", "unspecified"),
    ("[fe80::1%25eth0]", "link-local"),
    ("[fe80::1]", "link-local"),
    ("[fc00::1]", "private"),
    ("[fd12:3456::1]", "private"),
    ("[fd00:ec2::254]", "cloud metadata"),
    ("[fd20:ce::254]", "cloud metadata"),
    ("[ff02::1]", "multicast"),
    ("[fec0::1]", "site-local"),
    ("[2001:db8::1]", "documentation"),
    ("[100::1]", "reserved"),
    ("[64:ff9b:1::a00:1]", "reserved"),
    ("[::ffff:127.0.0.1]", "IPv4-mapped address of 127.0.0.1"),
    ("[::ffff:a9fe:a9fe]", "IPv4-mapped address of 169.254.169.254"),
    ("[64:ff9b::7f00:1]", "NAT64 address of 127.0.0.1"),
    ("[64:ff9b::a00:1]", "NAT64 address of 10.0.0.1"),
    ("[64:ff9b::192.168.0.1]", "NAT64 address of 192.168.0.1"),
    ("[2002:7f00:1::]", "6to4 address of 127.0.0.1"),
    ("[2002:a00:1::1]", "6to4 address of 10.0.0.1"),
    ("[::127.0.0.1]", "IPv4-compatible address of 127.0.0.1"),
    ("[2001:0:4136:e378:8000:63bf:80ff:fffe]", "a Teredo address of 127.0.0.1"),
    ("[2001:0:a00:1:8000:63bf:f7f7:f7f7]", "Teredo address of 10.0.0.1"),
    ("[4000::1]", "outside IPv6 global unicast"),
]

PUBLIC_LITERALS = [
    ("8.8.8.8", "8.8.8.8"),
    ("1.1.1.1", "1.1.1.1"),
    ("134744072", "8.8.8.8"),
    ("[2606:4700:4700::1111]", "2606:4700:4700::1111"),
    ("[::ffff:8.8.8.8]", "::ffff:808:808"),
    ("[64:ff9b::808:808]", "64:ff9b::808:808"),
    ("[2002:808:808::1]", "2002:808:808::1"),
    ("[2001:0:4136:e378:8000:63bf:f7f7:f7f7]", "2001:0:4136:e378:8000:63bf:f7f7:f7f7"),
]


@pytest.mark.parametrize(("host", "reason"), REFUSED_LITERALS)
async def test_a_url_with_a_non_public_literal_host_is_refused_without_a_lookup(
    host: str, reason: str
) -> None:
    with pytest.raises(UnsafeAddress, match=re.escape(reason)):
        await resolve_webhook_destination(
            f"https://{host}/hook", allow_private=False, resolve=never_resolve
        )


@pytest.mark.parametrize(("host", "address"), PUBLIC_LITERALS)
async def test_a_url_with_a_public_literal_host_is_allowed_without_a_lookup(
    host: str, address: str
) -> None:
    destination = await resolve_webhook_destination(
        f"https://{host}/hook", allow_private=False, resolve=never_resolve
    )
    assert destination == [address]


@pytest.mark.parametrize(
    ("address", "public"),
    [
        *[(host.strip("[]").replace("%25", "%"), False) for host, _ in REFUSED_LITERALS],
        *[(host.strip("[]"), True) for host, _ in PUBLIC_LITERALS],
        ("fe80::1%eth0", False),
        ("example.com", False),
        ("", False),
        ("1.2.3.4 trailing", False),
    ],
)
def test_is_public_address_agrees_with_the_url_check(address: str, public: bool) -> None:
    assert is_public_address(address) is public


@given(
    st.sampled_from(["127.0.0.0/8", "10.0.0.0/8", "192.168.0.0/16", "169.254.0.0/16"]).flatmap(
        lambda network: st.integers(
            int(ipaddress.IPv4Network(network).network_address),
            int(ipaddress.IPv4Network(network).broadcast_address),
        )
    ),
    st.sampled_from(["::ffff:0:0", "64:ff9b::", "::", "2002::"]),
)
def test_no_ipv6_wrapper_makes_a_private_ipv4_address_public(inner: int, prefix: str) -> None:
    base = int(ipaddress.IPv6Address(prefix))
    shift = 80 if prefix == "2002::" else 0
    wrapped = ipaddress.IPv6Address(base | inner << shift)
    assert not is_public_address(str(wrapped))


async def test_a_name_is_allowed_when_every_address_it_resolves_to_is_public() -> None:
    calls: list[tuple[str, int]] = []
    resolve = answering("93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", calls=calls)
    destination = await resolve_webhook_destination(
        "https://hooks.example.com/sms", allow_private=False, resolve=resolve
    )
    assert destination == ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]
    assert calls == [("hooks.example.com", 443)]


async def test_a_name_is_refused_when_one_of_its_addresses_is_private() -> None:
    resolve = answering("93.184.215.14", "10.0.0.7", "2606:2800:21f:cb07:6820:80da:af6b:8b2c")
    with pytest.raises(
        UnsafeAddress, match=r"'hooks\.example\.com' resolves to 10\.0\.0\.7.*private"
    ):
        await resolve_webhook_destination(
            "https://hooks.example.com/sms", allow_private=False, resolve=resolve
        )


async def test_the_refusal_names_the_address_and_the_reason() -> None:
    with pytest.raises(UnsafeAddress) as literal:
        await resolve_webhook_destination(
            "http://127.0.0.1/", allow_private=False, resolve=never_resolve
        )
    assert str(literal.value) == "127.0.0.1 is refused: it is loopback"
    with pytest.raises(UnsafeAddress) as odd_literal:
        await resolve_webhook_destination(
            "http://0x7f.1/", allow_private=False, resolve=never_resolve
        )
    assert str(odd_literal.value) == (
        "'0x7f.1' resolves to 127.0.0.1, which is refused: it is loopback"
    )


async def test_a_name_resolving_to_a_nat64_wrapped_private_address_is_refused() -> None:
    with pytest.raises(UnsafeAddress, match=r"a NAT64 address of 10\.0\.0\.1, which is private"):
        await resolve_webhook_destination(
            "http://nat64.example.com/", allow_private=False, resolve=answering("64:ff9b::a00:1")
        )


async def test_a_name_resolving_to_a_scoped_link_local_address_is_refused() -> None:
    with pytest.raises(UnsafeAddress, match="link-local"):
        await resolve_webhook_destination(
            "http://printer.local/", allow_private=False, resolve=answering("fe80::1%eth0")
        )


async def test_a_trailing_dot_name_is_resolved_and_checked_like_any_other() -> None:
    calls: list[tuple[str, int]] = []
    with pytest.raises(UnsafeAddress, match="loopback"):
        await resolve_webhook_destination(
            "http://LocalHost.:8080/",
            allow_private=False,
            resolve=answering("127.0.0.1", calls=calls),
        )
    assert calls == [("localhost.", 8080)]


async def test_allowing_private_addresses_lets_loopback_and_private_networks_through() -> None:
    assert await resolve_webhook_destination(
        "http://127.1:8000/hook", allow_private=True, resolve=never_resolve
    ) == ["127.0.0.1"]
    assert await resolve_webhook_destination(
        "http://[fe80::1%25eth0]/", allow_private=True, resolve=never_resolve
    ) == ["fe80::1%eth0"]
    resolve = answering("10.0.0.7", "8.8.8.8", "10.0.0.7")
    assert await resolve_webhook_destination(
        "http://lan.example.com/", allow_private=True, resolve=resolve
    ) == ["10.0.0.7", "8.8.8.8"]


@pytest.mark.parametrize("host", ["169.254.169.254", "[fd00:ec2::254]", "[::ffff:169.254.169.254]"])
async def test_cloud_metadata_stays_refused_even_when_private_addresses_are_allowed(
    host: str,
) -> None:
    with pytest.raises(UnsafeAddress, match="cloud metadata"):
        await resolve_webhook_destination(
            f"http://{host}/latest/meta-data/", allow_private=True, resolve=never_resolve
        )


async def test_a_name_that_does_not_resolve_now_is_reported_for_a_later_retry() -> None:
    async def failing(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    with pytest.raises(UnresolvedHost, match=r"cannot resolve 'slow\.example\.com'"):
        await resolve_webhook_destination(
            "https://slow.example.com/", allow_private=False, resolve=failing
        )


async def test_a_name_that_does_not_exist_is_reported_as_unknown_for_good() -> None:
    async def nxdomain(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(UnknownHost, match=r"'gone\.example\.com' does not exist"):
        await resolve_webhook_destination(
            "https://gone.example.com/", allow_private=False, resolve=nxdomain
        )


@pytest.mark.parametrize("host", ["hooks.invalid", "HOOKS.Invalid.", "invalid"])
async def test_the_system_resolver_answers_an_invalid_name_itself(host: str) -> None:
    # RFC 6761 reserves .invalid and lets resolver libraries answer it at once: the lookup never
    # leaves the machine, whatever the configured DNS server would say.
    with pytest.raises(socket.gaierror) as raised:
        await resolve_system(host, 80)
    assert raised.value.errno == socket.EAI_NONAME


@pytest.mark.parametrize("allow_private", [False, True])
async def test_a_name_with_no_addresses_is_reported_for_a_later_retry(allow_private: bool) -> None:
    with pytest.raises(UnresolvedHost, match="no addresses"):
        await resolve_webhook_destination(
            "https://empty.example.com/", allow_private=allow_private, resolve=answering()
        )


async def test_a_resolver_answer_that_is_not_an_address_is_refused() -> None:
    with pytest.raises(UnsafeAddress, match="not an address"):
        await resolve_webhook_destination(
            "https://odd.example.com/", allow_private=True, resolve=answering("127.1")
        )


async def test_a_malformed_url_is_a_value_error_before_any_lookup() -> None:
    with pytest.raises(ValueError, match="http:// or https://"):
        await resolve_webhook_destination(
            "gopher://example.com/", allow_private=True, resolve=never_resolve
        )


async def test_the_system_resolver_reads_a_numeric_host_without_asking_dns() -> None:
    assert await resolve_system("127.0.0.1", 80) == ["127.0.0.1"]


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/sms/status",
        "http://hooks.example.com:8080/x?y=1#z",
        "HTTPS://Hooks.Example.COM/",
        "https://203.0.113.5:65535/",
        "https://[2606:4700:4700::1111]:1/",
        "https://bücher.example/hook",
        "https://under_score.example.com./",
    ],
)
def test_check_webhook_url_returns_an_acceptable_url_unchanged(url: str) -> None:
    assert check_webhook_url(url) == url


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("ftp://example.com/file", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("javascript:alert(1)", "http:// or https://"),
        ("example.com/hook", "http:// or https://"),
        ("https:///hook", "must name a host"),
        ("https://:443/hook", "must name a host"),
        ("https://user:secret@example.com/", "user name or password"),
        ("https://example.com@127.0.0.1/", "user name or password"),
        ("https://example.com:0/", "port must be a number from 1 to 65535"),
        ("https://example.com:65536/", "port must be a number from 1 to 65535"),
        ("https://example.com:-1/", "port must be a number from 1 to 65535"),
        ("https://example.com:http/", "port must be a number from 1 to 65535"),
        ("https://example.com:/", "port must be a number from 1 to 65535"),
        ("https://example.com:٨٠/", "port must be a number from 1 to 65535"),
        ("https://example.com/" + "a" * 2000, "longer than 2000 characters"),
        ("https://exa mple.com/", "spaces or control characters"),
        ("https://127.0.0.1\t/", "spaces or control characters"),
        ("https://example.com/\r\nHost: evil", "spaces or control characters"),
        ("https://[::1]x/", "cannot be parsed|must name a host"),
        ("https://[127.0.0.1]/", "cannot be parsed|must be an IPv6 address"),
        ("https://[%3a%3a1]/", "cannot be parsed|must be an IPv6 address"),
        ("https://exa%6dple.com/", "not a valid domain name"),
        ("https://a..b/", "not a valid domain name"),
        ("https://" + "a" * 254 + "/", "not a valid domain name"),
        ("https://::1/", "must name a host|port must be"),
    ],
)
def test_check_webhook_url_refuses_unacceptable_urls_with_a_clear_message(
    url: str, complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint):
        check_webhook_url(url)

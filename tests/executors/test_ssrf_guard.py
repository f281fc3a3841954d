"""The inline HTTP target guard: every forbidden class, operator exceptions, and resolution."""

from __future__ import annotations

import ipaddress

import pytest

from leoflow.config import load_settings
from leoflow.executors.ssrf import (
    TargetPolicy,
    TargetRefused,
    address_kind,
    checked_addresses,
    parse_networks,
)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("0.0.0.0", "loopback"),
        ("::", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("169.254.169.254", "link_local"),
        ("fe80::1", "link_local"),
        ("::ffff:169.254.169.254", "link_local"),
        ("2002:a9fe:a9fe::1", "link_local"),  # 6to4 wrapping 169.254.169.254
        ("10.0.0.5", "private"),
        ("172.16.3.4", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "private"),  # carrier-grade NAT
        ("fd00:ec2::254", "private"),  # AWS IPv6 metadata (unique local)
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("93.184.215.14", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_address_classes(address: str, kind: str | None) -> None:
    assert address_kind(ipaddress.ip_address(address)) == kind


def test_default_policy_depends_on_the_edition() -> None:
    lite = TargetPolicy.from_settings(load_settings(edition="lite"))
    pro = TargetPolicy.from_settings(load_settings(edition="pro"))
    assert lite.allow_loopback and not pro.allow_loopback
    assert not lite.allow_private and not pro.allow_private
    forced = TargetPolicy.from_settings(
        load_settings(edition="lite", inline_http_allow_loopback=False)
    )
    assert not forced.allow_loopback


def test_operator_exceptions() -> None:
    loopback = ipaddress.ip_address("127.0.0.1")
    metadata = ipaddress.ip_address("169.254.169.254")
    private = ipaddress.ip_address("10.1.2.3")
    assert TargetPolicy().refusal(loopback) == "loopback"
    assert TargetPolicy(allow_loopback=True).refusal(loopback) is None
    assert TargetPolicy(allow_loopback=True, allow_private=True).refusal(metadata) == "link_local"
    assert TargetPolicy(allow_private=True).refusal(private) is None
    narrow = TargetPolicy(allowed_networks=parse_networks(["10.1.0.0/16"]))
    assert narrow.refusal(private) is None
    assert narrow.refusal(ipaddress.ip_address("10.2.0.1")) == "private"
    with pytest.raises(ValueError, match="INLINE_HTTP_ALLOWED_CIDRS"):
        parse_networks(["not-a-network"])


async def test_names_are_resolved_and_every_address_checked() -> None:
    with pytest.raises(TargetRefused, match="loopback") as info:
        await checked_addresses(TargetPolicy(), "localhost", 80)
    assert info.value.kind == "loopback"
    assert "ALLOW_LOOPBACK" in str(info.value) and "execution_mode: pod" in str(info.value)
    allowed = await checked_addresses(TargetPolicy(allow_loopback=True), "localhost", 80)
    assert all(address_kind(ip) == "loopback" for ip in allowed)
    with pytest.raises(TargetRefused, match="link_local"):
        await checked_addresses(TargetPolicy(allow_private=True), "169.254.169.254", 80)
    with pytest.raises(TargetRefused):
        await checked_addresses(TargetPolicy(), "[::1]", 80)

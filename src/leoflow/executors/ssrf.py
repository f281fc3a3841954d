"""Where an inline HTTP task may connect: never the control plane's own neighbourhood.

Inline ``http_api`` tasks run inside the control plane, so an author-controlled URL could
reach the cloud metadata service (169.254.169.254), the Kubernetes API or a database on the
private network. The guard resolves the host itself and checks *every* address it resolves to;
the request is then sent to the checked address (the URL's name kept for ``Host`` and TLS), so
a DNS answer that changes between check and connect (rebinding) cannot slip through.

Loopback is allowed only when configured (Lite does by default: the user's own machine);
private ranges only when configured; link-local, multicast and reserved ranges never, unless an
operator lists the exact network in ``inline_http_allowed_cidrs``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from leoflow.config import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class TargetRefused(Exception):
    """The target resolves to a network inline HTTP tasks may not reach; says which and why."""

    def __init__(self, host: str, address: str, kind: str, hint: str) -> None:
        super().__init__(
            f"refusing to connect to {host} ({address}): {kind} addresses are not reachable "
            f"from inline HTTP tasks; {hint}"
        )
        self.kind = kind


def _embedded_ipv4(ip: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 one carries (mapped ``::ffff:a.b.c.d`` or 6to4)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
    return ip


def address_kind(ip: IPAddress) -> str | None:
    """The forbidden class of ``ip`` (``loopback``, ``link_local``, ``private``,
    ``multicast``, ``reserved``), or ``None`` for a public address."""
    ip = _embedded_ipv4(ip)
    if ip.is_unspecified or ip.is_loopback:
        return "loopback"  # 0.0.0.0 and :: reach the local host on Linux
    if ip.is_link_local:
        return "link_local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_reserved:
        return "reserved"
    if ip.is_private or not ip.is_global:
        return "private"
    return None


_HINTS = {
    "loopback": "set LEOFLOW_INLINE_HTTP_ALLOW_LOOPBACK=true to allow it, or run the task with "
    "execution_mode: pod",
    "private": "set LEOFLOW_INLINE_HTTP_ALLOW_PRIVATE=true or list the network in "
    "LEOFLOW_INLINE_HTTP_ALLOWED_CIDRS, or run the task with execution_mode: pod",
    "link_local": "link-local addresses (cloud metadata services) are never reachable inline; "
    "run the task with execution_mode: pod",
}


@dataclass(frozen=True)
class TargetPolicy:
    """Which forbidden classes an operator opened up."""

    allow_loopback: bool = False
    allow_private: bool = False
    allowed_networks: tuple[IPNetwork, ...] = field(default_factory=tuple)

    @classmethod
    def from_settings(cls, settings: Settings) -> TargetPolicy:
        loopback = settings.inline_http_allow_loopback
        if loopback is None:
            loopback = settings.edition == "lite"
        return cls(
            allow_loopback=loopback,
            allow_private=settings.inline_http_allow_private,
            allowed_networks=parse_networks(settings.inline_http_allowed_cidrs),
        )

    def refusal(self, ip: IPAddress) -> str | None:
        """The forbidden class of ``ip`` under this policy (``None`` = allowed)."""
        if any(ip in net or _embedded_ipv4(ip) in net for net in self.allowed_networks):
            return None
        kind = address_kind(ip)
        if kind == "loopback" and self.allow_loopback:
            return None
        if kind == "private" and self.allow_private:
            return None
        return kind


def parse_networks(cidrs: Iterable[str]) -> tuple[IPNetwork, ...]:
    """``["10.1.0.0/16", "fd00::/8"]`` as networks; a bad entry names the setting."""
    networks: list[IPNetwork] = []
    for text in cidrs:
        try:
            networks.append(ipaddress.ip_network(text.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"LEOFLOW_INLINE_HTTP_ALLOWED_CIDRS: {exc}") from None
    return tuple(networks)


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (an IP literal resolves to itself)."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: dict[str, IPAddress] = {}
    for info in infos:
        address = str(info[4][0]).split("%", 1)[0]
        seen.setdefault(address, ipaddress.ip_address(address))
    return list(seen.values())


async def checked_addresses(policy: TargetPolicy, host: str, port: int) -> Sequence[IPAddress]:
    """The resolved addresses of ``host``, all allowed; :class:`TargetRefused` if any is not
    (one bad address is enough: the client could pick it)."""
    try:
        addresses = await resolve(host, port)
    except OSError as exc:
        raise OSError(f"cannot resolve {host}: {exc}") from exc
    if not addresses:
        raise OSError(f"{host} resolves to no address")
    for ip in addresses:
        kind = policy.refusal(ip)
        if kind is not None:
            raise TargetRefused(host, str(ip), kind, _HINTS.get(kind, "it is never allowed"))
    return addresses

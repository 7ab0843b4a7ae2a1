"""A running guest's IP addresses and a ready ``ssh USER@IP`` line, for the details.

libvirt answers from three sources, tried in this order until one gives an address:

- the guest agent (``interfaceAddresses`` with ``SRC_AGENT``): every address the guest
  has, on any network; libvirt allows it on read-write connections only;
- the DHCP leases of libvirt's own networks (``SRC_LEASE``);
- the host's ARP table (``SRC_ARP``): guests on a bridge the host has talked to.

Loopback and link-local addresses are left out (no ssh reaches them from the host's LAN).
Addresses of the guest's own NICs (the agent's hardware address is a MAC of the guest's
definition) come first, so the ssh line names one of them and not, say, Docker's docker0
bridge inside the guest (172.17.0.1), which sorts before enp1s0.
The user comes from the guest's cloud-init seed, when kvmtui made it
(backend/seed.py reads ``user-data`` back); otherwise the line has no user.

Every call blocks (RPCs): run it in a worker.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

import libvirt

from kvmtui.backend import errors
from kvmtui.backend.agent import GuestAgent
from kvmtui.backend.domain import Domain
from kvmtui.backend.host import Host
from kvmtui.backend.seed import read_seed_volume, seed_user
from kvmtui.backend.seed_detach import GuestSeed

#: How long the agent may take to answer before the other sources are asked.
AGENT_LIMIT_S = 3.0
SOURCES: tuple[tuple[str, int], ...] = (
    ("agent", libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT),
    ("DHCP lease", libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE),
    ("ARP", libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP),
)
_FAMILIES = {libvirt.VIR_IP_ADDR_TYPE_IPV4: 4, libvirt.VIR_IP_ADDR_TYPE_IPV6: 6}


@dataclass(frozen=True, slots=True)
class GuestAddress:
    interface: str  # the guest's name for it (agent) or the host's vnetN (lease, ARP)
    mac: str | None
    address: str
    prefix: int | None
    family: int  # 4 or 6

    @property
    def text(self) -> str:
        return f"{self.address}/{self.prefix}" if self.prefix is not None else self.address


@dataclass(frozen=True, slots=True)
class GuestAddresses:
    addresses: tuple[GuestAddress, ...]
    source: str | None  # which source answered ("agent", "DHCP lease", "ARP")
    user: str | None  # from the cloud-init seed kvmtui made
    notes: tuple[str, ...] = ()  # why sources gave nothing
    nic_macs: frozenset[str] = frozenset()  # the guest's NICs' MACs, lower case

    @property
    def ssh_line(self) -> str | None:
        """``ssh USER@IP`` for the first address of the guest's own NICs (IPv4 first), then
        of any other interface but loopback; ``ssh IP`` without a user."""
        candidates = [a for a in self.addresses if a.interface != LOOPBACK]
        if not candidates:
            return None
        first = min(candidates, key=lambda a: (not on_nic(a, self.nic_macs), a.family))
        return f"ssh {self.user}@{first.address}" if self.user else f"ssh {first.address}"


#: The guest's loopback interface: never in the ssh line, whatever address it carries.
LOOPBACK = "lo"


def on_nic(address: GuestAddress, nic_macs: frozenset[str]) -> bool:
    """Whether the address is on one of the guest's NICs (by hardware address)."""
    return (address.mac or "").lower() in nic_macs


def reachable(address: str) -> bool:
    """Not loopback, link-local, unspecified or multicast: an address ssh can use."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    return not (ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast)


def parse_interface_addresses(
    answer: dict[str, Any], nic_macs: frozenset[str] = frozenset()
) -> tuple[GuestAddress, ...]:
    """libvirt's ``interfaceAddresses`` answer (any source), reachable addresses only:
    those of the guest's NICs (``nic_macs``) first, each group in interface order."""
    found = []
    for name, value in sorted(answer.items()):
        for addr in (value or {}).get("addrs") or ():
            text = str(addr.get("addr", ""))
            if not reachable(text):
                continue
            found.append(
                GuestAddress(
                    interface=str(name),
                    mac=value.get("hwaddr"),
                    address=text,
                    prefix=addr.get("prefix"),
                    family=_FAMILIES.get(addr.get("type"), 4 if ":" not in text else 6),
                )
            )
    return tuple(sorted(found, key=lambda a: not on_nic(a, nic_macs)))  # stable: names kept


def nic_macs(xml: str) -> frozenset[str]:
    """The MACs of the NICs in a domain definition, lower case."""
    return frozenset((nic.mac or "").lower() for nic in Domain.from_xml(xml).interfaces) - {""}


def _ask(host: Host, uuid: str, source: int) -> dict[str, Any]:
    if source == libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT:
        agent = GuestAgent(host, uuid, limit_s=AGENT_LIMIT_S)
        answer: dict[str, Any] = agent.call(
            "read the addresses of", lambda d: d.interfaceAddresses(source, 0)
        )
        return answer
    action = "read the addresses of"
    dom = host.domain(uuid, action)
    try:
        return dict(dom.interfaceAddresses(source, 0) or {})
    except libvirt.libvirtError as exc:
        raise errors.from_libvirt(exc, host=host.label, action=action) from exc


def read_user(host: Host, seed: GuestSeed | None) -> str | None:
    """The user the guest's kvmtui-made cloud-init seed creates, or None (no seed, a seed
    not readable here — read-only connections cannot stream it — or one naming no user)."""
    if seed is None or not seed.pool:
        return None
    try:
        files = read_seed_volume(host, seed.pool, seed.volume)
    except errors.KvmtuiError:
        return None
    return seed_user(files.get("user-data", ""))


def read_addresses(host: Host, uuid: str, user: str | None = None) -> GuestAddresses:
    """The guest's addresses from the first source that has any; ``user`` (from
    :func:`read_user`, read once per screen) goes into the ssh line."""
    action = "read the addresses of"
    dom = host.domain(uuid, action)
    try:
        active = bool(dom.isActive())
        macs = nic_macs(dom.XMLDesc(0)) if active else frozenset()
    except libvirt.libvirtError as exc:
        raise errors.from_libvirt(exc, host=host.label, action=action) from exc
    if not active:
        return GuestAddresses((), None, user, ("the guest is not running",))
    notes: list[str] = []
    for name, source in SOURCES:
        if name == "agent" and host.readonly:
            notes.append("agent: not on a read-only connection")
            continue
        try:
            found = parse_interface_addresses(_ask(host, uuid, source), macs)
        except errors.KvmtuiError as exc:
            notes.append(f"{name}: {exc}")
            continue
        if found:
            return GuestAddresses(found, name, user, tuple(notes), macs)
        notes.append(f"{name}: no address")
    return GuestAddresses((), None, user, tuple(notes), macs)

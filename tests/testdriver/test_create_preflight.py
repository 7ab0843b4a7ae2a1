"""Pre-flight checks of a new guest's network on libvirt's test:/// driver (its host has
the interface eth1, an ethernet, and the NAT network 'default' with DHCP but no boot
file): PXE is refused on a network that cannot boot it, a bridge or macvtap NIC on an
interface the host does not have is refused, each with a sentence, before anything is
made. A bridge NIC on an interface libvirt types otherwise, or one only the node devices
know (tests/data/netcf-node.xml: the netcf backend's partial list), is a warning."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest

from kvmtui.backend import create
from kvmtui.backend.create_spec import NetworkKind, NetworkSpec, NewGuest
from kvmtui.backend.host import Host
from tests.hosts import started_host

URI = "test:///default"
PXE_NET = """<network><name>pxe-net</name><forward mode='nat'/><bridge name='virbr9'/>
<ip address='192.168.9.1' netmask='255.255.255.0'><tftp root='/srv/tftp'/>
<dhcp><range start='192.168.9.2' end='192.168.9.9'/><bootp file='pxelinux.0'/></dhcp></ip>
</network>"""


@pytest.fixture(scope="module")
def host() -> Iterator[Host]:
    with started_host(URI) as started:
        yield started


def nic_guest(kind: NetworkKind, source: str, *, pxe: bool = False) -> NewGuest:
    return NewGuest(name="net-guest", networks=(NetworkSpec(kind, source),), boot_network=pxe)


def defined_guests(host: Host) -> set[str]:
    return {d.name() for d in host.connection().listAllDomains(0)}


@pytest.mark.parametrize(
    ("spec", "sentence"),
    [
        (
            nic_guest(NetworkKind.NETWORK, "default", pxe=True),
            "the network 'default' hands out no boot file",
        ),
        (nic_guest(NetworkKind.BRIDGE, "br9"), "the host has no bridge 'br9' (its interfaces: "),
        (nic_guest(NetworkKind.DIRECT, "eth7"), "the host has no interface 'eth7'"),
    ],
    ids=["pxe-without-boot-file", "missing-bridge", "missing-direct-interface"],
)
def test_network_refusals_say_why_and_create_nothing(
    host: Host, spec: NewGuest, sentence: str
) -> None:
    before = defined_guests(host)
    with pytest.raises(create.CreateRefused, match=re.escape(sentence)):
        create.preflight(host, spec)
    assert defined_guests(host) == before


def test_pxe_on_a_network_with_a_boot_file_and_macvtap_on_a_real_interface_pass(
    host: Host,
) -> None:
    net = host.connection().networkCreateXML(PXE_NET)
    try:
        plan = create.preflight(host, nic_guest(NetworkKind.NETWORK, "pxe-net", pxe=True))
        assert plan.spec.boot_network
        create.preflight(host, nic_guest(NetworkKind.DIRECT, "eth1"))
    finally:
        net.destroy()


def test_network_boot_reasons() -> None:
    no_dhcp = "<network><name>iso</name><ip address='10.0.0.1' prefix='24'/></network>"
    assert "has no DHCP" in str(create.network_boot_problem(no_dhcp))
    nowhere = PXE_NET.replace("<tftp root='/srv/tftp'/>", "")
    assert "serves it from nowhere" in str(create.network_boot_problem(nowhere))
    served = nowhere.replace("file='pxelinux.0'", "file='pxelinux.0' server='10.0.0.5'")
    assert create.network_boot_problem(served) is None
    lan = "<network><name>lan</name><forward mode='bridge'/><bridge name='br0'/></network>"
    assert create.network_boot_problem(lan) is None  # the LAN's DHCP answers, if any


def test_host_interfaces_are_libvirts_list_with_their_types() -> None:
    """Read through libvirt (so a remote host answers for itself), with each type."""
    conn = libvirt.open(URI)
    try:
        assert create.host_interfaces(conn) == create.HostInterfaces(
            {"eth1": "ethernet"}, frozenset()
        )
    finally:
        conn.close()


NETCF_URI = f"test://{Path(__file__).parents[1] / 'data' / 'netcf-node.xml'}"


@pytest.fixture(scope="module")
def netcf_host() -> Iterator[Host]:
    with started_host(NETCF_URI) as started:
        yield started


@pytest.mark.parametrize(
    ("kind", "name", "warning"),
    [
        (NetworkKind.BRIDGE, "brrt0", "the host's bridge 'brrt0' is not in libvirt's interface"),
        (NetworkKind.DIRECT, "brrt0", "only among its network devices."),
        (NetworkKind.BRIDGE, "ovsbr0", "lists the host's interface 'ovsbr0' as ethernet, not"),
        (NetworkKind.DIRECT, "ovsbr0", None),
        (NetworkKind.DIRECT, "eth0", None),
    ],
    ids=["runtime-bridge", "runtime-macvtap", "ovs-bridge-typed-ethernet", "macvtap", "eth0"],
)
def test_what_libvirts_lists_miss_or_mistype_is_a_warning_not_a_refusal(
    netcf_host: Host, kind: NetworkKind, name: str, warning: str | None
) -> None:
    plan = create.preflight(netcf_host, nic_guest(kind, name))
    if warning is None:
        assert plan.warnings == ()
    else:
        assert len(plan.warnings) == 1 and warning in plan.warnings[0], plan.warnings


def test_a_name_in_neither_list_is_still_refused(netcf_host: Host) -> None:
    with pytest.raises(
        create.CreateRefused,
        match=re.escape("the host has no bridge 'br0' (its interfaces: brrt0, eth0, ovsbr0)"),
    ):
        create.preflight(netcf_host, nic_guest(NetworkKind.BRIDGE, "br0"))


def test_a_bridge_nic_on_an_ethernet_is_a_warning_on_the_default_host(host: Host) -> None:
    plan = create.preflight(host, nic_guest(NetworkKind.BRIDGE, "eth1"))
    assert plan.warnings and "'eth1' as ethernet, not as a bridge" in plan.warnings[0]

"""The details' addresses and ssh line (backend/addresses.py) from libvirt's
``interfaceAddresses`` answers as the agent, the DHCP leases and ARP give them, and the
user read back from a seed kvmtui built (backend/seed.py)."""

from __future__ import annotations

import json
from typing import Any

import libvirt

from kvmtui.backend import cloudinit, seed
from kvmtui.backend.addresses import (
    GuestAddresses,
    nic_macs,
    parse_interface_addresses,
    reachable,
)
from tests.agent_replay import RECORDING

V4 = libvirt.VIR_IP_ADDR_TYPE_IPV4
V6 = libvirt.VIR_IP_ADDR_TYPE_IPV6
AGENT_ANSWER = {
    "lo": {"hwaddr": "00:00:00:00:00:00", "addrs": [
        {"type": V4, "addr": "127.0.0.1", "prefix": 8},
        {"type": V6, "addr": "::1", "prefix": 128},
    ]},
    "eth0": {"hwaddr": "52:54:00:12:34:56", "addrs": [
        {"type": V6, "addr": "fe80::5054:ff:fe12:3456", "prefix": 64},
        {"type": V6, "addr": "2001:db8::5", "prefix": 64},
        {"type": V4, "addr": "10.213.9.2", "prefix": 24},
    ]},
    "eth1": {"hwaddr": "52:54:00:12:34:57", "addrs": [
        {"type": V4, "addr": "169.254.3.4", "prefix": 16},
    ]},
}  # fmt: skip


def test_loopback_and_link_local_are_left_out() -> None:
    found = parse_interface_addresses(AGENT_ANSWER)
    assert [(a.interface, a.text) for a in found] == [
        ("eth0", "2001:db8::5/64"),
        ("eth0", "10.213.9.2/24"),
    ]
    assert found[0].mac == "52:54:00:12:34:56" and {a.family for a in found} == {4, 6}
    assert not reachable("fe80::1%eth0") and not reachable("0.0.0.0") and reachable("192.0.2.1")


def test_the_ssh_line_prefers_ipv4_and_has_the_user_only_when_known() -> None:
    found = parse_interface_addresses(AGENT_ANSWER)
    assert GuestAddresses(found, "agent", "kvmadmin").ssh_line == "ssh kvmadmin@10.213.9.2"
    assert GuestAddresses(found, "ARP", None).ssh_line == "ssh 10.213.9.2"
    v6 = tuple(a for a in found if a.family == 6)
    assert GuestAddresses(v6, "DHCP lease", "ops").ssh_line == "ssh ops@2001:db8::5"
    assert GuestAddresses((), None, "ops").ssh_line is None


def test_the_user_is_read_back_from_a_seed_kvmtui_built() -> None:
    spec = cloudinit.CloudInit(hostname="web1", user="kvmadmin", ssh_keys=("ssh-ed25519 AAAA x",))
    files = seed.iso_files(seed.build_iso(cloudinit.seed_files(spec)))
    assert set(files) == {"user-data", "meta-data"}
    assert seed.seed_user(files["user-data"]) == "kvmadmin"


def test_user_data_naming_no_user_gives_none() -> None:
    assert seed.seed_user("#cloud-config\npackages: [htop]\n") is None
    assert seed.seed_user("#cloud-config\nuser: {name: ops}\n") == "ops"
    assert seed.seed_user("#cloud-config\nusers: [default, {name: dev}]\n") == "dev"
    assert seed.seed_user(": not yaml [") is None


def _recorded_with_docker() -> dict[str, Any]:
    """The tiny guest's recorded agent answer (eth0 and lo), eth0 given an IPv4 address
    as DHCP hands it out, and Docker's bridge docker0 added, as a guest running Docker
    reports it (docker0 sorts before eth0 and enp1s0)."""
    answer: dict[str, Any] = json.loads(RECORDING.read_text())["interfaces"]
    answer["eth0"]["addrs"].append({"type": V4, "addr": "192.168.122.50", "prefix": 24})
    answer["docker0"] = {"hwaddr": "02:42:5e:1a:0b:7c", "addrs": [
        {"type": V4, "addr": "172.17.0.1", "prefix": 16},
    ]}  # fmt: skip
    answer["lo"]["addrs"].append({"type": V4, "addr": "10.9.9.9", "prefix": 32})  # anycast
    return answer


def test_the_ssh_line_names_the_guests_own_nic_not_dockers_bridge_nor_loopback() -> None:
    answer = _recorded_with_docker()
    mac = answer["eth0"]["hwaddr"]
    macs = nic_macs(
        f"<domain type='kvm'><name>g</name><devices><interface type='network'>"
        f"<mac address='{mac.upper()}'/><source network='default'/></interface>"
        "</devices></domain>"
    )
    assert macs == {mac}
    found = parse_interface_addresses(answer, macs)
    assert [a.interface for a in found][:1] == ["eth0"]  # the guest's NIC first
    assert GuestAddresses(found, "agent", "ops", nic_macs=macs).ssh_line == (
        "ssh ops@192.168.122.50"
    )
    # Without the definition's MACs the docker0 bridge would win, as before.
    unmatched = parse_interface_addresses(answer)
    assert GuestAddresses(unmatched, "agent", "ops").ssh_line == "ssh ops@172.17.0.1"
    # Only Docker's and loopback's addresses: docker0, never lo.
    others = tuple(a for a in found if a.interface != "eth0")
    assert GuestAddresses(others, "agent", None, nic_macs=macs).ssh_line == "ssh 172.17.0.1"
    lo_only = tuple(a for a in found if a.interface == "lo")
    assert lo_only and GuestAddresses(lo_only, "agent", None, nic_macs=macs).ssh_line is None

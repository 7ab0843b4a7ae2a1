"""The harness itself: a real libvirtd, a real tiny guest, its agent, console and stats."""

from __future__ import annotations

import time
from typing import Any

import libvirt
import pytest

from tests.harness import daemon
from tests.harness.guest_files import HOSTNAME, PROMPT
from tests.harness.guests import GuestFactory, agent_command, tap_name, wait_for_state
from tests.harness.serial import SerialConsole

SHUTDOWN_DEADLINE_S = 30.0
NET_TRAFFIC_DEADLINE_S = 20.0


@pytest.mark.daemon
def test_daemon_answers_on_system_uri(daemon_uri: str) -> None:
    assert daemon.daemon_answers(daemon_uri)
    conn = libvirt.open(daemon_uri)
    try:
        assert conn.getType() == "QEMU"
        assert conn.getLibVersion() >= 9_000_000
    finally:
        conn.close()


@pytest.mark.daemon
def test_tcp_uri_reaches_the_same_daemon(tcp_uri: str, guest_factory: GuestFactory) -> None:
    dom = guest_factory(start=False)
    conn = libvirt.open(tcp_uri)
    try:
        assert conn.lookupByName(dom.name()).UUIDString() == dom.UUIDString()
    finally:
        conn.close()


@pytest.mark.guest
def test_booted_guest_agent_answers(booted_guest: libvirt.virDomain) -> None:
    assert agent_command(booted_guest, "guest-ping") == {}
    assert agent_command(booted_guest, "guest-get-host-name") == {"host-name": HOSTNAME}
    osinfo = agent_command(booted_guest, "guest-get-osinfo")
    assert isinstance(osinfo, dict) and osinfo["id"] == "kvmtui-guest"


@pytest.mark.guest
def test_serial_console_shows_the_prompt(booted_guest: libvirt.virDomain) -> None:
    with SerialConsole(booted_guest) as console:
        console.send(b"\r")
        console.read_until(PROMPT.encode(), timeout=15)
        console.send(b"echo kvmtui-$((6 * 7))\r")
        console.read_until(b"kvmtui-42", timeout=15)


@pytest.mark.guest
def test_bulk_stats_report_net_and_block(booted_guest: libvirt.virDomain) -> None:
    conn = booted_guest.connect()
    groups = libvirt.VIR_DOMAIN_STATS_INTERFACE | libvirt.VIR_DOMAIN_STATS_BLOCK

    def sample() -> dict[str, Any]:
        records = conn.getAllDomainStats(groups, libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE)
        return next(stats for dom, stats in records if dom.name() == booted_guest.name())

    stats = sample()
    assert stats["net.count"] == 1
    assert stats["net.0.name"] == tap_name(booted_guest.name())
    assert stats["block.count"] == 1
    assert stats["block.0.name"] == "vda"
    assert stats["block.0.capacity"] == 64 * 1024 * 1024
    assert stats["block.0.rd.reqs"] > 0  # the guest kernel read the partition table

    # eth0 is up in the guest: IPv6 autoconfiguration sends packets through the tap.
    deadline = time.monotonic() + NET_TRAFFIC_DEADLINE_S
    while stats["net.0.rx.pkts"] + stats["net.0.tx.pkts"] == 0:
        assert time.monotonic() < deadline, f"no packets on {stats['net.0.name']}: {stats}"
        time.sleep(0.5)
        stats = sample()


@pytest.mark.guest
def test_acpi_shutdown_powers_the_guest_off(booted_guest: libvirt.virDomain) -> None:
    booted_guest.shutdownFlags(libvirt.VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN)
    wait_for_state(booted_guest, libvirt.VIR_DOMAIN_SHUTOFF, SHUTDOWN_DEADLINE_S)
    assert booted_guest.state() == [libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_SHUTDOWN]


@pytest.mark.guest
def test_agent_shutdown_powers_the_guest_off(booted_guest: libvirt.virDomain) -> None:
    booted_guest.shutdownFlags(libvirt.VIR_DOMAIN_SHUTDOWN_GUEST_AGENT)
    wait_for_state(booted_guest, libvirt.VIR_DOMAIN_SHUTOFF, SHUTDOWN_DEADLINE_S)
    assert booted_guest.state() == [libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_SHUTDOWN]

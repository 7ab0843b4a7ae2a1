"""The harness itself: a real libvirtd, a real tiny guest, its agent, console and stats."""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import libvirt
import pytest

from tests.harness import daemon
from tests.harness.guest_files import HOSTNAME, PROMPT
from tests.harness.guests import (
    GuestFactory,
    agent_command,
    disk_path,
    ensure_dir_pool,
    remove_pool,
    tap_name,
    wait_for_state,
)
from tests.harness.paths import DEMO_DISKS_DIR, DEMO_PREFIX, DISKS_DIR
from tests.harness.serial import SerialConsole

SHUTDOWN_DEADLINE_S = 30.0
AGENT_SHUTDOWN_DEADLINE_S = 180.0
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
        console.wait_for_prompt(PROMPT.encode(), timeout=15)
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
    """Asked through the agent, the guest powers off. Under two CPU hogs beside the other
    test lane, libvirt once gave up on the emulated guest's agent after 60 s ("not
    available for now"): asked again until the guest is off or the deadline passes."""
    deadline = time.monotonic() + AGENT_SHUTDOWN_DEADLINE_S
    while True:
        try:
            booted_guest.shutdownFlags(libvirt.VIR_DOMAIN_SHUTDOWN_GUEST_AGENT)
            break
        except libvirt.libvirtError as error:
            unresponsive = error.get_error_code() == libvirt.VIR_ERR_AGENT_UNRESPONSIVE
            if not unresponsive or time.monotonic() > deadline:
                raise
            if not booted_guest.isActive():
                break  # the first request got through
            time.sleep(1.0)
    wait_for_state(booted_guest, libvirt.VIR_DOMAIN_SHUTOFF, SHUTDOWN_DEADLINE_S)
    assert booted_guest.state() == [libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_SHUTDOWN]


def test_demo_guests_keep_their_disks_in_the_demo_pool_directory() -> None:
    assert disk_path(f"{DEMO_PREFIX}1") == DEMO_DISKS_DIR / f"{DEMO_PREFIX}1.qcow2"
    assert disk_path("kvmtui-test-0a1b2c3d").parent == DISKS_DIR


@pytest.mark.daemon
def test_dir_pool_is_made_once_with_the_disks_as_volumes(daemon_uri: str, tmp_path: Path) -> None:
    """What `make demo` does for its kvmtui-demo pool, under a name of the test's own."""
    name = f"kvmtui-test-pool-{uuid.uuid4().hex[:8]}"
    directory = tmp_path / "disks"
    directory.mkdir()
    for disk in ("a.qcow2", "b.qcow2"):
        subprocess.run(
            ["qemu-img", "create", "-q", "-f", "qcow2", str(directory / disk), "16M"], check=True
        )
    conn = libvirt.open(daemon_uri)
    try:
        assert ensure_dir_pool(conn, name, directory) == ["defined", "started", "set to autostart"]
        pool = conn.storagePoolLookupByName(name)
        assert pool.isActive() and pool.isPersistent() and pool.autostart()
        assert sorted(pool.listVolumes()) == ["a.qcow2", "b.qcow2"]
        assert "<format type='qcow2'/>" in pool.storageVolLookupByName("a.qcow2").XMLDesc(0)

        (directory / "b.qcow2").unlink()
        assert ensure_dir_pool(conn, name, directory) == [], "the second run does nothing twice"
        assert [p.name() for p in conn.listAllStoragePools(0)].count(name) == 1
        assert pool.listVolumes() == ["a.qcow2"], "refreshed: the volumes are the files"

        with pytest.raises(RuntimeError, match=f"a storage pool {name} exists over"):
            ensure_dir_pool(conn, name, tmp_path / "elsewhere")
        remove_pool(conn, name)
        assert name not in [p.name() for p in conn.listAllStoragePools(0)]
    finally:
        remove_pool(conn, name)
        conn.close()

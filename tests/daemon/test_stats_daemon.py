"""Statistics of a real tiny guest on the real libvirtd: load, disk reads, NIC, overcommit.

Load and I/O are started inside the guest through its agent (guest-exec). Ticks run
every second; each test waits on a condition with a deadline, never a bare sleep.
"""

from __future__ import annotations

import os
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager

import libvirt
import pytest

from kvmtui.backend.host import Host
from kvmtui.backend.poller import StatsPoller, StatsResult, StatsUpdated
from kvmtui.backend.stats import DeviceRates, GuestRates
from tests.harness.guests import GuestFactory, agent_command, tap_name
from tests.waiting import wait_for

pytestmark = [pytest.mark.daemon, pytest.mark.guest]

TICK_S = 1.0


class Ticks:
    """Results delivered by a poller, as a thread-safe list."""

    def __init__(self) -> None:
        self._items: list[StatsUpdated] = []
        self._lock = threading.Lock()

    def __call__(self, result: StatsResult) -> None:
        if isinstance(result, StatsUpdated):
            with self._lock:
                self._items.append(result)

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._items)

    def latest(self) -> StatsUpdated | None:
        with self._lock:
            return self._items[-1] if self._items else None

    def guest(self, uuid: str) -> GuestRates | None:
        latest = self.latest()
        return latest.by_uuid().get(uuid) if latest else None

    def devices(self, uuid: str) -> tuple[tuple[DeviceRates, ...], tuple[DeviceRates, ...]]:
        latest = self.latest()
        return latest.devices(uuid) if latest else ((), ())


@contextmanager
def polling(uri: str, interval: float = TICK_S) -> Iterator[tuple[Host, StatsPoller, Ticks]]:
    host = Host(uri, readonly=True)
    host.start()
    assert host.wait_connected(15), host.status.error
    ticks = Ticks()
    poller = StatsPoller(host, ticks, interval=interval)
    poller.start()
    try:
        yield host, poller, ticks
    finally:
        poller.stop()
        host.stop()


def guest_exec(dom: libvirt.virDomain, script: str) -> None:
    agent_command(dom, "guest-exec", {"path": "/bin/sh", "arg": ["-c", script]})


def test_cpu_load_shows_above_half_within_three_ticks(
    daemon_uri: str, booted_guest: libvirt.virDomain
) -> None:
    uuid = booted_guest.UUIDString()
    with polling(daemon_uri) as (_host, _poller, ticks):
        wait_for(lambda: ticks.count >= 1, 15, what="first tick")
        guest_exec(booted_guest, "while :; do :; done")
        started = ticks.count
        rates = wait_for(
            lambda: (g := ticks.guest(uuid)) and g.cpu_pct is not None and g.cpu_pct > 50 and g,
            15 * TICK_S,
            what="%CPU above 50",
        )
        assert ticks.count - started <= 3, f"took {ticks.count - started} ticks"
    assert rates.cpu_pct is not None and rates.cpu_pct <= 100
    assert rates.cpu_host_pct is not None and rates.cpu_host_pct <= rates.cpu_pct
    assert rates.cpu_time_s is not None and rates.cpu_time_s > 0
    assert rates.vcpus == 1


def test_reading_the_data_disk_shows_a_read_rate(
    daemon_uri: str, booted_guest: libvirt.virDomain
) -> None:
    uuid = booted_guest.UUIDString()
    reader = (
        "while :; do dd if=/dev/vda of=/dev/null bs=64k iflag=direct 2>/dev/null"
        " || dd if=/dev/vda of=/dev/null bs=64k 2>/dev/null;"
        " echo 3 > /proc/sys/vm/drop_caches; done"
    )
    with polling(daemon_uri) as (_host, _poller, ticks):
        wait_for(lambda: ticks.guest(uuid), 15, what="the guest in a tick")
        assert [d.name for d in ticks.devices(uuid)[0]] == ["vda"]
        guest_exec(booted_guest, reader)
        wait_for(
            lambda: (g := ticks.guest(uuid)) and (g.disk_rd_bps or 0) > 64 * 1024 and g,
            20,
            what="a disk read rate",
        )
        latest = ticks.latest()
    assert latest is not None
    (vda,), _nics = latest.devices(uuid)
    assert vda.in_bps is not None and vda.in_bps > 64 * 1024
    assert vda.in_ps is not None and vda.in_ps > 0
    assert latest.by_uuid()[uuid].disk_rd_reqs_ps == vda.in_ps


def test_nic_counters_and_balloon_memory_are_reported(
    daemon_uri: str, booted_guest: libvirt.virDomain
) -> None:
    uuid = booted_guest.UUIDString()
    with polling(daemon_uri) as (_host, _poller, ticks):
        # Rates need two ticks; the balloon driver reports every 2 s (the guest's XML).
        rates = wait_for(
            lambda: (
                (g := ticks.guest(uuid))
                and g.net_rx_bps is not None
                and g.mem_used_kib is not None
                and g
            ),
            20,
            what="net rates and memory in use",
        )
        _disks, nics = ticks.devices(uuid)
    assert [n.name for n in nics] == [tap_name(booted_guest.name())]
    assert rates.net_rx_bps is not None and rates.net_rx_bps >= 0
    assert rates.net_tx_pps is not None and rates.net_tx_pps >= 0
    assert rates.mem_max_kib == 256 * 1024
    assert rates.mem_used_kib is not None and 0 < rates.mem_used_kib < rates.mem_max_kib
    assert rates.mem_rss_kib is not None and rates.mem_rss_kib > 0


def _meminfo_total_kib() -> int:
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return int(line.split()[1])
    raise AssertionError("no MemTotal in /proc/meminfo")


def _expected_overcommit(conn: libvirt.virConnect) -> tuple[int, int, int, int]:
    """Running and defined vCPUs and max memory (KiB), from each guest's XML."""
    running_vcpus = defined_vcpus = running_mem = defined_mem = 0
    for dom in conn.listAllDomains(0):
        root = ET.fromstring(dom.XMLDesc(0))
        vcpu = root.find("vcpu")
        vcpus = int(vcpu.get("current") or vcpu.text or 0) if vcpu is not None else 0
        mem = int(root.findtext("memory") or 0)  # KiB in libvirt's XML output
        defined_vcpus += vcpus
        defined_mem += mem
        if dom.isActive():
            running_vcpus += vcpus
            running_mem += mem
    return running_vcpus, defined_vcpus, running_mem, defined_mem


def test_overcommit_matches_defined_guests_and_the_real_host(
    daemon_uri: str, booted_guest: libvirt.virDomain, guest_factory: GuestFactory
) -> None:
    guest_factory(vcpus=2, memory_mib=512, start=False)  # defined, not running
    conn = libvirt.openReadOnly(daemon_uri)
    try:
        with polling(daemon_uri) as (host, _poller, ticks):

            def matches() -> bool:
                latest = ticks.latest()
                if latest is None or latest.host_figures is None:
                    return False
                oc = latest.host_figures.overcommit
                assert oc is not None
                got = (oc.running_vcpus, oc.defined_vcpus, oc.running_mem_kib, oc.defined_mem_kib)
                return got == _expected_overcommit(conn) and latest.host_figures.cpu_pct is not None

            # Other sessions may define guests on the shared daemon: wait until a tick agrees.
            wait_for(matches, 20, what="overcommit equal to the guests' XML")
            figures = ticks.latest().host_figures  # type: ignore[union-attr]
            names = {g.name for g in host.guests()}
    finally:
        conn.close()
    assert figures is not None and figures.overcommit is not None
    assert booted_guest.name() in names
    oc = figures.overcommit
    assert oc.host_cpus == figures.node.cpus == os.cpu_count()
    assert figures.mem_total_kib == oc.host_mem_kib == _meminfo_total_kib()
    assert oc.running_vcpus >= 1 and oc.defined_vcpus >= oc.running_vcpus + 2
    assert oc.defined_vcpu_ratio == pytest.approx(oc.defined_vcpus / os.cpu_count())  # type: ignore[operator]
    assert figures.cpu_pct is not None and 0 <= figures.cpu_pct <= 100
    assert figures.mem_used_kib is not None and 0 < figures.mem_used_kib < figures.mem_total_kib

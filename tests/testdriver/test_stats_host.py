"""Host figures: CPU % from counter deltas, memory used, overcommit against the node."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from kvmtui.backend.host import Host
from kvmtui.backend.hoststats import (
    HostSample,
    NodeInfo,
    cpu_times,
    host_cpu_pct,
    host_figures,
    host_mem_used_kib,
    overcommit,
)
from tests.hosts import started_host

NODE = NodeInfo("x86_64", 4 << 20, 4, 2400, 1, 1, 4, 1)
TEST_NS = "{http://libvirt.org/schemas/domain/test/1.0}"
ACTIVE_RUNSTATES = {"1", "2", "3", "4", "6", "7"}  # all but 5 (shut off)


def host_sample(busy: int | None, total: int | None, **mem: int | None) -> HostSample:
    return HostSample(0.0, 0.0, NODE, cpu_busy_ns=busy, cpu_total_ns=total, **mem)


def test_cpu_times_busy_is_kernel_plus_user() -> None:
    busy, total = cpu_times({"kernel": 10, "user": 30, "idle": 50, "iowait": 10})
    assert (busy, total) == (40, 100)
    assert cpu_times({"utilization": 5}) == (None, None)


def test_host_cpu_percent_from_deltas() -> None:
    old = host_sample(1000, 10_000)
    new = host_sample(1000 + 250, 10_000 + 1000)
    assert host_cpu_pct(old, new) == pytest.approx(25.0)
    assert host_cpu_pct(None, new) is None
    assert host_cpu_pct(old, old) is None  # no time passed on the host
    assert host_cpu_pct(new, old) is None  # counters went back: host rebooted
    assert host_cpu_pct(host_sample(None, None), new) is None


def test_memory_used_like_free_and_unknown_without_statistics() -> None:
    sample = host_sample(
        None, None, mem_total_kib=1000, mem_free_kib=500, mem_buffers_kib=50, mem_cached_kib=150
    )
    assert host_mem_used_kib(sample) == 300
    figures = host_figures(None, sample)
    assert figures.mem_total_kib == 1000 and figures.mem_pct == pytest.approx(30.0)
    bare = host_figures(None, host_sample(None, None))
    assert bare.mem_used_kib is None
    assert bare.mem_total_kib == 4 << 20  # getInfo's total when nothing better


@pytest.fixture
def host(test_node_uri: str) -> Iterator[Host]:
    with started_host(test_node_uri, readonly=True) as host:
        yield host


def test_overcommit_matches_the_node_file(host: Host, test_node_uri: str) -> None:
    """Expected sums come from node.xml itself, not from the code under test."""
    root = ET.parse(urlsplit(test_node_uri).path).getroot()
    running_vcpus = defined_vcpus = running_mem = defined_mem = running = 0
    for dom in root.findall("domain"):
        vcpus = int(dom.findtext("vcpu") or 0)
        mem = int(dom.findtext("memory") or 0)  # KiB in the file
        defined_vcpus += vcpus
        defined_mem += mem
        if dom.findtext(f"{TEST_NS}runstate") in ACTIVE_RUNSTATES:
            running += 1
            running_vcpus += vcpus
            running_mem += mem
    node_cpus = 8
    node_mem_kib = int(root.findtext("memory") or 0)

    result = overcommit(host.guests(), node_cpus, node_mem_kib)
    assert (result.defined_guests, result.running_guests) == (13, running)
    assert (result.defined_vcpus, result.running_vcpus) == (defined_vcpus, running_vcpus)
    assert (result.defined_mem_kib, result.running_mem_kib) == (defined_mem, running_mem)
    assert result.defined_vcpu_ratio == pytest.approx(defined_vcpus / node_cpus)
    assert result.running_mem_ratio == pytest.approx(running_mem / node_mem_kib)


def test_overcommit_ratios_unknown_without_host_figures() -> None:
    empty = overcommit([], 0, None)
    assert empty.defined_vcpu_ratio is None and empty.defined_mem_ratio is None


def test_node_topology_is_read_once_in_a_while_and_counters_every_sample(
    test_node_uri: str,
) -> None:
    import libvirt

    from kvmtui.backend.hoststats import NODE_INFO_EVERY, HostSampler

    class Counting:
        """The real test:/// connection, counting getInfo calls."""

        def __init__(self, conn: libvirt.virConnect) -> None:
            self.conn, self.info_calls, self.cpu_calls = conn, 0, 0

        def getInfo(self) -> list[object]:
            self.info_calls += 1
            return self.conn.getInfo()

        def getCPUStats(self, cpu: int, flags: int = 0) -> dict[str, int]:
            self.cpu_calls += 1
            return self.conn.getCPUStats(cpu, flags)

        def getMemoryStats(self, cell: int, flags: int = 0) -> dict[str, int]:
            return self.conn.getMemoryStats(cell, flags)

    conn = libvirt.open(test_node_uri)
    try:
        counting = Counting(conn)
        sampler = HostSampler()
        samples = [sampler.sample(counting) for _ in range(2 * NODE_INFO_EVERY)]  # type: ignore[arg-type]
        assert counting.cpu_calls == 2 * NODE_INFO_EVERY
        assert counting.info_calls == 2
        assert all(s.node == samples[0].node for s in samples)
        assert samples[0].node.cpus == conn.getInfo()[2]
        # Another connection (a reconnect): read again at once.
        other = Counting(conn)
        sampler.sample(other)  # type: ignore[arg-type]
        assert other.info_calls == 1
    finally:
        conn.close()

"""Overcommit with KSM's savings, thresholds and the guests that would not fit."""

from __future__ import annotations

import os
from collections.abc import Iterator

import psutil
import pytest

from kvmtui.backend.host import Host
from kvmtui.backend.hoststats import HostSampler
from kvmtui.backend.model import Guest, GuestState
from kvmtui.backend.overcommit import (
    Level,
    Thresholds,
    density,
    parse_thresholds,
    read_density,
    would_not_fit,
)
from tests.harness.guests import GuestFactory
from tests.hosts import started_host
from tests.waiting import wait_for

GIB = 1024 * 1024


def guest(
    name: str, mem_gib: int, *, running: bool, vcpus: int = 1, autostart: bool = False
) -> Guest:
    state = GuestState.RUNNING if running else GuestState.SHUTOFF
    kib = mem_gib * GIB
    return Guest("h", name, name, state, "", vcpus, kib, kib, autostart, True)


def test_would_not_fit_names_the_guests_past_the_edge() -> None:
    guests = [
        guest("a", 8, running=True),
        guest("b", 4, running=False),
        guest("c", 6, running=False),
        guest("d", 2, running=False),
    ]
    # 16 GiB: a (8) runs; b (4) fits -> 12; c (6) would make 18: no; d (2) fits -> 14.
    assert would_not_fit(guests, 16 * GIB) == ("c",)
    # KSM saving 2 GiB makes room for c, and then d is the one left out; 4 GiB fits all.
    assert would_not_fit(guests, 16 * GIB, 2 * GIB) == ("d",)
    assert would_not_fit(guests, 16 * GIB, 4 * GIB) == ()


def test_autostart_guests_start_first() -> None:
    guests = [guest("a", 4, running=False), guest("z", 4, running=False, autostart=True)]
    assert would_not_fit(guests, 6 * GIB) == ("a",)


def test_density_ratios_with_ksm() -> None:
    guests = [guest("a", 8, running=True, vcpus=4), guest("b", 8, running=False, vcpus=4)]
    d = density("h", guests, 4, 8 * GIB, 2 * GIB)
    assert d.overcommit.running_vcpu_ratio == 1.0
    assert d.overcommit.defined_vcpu_ratio == 2.0
    assert d.overcommit.defined_mem_ratio == 2.0
    assert d.mem_with_ksm_kib == 10 * GIB
    assert d.running_mem_ratio_with_ksm == 0.8
    assert d.defined_mem_ratio_with_ksm == 1.6
    assert d.would_not_fit == ("b",)


def test_thresholds_colour_levels_and_validate() -> None:
    t = Thresholds(cpu_warn=2, cpu_critical=4, mem_warn=0.9, mem_critical=1.1)
    assert [t.cpu_level(r) for r in (1.0, 2.0, 5.0, None)] == [
        Level.OK, Level.WARN, Level.CRITICAL, Level.UNKNOWN,
    ]  # fmt: skip
    assert t.mem_level(1.0) is Level.WARN
    assert parse_thresholds("3", "6x", "1", "1.5") == Thresholds(3, 6, 1, 1.5)
    with pytest.raises(ValueError, match="not a number"):
        parse_thresholds("three", "6", "1", "1.5")
    with pytest.raises(ValueError, match="warning < critical"):
        parse_thresholds("3", "2", "1", "1.5")


@pytest.fixture
def host(daemon_uri: str) -> Iterator[Host]:
    with started_host(daemon_uri) as host:
        yield host


@pytest.mark.daemon
def test_figures_match_defined_guests_and_real_host(
    host: Host, guest_factory: GuestFactory
) -> None:
    running = guest_factory(memory_mib=256, vcpus=1, start=True)
    stopped = guest_factory(memory_mib=384, vcpus=2, start=False)
    names = {running.name(), stopped.name()}
    wait_for(
        lambda: (
            names <= {g.name for g in host.guests()}
            and any(g.name == running.name() and g.active for g in host.guests())
        ),
        timeout=60,
        what="both test guests in the host's list",
    )
    d = read_density(host, 0, HostSampler())
    over = d.overcommit
    assert over.host_cpus == os.cpu_count()
    # libvirt's getMemoryStats total is /proc/meminfo's MemTotal, as psutil reads it.
    assert over.host_mem_kib == psutil.virtual_memory().total // 1024
    defined = host.guests()  # every guest of the daemon, others' test guests included
    assert over.defined_guests == len(defined)
    assert over.defined_vcpus == sum(g.vcpus for g in defined)
    assert over.defined_mem_kib == sum(g.max_memory_kib for g in defined)
    assert over.running_vcpus == sum(g.vcpus for g in defined if g.active)
    mine = {g.name: g for g in defined if g.name in names}
    assert mine[running.name()].max_memory_kib == 256 * 1024
    assert mine[stopped.name()].max_memory_kib == 384 * 1024 and mine[stopped.name()].vcpus == 2
    assert over.host_mem_kib is not None
    assert d.defined_mem_ratio_with_ksm == pytest.approx(over.defined_mem_kib / over.host_mem_kib)

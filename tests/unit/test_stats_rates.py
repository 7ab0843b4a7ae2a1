"""Rates from known pairs of samples, built directly: arithmetic and every kind of unknown."""

from __future__ import annotations

import pytest

from kvmtui.backend.model import GuestState
from kvmtui.backend.stats import (
    BALLOON_STALE_S,
    DiskCounters,
    GuestCounters,
    NicCounters,
    Sample,
    compute_rates,
    device_rates,
    guest_rates,
    parse_counters,
)

UUID = "00000000-0000-0000-0000-000000000001"
GIB = 1 << 30


def counters(**changes: object) -> GuestCounters:
    """A running 2-vCPU guest with a balloon driver, one disk and one NIC."""
    return GuestCounters(
        uuid=UUID,
        name="web",
        domain_id=7,
        state=GuestState.RUNNING,
        cpu_time_ns=100 * 10**9,
        vcpus=2,
        balloon_current_kib=2 * 1024 * 1024,
        balloon_maximum_kib=4 * 1024 * 1024,
        balloon_available_kib=2_000_000,
        balloon_unused_kib=1_500_000,
        balloon_rss_kib=900_000,
        disks=(DiskCounters("vda", rd_bytes=GIB, wr_bytes=GIB, rd_reqs=1000, wr_reqs=2000),),
        nics=(NicCounters("vnet0", rx_bytes=5000, tx_bytes=7000, rx_pkts=50, tx_pkts=70),),
    )._replace(**changes)


def later(old: GuestCounters, **changes: object) -> GuestCounters:
    return old._replace(**changes)


def test_cpu_percent_of_guest_vcpus_and_of_host() -> None:
    old = counters()
    # 2 s at 2 vCPUs = 4 CPU-seconds available; 3 used -> 75 % of the guest, 37.5 % of 4.
    new = later(old, cpu_time_ns=old.cpu_time_ns + 3 * 10**9)
    rates = guest_rates("h", old, new, elapsed=2.0, host_cpus=4)
    assert rates.cpu_pct == pytest.approx(75.0)
    assert rates.cpu_host_pct == pytest.approx(37.5)
    assert rates.cpu_time_s == pytest.approx(103.0)


def test_disk_and_net_rates_per_device_and_total() -> None:
    old = counters(
        disks=(
            DiskCounters("vda", rd_bytes=0, wr_bytes=0, rd_reqs=0, wr_reqs=0),
            DiskCounters("vdb", rd_bytes=100, wr_bytes=100, rd_reqs=10, wr_reqs=10),
        )
    )
    new = later(
        old,
        disks=(
            DiskCounters("vda", rd_bytes=4096, wr_bytes=8192, rd_reqs=4, wr_reqs=8),
            DiskCounters("vdb", rd_bytes=2100, wr_bytes=100, rd_reqs=12, wr_reqs=10),
        ),
        nics=(NicCounters("vnet0", rx_bytes=9000, tx_bytes=7000, rx_pkts=58, tx_pkts=70),),
    )
    rates = guest_rates("h", old, new, elapsed=2.0)
    (vda, vdb), (vnet0,) = device_rates(old, new, elapsed=2.0)
    assert vda == ("vda", 2048.0, 4096.0, 2.0, 4.0)
    assert (vdb.in_bps, vdb.out_bps) == (1000.0, 0.0)
    assert vnet0 == ("vnet0", 2000.0, 0.0, 4.0, 0.0)
    assert (rates.disk_rd_bps, rates.disk_wr_bps) == (3048.0, 4096.0)
    assert (rates.disk_rd_reqs_ps, rates.disk_wr_reqs_ps) == (3.0, 4.0)
    assert (rates.net_rx_bps, rates.net_tx_bps) == (2000.0, 0.0)
    assert (rates.net_rx_pps, rates.net_tx_pps) == (4.0, 0.0)


def test_memory_in_use_comes_from_the_balloon_driver() -> None:
    rates = guest_rates("h", None, counters(), elapsed=None)
    assert rates.mem_used_kib == 500_000  # available - unused
    assert rates.mem_rss_kib == 900_000
    assert rates.mem_max_kib == 4 * 1024 * 1024


def test_without_balloon_driver_memory_in_use_is_unknown_not_allocated() -> None:
    # The balloon group still says how much is allocated; that is not memory in use.
    new = counters(balloon_available_kib=None, balloon_unused_kib=None, balloon_rss_kib=None)
    rates = guest_rates("h", new, new, elapsed=1.0)
    assert rates.mem_used_kib is None
    assert rates.mem_rss_kib is None
    assert rates.mem_current_kib == 2 * 1024 * 1024


def test_first_sample_has_point_values_but_no_rates() -> None:
    rates = guest_rates("h", None, counters(), elapsed=None)
    assert rates.cpu_time_s == pytest.approx(100.0)
    for name in ("cpu_pct", "disk_rd_bps", "disk_wr_reqs_ps", "net_rx_bps", "net_tx_pps"):
        assert getattr(rates, name) is None, name
    disks, nics = device_rates(None, counters(), None)
    assert disks == (("vda", None, None, None, None),)  # devices listed, rates unknown
    assert [n.name for n in nics] == ["vnet0"]


def test_counter_reset_after_guest_restart_gives_unknown_not_negative() -> None:
    old = counters()
    restarted = later(
        old,
        domain_id=8,
        cpu_time_ns=10**9,
        disks=(DiskCounters("vda", 10, 10, 1, 1),),
        nics=(NicCounters("vnet0", 10, 10, 1, 1),),
    )
    rates = guest_rates("h", old, restarted, elapsed=3.0, host_cpus=4)
    assert rates.cpu_pct is None and rates.cpu_host_pct is None
    assert rates.disk_rd_bps is None and rates.net_rx_bps is None
    assert rates.cpu_time_s == pytest.approx(1.0)


def test_a_counter_going_down_with_the_same_domain_id_is_unknown() -> None:
    old = counters()
    new = later(
        old,
        cpu_time_ns=old.cpu_time_ns - 1,
        disks=(DiskCounters("vda", rd_bytes=0, wr_bytes=GIB + 4096, rd_reqs=0, wr_reqs=2001),),
    )
    rates = guest_rates("h", old, new, elapsed=1.0, host_cpus=4)
    assert rates.cpu_pct is None
    (vda,), _ = device_rates(old, new, 1.0)
    assert vda.in_bps is None
    assert vda.out_bps == 4096.0  # the other counters of the disk are fine
    assert rates.disk_rd_bps is None  # a total with an unknown part is unknown
    assert rates.disk_wr_bps == 4096.0


def test_absurd_rates_are_unknown_and_jitter_is_clamped() -> None:
    old = counters()
    # 1.2 s of CPU per vCPU-second: sampling jitter, clamped to 100 %.
    jitter = later(old, cpu_time_ns=old.cpu_time_ns + int(2.4e9))
    assert guest_rates("h", old, jitter, elapsed=1.0).cpu_pct == 100.0
    # Ten CPU-seconds per vCPU-second, or a petabyte in a second: broken counters.
    broken = later(
        old,
        cpu_time_ns=old.cpu_time_ns + 20 * 10**9,
        disks=(DiskCounters("vda", GIB + 10**15, GIB, 1000, 2000),),
    )
    rates = guest_rates("h", old, broken, elapsed=1.0)
    assert rates.cpu_pct is None
    assert rates.disk_rd_bps is None


def test_missing_groups_are_unknown_not_zero() -> None:
    bare = counters(
        cpu_time_ns=None,
        vcpus=None,
        balloon_current_kib=None,
        balloon_maximum_kib=None,
        balloon_available_kib=None,
        balloon_unused_kib=None,
        balloon_rss_kib=None,
        disks=None,
        nics=None,
    )
    rates = guest_rates("h", bare, bare, elapsed=1.0, host_cpus=4)
    for name in (
        "cpu_pct",
        "cpu_host_pct",
        "cpu_time_s",
        "mem_used_kib",
        "mem_max_kib",
        "disk_rd_bps",
        "disk_wr_bps",
        "net_rx_bps",
        "net_tx_bps",
    ):
        assert getattr(rates, name) is None, name
    assert device_rates(bare, bare, 1.0) == ((), ())


def test_a_guest_without_nic_has_unknown_net_rates() -> None:
    old = counters(nics=())
    rates = guest_rates("h", old, later(old), elapsed=1.0)
    assert rates.net_rx_bps is None and rates.net_tx_pps is None
    assert rates.disk_rd_bps == 0.0  # the disk is there and idle: a known zero


def test_group_missing_in_one_sample_only_is_unknown() -> None:
    old = counters(disks=None, cpu_time_ns=None)  # NOWAIT skipped the busy guest
    rates = guest_rates("h", old, counters(), elapsed=1.0)
    assert rates.cpu_pct is None
    assert rates.disk_rd_bps is None


def test_empty_cdrom_does_not_make_disk_totals_unknown() -> None:
    cdrom = DiskCounters("sda", None, None, None, None)
    old = counters(disks=(*counters().disks, cdrom))
    new = later(old, disks=(DiskCounters("vda", GIB + 1000, GIB, 1001, 2000), cdrom))
    rates = guest_rates("h", old, new, elapsed=1.0)
    assert rates.disk_rd_bps == 1000.0
    assert device_rates(old, new, 1.0)[0][1] == ("sda", None, None, None, None)


def test_hot_plugged_disk_makes_the_total_unknown_for_one_tick() -> None:
    old = counters()
    new = later(old, disks=(*old.disks, DiskCounters("vdb", 50, 50, 5, 5)))
    rates = guest_rates("h", old, new, elapsed=1.0)
    vda, vdb = device_rates(old, new, 1.0)[0]
    assert (vda.in_bps, vdb.in_bps) == (0.0, None)
    assert rates.disk_rd_bps is None


def test_paused_guest_has_a_known_zero_cpu() -> None:
    old = counters(state=GuestState.PAUSED)
    rates = guest_rates("h", old, later(old), elapsed=3.0)
    assert rates.cpu_pct == 0.0


def test_shut_off_guest_has_no_rates() -> None:
    off = counters(domain_id=None, state=GuestState.SHUTOFF)
    rates = guest_rates("h", off, off, elapsed=3.0)
    assert rates.cpu_pct is None and rates.disk_rd_bps is None


def test_compute_rates_over_samples_with_vanished_and_new_guests() -> None:
    kept = counters()
    gone = counters(uuid="gone", name="gone")
    old = Sample.of("h", 10.0, 1000.0, [kept, gone])
    born = counters(uuid="born", name="born", domain_id=9)
    busier = later(kept, cpu_time_ns=kept.cpu_time_ns + 10**9)
    new = Sample.of("h", 12.0, 1002.0, [busier, born])
    rates = {r.name: r for r in compute_rates(old, new, host_cpus=2)}
    assert set(rates) == {"web", "born"}  # the vanished guest is simply gone
    assert rates["web"].cpu_pct == pytest.approx(25.0)  # 1 s / (2 s * 2 vCPUs)
    assert rates["born"].cpu_pct is None
    assert rates["born"].cpu_time_s == pytest.approx(100.0)


def test_compute_rates_sorted_by_name_and_nothing_without_time_passing() -> None:
    a, b = counters(uuid="b", name="beta"), counters(uuid="a", name="alpha")
    same_time = Sample.of("h", 5.0, 0.0, [a, b])
    rates = compute_rates(same_time, same_time)
    assert [r.name for r in rates] == ["alpha", "beta"]
    assert all(r.cpu_pct is None for r in rates)


def test_parse_counters_reads_libvirt_keys() -> None:
    stats = {
        "state.state": 1,
        "state.reason": 1,
        "cpu.time": 5_000_000_000,
        "vcpu.current": 2,
        "vcpu.maximum": 4,
        "balloon.current": 262144,
        "balloon.maximum": 262144,
        "balloon.available": 220000,
        "balloon.unused": 150000,
        "balloon.rss": 240000,
        "block.count": 1,
        "block.0.name": "vda",
        "block.0.rd.bytes": 512,
        "block.0.wr.bytes": 1024,
        "block.0.rd.reqs": 1,
        "block.0.wr.reqs": 2,
        "net.count": 1,
        "net.0.name": "kvt-0",
        "net.0.rx.bytes": 10,
        "net.0.tx.bytes": 20,
        "net.0.rx.pkts": 1,
        "net.0.tx.pkts": 2,
    }
    c = parse_counters("u", "g", 3, stats)
    assert (c.state, c.domain_id, c.cpu_time_ns, c.vcpus) == (GuestState.RUNNING, 3, 5e9, 2)
    assert c.disks == (DiskCounters("vda", 512, 1024, 1, 2),)
    assert c.nics == (NicCounters("kvt-0", 10, 20, 1, 2),)
    only_state = parse_counters("u", "g", -1, {"state.state": 5, "state.reason": 0})
    assert only_state.domain_id is None and only_state.state == GuestState.SHUTOFF
    assert only_state.disks is None and only_state.nics is None and only_state.cpu_time_ns is None


def test_a_stale_balloon_report_leaves_memory_in_use_unknown() -> None:
    """Without a period the virtio driver reports once, at boot: that figure must not
    stand as current. Reports older than BALLOON_STALE_S count as unknown."""
    now = 1_800_000_000.0
    record = {
        "state.state": 1,
        "balloon.current": 262144,
        "balloon.available": 223612,
        "balloon.unused": 185980,
        "balloon.rss": 240000,
    }

    def used(last_update: int | None, stale_before: float | None) -> int | None:
        stats = (
            dict(record) if last_update is None else {**record, "balloon.last-update": last_update}
        )
        counters = parse_counters("u", "g", 3, stats, 1.0, stale_before)
        return guest_rates("h", None, counters, None).mem_used_kib

    fresh_enough = now - BALLOON_STALE_S
    assert used(int(now) - 2, fresh_enough) == 223612 - 185980, "a report 2 s old"
    assert used(int(fresh_enough), fresh_enough) == 37632, "exactly at the limit"
    assert used(int(fresh_enough) - 1, fresh_enough) is None, "older than the limit"
    assert used(0, fresh_enough) is None, "never reported"
    assert used(None, fresh_enough) == 37632, "no last-update (test driver): as reported"
    assert used(0, None) == 37632, "no limit asked: as reported"
    stale = parse_counters("u", "g", 3, {**record, "balloon.last-update": 5}, 1.0, now)
    assert stale.balloon_rss_kib == 240000 and stale.balloon_current_kib == 262144, (
        "only the guest's own report goes stale: QEMU's RSS and the balloon size stay"
    )

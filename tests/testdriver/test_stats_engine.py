"""The statistics engine and poller on libvirt's test:/// driver (real libvirt API).

libvirt 9.0's test driver answers the bulk call with the state group only: every rate
and every balloon figure must come out unknown (None), never 0.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from typing import Any

import libvirt
import pytest

from kvmtui.backend.host import Host
from kvmtui.backend.model import GuestState
from kvmtui.backend.poller import (
    ListenerGone,
    StatsEngine,
    StatsFailed,
    StatsPoller,
    StatsResult,
    StatsUpdated,
)
from kvmtui.backend.stats import NOWAIT, STATS_GROUPS, StatsCollector
from tests.waiting import wait_for


@pytest.fixture
def host(test_node_uri: str) -> Iterator[Host]:
    h = Host(test_node_uri, readonly=True)
    h.start()
    assert h.wait_connected(10), h.status.error
    yield h
    h.stop()


class Results:
    """A listener that keeps what the poller delivered, with the thread it ran on."""

    def __init__(self) -> None:
        self.items: list[StatsResult] = []
        self.threads: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, result: StatsResult) -> None:
        with self._lock:
            self.items.append(result)
            self.threads.add(threading.current_thread().name)

    def updates(self) -> list[StatsUpdated]:
        with self._lock:
            return [r for r in self.items if isinstance(r, StatsUpdated)]


def test_one_bulk_tick_lists_every_guest_with_its_state(host: Host) -> None:
    engine = StatsEngine(host.label)
    update = engine.tick(host.connection(), host.guests())
    by_name = {g.name: g for g in update.guests}
    assert len(by_name) == 13
    assert by_name["db-replica"].state == GuestState.PAUSED
    assert by_name["build-runner"].state == GuestState.SHUTOFF
    assert by_name["build-runner"].domain_id is None
    assert [g.name for g in update.guests] == sorted(by_name)
    assert update.elapsed is None


def test_test_driver_gives_only_state_so_every_figure_is_unknown(host: Host) -> None:
    engine = StatsEngine(host.label)
    conn = host.connection()
    engine.tick(conn)
    update = engine.tick(conn)
    assert update.elapsed is not None and update.elapsed > 0
    running = next(g for g in update.guests if g.name == "web-frontend-1")
    for name in (
        "cpu_pct",
        "cpu_host_pct",
        "cpu_time_s",
        "mem_used_kib",
        "disk_rd_bps",
        "disk_wr_bps",
        "net_rx_bps",
        "net_tx_bps",
    ):
        assert getattr(running, name) is None, name


def test_host_figures_on_the_test_node(host: Host) -> None:
    engine = StatsEngine(host.label)
    conn = host.connection()
    engine.tick(conn, host.guests())
    figures = engine.tick(conn, host.guests()).host_figures
    assert figures is not None
    assert figures.node.cpus == 8  # 1 socket x 4 cores x 2 threads in node.xml
    assert figures.mem_total_kib == 33554432  # no getMemoryStats there: getInfo's total
    assert figures.mem_used_kib is None and figures.mem_pct is None
    assert figures.cpu_pct is None  # the test driver's CPU counters never move


def test_subset_uses_domain_list_stats(host: Host) -> None:
    conn = host.connection()
    wanted = [conn.lookupByName("db-primary"), conn.lookupByName("cache-redis")]
    sample = StatsCollector(host.label).sample(conn, wanted)
    assert sorted(g.name for g in sample.guests.values()) == ["cache-redis", "db-primary"]
    assert StatsCollector(host.label).sample(conn, []).guests == {}


class RefusesNowait:
    """A connection whose daemon refuses the NOWAIT flag, as old libvirtd does."""

    def __init__(self, conn: libvirt.virConnect) -> None:
        self.conn = conn
        self.flags_seen: list[int] = []

    def getAllDomainStats(self, stats: int, flags: int) -> Any:  # libvirt's name
        self.flags_seen.append(flags)
        if flags & NOWAIT:
            err = libvirt.libvirtError("unsupported flags (0x20000000) in function")
            err.err = (libvirt.VIR_ERR_INVALID_ARG, 0, "unsupported flags", 2, "", None, None, 0, 0)
            raise err
        return self.conn.getAllDomainStats(stats, flags)


def test_falls_back_without_nowait_once_and_remembers(host: Host) -> None:
    refusing = RefusesNowait(host.connection())
    collector = StatsCollector(host.label)
    for _ in range(3):
        sample = collector.sample(refusing)  # type: ignore[arg-type]
        assert len(sample.guests) == 13
    assert refusing.flags_seen == [NOWAIT, 0, 0, 0]


def test_asks_for_the_virt_top_groups_with_nowait() -> None:
    assert STATS_GROUPS & libvirt.VIR_DOMAIN_STATS_BALLOON
    assert STATS_GROUPS & libvirt.VIR_DOMAIN_STATS_BLOCK
    assert STATS_GROUPS & libvirt.VIR_DOMAIN_STATS_INTERFACE
    assert not STATS_GROUPS & libvirt.VIR_DOMAIN_STATS_PERF
    assert NOWAIT == libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT


def test_poller_delivers_ticks_from_its_own_thread_and_fills_history(host: Host) -> None:
    results = Results()
    poller = StatsPoller(host, results, interval=0.1, history_capacity=10)
    poller.start()
    try:
        wait_for(lambda: len(results.updates()) >= 3, 10, what="three ticks")
    finally:
        poller.stop()
    updates = results.updates()
    assert results.threads == {f"stats:{host.label}"}
    assert [u.tick for u in updates[:3]] == [0, 1, 2]
    assert updates[0].elapsed is None
    assert all(u.elapsed is not None and u.elapsed >= 0.1 for u in updates[1:])
    assert poller.history.ticks >= 3
    assert poller.history.host("running_guests").last is not None
    assert poller.last is updates[-1]


def test_poller_pause_resume_and_interval_change(host: Host) -> None:
    results = Results()
    poller = StatsPoller(host, results, interval=0.1)
    poller.start()
    try:
        wait_for(lambda: len(results.updates()) >= 1, 10, what="first tick")
        poller.pause()
        assert poller.paused
        settled = len(results.updates())
        # A paused poller takes no tick, even at its interval; poll_now still can.
        poller.set_interval(0.1)
        with pytest.raises(AssertionError):
            wait_for(lambda: len(results.updates()) > settled + 1, 0.5)
        poller.resume()
        wait_for(lambda: len(results.updates()) >= settled + 2, 10, what="ticks after resume")
        poller.set_interval(60)
        assert poller.interval == 60
        after_change = len(results.updates())
        with pytest.raises(AssertionError):
            wait_for(lambda: len(results.updates()) > after_change + 1, 0.5)
        poller.poll_now()
        wait_for(lambda: len(results.updates()) > after_change, 10, what="poll_now")
    finally:
        poller.stop()


def test_poller_rejects_a_silly_interval(host: Host) -> None:
    poller = StatsPoller(host, Results())
    for bad in (0, -1, float("nan"), 0.01):
        with pytest.raises(ValueError, match="interval"):
            poller.set_interval(bad)


def test_poller_reports_a_disconnected_host_as_a_sentence() -> None:
    host = Host("test:///nonexistent/node.xml", readonly=True, retry_delays=(60,))
    host.start()
    results = Results()
    poller = StatsPoller(host, results, interval=0.1)
    poller.start()
    try:
        failed = wait_for(
            lambda: [r for r in results.items if isinstance(r, StatsFailed)], 10, what="failure"
        )
    finally:
        poller.stop()
        host.stop()
    assert "read statistics" in failed[0].error
    assert "not connected" in failed[0].error


def test_a_slow_listener_or_host_does_not_overlap_polls(host: Host) -> None:
    active = 0
    overlapped = False
    results = Results()

    def slow(result: StatsResult) -> None:
        nonlocal active, overlapped
        active += 1
        overlapped = overlapped or active > 1
        threading.Event().wait(0.15)  # longer than the interval
        results(result)
        active -= 1

    poller = StatsPoller(host, slow, interval=0.1)
    poller.start()
    try:
        wait_for(lambda: len(results.updates()) >= 3, 10, what="three slow ticks")
    finally:
        poller.stop()
    assert not overlapped
    updates = results.updates()
    gaps = [b.monotonic - a.monotonic for a, b in itertools.pairwise(updates)]
    assert all(gap >= 0.25 for gap in gaps)  # poll end + 0.15 s listener + 0.1 s interval


def test_a_new_connection_starts_the_engine_afresh(test_node_uri: str) -> None:
    """After a reconnect the known domain objects belong to the closed connection (and
    libvirt sends a list call through its first domain's connection): the first tick on
    the new one reads everyone there instead of failing."""
    engine = StatsEngine("h", with_host_figures=False)
    first = libvirt.open(test_node_uri)
    engine.tick(first)
    some = {g.uuid for g in engine.tick(first).guests[:2]}
    assert not engine.tick(first, visible=some).complete
    first.close()
    second = libvirt.open(test_node_uri)
    try:
        update = engine.tick(second, visible=some)
        assert update.complete and len(update.guests) == 13
        assert update.elapsed is None  # nothing to compare with on the new connection
        assert not engine.tick(second, visible=some).complete  # then visible-first again
    finally:
        second.close()


def test_a_listener_whose_receiver_is_gone_stops_the_poller(host: Host) -> None:
    """ListenerGone (the app's event loop has closed) ends the poller's thread quietly,
    instead of an error logged every tick."""
    calls = 0

    def gone(result: StatsResult) -> None:
        nonlocal calls
        calls += 1
        raise ListenerGone

    poller = StatsPoller(host, gone, interval=0.1)
    poller.start()
    try:
        thread = poller._thread
        assert thread is not None
        wait_for(lambda: not thread.is_alive(), 10, what="the poller's thread to end")
    finally:
        poller.stop()
    assert calls == 1

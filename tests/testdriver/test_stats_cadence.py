"""Mixed cadences: guests read at different ticks get rates over their own elapsed time.

Constructed samples for the rate code and the engine (a stand-in connection that
answers the two bulk calls), and the real test:/// driver through a Host for the
visible-first poller: shown guests every tick with domainListGetStats, everyone every
FULL_EVERY ticks with getAllDomainStats.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import libvirt
import pytest

from kvmtui.backend.history import HostHistory
from kvmtui.backend.host import Host
from kvmtui.backend.model import GuestState
from kvmtui.backend.poller import (
    FULL_EVERY,
    SLICE_ABOVE,
    SLICE_ROUND,
    ShownGuests,
    StatsEngine,
    StatsPoller,
    StatsUpdated,
    slice_size,
)
from kvmtui.backend.stats import GuestCounters, Sample, rates_since
from tests.waiting import wait_for


def guest(uuid: str, cpu_s: float, domain_id: int = 5) -> GuestCounters:
    return GuestCounters(uuid, uuid, domain_id, GuestState.RUNNING, int(cpu_s * 1e9), 1)


def test_each_guest_rate_uses_its_own_previous_reading() -> None:
    # "a" was read 1 s ago, "b" 5 s ago (it was off screen): both used 1 CPU-second.
    last = {
        "a": guest("a", 10.0)._replace(read_at=99.0),
        "b": guest("b", 10.0)._replace(read_at=95.0),
    }
    now = Sample.of("h", 100.0, 0.0, [guest("a", 11.0), guest("b", 11.0)])
    rates = {r.uuid: r for r in rates_since(last, now)}
    assert rates["a"].cpu_pct == pytest.approx(100.0)
    assert rates["b"].cpu_pct == pytest.approx(20.0)  # 1 s over 5 s, not over 1 s


def test_unknown_without_earlier_reading_or_after_a_restart() -> None:
    last = {"a": guest("a", 10.0, domain_id=5)._replace(read_at=99.0)}
    now = Sample.of("h", 100.0, 0.0, [guest("a", 0.5, domain_id=6), guest("new", 1.0)])
    rates = {r.uuid: r for r in rates_since(last, now)}
    assert rates["a"].cpu_pct is None  # restarted: another domain id
    assert rates["new"].cpu_pct is None and rates["new"].cpu_time_s == pytest.approx(1.0)


class _Dom:
    def __init__(self, uuid: str) -> None:
        self.uuid = uuid

    def UUIDString(self) -> str:  # libvirt's names
        return self.uuid

    def name(self) -> str:
        return self.uuid

    def ID(self) -> int:
        return 5


class Counting:
    """Answers both bulk calls; guest ``u`` uses ``load[u]`` CPU-seconds per second."""

    def __init__(self, load: dict[str, float]) -> None:
        self.load = load
        self.doms = [_Dom(u) for u in load]
        self.now = 0.0
        self.calls: list[tuple[str, list[str]]] = []

    def _records(self, doms: list[Any]) -> list[tuple[Any, dict[str, Any]]]:
        return [
            (d, {"state.state": 1, "vcpu.current": 1, "cpu.time": self._cpu_ns(d.uuid)})
            for d in doms
        ]

    def _cpu_ns(self, uuid: str) -> int:
        return int(self.load[uuid] * self.now * 1e9)

    def getAllDomainStats(self, _groups: int, _flags: int) -> list[tuple[Any, dict[str, Any]]]:
        self.calls.append(("all", [d.uuid for d in self.doms]))
        return self._records(self.doms)

    def domainListGetStats(
        self, doms: list[Any], _groups: int, _flags: int
    ) -> list[tuple[Any, dict[str, Any]]]:
        self.calls.append(("list", sorted(d.uuid for d in doms)))
        return self._records(doms)


def test_engine_reads_shown_guests_every_tick_and_all_every_full_every_ticks() -> None:
    load = {f"g{i}": 0.1 * (i + 1) for i in range(8)}
    conn = Counting(load)
    history = HostHistory(capacity=50)
    engine = StatsEngine(
        "h", history=history, with_host_figures=False, full_every=3, clock=lambda: conn.now
    )
    updates: list[StatsUpdated] = []
    for tick in range(7):
        conn.now = 2.0 * tick
        updates.append(engine.tick(conn, visible={"g0"}))  # type: ignore[arg-type]
    kinds = [kind for kind, _ in conn.calls]
    assert kinds == ["all", "list", "list", "all", "list", "list", "all"]
    assert conn.calls[1] == ("list", ["g0"])
    assert [u.complete for u in updates] == [k == "all" for k in kinds]
    # Every tick carries every guest's latest figures; a partial tick says who was read.
    partial = updates[4]
    assert partial.polled == frozenset({"g0"}) and len(partial.guests) == 8
    assert [r.uuid for r in partial.fresh] == ["g0"]
    # Rates are right at either cadence: g0 over 2 s, g5 over the 6 s since its last read.
    for update in updates[3:]:
        by = update.by_uuid()
        assert by["g0"].cpu_pct == pytest.approx(10.0)
        assert by["g5"].cpu_pct == pytest.approx(60.0)
    # The history holds g5's average over the ticks it was not read, not gaps.
    assert history.guest("g5", "cpu_pct").values[-6:] == pytest.approx([60.0] * 6)
    assert history.guest("g0", "cpu_pct").values[-6:] == pytest.approx([10.0] * 6)


def test_engine_reads_everyone_when_a_shown_guest_is_new() -> None:
    conn = Counting({"a": 0.5, **{f"g{i}": 0.5 for i in range(9)}})
    engine = StatsEngine("h", with_host_figures=False, clock=lambda: conn.now)
    engine.tick(conn, visible={"a"})  # type: ignore[arg-type]
    conn.now = 1.0
    engine.tick(conn, visible={"a"})  # type: ignore[arg-type]
    conn.now = 2.0
    update = engine.tick(conn, visible={"a", "unknown"})  # type: ignore[arg-type]
    assert [kind for kind, _ in conn.calls] == ["all", "list", "all"]
    assert update.complete


def test_shown_guests_with_pins() -> None:
    shown = ShownGuests()
    assert shown.wanted() is None  # nobody said: read everyone every tick
    shown.show({"a"})
    shown.pin("z")
    shown.pin("z")
    shown.unpin("z")
    assert shown.wanted() == {"a", "z"}
    shown.unpin("z")
    assert shown.wanted() == {"a"}


# -- the real API: test:/// driver through a Host ----------------------------------------


@pytest.fixture
def host(test_node_uri: str) -> Iterator[Host]:
    h = Host(test_node_uri, readonly=True)
    h.start()
    assert h.wait_connected(10), h.status.error
    yield h
    h.stop()


class Spy:
    """The host's connection, recording which bulk call each tick made."""

    def __init__(self, conn: libvirt.virConnect) -> None:
        self._conn = conn
        self.calls: list[tuple[str, int]] = []

    def getAllDomainStats(self, stats: int, flags: int) -> Any:
        self.calls.append(("all", 0))
        return self._conn.getAllDomainStats(stats, flags)

    def domainListGetStats(self, doms: list[libvirt.virDomain], stats: int, flags: int) -> Any:
        self.calls.append(("list", len(doms)))
        return self._conn.domainListGetStats(doms, stats, flags)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def test_poller_reads_the_shown_guests_of_a_real_host(host: Host) -> None:
    spy = Spy(host.connection())
    host.connection = lambda action="": spy  # type: ignore[method-assign]
    by_name = {g.name: g.uuid for g in host.guests()}
    shown = {by_name["db-primary"], by_name["cache-redis"]}
    results: list[StatsUpdated] = []
    poller = StatsPoller(host, results.append, interval=0.1)  # type: ignore[arg-type]
    poller.visible.show(shown)
    poller.start()
    try:
        wait_for_ticks = FULL_EVERY + 2
        wait_for(lambda: len(results) >= wait_for_ticks, 20, what="the ticks")
    finally:
        poller.stop()
    ticks = results[:wait_for_ticks]
    assert all(isinstance(r, StatsUpdated) for r in ticks)
    assert spy.calls[0] == ("all", 0)
    assert spy.calls[1:FULL_EVERY] == [("list", 2)] * (FULL_EVERY - 1)
    assert spy.calls[FULL_EVERY] == ("all", 0)
    partial = ticks[1]
    assert partial.polled == frozenset(shown)
    assert len(partial.guests) == 13, "every guest's latest figures ride along"
    assert {g.name for g in partial.fresh} == {"db-primary", "cache-redis"}


def test_a_big_host_reads_off_screen_guests_in_slices() -> None:
    # 2 * SLICE_ABOVE guests: each tick reads the shown ones and a SLICE_ROUND-th of all.
    n = 2 * SLICE_ABOVE
    load = {f"g{i:04d}": 0.001 * (i + 1) for i in range(n)}
    conn = Counting(load)
    history = HostHistory(capacity=50)
    engine = StatsEngine("h", history=history, with_host_figures=False, clock=lambda: conn.now)
    size = slice_size(n)
    assert size == n // SLICE_ROUND
    updates: list[StatsUpdated] = []
    for tick in range(1 + 2 * SLICE_ROUND):
        conn.now = 2.0 * tick
        updates.append(engine.tick(conn, visible={"g0000"}))  # type: ignore[arg-type]
    kinds = [kind for kind, _ in conn.calls]
    assert kinds == ["all"] + ["list"] * (2 * SLICE_ROUND), "no tick reads everyone again"
    assert all(len(uuids) <= size + 1 for _, uuids in conn.calls[1:])
    # One round of SLICE_ROUND ticks reads every guest once; the shown one every tick.
    first_round = [set(uuids) for _, uuids in conn.calls[1 : 1 + SLICE_ROUND]]
    assert set().union(*first_round) == set(load)
    assert all("g0000" in uuids for uuids in first_round)
    assert [u.round_end for u in updates[1:]] == ([False] * (SLICE_ROUND - 1) + [True]) * 2
    assert all(u.settled == u.round_end for u in updates[1:])
    # Rates over each guest's own elapsed time: right whichever slice read it.
    last = updates[-1]
    assert len(last.guests) == n and len(last.fresh) == len(conn.calls[-1][1])
    for i in (0, 1, 57, n - 1):
        assert last.by_uuid()[f"g{i:04d}"].cpu_pct == pytest.approx(0.1 * (i + 1))
    # The history holds an off-screen guest's average over the ticks between its reads
    # (the last slice was read on the last tick; the ones after a guest's read fill in
    # at its next).
    assert history.guest(f"g{n - 1:04d}", "cpu_pct").values[-SLICE_ROUND:] == pytest.approx(
        [0.1 * n] * SLICE_ROUND
    )


def test_a_big_host_reads_everyone_when_its_guest_list_changes() -> None:
    load = {f"g{i:04d}": 0.5 for i in range(2 * SLICE_ABOVE)}
    conn = Counting(load)
    engine = StatsEngine("h", with_host_figures=False, clock=lambda: conn.now)

    def guests() -> list[Any]:
        return [SimpleNamespace(uuid=d.uuid) for d in conn.doms]

    for tick in range(3):
        conn.now = float(tick)
        engine.tick(conn, guests(), visible={"g0000"})  # type: ignore[arg-type]
    conn.doms.append(_Dom("new"))
    load["new"] = 0.5
    conn.now = 3.0
    update = engine.tick(conn, guests(), visible={"g0000"})  # type: ignore[arg-type]
    assert [kind for kind, _ in conn.calls] == ["all", "list", "list", "all"]
    assert update.complete and "new" in update.by_uuid()
    conn.now = 4.0
    engine.tick(conn, guests(), visible={"g0000"})  # type: ignore[arg-type]
    assert conn.calls[-1][0] == "list"


def test_a_read_all_request_makes_the_next_tick_read_every_guest(host: Host) -> None:
    spy = Spy(host.connection())
    host.connection = lambda action="": spy  # type: ignore[method-assign]
    shown = {g.uuid for g in host.guests() if g.name == "db-primary"}
    results: list[StatsUpdated] = []
    poller = StatsPoller(host, results.append, interval=3600.0)  # type: ignore[arg-type]
    poller.visible.show(shown)
    poller.start()
    try:
        wait_for(lambda: len(results) >= 1, 20, what="the first tick")
        poller.poll_now()
        wait_for(lambda: len(results) >= 2, 20, what="a tick of the shown guest")
        poller.visible.read_all_once()
        poller.poll_now()
        wait_for(lambda: len(results) >= 3, 20, what="the tick asked for")
        poller.poll_now()
        wait_for(lambda: len(results) >= 4, 20, what="the tick after")
    finally:
        poller.stop()
    assert spy.calls[:4] == [("all", 0), ("list", 1), ("all", 0), ("list", 1)]
    assert results[2].complete and len(results[2].fresh) == 13
    assert not poller.visible.take_read_all(), "asked once, done once"

"""History ring buffers: order, wrap-around, gaps, unknowns, memory."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvmtui.backend.history import (
    DEFAULT_CAPACITY,
    DEFAULT_INTERVAL,
    GUEST_METRICS,
    GuestTotals,
    HostHistory,
)
from kvmtui.backend.hoststats import HostFigures, NodeInfo
from kvmtui.backend.model import GuestState
from kvmtui.backend.stats import GuestRates


def rates(uuid: str = "u1", cpu: float | None = 10.0, **more: float | None) -> GuestRates:
    return GuestRates(
        host="h",
        uuid=uuid,
        name=uuid,
        state=GuestState.RUNNING,
        domain_id=1,
        vcpus=1,
        cpu_time_s=1.0,
        cpu_pct=cpu,
        **more,  # type: ignore[arg-type]
    )


def test_default_keeps_at_least_ten_minutes() -> None:
    assert DEFAULT_INTERVAL == 3.0
    assert DEFAULT_CAPACITY * DEFAULT_INTERVAL >= 600


def test_series_is_oldest_first_and_wraps_at_capacity() -> None:
    history = HostHistory(capacity=4)
    for i in range(6):
        history.append(100.0 + i, [rates(cpu=float(i))])
    assert history.guest("u1", "cpu_pct").values == (2.0, 3.0, 4.0, 5.0)
    assert history.walls() == (102.0, 103.0, 104.0, 105.0)
    assert history.ticks == 6


def test_unknown_values_read_back_as_none_and_stats_skip_them() -> None:
    history = HostHistory(capacity=5)
    for cpu in (10.0, None, 30.0):
        history.append(0.0, [rates(cpu=cpu, disk_rd_bps=2048.0)])
    series = history.guest("u1", "cpu_pct")
    assert series.values == (None, None, 10.0, None, 30.0)[-3:]
    assert (series.minimum, series.maximum, series.last) == (10.0, 30.0, 30.0)
    assert history.guest("u1", "disk_rd_bps").values == (2048.0, 2048.0, 2048.0)
    assert history.guest("u1", "net_rx_bps").minimum is None


def test_a_guest_missing_from_ticks_gets_gaps_not_stale_values() -> None:
    history = HostHistory(capacity=4)
    history.append(0.0, [rates(cpu=1.0)])
    history.append(1.0, [rates(cpu=2.0)])
    for t in range(2, 5):  # u1 absent for three ticks (wrapping over its old rows)
        history.append(float(t), [rates("u2", cpu=float(t))])
    history.append(5.0, [rates(cpu=6.0)])
    assert history.guest("u1", "cpu_pct").values == (None, None, None, 6.0)
    assert history.guest("u2", "cpu_pct").values == (2.0, 3.0, 4.0, None)


def test_a_guest_that_appears_late_has_none_before_it() -> None:
    history = HostHistory(capacity=3)
    history.append(0.0, [rates("a")])
    history.append(1.0, [rates("a"), rates("b", cpu=5.0)])
    assert history.guest("b", "cpu_pct").values == (None, 5.0)
    assert history.guest("nobody", "cpu_pct").values == (None, None)


def test_guests_with_nothing_known_hold_no_buffer_and_vanished_ones_are_dropped() -> None:
    history = HostHistory(capacity=3)
    history.append(0.0, [rates("off", cpu=None), rates("gone")])
    assert history.guest_count == 1  # "off" costs nothing
    for t in range(1, 6):
        history.append(float(t), [rates("off", cpu=None)])
    assert history.guest_count == 0  # "gone" was absent for a whole lap


def test_host_series_sum_guest_rates_and_keep_host_figures() -> None:
    node = NodeInfo("x86_64", 8 << 20, 4, 2400, 1, 1, 4, 1)
    figures = HostFigures(node, cpu_pct=12.5, mem_total_kib=8 << 20, mem_used_kib=1 << 20)
    history = HostHistory(capacity=3)
    history.append(0.0, [rates("a", net_rx_bps=100.0), rates("b", net_rx_bps=None)], figures)
    history.append(1.0, [rates("a")], None)
    assert history.host("cpu_pct").values == (12.5, None)
    assert history.host("running_guests").values == (2.0, 1.0)
    assert history.host("net_rx_bps").values == (100.0, None)


def test_memory_per_guest_is_small() -> None:
    history = HostHistory()
    for t in range(3):
        history.append(float(t), [rates(f"g{i}") for i in range(100)])
    per_guest = (history.nbytes() - 8 * DEFAULT_CAPACITY) / 100
    # float32 rows: 4 bytes per metric per tick (plus the host's own small rows).
    assert per_guest <= 4 * len(GUEST_METRICS) * DEFAULT_CAPACITY * 1.1
    assert 10_000 * per_guest < 60 * 2**20


def test_a_guest_read_once_a_round_keeps_its_readings_not_a_row_per_tick() -> None:
    """Off-screen guests of a big host are read once a round of 20 ticks (the poller's
    slices), each reading averaging over the ticks since the one before: they hold their
    ten readings, not 200 rows, and read back the same per-tick series."""
    shown, sliced, alone = HostHistory(), HostHistory(), HostHistory()
    for t in range(3 * DEFAULT_CAPACITY):
        both = [rates(f"g{i}", cpu=float(t % 7)) for i in range(20)]
        shown.append(float(t), both)
        alone.append(float(t), [])  # the host's own readings and the walls
        written = [g for g in both if int(g.uuid[1:]) == t % 20]
        since = {g.uuid: t - 20 for g in written if t >= 20}
        sliced.append(float(t), both, written=written, since=since)
    ring = 4 * len(GUEST_METRICS) * DEFAULT_CAPACITY  # what a row per tick held
    assert (sliced.nbytes() - alone.nbytes()) / 20 < ring / 8
    assert (shown.nbytes() - alone.nbytes()) / 20 <= ring * 1.4  # + 8 bytes of span
    series = sliced.guest("g3", "cpu_pct").values
    assert len(series) == DEFAULT_CAPACITY
    # Each tick reads the value of the reading that covers it (every 20th tick's); the
    # ticks after its last reading are not known yet.
    last = 3 * DEFAULT_CAPACITY - 1
    for offset, value in enumerate(series):
        tick = last - DEFAULT_CAPACITY + 1 + offset
        read_at = tick + (3 - tick) % 20
        assert value == (float(read_at % 7) if read_at <= last else None), (tick, read_at)
    assert series.count(None) == 16  # read at tick 583 last, of 599


def test_rejects_a_history_too_short_to_draw() -> None:
    with pytest.raises(ValueError):
        HostHistory(capacity=1)


_RATE = st.one_of(st.none(), st.floats(min_value=0.0, max_value=1e12, allow_nan=False))


@settings(max_examples=60, deadline=None)
@given(
    ticks=st.lists(
        st.lists(
            st.tuples(st.integers(0, 19), st.booleans(), _RATE, _RATE, _RATE, _RATE),
            max_size=20,
        ),
        min_size=1,
        max_size=30,
    )
)
def test_running_totals_match_a_sum_from_scratch(
    ticks: list[list[tuple[int, bool, float | None, float | None, float | None, float | None]]],
) -> None:
    """GuestTotals updated a few guests at a time equals summing every guest's latest."""
    totals = GuestTotals()
    latest: dict[str, GuestRates] = {}
    for read in ticks:
        fresh = []
        for index, active, rd, wr, rx, tx in read:
            uuid = f"g{index}"
            fresh.append(
                rates(uuid, disk_rd_bps=rd, disk_wr_bps=wr, net_rx_bps=rx, net_tx_bps=tx)._replace(
                    state=GuestState.RUNNING if active else GuestState.SHUTOFF
                )
            )
        for r in fresh:
            latest[r.uuid] = r
        totals.update(fresh)
        running, *sums = totals.values()
        guests = list(latest.values())
        assert running == sum(1 for g in guests if g.state.active)
        for got, field in zip(
            sums, ("disk_rd_bps", "disk_wr_bps", "net_rx_bps", "net_tx_bps"), strict=True
        ):
            known = [getattr(g, field) for g in guests if getattr(g, field) is not None]
            if not known:
                assert got is None
            else:
                assert got == pytest.approx(sum(known), rel=1e-9, abs=1e-3)
    totals.reset(latest.values())
    assert totals.values()[0] == sum(1 for g in latest.values() if g.state.active)


@settings(max_examples=200, deadline=None)
@given(
    capacity=st.integers(2, 9),
    reads=st.lists(
        st.tuples(st.integers(1, 25), st.integers(0, 30), st.integers(0, 1000)),
        min_size=1,
        max_size=12,
    ),
)
def test_missed_ticks_are_filled_as_averages_or_gaps_across_the_ring(
    capacity: int, reads: list[tuple[int, int, int]]
) -> None:
    """A guest read now and then: each tick it missed reads this reading's value when the
    reading averages over it (after the ``since`` tick), else a gap; also where the fill
    wraps around the ring. The expected values come from a per-tick model."""
    history = HostHistory(capacity)
    expected: dict[int, float | None] = {}
    tick = -1
    last_read: int | None = None
    for skip, since_back, value in reads:
        for _ in range(skip - 1):  # ticks this guest is not read
            tick = history.append(0.0, [], written=[])
            expected[tick] = None
        tick += 1
        # The engine passes the guest's previous reading, or nothing (its ticks since
        # are gaps); a buffer born now (the first known values) may fill back to a
        # reading made while its values were unknown.
        if last_read is not None:
            since = last_read if since_back else None
        else:
            since = max(0, tick - since_back) if since_back else None
        cpu = float(value)
        got = history.append(
            0.0, [rates(cpu=cpu)], written=[rates(cpu=cpu)],
            since={"u1": since} if since is not None else {},
        )  # fmt: skip
        assert got == tick
        averaged_from = since + 1 if since is not None else tick
        start = last_read + 1 if last_read is not None else averaged_from
        for missed in range(start, tick):
            expected[missed] = cpu if missed >= averaged_from else None
        expected[tick] = cpu
        last_read = tick
    kept = range(max(0, tick - capacity + 1), tick + 1)
    assert history.guest("u1", "cpu_pct").values == tuple(expected.get(t) for t in kept)
    for count in (1, 3, capacity):  # a list row's sparkline: the same values, the last ones
        assert history.guest_tail("u1", "cpu_pct", count) == tuple(
            expected.get(t) for t in kept[-count:]
        )

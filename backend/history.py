"""Ring buffers of recent figures per guest and per host, small enough for 10,000 guests.

Every guest shares its host's timeline: tick ``t`` is row ``t % capacity`` of each
guest's one ``array('f')`` (float32, all metrics of a row side by side). Unknown is
stored as NaN and read back as None. A guest's buffer is allocated on its first known
value, so shut-off guests cost only a dictionary entry.

Memory: ``capacity * len(GUEST_METRICS) * 4`` bytes per guest with figures, 4.8 KB at
the defaults (48 MB for 10,000 busy guests). float32 keeps 7 significant digits, plenty
for a graph and a min/max readout.

A :class:`HostHistory` is written by its poller thread and read by the UI thread; each
public method holds the lock and reads return fresh tuples.
"""

from __future__ import annotations

import math
import threading
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter

from kvmtui.backend.hoststats import HostFigures
from kvmtui.backend.stats import GuestRates

#: virt-top's default refresh interval, seconds.
DEFAULT_INTERVAL = 3.0
#: Ten minutes at the default interval.
DEFAULT_CAPACITY = 200

GUEST_METRICS: tuple[str, ...] = (
    "cpu_pct",
    "mem_used_kib",
    "disk_rd_bps",
    "disk_wr_bps",
    "net_rx_bps",
    "net_tx_bps",
)
HOST_METRICS: tuple[str, ...] = (
    "cpu_pct",
    "mem_used_kib",
    "mem_total_kib",
    "running_guests",
    "disk_rd_bps",
    "disk_wr_bps",
    "net_rx_bps",
    "net_tx_bps",
)

_NAN = math.nan
_GUEST_INDEX = {name: i for i, name in enumerate(GUEST_METRICS)}
_HOST_INDEX = {name: i for i, name in enumerate(HOST_METRICS)}


@dataclass(frozen=True, slots=True)
class Series:
    """One metric over the kept ticks, oldest first; None where unknown."""

    values: tuple[float | None, ...]

    @property
    def known(self) -> list[float]:
        return [v for v in self.values if v is not None]

    @property
    def last(self) -> float | None:
        return self.values[-1] if self.values else None

    @property
    def minimum(self) -> float | None:
        known = self.known
        return min(known) if known else None

    @property
    def maximum(self) -> float | None:
        known = self.known
        return max(known) if known else None


class _Rows:
    """A ring of rows of ``width`` float32 values, indexed by the host's tick number."""

    __slots__ = ("data", "last_tick")

    def __init__(self, capacity: int, width: int) -> None:
        self.data = array("f", [_NAN]) * (capacity * width)
        self.last_tick = -1


class HostHistory:
    """Recent figures of one host and its guests, ``capacity`` ticks deep."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 2:
            raise ValueError("a history needs at least two ticks")
        self.capacity = capacity
        self._lock = threading.Lock()
        self._tick = -1
        self._walls = array("d", [_NAN]) * capacity
        self._host = _Rows(capacity, len(HOST_METRICS))
        self._guests: dict[str, _Rows] = {}

    # -- writing (the poller thread) --------------------------------------------------

    def append(
        self,
        wall: float,
        guests: Sequence[GuestRates],
        host: HostFigures | None = None,
        *,
        written: Sequence[GuestRates] | None = None,
        since: Mapping[str, int] | None = None,
        totals: GuestTotals | None = None,
    ) -> int:
        """Record one tick; returns its number.

        ``guests`` are every guest's latest figures (the host's totals sum them);
        ``written`` the guests read this tick (default: all of ``guests``). A guest
        not written gets a gap. ``since`` maps a written guest to the tick of its
        previous reading: its rates average over every tick since then, so the ticks
        it skipped get the same values instead of a gap. ``totals``, kept up to date by
        the caller, gives the host's sums without a pass over every guest.
        """
        width = len(GUEST_METRICS)
        with self._lock:
            self._tick += 1
            tick = self._tick
            row = tick % self.capacity
            self._walls[row] = wall
            present: set[str] = set()
            known_since = since.get if since is not None else None
            for rates in guests if written is None else written:
                values = (
                    rates.cpu_pct,
                    rates.mem_used_kib,
                    rates.disk_rd_bps,
                    rates.disk_wr_bps,
                    rates.net_rx_bps,
                    rates.net_tx_bps,
                )
                present.add(rates.uuid)
                rows = self._guests.get(rates.uuid)
                if rows is None:
                    if all(v is None for v in values):
                        continue  # nothing known yet: allocate nothing
                    rows = self._guests[rates.uuid] = _Rows(self.capacity, width)
                    rows.last_tick = tick - 1  # born all NaN: no gap to clear
                fill_from = known_since(rates.uuid) if known_since is not None else None
                if fill_from is not None and rows.last_tick == tick - 1 and fill_from < tick:
                    rows.last_tick = min(rows.last_tick, fill_from)  # born now: fill back too
                self._write(rows, tick, width, values, fill_from)
            sums = totals.values() if totals is not None else _guest_sums(guests)
            self._write(self._host, tick, len(HOST_METRICS), _host_values(host, sums))
            if tick % self.capacity == self.capacity - 1:
                # Once a lap: forget guests gone for a whole lap (undefined elsewhere).
                gone = [
                    uuid
                    for uuid, rows in self._guests.items()
                    if uuid not in present and tick - rows.last_tick >= self.capacity
                ]
                for uuid in gone:
                    del self._guests[uuid]
        return tick

    def _write(
        self,
        rows: _Rows,
        tick: int,
        width: int,
        values: Iterable[float | int | None],
        fill_from: int | None = None,
    ) -> None:
        data = rows.data
        cap = self.capacity
        row = array("f", [_NAN if v is None else v for v in values])
        start = (tick % cap) * width
        data[start : start + width] = row
        first_missed = max(rows.last_tick + 1, tick - cap + 1)
        if first_missed < tick:
            # Ticks this guest missed since its last write: the values of this reading
            # where they average over those ticks too, else gaps (not old data). Each
            # part is one or two runs of the ring (it may wrap), written at C speed: a
            # sliced guest misses 19 ticks of 20.
            averaged_from = fill_from + 1 if fill_from is not None else tick
            split = min(max(averaged_from, first_missed), tick)
            if split > first_missed:
                self._fill(data, first_missed, split, _nan_row(width), width)
            if tick > split:
                self._fill(data, split, tick, row, width)
        rows.last_tick = tick

    def _fill(
        self, data: array[float], first: int, end: int, row: array[float], width: int
    ) -> None:
        """Ticks ``first`` to ``end`` (excluded, fewer than ``capacity``) get ``row``."""
        cap = self.capacity
        count = end - first
        at = first % cap
        head = min(count, cap - at)
        data[at * width : (at + head) * width] = row * head
        if count > head:
            data[: (count - head) * width] = row * (count - head)

    def forget(self, uuid: str) -> None:
        with self._lock:
            self._guests.pop(uuid, None)

    # -- reading (any thread) ---------------------------------------------------------

    @property
    def ticks(self) -> int:
        """Ticks recorded so far."""
        with self._lock:
            return self._tick + 1

    @property
    def guest_count(self) -> int:
        """Guests holding a buffer."""
        with self._lock:
            return len(self._guests)

    def walls(self) -> tuple[float, ...]:
        """Wall-clock time of each kept tick, oldest first."""
        with self._lock:
            return tuple(self._walls[t % self.capacity] for t in self._kept_ticks())

    def guest(self, uuid: str, metric: str) -> Series:
        """One guest's metric over the kept ticks (all None if nothing known)."""
        index = _GUEST_INDEX[metric]
        with self._lock:
            rows = self._guests.get(uuid)
            ticks = self._kept_ticks()
            if rows is None:
                return Series((None,) * len(ticks))
            return Series(self._read(rows, ticks, len(GUEST_METRICS), index))

    def guest_tail(self, uuid: str, metric: str, count: int) -> tuple[float | None, ...]:
        """The last ``count`` values of one guest's metric (a list row's sparkline)."""
        index = _GUEST_INDEX[metric]
        with self._lock:
            kept = self._kept_ticks()
            ticks = kept[-count:] if count > 0 else kept[:0]
            rows = self._guests.get(uuid)
            if rows is None:
                return (None,) * len(ticks)
            return self._read(rows, ticks, len(GUEST_METRICS), index)

    def host(self, metric: str) -> Series:
        index = _HOST_INDEX[metric]
        with self._lock:
            return Series(self._read(self._host, self._kept_ticks(), len(HOST_METRICS), index))

    def _kept_ticks(self) -> range:
        return range(max(0, self._tick - self.capacity + 1), self._tick + 1)

    def _read(self, rows: _Rows, ticks: range, width: int, index: int) -> tuple[float | None, ...]:
        """``ticks`` (consecutive, fewer than ``capacity``) of one metric: one or two
        strided slices of the ring (it may wrap), at C speed; ticks after the row's
        last write are unknown."""
        cap, data = self.capacity, rows.data
        known = max(0, min(ticks.stop, rows.last_tick + 1) - ticks.start)
        values: list[float] = []
        if known:
            at = ticks.start % cap
            head = min(known, cap - at)
            values = data[at * width + index : (at + head) * width : width].tolist()
            if known > head:
                values += data[index : (known - head) * width : width].tolist()
        out = [None if v != v else v for v in values]  # NaN is the only value != itself
        return (*out, *(None,) * (len(ticks) - known))

    def nbytes(self) -> int:
        """Bytes held by the buffers (not counting dictionary overhead)."""
        with self._lock:
            arrays = [self._walls, self._host.data, *(r.data for r in self._guests.values())]
            return sum(a.itemsize * len(a) for a in arrays)


def _nan_row(width: int) -> array[float]:
    return array("f", [_NAN]) * width


_Sums = tuple[int, float | None, float | None, float | None, float | None]


def _host_values(host: HostFigures | None, sums: _Sums) -> tuple[float | int | None, ...]:
    return (
        host.cpu_pct if host else None,
        host.mem_used_kib if host else None,
        host.mem_total_kib if host else None,
        *sums,
    )


def _guest_sums(guests: Sequence[GuestRates]) -> _Sums:
    """Running guests, then the summed disk read/write and net rx/tx rates."""
    return (
        sum(1 for g in guests if g.state.active),
        _sum(map(_DISK_RD, guests)),
        _sum(map(_DISK_WR, guests)),
        _sum(map(_NET_RX, guests)),
        _sum(map(_NET_TX, guests)),
    )


#: One guest's share of the sums: running, disk read, disk write, net rx, net tx.
_Term = tuple[bool, float | None, float | None, float | None, float | None]


class GuestTotals:
    """The host's sums over every guest's latest figures, kept up to date a guest at a
    time: a tick that read 147 of 1,000 guests changes 147 terms instead of summing
    1,000 (about 1 ms at 1,000 guests, ten at 10,000).

    :meth:`reset` sums from scratch (on every complete reading, which also ends any
    rounding drift of the running sums); :meth:`update` swaps the terms of the guests
    read. A sum with no known term is unknown (None), as :func:`_sum` has it.
    """

    def __init__(self) -> None:
        self._terms: dict[str, _Term] = {}
        self._running = 0
        self._sums = [0.0, 0.0, 0.0, 0.0]
        self._known = [0, 0, 0, 0]

    def reset(self, guests: Iterable[GuestRates]) -> None:
        self._terms.clear()
        self._running = 0
        self._sums = [0.0, 0.0, 0.0, 0.0]
        self._known = [0, 0, 0, 0]
        self.update(guests)

    def update(self, guests: Iterable[GuestRates]) -> None:
        # Unrolled, the sums in locals: at 10,000 guests a tick swaps 1,000 terms.
        terms = self._terms
        running = self._running
        rd, wr, rx, tx = self._sums
        k_rd, k_wr, k_rx, k_tx = self._known
        for g in guests:
            new = (g.state.active, g.disk_rd_bps, g.disk_wr_bps, g.net_rx_bps, g.net_tx_bps)
            old = terms.get(g.uuid)
            terms[g.uuid] = new
            if old is not None:
                o_active, o_rd, o_wr, o_rx, o_tx = old
                running -= o_active
                if o_rd is not None:
                    rd -= o_rd
                    k_rd -= 1
                if o_wr is not None:
                    wr -= o_wr
                    k_wr -= 1
                if o_rx is not None:
                    rx -= o_rx
                    k_rx -= 1
                if o_tx is not None:
                    tx -= o_tx
                    k_tx -= 1
            n_active, n_rd, n_wr, n_rx, n_tx = new
            running += n_active
            if n_rd is not None:
                rd += n_rd
                k_rd += 1
            if n_wr is not None:
                wr += n_wr
                k_wr += 1
            if n_rx is not None:
                rx += n_rx
                k_rx += 1
            if n_tx is not None:
                tx += n_tx
                k_tx += 1
        self._running = running
        self._sums = [rd, wr, rx, tx]
        self._known = [k_rd, k_wr, k_rx, k_tx]

    def values(self) -> _Sums:
        sums, known = self._sums, self._known
        rd, wr, rx, tx = (
            max(0.0, sums[i]) if known[i] else None for i in range(4)
        )  # max: a running sum of non-negative rates can round to a hair below zero
        return self._running, rd, wr, rx, tx


_DISK_RD = attrgetter("disk_rd_bps")
_DISK_WR = attrgetter("disk_wr_bps")
_NET_RX = attrgetter("net_rx_bps")
_NET_TX = attrgetter("net_tx_bps")


def _sum(values: Iterable[float | None]) -> float | None:
    """Sum of the known values; None if none is known (the host has no figures)."""
    known = [v for v in values if v is not None]  # one pass at C speed, then sum
    return sum(known) if known else None

"""Recent figures per guest and per host, small enough for 10,000 guests.

Every guest shares its host's timeline of tick numbers. A guest keeps its readings, not
a row per tick: each reading is the guest's metrics side by side (``array('f')``,
float32) and the span of ticks it covers, from the tick after the reading before (its
rates average over every tick since then) to the tick it was read. A tick no reading
covers is a gap, and unknown is stored as NaN; both read back as None. Readings that
end before the kept ticks are dropped as new ones come, and a guest's readings are
allocated on its first known value, so shut-off guests cost only a dictionary entry.

Memory: about ``len(GUEST_METRICS) * 4 + 8`` bytes per reading. A guest read every
tick (shown in the list) keeps ``capacity`` readings, 6.4 KB at the defaults; an
off-screen guest on a big host is read once a round of slices (20 ticks, the poller's
``SLICE_ROUND``) and keeps about ten, some 0.6 KB with its arrays. Before, every guest
held a ring of ``capacity`` rows (4.8 KB): 46 MiB at 10,000 busy guests instead of
about 6. float32 keeps 7 significant digits, plenty for a graph and a min/max readout.

A :class:`HostHistory` is written by its poller thread and read by the UI thread; each
public method holds the lock and reads return fresh tuples.
"""

from __future__ import annotations

import math
import threading
from array import array
from bisect import bisect_left
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


class _Readings:
    """The readings of one guest (or of the host) that reach into the kept ticks:
    reading ``k`` covers ticks ``firsts[k]`` to ``lasts[k]`` and holds ``width`` values
    at ``data[k * width:]``. Both tick arrays are increasing, spans never overlap."""

    __slots__ = ("data", "firsts", "lasts")

    def __init__(self) -> None:
        self.firsts = array("i")
        self.lasts = array("i")
        self.data = array("f")

    @property
    def last_tick(self) -> int:
        return self.lasts[-1] if self.lasts else -1


class HostHistory:
    """Recent figures of one host and its guests, ``capacity`` ticks deep."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 2:
            raise ValueError("a history needs at least two ticks")
        self.capacity = capacity
        self._lock = threading.Lock()
        self._tick = -1
        self._walls = array("d", [_NAN]) * capacity
        self._host = _Readings()
        self._guests: dict[str, _Readings] = {}

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
                readings = self._guests.get(rates.uuid)
                if readings is None:
                    if all(v is None for v in values):
                        continue  # nothing known yet: allocate nothing
                    # Born now: it may fill back to a reading made while values were unknown.
                    readings = self._guests[rates.uuid] = _Readings()
                fill_from = known_since(rates.uuid) if known_since is not None else None
                self._write(readings, tick, width, values, fill_from)
            sums = totals.values() if totals is not None else _guest_sums(guests)
            self._write(self._host, tick, len(HOST_METRICS), _host_values(host, sums))
            if tick % self.capacity == self.capacity - 1:
                # Once a lap: forget guests gone for a whole lap (undefined elsewhere).
                gone = [
                    uuid
                    for uuid, readings in self._guests.items()
                    if uuid not in present and tick - readings.last_tick >= self.capacity
                ]
                for uuid in gone:
                    del self._guests[uuid]
        return tick

    def _write(
        self,
        readings: _Readings,
        tick: int,
        width: int,
        values: Iterable[float | int | None],
        fill_from: int | None = None,
    ) -> None:
        """Add the reading of ``tick``. It covers the ticks since ``fill_from`` (its rates
        average over them) that no earlier reading covers; the others it missed stay gaps
        (not old data). Readings that end before the kept ticks are dropped."""
        lasts = readings.lasts
        first = fill_from + 1 if fill_from is not None else tick
        if lasts:
            first = max(first, lasts[-1] + 1)
        readings.firsts.append(min(first, tick))
        lasts.append(tick)
        readings.data.extend(array("f", [_NAN if v is None else v for v in values]))
        oldest = tick - self.capacity + 1
        if lasts[0] < oldest:
            gone = bisect_left(lasts, oldest)
            del readings.firsts[:gone], lasts[:gone], readings.data[: gone * width]

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
            readings = self._guests.get(uuid)
            ticks = self._kept_ticks()
            if readings is None:
                return Series((None,) * len(ticks))
            return Series(_read(readings, ticks, len(GUEST_METRICS), index))

    def guest_tail(self, uuid: str, metric: str, count: int) -> tuple[float | None, ...]:
        """The last ``count`` values of one guest's metric (a list row's sparkline)."""
        index = _GUEST_INDEX[metric]
        with self._lock:
            kept = self._kept_ticks()
            ticks = kept[-count:] if count > 0 else kept[:0]
            readings = self._guests.get(uuid)
            if readings is None:
                return (None,) * len(ticks)
            return _read(readings, ticks, len(GUEST_METRICS), index)

    def host(self, metric: str) -> Series:
        index = _HOST_INDEX[metric]
        with self._lock:
            return Series(_read(self._host, self._kept_ticks(), len(HOST_METRICS), index))

    def _kept_ticks(self) -> range:
        return range(max(0, self._tick - self.capacity + 1), self._tick + 1)

    def nbytes(self) -> int:
        """Bytes held by the arrays' items (not counting object and dictionary overhead)."""
        with self._lock:
            held = [self._host, *self._guests.values()]
            arrays = [self._walls, *(a for r in held for a in (r.firsts, r.lasts, r.data))]
            return sum(a.itemsize * len(a) for a in arrays)


def _read(readings: _Readings, ticks: range, width: int, index: int) -> tuple[float | None, ...]:
    """``ticks`` (consecutive, within the kept ones) of one metric: each reading's value
    over the part of its span among them; None in gaps, where unknown, and after the
    last reading."""
    start, stop = ticks.start, ticks.stop
    firsts, lasts, data = readings.firsts, readings.lasts, readings.data
    begin = bisect_left(lasts, start)
    count = len(lasts) - begin
    if count and lasts[-1] < stop and lasts[-1] - firsts[begin] + 1 == count:
        # A reading a tick, no gap (a guest shown in the list): one strided slice.
        values = data[begin * width + index :: width].tolist()
        head, tail = firsts[begin] - start, stop - 1 - lasts[-1]
        known = [None if v != v else v for v in values]  # NaN is the only value != itself
        return (*(None,) * head, *known, *(None,) * tail)
    out: list[float | None] = [None] * len(ticks)
    for k in range(begin, len(lasts)):
        first = firsts[k]
        if first >= stop:
            break
        value = data[k * width + index]
        if value == value:  # NaN is the only value != itself
            lo, hi = max(first, start), min(lasts[k] + 1, stop)
            out[lo - start : hi - start] = [value] * (hi - lo)
    return tuple(out)


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

"""Polling one host: a tick of statistics, and a thread that runs ticks on an interval.

:class:`StatsEngine` is one tick without threads (batch mode and the benchmark use it
directly): a host sample, one bulk guest sample, rates against the previous tick, the
history. :class:`StatsPoller` runs an engine for one :class:`~backend.host.Host` in its
own thread: poll, then wait the interval after the poll ends (a one-shot timer re-armed,
so polls never overlap and a slow host only slows itself). While the UI says which
guests it shows (:class:`ShownGuests`), a tick reads only those, and every guest every
:data:`FULL_EVERY` ticks; each guest's rates use its own previous reading. Results go to a listener
callable, from the poller's thread, as immutable :data:`StatsResult` values; the UI
posts them as messages.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter

import libvirt

from kvmtui.backend import errors, failures
from kvmtui.backend.history import DEFAULT_CAPACITY, DEFAULT_INTERVAL, GuestTotals, HostHistory
from kvmtui.backend.host import Host
from kvmtui.backend.hoststats import (
    HostFigures,
    HostSample,
    HostSampler,
    OvercommitMemo,
    host_figures,
)
from kvmtui.backend.model import Guest
from kvmtui.backend.stats import (
    DeviceRates,
    GuestCounters,
    GuestRates,
    Sample,
    StatsCollector,
    device_rates,
    rates_since,
)

log = logging.getLogger(__name__)

#: The shortest interval accepted (virt-top refuses below 0.1 s too).
MIN_INTERVAL = 0.1
#: While a screen says which guests it shows, every guest is read every this many
#: ticks (one ``getAllDomainStats``); the shown ones every tick (``domainListGetStats``).
FULL_EVERY = 5
#: A shown set larger than this share of the host's guests is read with the full call.
_SUBSET_SHARE = 0.25
#: Hosts with more guests than this read the off-screen ones in slices: a
#: ``SLICE_ROUND``-th of them each tick (``domainListGetStats`` with the shown ones), so
#: every tick costs about the same; smaller hosts read everyone every ``FULL_EVERY``
#: ticks with one ``getAllDomainStats`` (as cheap as a slice at that size).
SLICE_ABOVE = 100
#: A round of slices reads every off-screen guest in this many ticks (a minute at the
#: default interval, as at 10,000 guests). Each guest read costs the daemon work (on a
#: QEMU host a monitor query per guest) and this process 30-60 us: at 1,000 guests a
#: round of 5 ticks made a tick 247 guests long and the whole tick 31-36 ms, a round of
#: 10 147 guests and 19-26 ms, over the 25 ms target in the machine's slow phases; a
#: round of 20 reads 97 guests a tick and takes about 4.5 ms off the engine's part
#: (docs/monitoring.md).
SLICE_ROUND = 20
#: At most this many off-screen guests a tick: a bigger host takes more ticks for a
#: round (10,000 guests: 20 ticks, a minute at the default interval), so a tick stays
#: well under 150 ms on two cores (1,000 a tick made the 90th percentile 160-230 ms in
#: the machine's slow phases). A sort by a figure reads everyone at once anyway.
MAX_SLICE = 500


@dataclass(frozen=True, slots=True)
class StatsUpdated:
    """One tick of one host.

    ``elapsed`` is the seconds since the previous tick (None on the first: every rate
    is then unknown). ``guests`` holds every guest's latest figures, sorted by name.
    ``polled`` is None when every guest was read this tick, else the UUIDs that were
    (the others' figures are from their last reading, at most ``FULL_EVERY`` ticks
    old). ``host_figures`` is None when host figures were not asked for.
    ``round_end`` is True on the tick that completes a round of slices: every guest
    was read within the round (a statistics sort may reorder then).
    ``collect_s`` is the duration of the bulk call. ``sample`` is the raw reading
    behind it, ``previous`` the one before when all guests share one cadence, and
    ``seen_before`` each read guest's own previous reading, for :meth:`devices`.
    """

    host: str
    tick: int
    wall: float
    monotonic: float
    elapsed: float | None
    guests: tuple[GuestRates, ...]
    host_figures: HostFigures | None
    collect_s: float
    sample: Sample | None = field(default=None, repr=False, compare=False)
    previous: Sample | None = field(default=None, repr=False, compare=False)
    polled: frozenset[str] | None = None
    seen_before: Mapping[str, GuestCounters] | None = field(default=None, repr=False, compare=False)
    round_end: bool = False
    read: tuple[GuestRates, ...] | None = field(default=None, repr=False, compare=False)

    @property
    def complete(self) -> bool:
        """Every guest was read this tick."""
        return self.polled is None

    @property
    def settled(self) -> bool:
        """Every guest was read this tick or within the round that ends with it."""
        return self.polled is None or self.round_end

    @property
    def fresh(self) -> tuple[GuestRates, ...]:
        """The figures read this tick: every guest's, or only the polled ones'."""
        if self.polled is None:
            return self.guests
        if self.read is not None:
            return self.read
        polled = self.polled
        return tuple(g for g in self.guests if g.uuid in polled)

    def by_uuid(self) -> dict[str, GuestRates]:
        return {g.uuid: g for g in self.guests}

    def devices(self, uuid: str) -> tuple[tuple[DeviceRates, ...], tuple[DeviceRates, ...]]:
        """Per-disk and per-NIC rates of one guest (computed now: only one screen needs
        them); empty if the guest was not read this tick."""
        current = self.sample.guests.get(uuid) if self.sample is not None else None
        if current is None or self.sample is None:
            return (), ()
        seen = self.seen_before.get(uuid) if self.seen_before is not None else None
        if seen is not None and seen.read_at is not None:
            return device_rates(seen, current, self.sample.monotonic - seen.read_at)
        old = self.previous.guests.get(uuid) if self.previous is not None else None
        return device_rates(old, current, self.elapsed if self.previous is not None else None)


@dataclass(frozen=True, slots=True)
class StatsFailed:
    """A tick that could not be taken; ``error`` is a sentence for the admin."""

    host: str
    wall: float
    error: str


StatsResult = StatsUpdated | StatsFailed
StatsListener = Callable[[StatsResult], None]


class ListenerGone(Exception):
    """Raised by a listener whose receiver has ended for good (the app's event loop has
    closed): the poller stops instead of polling for nobody."""


class ShownGuests:
    """The guests a screen shows now, by UUID; written by the UI, read by the poller.

    Until :meth:`show` is first called nobody has said what is shown and every tick
    reads every guest. ``pin`` keeps a guest read every tick whatever the list shows
    (an open details screen).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._shown: frozenset[str] | None = None
        self._pinned: dict[str, int] = {}
        self._read_all = False

    def read_all_once(self) -> None:
        """The next tick reads every guest (a sort by a figure wants them all fresh)."""
        with self._lock:
            self._read_all = True

    def take_read_all(self) -> bool:
        """Whether a tick reading every guest was asked for since the last call."""
        with self._lock:
            asked, self._read_all = self._read_all, False
            return asked

    def show(self, uuids: Iterable[str]) -> None:
        shown = frozenset(uuids)
        with self._lock:
            self._shown = shown

    def pin(self, uuid: str) -> None:
        with self._lock:
            self._pinned[uuid] = self._pinned.get(uuid, 0) + 1

    def unpin(self, uuid: str) -> None:
        with self._lock:
            left = self._pinned.get(uuid, 0) - 1
            if left > 0:
                self._pinned[uuid] = left
            else:
                self._pinned.pop(uuid, None)

    def wanted(self) -> frozenset[str] | None:
        """The guests to read every tick, or None: every guest, every tick."""
        with self._lock:
            if self._shown is None:
                return None
            return self._shown | self._pinned.keys() if self._pinned else self._shown


_BY_NAME = attrgetter("name")


class StatsEngine:
    """Ticks of one host: samples, rates against each guest's previous reading, history.

    ``tick(conn, visible=...)`` reads the ``visible`` guests every tick with
    ``domainListGetStats`` (on the domain objects the last bulk reply returned, no
    lookups). On a host of more than :data:`SLICE_ABOVE` guests the same call also
    reads the next ``slice_round``-th of all guests, at most :data:`MAX_SLICE` (a round
    of slices reads everyone in ``slice_round`` ticks, more on a huge host, and no tick
    pays for all of them); everyone is read with
    ``getAllDomainStats`` on the first tick, when the host's guest list differs from
    the guests known, when a visible guest is not known yet, or when the visible set
    is a large share of the host. A smaller host reads everyone every ``full_every``
    ticks instead. Without ``visible`` every tick reads every guest.
    """

    def __init__(
        self,
        label: str,
        *,
        history: HostHistory | None = None,
        with_host_figures: bool = True,
        full_every: int = FULL_EVERY,
        slice_round: int = SLICE_ROUND,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if full_every < 1 or slice_round < 1:
            raise ValueError("full_every and slice_round must be at least 1")
        self.label = label
        self.history = history
        self.full_every = full_every
        self.slice_round = slice_round
        self._with_host = with_host_figures
        self._collector = StatsCollector(label, clock=clock, wall_clock=wall_clock)
        self._host_sampler = HostSampler(clock=clock, wall_clock=wall_clock)
        self._overcommit = OvercommitMemo()
        self._totals = GuestTotals()
        self._previous_host: HostSample | None = None
        self._previous_monotonic: float | None = None
        self._previous_full: Sample | None = None  # the last tick, if it read everyone
        self._seen: dict[str, GuestCounters] = {}  # each guest's last reading
        self._seen_tick: dict[str, int] = {}
        #: Every guest's latest figures, by name as of the last full reading (changed in
        #: place; each tick hands out a tuple copy), and each guest's place in it.
        self._latest: list[GuestRates] = []
        self._position: dict[str, int] = {}
        self._since_full: int | None = None  # ticks since the last full reading
        #: Every known domain with its UUID (read once: ``UUIDString`` is a C call), for
        #: slices.
        self._ring: list[tuple[str, libvirt.virDomain]] = []
        self._ring_pos = 0
        self._known_list: object = None  # the guest list the known domains match
        self._ticks = 0
        self._conn: libvirt.virConnect | None = None  # the connection of the readings

    def reset(self) -> None:
        """Forget every earlier reading: the next tick reads everyone, without rates."""
        self._previous_host = None
        self._previous_monotonic = None
        self._previous_full = None
        self._seen = {}
        self._seen_tick = {}
        self._latest = []
        self._position = {}
        self._totals = GuestTotals()
        self._since_full = None
        self._ring = []
        self._ring_pos = 0
        self._known_list = None
        self._collector.domains = {}

    def _same_guests(self, guests: Sequence[Guest] | None) -> bool:
        """The host's guest list names exactly the domains known (no list: assume so)."""
        if guests is None or guests is self._known_list:
            return True
        known = self._collector.domains
        if len(guests) != len(known) or any(g.uuid not in known for g in guests):
            return False
        self._known_list = guests
        return True

    def _subset(
        self, visible: Collection[str] | None, guests: Sequence[Guest] | None
    ) -> tuple[list[libvirt.virDomain] | None, bool]:
        """The domains to read this tick (None: every guest), and whether this tick
        ends a round of slices."""
        if visible is None or self._since_full is None:
            return None, False
        known = self._collector.domains
        sliced = len(known) > SLICE_ABOVE
        if not sliced and self._since_full + 1 >= self.full_every:
            return None, False
        if len(visible) > _SUBSET_SHARE * len(known) or not self._same_guests(guests):
            return None, False
        domains = []
        for uuid in visible:
            dom = known.get(uuid)
            if dom is None:
                return None, False  # a guest new since the last full reading
            domains.append(dom)
        if not sliced:
            return domains, False
        ring = self._ring
        size = slice_size(len(ring), self.slice_round)
        start = self._ring_pos
        end = min(start + size, len(ring))
        self._ring_pos = 0 if end >= len(ring) else end
        wanted = visible if isinstance(visible, (set, frozenset)) else set(visible)
        domains.extend(d for uuid, d in ring[start:end] if uuid not in wanted)
        return domains, self._ring_pos == 0

    def tick(
        self,
        conn: libvirt.virConnect,
        guests: Sequence[Guest] | None = None,
        domains: Sequence[libvirt.virDomain] | None = None,
        visible: Collection[str] | None = None,
    ) -> StatsUpdated:
        """Take one tick. ``guests`` (the host's guest list) adds overcommit figures;
        ``domains`` limits the bulk call to those guests; ``visible`` (UUIDs) reads
        those every tick and everyone every ``full_every`` ticks.

        Raises :class:`libvirt.libvirtError`.
        """
        if conn is not self._conn:
            # Another connection (a reconnect): the known domain objects belong to the
            # old one, and libvirt sends a list call through its first domain's
            # connection. Start afresh: this tick reads everyone on the new one.
            self.reset()
            self._conn = conn
        host_sample = self._host_sampler.sample(conn) if self._with_host else None
        round_end = False
        if domains is not None:
            subset: list[libvirt.virDomain] | None = list(domains)
        else:
            subset, round_end = self._subset(visible, guests)
        try:
            sample = self._collector.sample(conn, subset)
        except libvirt.libvirtError as exc:
            if subset is None or exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                raise
            subset = None  # a guest read vanished: read everyone
            sample = self._collector.sample(conn)
        complete = subset is None
        if complete and domains is None:
            # A new round of slices over every domain, in the reply's order.
            self._ring = list(self._collector.domains.items())
            self._ring_pos = 0
            self._known_list = None
        figures = None
        if host_sample is not None:
            figures = host_figures(self._previous_host, host_sample, guests, memo=self._overcommit)
        host_cpus = host_sample.node.cpus if host_sample is not None else None

        seen_before = self._seen
        read = rates_since(seen_before, sample, host_cpus)
        tick = self.history.ticks if self.history is not None else self._ticks
        if complete:
            read.sort(key=_BY_NAME)
            self._latest = list(read)
            self._position = {r.uuid: i for i, r in enumerate(read)}
            all_rates = tuple(read)
            self._totals.reset(read)
            # Replaced, never changed later: the UI may read the old dicts meanwhile.
            before: Mapping[str, GuestCounters] = seen_before
            since_before: Mapping[str, int] = self._seen_tick
            self._seen = dict(sample.guests)
            self._seen_tick = dict.fromkeys(sample.guests, tick)
        else:
            latest, position = self._latest, self._position
            for r in read:
                at = position.get(r.uuid)
                if at is not None:  # always, but for a guest unknown to the full reading
                    latest[at] = r
            all_rates = tuple(latest)  # a copy of references: no lookup per guest
            if round_end:  # a fresh sum once a round: no rounding drift builds up
                self._totals.reset(all_rates)
            else:
                self._totals.update(read)
            seen_tick = self._seen_tick
            before = {u: seen_before[u] for u in sample.guests if u in seen_before}
            since_before = {u: seen_tick[u] for u in sample.guests if u in seen_tick}
            seen_before.update(sample.guests)
            for u in sample.guests:
                seen_tick[u] = tick
        if self.history is not None:
            tick = self.history.append(
                sample.wall,
                all_rates,
                figures,
                written=read,
                since=since_before,
                totals=self._totals,
            )
        self._ticks += 1
        self._since_full = 0 if complete else (self._since_full or 0) + 1
        previous_monotonic = self._previous_monotonic
        previous_full = self._previous_full
        self._previous_host, self._previous_monotonic = host_sample, sample.monotonic
        self._previous_full = sample if complete else None
        return StatsUpdated(
            host=self.label,
            tick=tick,
            wall=sample.wall,
            monotonic=sample.monotonic,
            elapsed=(
                sample.monotonic - previous_monotonic if previous_monotonic is not None else None
            ),
            guests=all_rates,
            host_figures=figures,
            collect_s=sample.duration_s,
            sample=sample,
            previous=previous_full if complete else None,
            polled=None if complete else frozenset(sample.guests),
            seen_before=before,
            round_end=round_end,
            read=None if complete else tuple(read),
        )


class StatsPoller:
    """Polls one host in its own thread and hands each result to ``listener``.

    The interval can change at run time (:meth:`set_interval` re-arms the wait from
    the end of the last poll); :meth:`pause` stops polling until :meth:`resume`, which
    polls at once. After a pause the first rates average over the whole pause.
    """

    def __init__(
        self,
        host: Host,
        listener: StatsListener,
        *,
        interval: float = DEFAULT_INTERVAL,
        history_capacity: int = DEFAULT_CAPACITY,
        full_every: int = FULL_EVERY,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.host = host
        self.history = HostHistory(history_capacity)
        #: What the UI shows of this host: read every tick, the rest every few ticks.
        self.visible = ShownGuests()
        self._listener = listener
        self._interval = _checked_interval(interval)
        self._clock = clock
        self._wall_clock = wall_clock
        self._engine = StatsEngine(
            host.label,
            history=self.history,
            full_every=full_every,
            clock=clock,
            wall_clock=wall_clock,
        )
        self._cond = threading.Condition()
        self._paused = False
        self._stopping = False
        self._poll_requested = False
        self._last_end: float | None = None
        self._thread: threading.Thread | None = None
        self._last: StatsUpdated | None = None

    # -- control (any thread) ---------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._run, name=f"stats:{self.host.label}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def interval(self) -> float:
        return self._interval

    def set_interval(self, seconds: float) -> None:
        """Change the interval; the next poll is due ``seconds`` after the last one ended."""
        with self._cond:
            self._interval = _checked_interval(seconds)
            self._cond.notify_all()

    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        with self._cond:
            self._paused = True
            self._cond.notify_all()

    def resume(self) -> None:
        with self._cond:
            if self._paused:
                self._paused = False
                self._poll_requested = True
                self._cond.notify_all()

    def poll_now(self) -> None:
        """Poll as soon as the current poll (if any) ends, even while paused."""
        with self._cond:
            self._poll_requested = True
            self._cond.notify_all()

    @property
    def last(self) -> StatsUpdated | None:
        """The latest successful tick, if any."""
        return self._last

    # -- the poller thread ------------------------------------------------------------

    def _run(self) -> None:
        while self._wait_until_due():
            self._poll_once()
            with self._cond:
                self._last_end = self._clock()

    def _wait_until_due(self) -> bool:
        """Block until a poll is due; False when stopping."""
        with self._cond:
            while True:
                if self._stopping:
                    return False
                if self._poll_requested:
                    self._poll_requested = False
                    return True
                if self._paused:
                    self._cond.wait()
                    continue
                if self._last_end is None:
                    return True
                remaining = self._last_end + self._interval - self._clock()
                if remaining <= 0:
                    return True
                self._cond.wait(remaining)

    def _poll_once(self) -> None:
        result: StatsResult
        try:
            conn = self.host.connection("read statistics")
            visible = None if self.visible.take_read_all() else self.visible.wanted()
            result = self._engine.tick(conn, self.host.guests(), visible=visible)
            self._last = result
        except errors.KvmtuiError as exc:
            self._engine.reset()
            result = StatsFailed(self.host.label, self._wall_clock(), str(exc))
        except libvirt.libvirtError as exc:
            self._engine.reset()
            error = errors.from_libvirt(exc, host=self.host.label, action="read statistics")
            result = StatsFailed(self.host.label, self._wall_clock(), str(error))
        except Exception as exc:  # a bug: the sentence on screen, the poller goes on
            self._engine.reset()
            sentence = failures.describe(exc, f"reading statistics of {self.host.label}")
            result = StatsFailed(self.host.label, self._wall_clock(), sentence)
        try:
            self._listener(result)
        except ListenerGone:
            log.debug("statistics of %s: nobody listens any more; stopping", self.host.label)
            with self._cond:
                self._stopping = True
        except Exception:  # a broken listener must not kill the poller
            log.exception("stats listener failed")


def slice_size(guests: int, slice_round: int = SLICE_ROUND) -> int:
    """Off-screen guests read a tick on a host of ``guests`` (sliced polling)."""
    return min(-(-guests // slice_round), MAX_SLICE)


def _checked_interval(seconds: float) -> float:
    if not seconds >= MIN_INTERVAL:  # also refuses NaN
        raise ValueError(f"The refresh interval must be at least {MIN_INTERVAL} s, not {seconds}.")
    return float(seconds)

"""Polling one host: a tick of statistics, and a thread that runs ticks on an interval.

:class:`StatsEngine` is one tick without threads (batch mode and the benchmark use it
directly): a host sample, one bulk guest sample, rates against the previous tick, the
history. :class:`StatsPoller` runs an engine for one :class:`~backend.host.Host` in its
own thread: poll, then wait the interval after the poll ends (a one-shot timer re-armed,
so polls never overlap and a slow host only slows itself). Results go to a listener
callable, from the poller's thread, as immutable :data:`StatsResult` values; the UI
posts them as messages.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import libvirt

from backend import errors
from backend.history import DEFAULT_CAPACITY, DEFAULT_INTERVAL, HostHistory
from backend.host import Host
from backend.hoststats import HostFigures, HostSample, HostSampler, host_figures
from backend.model import Guest
from backend.stats import (
    DeviceRates,
    GuestRates,
    Sample,
    StatsCollector,
    compute_rates,
    device_rates,
)

log = logging.getLogger(__name__)

#: The shortest interval accepted (virt-top refuses below 0.1 s too).
MIN_INTERVAL = 0.1


@dataclass(frozen=True, slots=True)
class StatsUpdated:
    """One tick of one host.

    ``elapsed`` is the seconds since the previous tick (None on the first: every rate
    is then unknown). ``guests`` is sorted by name. ``host_figures`` is None when host
    figures were not asked for. ``collect_s`` is the duration of the bulk call.
    ``sample``/``previous`` are the raw samples behind it, for :meth:`devices`.
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

    def by_uuid(self) -> dict[str, GuestRates]:
        return {g.uuid: g for g in self.guests}

    def devices(self, uuid: str) -> tuple[tuple[DeviceRates, ...], tuple[DeviceRates, ...]]:
        """Per-disk and per-NIC rates of one guest (computed now: only one screen needs
        them); empty if the guest is not in this tick."""
        current = self.sample.guests.get(uuid) if self.sample is not None else None
        if current is None:
            return (), ()
        old = self.previous.guests.get(uuid) if self.previous is not None else None
        return device_rates(old, current, self.elapsed)


@dataclass(frozen=True, slots=True)
class StatsFailed:
    """A tick that could not be taken; ``error`` is a sentence for the admin."""

    host: str
    wall: float
    error: str


StatsResult = StatsUpdated | StatsFailed
StatsListener = Callable[[StatsResult], None]


class StatsEngine:
    """Ticks of one host: samples, rates against the previous tick, history."""

    def __init__(
        self,
        label: str,
        *,
        history: HostHistory | None = None,
        with_host_figures: bool = True,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.label = label
        self.history = history
        self._with_host = with_host_figures
        self._collector = StatsCollector(label, clock=clock, wall_clock=wall_clock)
        self._host_sampler = HostSampler(clock=clock, wall_clock=wall_clock)
        self._previous: Sample | None = None
        self._previous_host: HostSample | None = None
        self._ticks = 0

    def reset(self) -> None:
        """Forget the previous tick: the next one has no rates."""
        self._previous = None
        self._previous_host = None

    def tick(
        self,
        conn: libvirt.virConnect,
        guests: Sequence[Guest] | None = None,
        domains: Sequence[libvirt.virDomain] | None = None,
    ) -> StatsUpdated:
        """Take one tick. ``guests`` (the host's guest list) adds overcommit figures;
        ``domains`` limits the bulk call to those guests.

        Raises :class:`libvirt.libvirtError`.
        """
        host_sample = self._host_sampler.sample(conn) if self._with_host else None
        sample = self._collector.sample(conn, domains)
        previous = self._previous
        figures = None
        if host_sample is not None:
            figures = host_figures(self._previous_host, host_sample, guests)
        host_cpus = host_sample.node.cpus if host_sample is not None else None
        rates = compute_rates(previous, sample, host_cpus)
        if self.history is not None:
            tick = self.history.append(sample.wall, rates, figures)
        else:
            tick = self._ticks
        self._ticks += 1
        self._previous, self._previous_host = sample, host_sample
        return StatsUpdated(
            host=self.label,
            tick=tick,
            wall=sample.wall,
            monotonic=sample.monotonic,
            elapsed=sample.monotonic - previous.monotonic if previous is not None else None,
            guests=rates,
            host_figures=figures,
            collect_s=sample.duration_s,
            sample=sample,
            previous=previous,
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
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.host = host
        self.history = HostHistory(history_capacity)
        self._listener = listener
        self._interval = _checked_interval(interval)
        self._clock = clock
        self._wall_clock = wall_clock
        self._engine = StatsEngine(
            host.label, history=self.history, clock=clock, wall_clock=wall_clock
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
            result = self._engine.tick(conn, self.host.guests())
            self._last = result
        except errors.KvmtuiError as exc:
            self._engine.reset()
            result = StatsFailed(self.host.label, self._wall_clock(), str(exc))
        except libvirt.libvirtError as exc:
            self._engine.reset()
            error = errors.from_libvirt(exc, host=self.host.label, action="read statistics")
            result = StatsFailed(self.host.label, self._wall_clock(), str(error))
        try:
            self._listener(result)
        except Exception:  # a broken listener must not kill the poller
            log.exception("stats listener failed")


def _checked_interval(seconds: float) -> float:
    if not seconds >= MIN_INTERVAL:  # also refuses NaN
        raise ValueError(f"The refresh interval must be at least {MIN_INTERVAL} s, not {seconds}.")
    return float(seconds)

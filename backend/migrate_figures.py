"""A migration's figures, from the source domain's ``jobStats()``.

libvirt reports a running migration as a flat dict (``data_*``, ``memory_*``,
``disk_*``, ``downtime``, ``time_elapsed``...; see ``virDomainGetJobStats``). Here it
becomes :class:`MigrationFigures`: the phase in words, data processed / remaining /
total, the memory dirty rate in bytes per second, the pass over memory, the downtime
QEMU expects, elapsed time and time left, and the recent remaining memory for a
sparkline, so that a migration that does not converge is seen as one (the line stops
going down).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

import libvirt

#: Samples of remaining memory kept for the sparkline (one each poll, 0.5 s apart).
HISTORY = 120
PAGE_SIZE = 4096  # when libvirt does not say (memory_page_size)


@dataclass(frozen=True, slots=True)
class MigrationFigures:
    phase: str
    processed: int  # bytes of data (memory and disks) sent so far
    remaining: int
    total: int
    memory_remaining: int
    dirty_rate: int | None  # bytes per second the guest dirties again
    iteration: int | None  # the pass over memory (1: the first full copy)
    expected_downtime_ms: int | None
    elapsed_s: float
    eta_s: float | None
    rate: int | None  # bytes per second sent
    postcopy: bool
    remaining_history: tuple[int, ...] = ()

    @property
    def done(self) -> int:
        """Bytes no longer to send: what the job's progress counts (``processed`` counts
        pages sent again and leaves out zero pages, so it is not a share of ``total``)."""
        return max(0, self.total - self.remaining)

    @property
    def fraction(self) -> float | None:
        return min(1.0, self.done / self.total) if self.total else None


def _int(stats: Mapping[str, object], key: str) -> int | None:
    value = stats.get(key)
    return int(value) if isinstance(value, int | float) else None


def phase_of(stats: Mapping[str, object], postcopy: bool) -> str:
    """The migration's phase in words."""
    if stats.get("type", libvirt.VIR_DOMAIN_JOB_NONE) == libvirt.VIR_DOMAIN_JOB_NONE:
        return "starting"
    if postcopy:
        return "post-copy: running on the destination, fetching the rest"
    iteration = _int(stats, "memory_iteration") or 0
    disk_remaining = _int(stats, "disk_remaining") or 0
    if disk_remaining and not _int(stats, "memory_processed"):
        return "copying storage"
    if iteration == 0 and not _int(stats, "data_total"):
        return "setting up"
    if iteration <= 1:
        return "copying memory (first pass)"
    if (_int(stats, "data_remaining") or 0) == 0:
        return "finishing: guest paused for the last pages"
    return f"re-sending dirtied memory (pass {iteration})"


def figures_of(
    stats: Mapping[str, object], *, postcopy: bool = False, history: tuple[int, ...] = ()
) -> MigrationFigures:
    """The figures of one ``jobStats()`` reading."""
    page = _int(stats, "memory_page_size") or PAGE_SIZE
    dirty_pages = _int(stats, "memory_dirty_rate")
    remaining = _int(stats, "data_remaining") or 0
    rate = _int(stats, "memory_bps")
    if not rate:
        rate = None
    left_ms = _int(stats, "time_remaining")
    eta: float | None
    if left_ms is not None:
        eta = left_ms / 1000
    elif rate:
        eta = remaining / rate
    else:
        eta = None
    return MigrationFigures(
        phase=phase_of(stats, postcopy),
        processed=_int(stats, "data_processed") or 0,
        remaining=remaining,
        total=_int(stats, "data_total") or 0,
        memory_remaining=_int(stats, "memory_remaining") or 0,
        dirty_rate=dirty_pages * page if dirty_pages is not None else None,
        iteration=_int(stats, "memory_iteration"),
        expected_downtime_ms=_int(stats, "downtime"),
        elapsed_s=(_int(stats, "time_elapsed") or 0) / 1000,
        eta_s=eta,
        rate=rate,
        postcopy=postcopy,
        remaining_history=history,
    )


class FigureLog:
    """The latest figures of one migration and its remaining-memory history; written by
    the job's thread, read by the screen's (one lock)."""

    def __init__(self, history: int = HISTORY) -> None:
        self._lock = threading.Lock()
        self._history: deque[int] = deque(maxlen=history)
        self._latest: MigrationFigures | None = None
        self.postcopy = False

    def add(self, stats: Mapping[str, object]) -> MigrationFigures:
        with self._lock:
            if _int(stats, "data_total"):  # not while setting up: nothing is counted yet
                self._history.append(_int(stats, "memory_remaining") or 0)
            self._latest = figures_of(stats, postcopy=self.postcopy, history=tuple(self._history))
            return self._latest

    @property
    def latest(self) -> MigrationFigures | None:
        with self._lock:
            return self._latest

"""Long operations with progress and cancel: each job on a thread of its own.

A job is a function given a :class:`JobContext`. It names its phase, reports
progress (done of total, where the total is known), checks for cancel between steps,
and registers what it would have to undo (a partial volume, a temporary file) as it
makes it. It ends with a result sentence, or with ONE error sentence: a
:class:`~kvmtui.backend.errors.KvmtuiError`'s, or for any other exception a sentence
saying kvmtui hit an internal error (``kvmtui.backend.failures``: the traceback goes
to the log file). On failure or
cancel the registered clean-ups run, newest first, so nothing is left half made.

Jobs run on their own threads, not on a screen's workers: they outlive the screen
that started them. A :class:`JobRegistry` (one per app) keeps the running jobs and the
last finished ones and tells its listeners of every change as an immutable
:class:`JobView` (progress at most every ``min_interval`` seconds), from the job's
thread or from the thread that asked for cancel: listeners only hand the view on.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from kvmtui.backend.errors import KvmtuiError
from kvmtui.backend.failures import describe

log = logging.getLogger(__name__)

#: Finished jobs kept for the jobs screen.
HISTORY = 50
#: Seconds of progress the rate is measured over.
RATE_WINDOW_S = 5.0
#: Listeners hear of progress at most this often per job (state changes always).
MIN_NOTIFY_S = 0.1


class JobState(StrEnum):
    RUNNING = "running"
    CANCELLING = "cancelling"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINAL = frozenset({JobState.DONE, JobState.FAILED, JobState.CANCELLED})


@dataclass(frozen=True, slots=True)
class JobView:
    """One job as it stands: what the UI shows."""

    id: int
    host: str
    title: str  # "Upload disk.qcow2 to pool 'images'"
    unit: str  # what done and total count: "bytes", or "steps"
    state: JobState
    phase: str
    done: int
    total: int | None
    rate: float | None  # units of done per second, over the last few seconds
    eta_s: float | None
    started: float
    elapsed_s: float
    outcome: str | None  # the result sentence, or the one error sentence
    cancellable: bool
    cleanups: tuple[str, ...] = ()  # what a failure or cancel now would undo

    @property
    def finished(self) -> bool:
        return self.state in FINAL

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return min(1.0, self.done / self.total)


class JobCancelled(Exception):
    """Raised inside a job by :meth:`JobContext.check_cancel` once cancel was asked."""


JobBody = Callable[["JobContext"], str]
JobListener = Callable[[JobView], None]


@dataclass(slots=True)
class _Cleanup:
    what: str  # what undo() removes: "the partial volume 'x' in pool 'p'"
    undo: Callable[[], None]


class JobContext:
    """What a running job uses to report and to learn of cancel."""

    def __init__(self, job: Job) -> None:
        self._job = job

    @property
    def cancelled(self) -> bool:
        return self._job.cancel_requested.is_set()

    def check_cancel(self) -> None:
        if self.cancelled:
            raise JobCancelled

    def phase(self, text: str) -> None:
        self._job.set_phase(text)

    def progress(self, done: int, total: int | None = None) -> None:
        self._job.set_progress(done, total)

    def cleanup(self, what: str, undo: Callable[[], None]) -> None:
        """On failure or cancel from now on, ``undo()`` removes ``what`` (a noun phrase:
        "the partial volume 'x' in pool 'p'"); clean-ups run newest first."""
        self._job.add_cleanup(_Cleanup(what, undo))

    def keep(self) -> None:
        """What was made is complete: drop the clean-ups registered so far."""
        self._job.clear_cleanups()

    def on_cancel(self, abort: Callable[[], None] | None) -> None:
        """Call ``abort()`` (e.g. ``dom.abortJob``) from the cancelling thread, or stop."""
        self._job.set_abort(abort)


class Job:
    """A running or finished job; only its own thread changes its progress."""

    def __init__(
        self,
        job_id: int,
        host: str,
        title: str,
        body: JobBody,
        *,
        unit: str,
        cancellable: bool,
        clock: Callable[[], float],
        min_interval: float,
        notify: Callable[[Job], None],
    ) -> None:
        self.id = job_id
        self.host = host
        self.title = title
        self.unit = unit
        self.cancellable = cancellable
        self.cancel_requested = threading.Event()
        self._body = body
        self._clock = clock
        self._min_interval = min_interval
        self._notify_registry = notify
        self._lock = threading.Lock()
        self._state = JobState.RUNNING
        self._phase = "starting"
        self._done = 0
        self._total: int | None = None
        self._samples: deque[tuple[float, int]] = deque()
        self._started = clock()
        self._ended: float | None = None
        self._outcome: str | None = None
        self._cleanups: list[_Cleanup] = []
        self._abort: Callable[[], None] | None = None
        self._last_notify = float("-inf")
        self.finished = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"job:{job_id}", daemon=True)

    # -- what the registry and the job's context call -------------------------------

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float | None = None) -> bool:
        return self.finished.wait(timeout)

    @property
    def ended(self) -> bool:
        with self._lock:
            return self._state in FINAL

    def view(self) -> JobView:
        with self._lock:
            now = self._ended if self._ended is not None else self._clock()
            rate = self._rate()
            eta = None
            if rate and self._total is not None and self._state not in FINAL:
                eta = max(0.0, (self._total - self._done) / rate)
            return JobView(
                id=self.id,
                host=self.host,
                title=self.title,
                unit=self.unit,
                state=self._state,
                phase=self._phase,
                done=self._done,
                total=self._total,
                rate=rate,
                eta_s=eta,
                started=self._started,
                elapsed_s=max(0.0, now - self._started),
                outcome=self._outcome,
                cancellable=self.cancellable and self._state is JobState.RUNNING,
                cleanups=tuple(c.what for c in self._cleanups),
            )

    def cancel(self) -> bool:
        """Ask the job to stop; False when it cannot be cancelled or has ended."""
        with self._lock:
            if not self.cancellable or self._state is not JobState.RUNNING:
                return False
            self._state = JobState.CANCELLING
            abort = self._abort
        self.cancel_requested.set()
        if abort is not None:
            try:
                abort()
            except Exception:  # the job still sees the flag at its next step
                log.exception("aborting job %s (%s) failed", self.id, self.title)
        self._notify(force=True)
        return True

    def set_phase(self, text: str) -> None:
        with self._lock:
            self._phase = text
        self._notify(force=True)

    def set_progress(self, done: int, total: int | None) -> None:
        now = self._clock()
        with self._lock:
            self._done = done
            if total is not None:
                self._total = total
            self._samples.append((now, done))
            while len(self._samples) > 2 and now - self._samples[0][0] > RATE_WINDOW_S:
                self._samples.popleft()
        self._notify()

    def add_cleanup(self, cleanup: _Cleanup) -> None:
        with self._lock:
            self._cleanups.append(cleanup)

    def clear_cleanups(self) -> None:
        with self._lock:
            self._cleanups.clear()

    def set_abort(self, abort: Callable[[], None] | None) -> None:
        with self._lock:
            self._abort = abort

    # -- the job's thread ---------------------------------------------------------------

    def _rate(self) -> float | None:
        if len(self._samples) < 2:
            return None
        (t0, d0), (t1, d1) = self._samples[0], self._samples[-1]
        return (d1 - d0) / (t1 - t0) if t1 > t0 else None

    def _run(self) -> None:
        context = JobContext(self)
        state = JobState.DONE
        try:
            outcome = self._body(context)
        except JobCancelled:
            state, outcome = JobState.CANCELLED, f"{self.title}: cancelled."
        except KvmtuiError as exc:
            state, outcome = self._failed(str(exc))
        except Exception as exc:  # a bug: the traceback to the log, a sentence here
            state, outcome = self._failed(
                describe(exc, f"running the job '{self.title}' on {self.host}")
            )
        if state is not JobState.DONE:
            outcome = self._clean_up(outcome)
        with self._lock:
            self._state = state
            self._outcome = outcome
            self._ended = self._clock()
            self._abort = None
            self._cleanups.clear()
        self._notify(force=True)  # listeners hear of the end before wait() returns
        self.finished.set()

    def _failed(self, sentence: str) -> tuple[JobState, str]:
        """A failure after cancel was asked is the cancel taking effect (an aborted call)."""
        if self.cancel_requested.is_set():
            return JobState.CANCELLED, f"{self.title}: cancelled."
        return JobState.FAILED, sentence

    def _clean_up(self, outcome: str) -> str:
        with self._lock:
            cleanups = list(reversed(self._cleanups))
        if not cleanups:
            return outcome
        self.set_phase("cleaning up")
        removed: list[str] = []
        for cleanup in cleanups:
            try:
                cleanup.undo()
            except Exception as exc:
                log.exception("job %s: could not remove %s", self.id, cleanup.what)
                return f"{outcome} Could not remove {cleanup.what}: {exc}; remove it by hand."
            removed.append(cleanup.what)
        return f"{outcome} Removed {' and '.join(removed)}."

    def _notify(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_notify < self._min_interval:
            return
        self._last_notify = now
        self._notify_registry(self)


class JobRegistry:
    """The jobs of one app: the running ones and the last ``history`` finished ones."""

    def __init__(
        self,
        *,
        history: int = HISTORY,
        clock: Callable[[], float] = time.time,
        min_interval: float = MIN_NOTIFY_S,
    ) -> None:
        self._history = history
        self._clock = clock
        self._min_interval = min_interval
        self._lock = threading.Lock()
        self._jobs: dict[int, Job] = {}  # in start order
        self._ids = itertools.count(1)
        self._listeners: list[JobListener] = []

    def start(
        self,
        host: str,
        title: str,
        body: JobBody,
        *,
        unit: str = "bytes",
        cancellable: bool = True,
    ) -> JobView:
        """Run ``body`` on a new thread; returns at once with the job's first view."""
        with self._lock:
            job = Job(
                next(self._ids),
                host,
                title,
                body,
                unit=unit,
                cancellable=cancellable,
                clock=self._clock,
                min_interval=self._min_interval,
                notify=self._changed,
            )
            self._jobs[job.id] = job
        first = job.view()
        self._tell(first)
        job.start()
        return first

    def jobs(self) -> tuple[JobView, ...]:
        """Every kept job, oldest first."""
        with self._lock:
            jobs = list(self._jobs.values())
        return tuple(job.view() for job in jobs)

    def get(self, job_id: int) -> JobView | None:
        job = self._job(job_id)
        return job.view() if job is not None else None

    def wait(self, job_id: int, timeout: float | None = None) -> JobView | None:
        """The job's view once it has ended (None if unknown or still running at timeout)."""
        job = self._job(job_id)
        if job is None or not job.join(timeout):
            return None
        return job.view()

    def cancel(self, job_id: int) -> bool:
        job = self._job(job_id)
        return job.cancel() if job is not None else False

    def running(self) -> tuple[JobView, ...]:
        return tuple(view for view in self.jobs() if not view.finished)

    def shutdown(self, timeout: float) -> None:
        """Cancel every running job and give their clean-ups up to ``timeout`` seconds."""
        with self._lock:
            jobs = [job for job in self._jobs.values() if not job.ended]
        for job in jobs:
            job.cancel()
        deadline = time.monotonic() + timeout
        for job in jobs:
            job.join(max(0.0, deadline - time.monotonic()))

    def add_listener(self, listener: JobListener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: JobListener) -> None:
        with self._lock, contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    @property
    def listener_count(self) -> int:
        with self._lock:
            return len(self._listeners)

    def _job(self, job_id: int) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def _changed(self, job: Job) -> None:
        view = job.view()
        if view.finished:
            self._trim()
        self._tell(view)

    def _trim(self) -> None:
        with self._lock:
            finished = [j.id for j in self._jobs.values() if j.ended]
            for job_id in finished[: max(0, len(finished) - self._history)]:
                del self._jobs[job_id]

    def _tell(self, view: JobView) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(view)
            except Exception:  # a broken listener must not end the job
                log.exception("job listener failed")

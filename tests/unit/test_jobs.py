"""The job registry on its own: progress, rate and time left, cancel and clean-up, one
sentence per failure, bounded history, listeners. Jobs here are plain functions run on
the registry's real threads; a clock the job advances makes rates exact."""

from __future__ import annotations

import logging
import threading

import pytest

from kvmtui.backend import errors, failures
from kvmtui.backend.jobs import JobContext, JobRegistry, JobState, JobView
from tests.waiting import wait_for


class StepClock:
    """A clock only the test's job moves."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_progress_rate_and_time_left() -> None:
    clock = StepClock()
    registry = JobRegistry(clock=clock, min_interval=0.0)
    seen: list[JobView] = []
    registry.add_listener(seen.append)

    def body(ctx: JobContext) -> str:
        ctx.phase("sending")
        for second in range(5):
            ctx.progress(second * 10, 100)
            clock.now += 1
        return "sent 40 of 100"

    started = registry.start("h1", "Send", body)
    end = registry.wait(started.id, 10)
    assert end is not None and end.state is JobState.DONE and end.outcome == "sent 40 of 100"
    readings = [v for v in seen if not v.finished and v.rate is not None]
    assert [v.done for v in readings] == [10, 20, 30, 40]
    last = readings[-1]
    assert last.rate == pytest.approx(10.0)  # 40 units over 4 s
    assert last.eta_s == pytest.approx(6.0)  # 60 left at 10/s
    assert last.fraction == pytest.approx(0.4)
    assert end.elapsed_s == pytest.approx(5.0) and end.eta_s is None


def test_cancel_runs_cleanups_newest_first_and_names_them() -> None:
    registry = JobRegistry(min_interval=0.0)
    order: list[str] = []
    made = threading.Event()
    aborted = threading.Event()

    def body(ctx: JobContext) -> str:
        ctx.cleanup("the partial volume 'v'", lambda: order.append("volume"))
        ctx.cleanup("the definition 'd'", lambda: order.append("definition"))
        ctx.on_cancel(aborted.set)
        made.set()
        while True:
            ctx.check_cancel()
            aborted.wait(0.01)

    view = registry.start("h1", "Make things", body)
    assert made.wait(10)
    running = registry.get(view.id)
    assert running is not None and running.cancellable
    assert running.cleanups == ("the partial volume 'v'", "the definition 'd'")
    assert registry.cancel(view.id)
    end = registry.wait(view.id, 10)
    assert end is not None and end.state is JobState.CANCELLED
    assert aborted.is_set(), "the hypervisor's abort was called"
    assert order == ["definition", "volume"]
    assert end.outcome == (
        "Make things: cancelled. Removed the definition 'd' and the partial volume 'v'."
    )
    assert not registry.cancel(view.id), "an ended job cannot be cancelled again"


def test_kept_work_is_not_cleaned_up_and_uncancellable_jobs_refuse() -> None:
    registry = JobRegistry(min_interval=0.0)
    removed: list[str] = []
    go = threading.Event()

    def body(ctx: JobContext) -> str:
        ctx.cleanup("the volume", lambda: removed.append("volume"))
        ctx.keep()
        go.wait(10)
        raise errors.OperationError("Could not check the volume on h1: it vanished.")

    view = registry.start("h1", "Check", body, cancellable=False)
    assert not registry.cancel(view.id)
    go.set()
    end = registry.wait(view.id, 10)
    assert end is not None and end.state is JobState.FAILED
    assert end.outcome == "Could not check the volume on h1: it vanished."
    assert removed == []


def test_known_failure_keeps_its_sentence_and_cleans_up() -> None:
    registry = JobRegistry(min_interval=0.0)
    removed: list[str] = []

    def body(ctx: JobContext) -> str:
        ctx.cleanup("the partial file /tmp/x.part", lambda: removed.append("file"))
        raise errors.OperationError("Could not download volume 'v' on h1: link lost.")

    end = registry.wait(registry.start("h1", "Download", body).id, 10)
    assert end is not None and end.state is JobState.FAILED
    assert end.outcome == (
        "Could not download volume 'v' on h1: link lost. Removed the partial file /tmp/x.part."
    )
    assert removed == ["file"]


def test_unexpected_exception_is_one_sentence_and_a_logged_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = JobRegistry(min_interval=0.0)

    def body(ctx: JobContext) -> str:
        return str({}["missing"])

    with caplog.at_level(logging.ERROR, logger="kvmtui"):
        end = registry.wait(registry.start("h1", "Parse", body).id, 10)
    assert end is not None and end.state is JobState.FAILED
    assert end.outcome == (
        "kvmtui hit an internal error while running the job 'Parse' on h1; "
        f"details in {failures.log_location()}."
    )
    record = next(r for r in caplog.records if r.exc_info is not None)
    assert record.exc_info is not None and record.exc_info[0] is KeyError


def test_a_failing_cleanup_says_what_to_remove_by_hand() -> None:
    registry = JobRegistry(min_interval=0.0)

    def undo() -> None:
        raise OSError("permission denied")

    def body(ctx: JobContext) -> str:
        ctx.cleanup("the partial volume 'v' in pool 'p'", undo)
        raise errors.OperationError("Could not upload f into pool 'p' on h1: disk full.")

    end = registry.wait(registry.start("h1", "Upload", body).id, 10)
    assert end is not None and end.outcome == (
        "Could not upload f into pool 'p' on h1: disk full. Could not remove the partial volume "
        "'v' in pool 'p': permission denied; remove it by hand."
    )


def test_history_keeps_the_last_finished_jobs_and_every_running_one() -> None:
    registry = JobRegistry(history=3, min_interval=0.0)
    hold = threading.Event()
    running = registry.start("h1", "Long", lambda ctx: str(hold.wait(10)))
    for n in range(5):
        assert registry.wait(registry.start("h1", f"Quick {n}", lambda ctx: "ok").id, 10)
    kept = [v.title for v in registry.jobs()]
    assert kept == ["Long", "Quick 2", "Quick 3", "Quick 4"]
    assert [v.title for v in registry.running()] == ["Long"]
    hold.set()
    assert registry.wait(running.id, 10) is not None


def test_listeners_come_and_go_and_a_broken_one_harms_nothing() -> None:
    registry = JobRegistry(min_interval=0.0)
    heard: list[JobView] = []

    def broken(view: JobView) -> None:
        raise RuntimeError("listener bug")

    registry.add_listener(broken)
    registry.add_listener(heard.append)
    end = registry.wait(registry.start("h1", "One", lambda ctx: "done").id, 10)
    assert end is not None and end.state is JobState.DONE
    assert heard[-1].state is JobState.DONE
    registry.remove_listener(heard.append)
    registry.remove_listener(broken)
    assert registry.listener_count == 0
    count = len(heard)
    registry.wait(registry.start("h1", "Two", lambda ctx: "done").id, 10)
    assert len(heard) == count


def test_shutdown_cancels_running_jobs_and_waits_for_their_cleanup() -> None:
    registry = JobRegistry(min_interval=0.0)
    removed = threading.Event()
    started = threading.Event()

    def body(ctx: JobContext) -> str:
        ctx.cleanup("the partial volume", removed.set)
        started.set()
        while True:
            ctx.check_cancel()
            removed.wait(0.01)

    view = registry.start("h1", "Upload", body)
    assert started.wait(10)
    registry.shutdown(10)
    assert removed.is_set()
    end = registry.get(view.id)
    assert end is not None and end.state is JobState.CANCELLED
    wait_for(lambda: not registry.running(), 5, what="no job running")

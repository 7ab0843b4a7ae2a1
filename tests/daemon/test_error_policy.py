"""No exception ends the app: one injected RuntimeError per kind of worker (and job).

Each test makes the backend call a worker (or a backend thread) makes raise
``RuntimeError``, then shows that the app is still running, that the admin reads the
sentence "kvmtui hit an internal error while ...; details in LOGFILE" where that part of
the app shows its news, and that the log file holds the traceback. Every kind runs on
libvirt's test:/// driver (tests/data/node.xml): the failure is injected before libvirt
would be asked, so no daemon is needed. The last tests show that an exception that does
end the app (a render) is logged and gives a non-zero exit status, through the real
command line in a pseudo-terminal.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pty
import select
import struct
import sys
import termios
import threading
import time
from collections.abc import AsyncIterator, Callable
from fcntl import ioctl
from pathlib import Path
from typing import Any, NoReturn

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Static

from kvmtui.backend import failures, transfer
from kvmtui.backend import host as host_module
from kvmtui.backend.console import CloseReason, ConsoleSession
from kvmtui.backend.console import describe as describe_close
from kvmtui.backend.errors import OperationError
from kvmtui.backend.host import Host
from kvmtui.backend.jobs import JobState
from kvmtui.backend.model import ConnectionState
from kvmtui.backend.poller import StatsEngine
from kvmtui.screens.agent import AgentScreen
from kvmtui.screens.console import ConsoleScreen
from kvmtui.screens.guests import GuestsScreen
from kvmtui.screens.ksm import KsmScreen
from kvmtui.screens.storage import StorageScreen
from kvmtui.screens.throttle import ThrottleScreen
from kvmtui.tui import logsetup
from kvmtui.tui.app import KvmtuiApp
from kvmtui.tui.widgets.agent_output import AgentOutput
from tests.harness.guests import GuestFactory
from tests.pilot import build_app, loaded, run_async, wait_for
from tests.pilot import select as select_guest
from tests.waiting import wait_for as wait_until

WEB = "6695eb01-f6a4-8304-79aa-97f2502e1901"  # web-frontend-1, running, in node.xml
INJECTED = "injected by test_error_policy"


def boom(*_args: object, **_kwargs: object) -> NoReturn:
    raise RuntimeError(INJECTED)


def sentence(doing: str, log_file: Path) -> str:
    return f"kvmtui hit an internal error while {doing}; details in {log_file}."


@contextlib.asynccontextmanager
async def guest_list(uri: str) -> AsyncIterator[tuple[KvmtuiApp, Pilot[None], GuestsScreen]]:
    """The app on ``uri`` with its guest list loaded."""
    app = build_app(uri, stats=False)
    async with app.run_test(size=(120, 40)) as pilot:
        yield app, pilot, await loaded(pilot)


def notified(app: KvmtuiApp, text: str) -> bool:
    return any(n.message == text for n in app._notifications)


def plain(widget: Static) -> str:
    console = Console(width=300, color_system=None, record=True)
    console.print(widget.render())
    return console.export_text()


def assert_traceback_logged(log_file: Path, doing: str) -> None:
    text = log_file.read_text(encoding="utf-8")
    assert f"internal error while {doing}" in text
    assert "Traceback (most recent call last):" in text
    assert f"RuntimeError: {INJECTED}" in text


async def assert_still_running(pilot: Pilot[None], app: KvmtuiApp) -> None:
    """The app still runs: no exit was asked, no exception recorded."""
    await pilot.pause()
    assert app.is_running and app.return_code is None


async def failure_shown(
    pilot: Pilot[None], app: KvmtuiApp, text: str, where: Callable[[], bool] | None = None
) -> None:
    await wait_for(pilot, lambda: notified(app, text), f"the notification {text!r}")
    if where is not None:
        await wait_for(pilot, where, "the sentence in the screen's own status")
    await assert_still_running(pilot, app)


# -- statistics: the poller thread, not a Textual worker -------------------------------


@run_async
async def test_statistics_poller_reports_and_keeps_polling(
    test_node_uri: str, log_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = build_app(test_node_uri, delay=0.1, clock=time.time, retry_delays=None)
    app.animation_level = "none"
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await loaded(pilot)
        label = app.hosts[0].label
        pollers = app.pollers
        assert pollers is not None
        await wait_for(pilot, lambda: pollers.last(label) is not None, "a first tick")
        monkeypatch.setattr(StatsEngine, "tick", boom)
        doing = f"reading statistics of {label}"
        line = screen.status_bar.line(label)
        assert line is not None
        await wait_for(
            pilot, lambda: sentence(doing, log_file) in plain(line), "the statistics error line"
        )
        await assert_still_running(pilot, app)
        assert_traceback_logged(log_file, doing)
        # The poller lives on: once the bug is gone, figures come back.
        monkeypatch.undo()
        await wait_for(pilot, lambda: line.stats_error is None, "the next good tick")


# -- a host's own thread: connecting and following guest changes --------------------------


@run_async
async def test_host_thread_reports_a_bug_in_the_status_line_and_goes_on(
    test_node_uri: str, log_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with guest_list(test_node_uri) as (app, pilot, screen):
        host = app.hosts[0]
        monkeypatch.setattr("kvmtui.backend.host.read_guest", boom)
        host.request_refresh(WEB)  # as after an event: the host's thread re-reads the guest
        doing = f"reading guest changes on {host.label}"
        line = screen.status_bar.line(host.label)
        assert line is not None
        await wait_for(pilot, lambda: sentence(doing, log_file) in plain(line), "the status line")
        await assert_still_running(pilot, app)
        assert_traceback_logged(log_file, doing)
        # The thread goes on: the next change is read.
        monkeypatch.undo()
        real, read = host_module.read_guest, []

        def spy(*args: Any, **kwargs: Any) -> Any:
            read.append(args)
            return real(*args, **kwargs)

        monkeypatch.setattr(host_module, "read_guest", spy)
        host.request_refresh(WEB)
        await wait_for(pilot, lambda: read, "the host's thread to read the next change")


@run_async
async def test_host_bug_while_connecting_is_a_failed_connect_with_the_sentence(
    test_node_uri: str, log_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("kvmtui.backend.host.list_guests", boom)
    app = build_app(test_node_uri, stats=False)
    async with app.run_test(size=(120, 30)) as pilot:
        host = app.hosts[0]
        doing = f"connecting to {host.label}"
        await wait_for(pilot, lambda: host.status.error == sentence(doing, log_file), "status")
        assert host.status.state is ConnectionState.DISCONNECTED
        await assert_still_running(pilot, app)
    assert_traceback_logged(log_file, doing)


# -- lifecycle --------------------------------------------------------------------------


@run_async
async def test_lifecycle_worker(
    test_node_uri: str, log_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with guest_list(test_node_uri) as (app, pilot, screen):
        await select_guest(pilot, screen.table, "build-runner")
        monkeypatch.setattr(Host, "domain", boom)  # lifecycle.start's first libvirt step
        await pilot.press("s")
        doing = f"trying to start guest 'build-runner' on {app.hosts[0].label}"
        await failure_shown(pilot, app, sentence(doing, log_file))
        assert_traceback_logged(log_file, doing)


# -- console: its session's stream callback (the worker is in the screens test below) -----


@pytest.mark.daemon
@pytest.mark.guest
def test_console_stream_callback_bug_ends_the_session_with_a_sentence(
    daemon_uri: str, guest_factory: GuestFactory, log_file: Path
) -> None:
    """The console's stream callback runs on libvirt's event thread, not a worker: a bug
    in handing bytes on ends the session with a sentence, never the thread or the app."""
    dom = guest_factory()  # booting: the console prints at once
    host = Host(daemon_uri)
    host.start()
    closed: list[CloseReason] = []
    try:
        assert host.wait_connected(20), host.status.error
        session = ConsoleSession(host, dom.UUIDString(), on_data=boom, on_closed=closed.append)
        session.open()
        wait_until(lambda: closed, 90.0, what="the session to end")
        assert closed == [CloseReason.INTERNAL_ERROR]
        assert describe_close(CloseReason.INTERNAL_ERROR, dom.name()) == sentence(
            f"reading the console of '{dom.name()}'", log_file
        )
        assert not session.waiting, "no reattaching after a bug"
        assert_traceback_logged(log_file, f"reading the console of '{dom.name()}'")
        session.close()
    finally:
        host.stop()


# -- KSM: a poll per host; the failure shows in the host's panel -------------------------


@run_async
async def test_ksm_poll_worker(test_node_uri: str, log_file: Path) -> None:
    async with guest_list(test_node_uri) as (app, pilot, _):
        screen = KsmScreen(app.hosts, reader=boom, interval=0.1)
        await app.push_screen(screen)
        label = app.hosts[0].label
        doing = f"reading KSM on {label}"
        await wait_for(pilot, lambda: screen.errors.get(label) == sentence(doing, log_file),
                       "the sentence in the host's panel")  # fmt: skip
        panel = screen.panel(label)
        assert panel is not None and panel.error == sentence(doing, log_file)
        polls = screen.polls
        await wait_for(pilot, lambda: screen.polls >= polls + 2, "polling to go on")
        await assert_still_running(pilot, app)
        assert_traceback_logged(log_file, doing)


# -- the screens' workers: console, agent, storage, throttle -----------------------------


def _console_status(screen: Screen[None], text: str) -> bool:
    assert isinstance(screen, ConsoleScreen)
    return screen.status_text == text


def _agent_output(screen: Screen[None], text: str) -> bool:
    assert isinstance(screen, AgentScreen)
    head = screen.query_one(AgentOutput).query_one("#output-head", Static)
    return text in plain(head) and screen.busy is None


def _throttle_status(screen: Screen[None], text: str) -> bool:
    assert isinstance(screen, ThrottleScreen)
    return text in plain(screen.query_one("#throttle-status", Static)) and not screen._busy


@pytest.mark.parametrize(
    ("backend_call", "open_screen", "doing", "shown_on_screen"),
    [
        (
            "kvmtui.backend.console.ConsoleSession.open",
            lambda hosts: ConsoleScreen(hosts[0], WEB),
            "opening the serial console",
            _console_status,
        ),
        (
            "kvmtui.backend.agent.GuestAgent.state",
            lambda hosts: AgentScreen(hosts[0], WEB),
            "reading the guest agent's state",
            _agent_output,
        ),
        (
            "kvmtui.backend.storage.list_pools",
            StorageScreen,
            "reading storage pools",
            None,  # the storage screen's news are notifications
        ),
        (
            "kvmtui.backend.iotune.read_iotune",
            lambda hosts: ThrottleScreen(hosts[0], WEB),
            "reading I/O limits",
            _throttle_status,
        ),
    ],
    ids=["console", "agent", "storage", "throttle"],
)
@run_async
async def test_screen_worker(
    backend_call: str,
    open_screen: Callable[[tuple[Host, ...]], Screen[None]],
    doing: str,
    shown_on_screen: Callable[[Screen[None], str], bool] | None,
    test_node_uri: str,
    log_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(backend_call, boom)
    async with guest_list(test_node_uri) as (app, pilot, _):
        screen = open_screen(app.hosts)
        await app.push_screen(screen)
        text = sentence(doing, log_file)
        own = None if shown_on_screen is None else lambda: shown_on_screen(screen, text)
        await failure_shown(pilot, app, text, own)
        assert app.screen is screen, "the screen stays open"
    assert_traceback_logged(log_file, doing)


# -- jobs: a long operation's own thread -------------------------------------------------


@run_async
async def test_job_thread(
    test_node_uri: str, log_file: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A bug inside a job ends that job with the sentence (in the notification and in the
    jobs screen's outcome); the app goes on."""
    image = tmp_path / "disk.raw"
    image.write_bytes(bytes(4096))
    monkeypatch.setattr(transfer, "upload", boom)
    async with guest_list(test_node_uri) as (app, pilot, _):
        host = app.hosts[0]
        view = transfer.start_upload(app.jobs, host, "default-pool", str(image))
        doing = f"running the job '{view.title}' on {host.label}"
        text = sentence(doing, log_file)
        await failure_shown(pilot, app, text)
        ended = app.jobs.get(view.id)
        assert ended is not None and ended.state is JobState.FAILED and ended.outcome == text
    assert_traceback_logged(log_file, doing)


# -- the policy itself, for threads that are not Textual workers (jobs, callbacks) -------


def test_known_failure_keeps_its_sentence_and_logs_nothing(log_file: Path) -> None:
    known = OperationError("Could not start guest 'a' on h: refused.")
    assert failures.describe(known, "starting a") == "Could not start guest 'a' on h: refused."
    assert log_file.read_text(encoding="utf-8") == ""


def test_reported_hands_the_sentence_on_and_the_thread_goes_on(log_file: Path) -> None:
    said: list[str] = []
    with failures.reported("copying a volume", said.append):
        boom()
    assert said == [sentence("copying a volume", log_file)]
    assert_traceback_logged(log_file, "copying a volume")


def test_guarded_callback_logs_instead_of_raising(log_file: Path) -> None:
    assert failures.guarded("handling a libvirt event")(boom)() is None
    assert_traceback_logged(log_file, "handling a libvirt event")


def test_uncaught_thread_exception_goes_to_the_log(log_file: Path) -> None:
    thread = threading.Thread(target=boom, name="not-kvmtui-policy")
    thread.start()
    thread.join()
    text = log_file.read_text(encoding="utf-8")
    assert "thread not-kvmtui-policy ended on an exception" in text
    assert f"RuntimeError: {INJECTED}" in text


def test_without_a_log_file_the_sentence_says_the_log() -> None:
    assert failures.internal_sentence("x") == (
        "kvmtui hit an internal error while x; details in the log."
    )


def test_log_file_under_xdg_state_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert logsetup.default_log_file() == tmp_path / "state" / "kvmtui" / "kvmtui.log"
    monkeypatch.setenv("XDG_STATE_HOME", "relative/is/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert logsetup.default_log_file() == (
        tmp_path / "home" / ".local" / "state" / "kvmtui" / "kvmtui.log"
    )


def test_log_is_capped_and_rotated(log_file: Path) -> None:
    logger = logging.getLogger("kvmtui.test")
    for _ in range(logsetup.MAX_BYTES * (logsetup.BACKUPS + 1) // 1000 + 10):
        logger.error("x" * 1000)
    files = sorted(log_file.parent.glob("kvmtui.log*"))
    assert [f.name for f in files] == ["kvmtui.log", "kvmtui.log.1", "kvmtui.log.2", "kvmtui.log.3"]
    assert all(f.stat().st_size <= logsetup.MAX_BYTES for f in files)


# -- a crash: logged, on screen, non-zero exit -------------------------------------------

CRASHING_KVMTUI = """
import sys
from kvmtui.tui.widgets import host_status
def crash(*args, **kwargs):
    raise RuntimeError("injected crash in a render")
host_status.status_text = crash
from kvmtui.tui import cli
sys.exit(cli.main(sys.argv[1:]))
"""


def run_in_pty(argv: list[str], timeout: float = 30.0) -> tuple[int, str]:
    """Run a program in a pseudo-terminal of 100x30; its exit status and its output."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: a terminal of its own, as kvmtui has when an admin runs it
        os.execv(argv[0], argv)
    ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    out = bytearray()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    else:
        os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), out.decode("utf-8", "replace")


def test_a_crash_exits_non_zero_with_the_traceback_in_the_log(
    test_node_uri: str, tmp_path: Path
) -> None:
    log_file = tmp_path / "crash.log"
    code, screen = run_in_pty(
        [sys.executable, "-c", CRASHING_KVMTUI, "-c", test_node_uri, "--log-file", str(log_file)]
    )
    assert code == 1, screen
    assert "injected crash in a render" in screen, "the traceback on screen"
    assert f"kvmtui crashed; the traceback is above and in {log_file}." in screen
    text = log_file.read_text(encoding="utf-8")
    assert "CRITICAL" in text and "kvmtui crashed" in text
    assert "Traceback (most recent call last):" in text
    assert "RuntimeError: injected crash in a render" in text


def test_a_clean_quit_exits_zero(test_node_uri: str, tmp_path: Path) -> None:
    """The same program and terminal without the fault: q quits with status 0 (the crash
    test's 1 comes from the crash, not from the pseudo-terminal)."""
    script = CRASHING_KVMTUI.replace("host_status.status_text = crash", "")
    script = script.replace(
        "sys.exit(cli.main(sys.argv[1:]))",
        "from kvmtui.tui import app as app_module\n"
        "real = app_module.KvmtuiApp.on_mount\n"
        "def on_mount(self):\n"
        "    real(self)\n"
        "    self.set_timer(1.0, self.exit)\n"
        "app_module.KvmtuiApp.on_mount = on_mount\n"
        "sys.exit(cli.main(sys.argv[1:]))",
    )
    log_file = tmp_path / "clean.log"
    code, screen = run_in_pty(
        [sys.executable, "-c", script, "-c", test_node_uri, "--log-file", str(log_file)]
    )
    assert code == 0, screen
    assert "kvmtui crashed" not in screen

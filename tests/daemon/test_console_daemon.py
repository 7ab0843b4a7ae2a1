"""The serial console against a real libvirtd and real tiny guests.

The guest's console runs a root shell with the prompt ``kvmtui-guest# ``
(tests/harness/guest_files.py). Sessions are driven through the backend and through
the console screen with the Pilot; every wait has a deadline.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import libvirt
import pytest
from textual.app import App
from textual.widgets import Static

from kvmtui.backend.console import CloseReason, ConsoleBusyError, ConsoleSession, can_open
from kvmtui.backend.errors import ReadOnlyError
from kvmtui.backend.host import Host
from kvmtui.screens.console import ConsoleScreen, TakeoverScreen
from kvmtui.tui.widgets.terminal import Terminal
from tests.harness.guest_files import PROMPT
from tests.harness.guests import GuestFactory
from tests.hosts import started_host
from tests.pilot import run_async
from tests.pilot import wait_for as pilot_wait_for
from tests.waiting import wait_for

pytestmark = pytest.mark.daemon

BOOT_S = 90.0  # TCG on a busy 2-core machine
STEP_S = 20.0


@dataclass
class Recorder:
    """What a session reported, from libvirt's and the session's threads."""

    data: bytearray = field(default_factory=bytearray)
    closed: list[CloseReason] = field(default_factory=list)
    attached: list[bool] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_data(self, chunk: bytes) -> None:
        with self.lock:
            self.data += chunk

    def text(self, since: int = 0) -> str:
        with self.lock:
            return bytes(self.data[since:]).decode(errors="replace")

    def session(self, host: Host, uuid: str) -> ConsoleSession:
        return ConsoleSession(
            host,
            uuid,
            on_data=self.on_data,
            on_closed=self.closed.append,
            on_attached=self.attached.append,
        )


@pytest.fixture
def host(daemon_uri: str) -> Iterator[Host]:
    with started_host(daemon_uri) as host:
        yield host


def wait_prompt(recorder: Recorder, since: int = 0, timeout: float = BOOT_S) -> None:
    wait_for(lambda: PROMPT in recorder.text(since), timeout, what="the guest's shell prompt")


def type_line(session: ConsoleSession, recorder: Recorder, line: str) -> str:
    """Send LINE and Enter; return what the guest printed up to its next prompt."""
    start = len(recorder.data)
    session.send(line.encode() + b"\r")

    def answered() -> str | None:
        text = recorder.text(start)
        echoed = text.find(line + "\r\n")  # the guest's echo of what was typed
        if echoed >= 0 and PROMPT in text[echoed:]:
            return text[echoed:]
        return None

    return str(wait_for(answered, STEP_S, what=f"output of {line!r}"))


def test_boot_banner_prompt_and_commands(host: Host, guest_factory: GuestFactory) -> None:
    dom = guest_factory(start=False)
    host.request_refresh()
    wait_for(lambda: host.guest(dom.UUIDString()) is not None, STEP_S, what="guest listed")
    recorder = Recorder()
    session = recorder.session(host, dom.UUIDString())
    dom.create()
    session.open()  # right after start: the kernel has not printed yet
    try:
        wait_prompt(recorder)
        assert "init: kvmtui guest ready" in recorder.text()  # the boot banner
        assert "BusyBox v" in recorder.text()
        assert recorder.attached == [False]
        output = type_line(session, recorder, "echo hel''lo")
        assert "\nhello\r\n" in output
        listing = type_line(session, recorder, "ls /")
        for name in ("proc", "sys", "dev", "etc"):
            assert name in listing
    finally:
        session.close()


def test_second_opener_is_told_busy_and_force_takes_over(
    host: Host, booted_guest: libvirt.virDomain
) -> None:
    uuid = booted_guest.UUIDString()
    first, second = Recorder(), Recorder()
    holder = first.session(host, uuid)
    holder.open()
    taker = second.session(host, uuid)
    try:
        with pytest.raises(ConsoleBusyError, match="in use by another client"):
            taker.open()
        taker.open(force=True)
        wait_for(lambda: first.closed, STEP_S, what="the holder hears it was taken over")
        assert first.closed == [CloseReason.TAKEN_OVER]
        assert not holder.attached and not holder.waiting  # no spinning
        assert "kvmtui-guest" in type_line(taker, second, "hostname")
    finally:
        holder.close()
        taker.close()


def test_reattaches_after_restart_and_survives_reboot(
    host: Host, booted_guest: libvirt.virDomain
) -> None:
    uuid = booted_guest.UUIDString()
    recorder = Recorder()
    session = recorder.session(host, uuid)
    session.open()
    try:
        type_line(session, recorder, "echo before")
        # A reboot inside the guest: the stream lives on (or reattaches), the prompt returns.
        start = len(recorder.data)
        session.send(b"reboot\r")
        wait_for(lambda: "BusyBox v" in recorder.text(start), BOOT_S, what="booted again")
        wait_prompt(recorder, start + recorder.text(start).find("BusyBox v"))
        # A restart (destroy + start): the stream ends, then reopens by itself.
        booted_guest.destroy()
        wait_for(lambda: recorder.closed, STEP_S, what="the stream ends")
        assert recorder.closed == [CloseReason.GUEST_STOPPED]
        assert session.waiting
        start = len(recorder.data)
        booted_guest.create()
        wait_for(lambda: True in recorder.attached, STEP_S, what="the console reattaches")
        wait_prompt(recorder, start)
        assert "echo again" in type_line(session, recorder, "echo again")
    finally:
        session.close()


def test_read_only_connection_is_refused_as_libvirt_does(
    daemon_uri: str, booted_guest: libvirt.virDomain
) -> None:
    ro = Host(daemon_uri, readonly=True)
    ro.start()
    try:
        assert ro.wait_connected(20)
        uuid = booted_guest.UUIDString()
        assert "read-only" in (can_open(ro) or "")
        with pytest.raises(ReadOnlyError):
            Recorder().session(ro, uuid).open()
        # libvirt refuses too: the predicate matches what the daemon would say.
        conn = libvirt.openReadOnly(daemon_uri)
        try:
            stream = conn.newStream(libvirt.VIR_STREAM_NONBLOCK)
            with pytest.raises(libvirt.libvirtError, match="read only"):
                conn.lookupByUUIDString(uuid).openConsole(None, stream, 0)
        finally:
            conn.close()
    finally:
        ro.stop()


class ConsoleApp(App[None]):
    def __init__(self, host: Host, uuid: str) -> None:
        super().__init__()
        self.animation_level = "none"
        self.console_host = host
        self.uuid = uuid

    def on_mount(self) -> None:
        self.push_screen(ConsoleScreen(self.console_host, self.uuid))


def status_of(app: App[None]) -> str:
    screen = next(s for s in app.screen_stack if isinstance(s, ConsoleScreen))
    return str(screen.query_one("#console-status", Static).render())


@run_async
async def test_console_screen_types_takes_over_and_keeps_the_screen_when_the_guest_stops(
    host: Host, booted_guest: libvirt.virDomain
) -> None:
    uuid = booted_guest.UUIDString()
    other = Recorder()
    holder = other.session(host, uuid)
    holder.open()  # someone else holds the console
    app = ConsoleApp(host, uuid)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot_wait_for(
                pilot, lambda: isinstance(app.screen, TakeoverScreen), "takeover question"
            )
            await pilot.press("y")
            wait_for(lambda: other.closed, STEP_S, what="the other client is taken over")
            screen = next(s for s in app.screen_stack if isinstance(s, ConsoleScreen))
            terminal = screen.query_one(Terminal)
            await pilot.press("enter")
            await pilot_wait_for(
                pilot, lambda: PROMPT.strip() in "\n".join(terminal.text_lines()), "prompt", 30
            )
            await pilot.press(*"echo hel''lo", "enter")
            await pilot_wait_for(
                pilot, lambda: "hello" in terminal.text_lines(), "hello on a line of its own", 30
            )
            booted_guest.destroy()
            await pilot_wait_for(pilot, lambda: "stopped" in status_of(app), "stopped notice", 30)
            assert "hello" in terminal.text_lines()  # the last screen is kept
    finally:
        holder.close()

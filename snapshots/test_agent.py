"""Snapshots of the guest agent panel.

The panel's answers are the ones recorded from the real qemu-ga 7.2 in the tiny test
guest (tests/data/agent/answers.json, replayed by tests/agent_replay.py), shown for
web-frontend-1 of the test:/// node. Deterministic: the recording carries the guest's
time and the host's at the moment it was read, so times and drift are fixed; no
statistics, no animations, every shot waits for the panel it shows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot

from kvmtui.backend.agent_info import AgentState, ExecResult
from kvmtui.screens.agent import AgentScreen
from kvmtui.screens.agent_forms import ExecRequest
from kvmtui.tui.app import KvmtuiApp
from tests.agent_replay import RecordedAgent, recorded_answers
from tests.pilot import build_app, loaded, wait_for
from tests.testdriver.test_agent_screen import output

WEB = "6695eb01-f6a4-8304-79aa-97f2502e1901"  # web-frontend-1


def open_panel(
    agent: Callable[[KvmtuiApp], RecordedAgent | None],
) -> Callable[[Pilot[None]], object]:
    async def run_before(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, KvmtuiApp)
        await loaded(pilot)
        screen = AgentScreen(app.hosts[0], WEB, agent=agent(app))
        app.push_screen(screen)
        await wait_for(pilot, lambda: screen.state is not None, "the agent's state")
        if screen.state is AgentState.CONNECTED:
            await wait_for(pilot, lambda: screen.panel is not None, "the panel")
        await pilot.pause()

    return run_before


def test_agent_panel_from_recorded_answers(snap_compare, test_node_uri: str) -> None:
    """The panel of a connected agent: the heading "Guest agent of web-frontend-1 on
    test:node"; "Agent connected · qemu-ga 7.2.22 · 41 of 42 commands enabled" in green;
    System: OS "kvmtui tiny guest (kvmtui guest, version 1, x86_64)", kernel
    6.1.0-56-cloud-amd64 and its build line, hostname kvmtui-guest, vCPUs online "2 of 2
    (ids 0, 1)"; Clock: 2026-11-26 05:05:42 UTC (UTC+00:00), drift "0.34 s behind the
    host" in green; Logged-in users: "Nobody is logged in." (dim); Filesystems: /mnt/data
    ext2 on vda, used 13 KiB of 59 MiB, 0%, disk /dev/vda; Disks: /dev/vda on host disk
    vda; Network interfaces: eth0 52:54:00:6c:73:81 with its fe80:: address, lo with
    127.0.0.1/8 and ::1/128; the supported commands with guest-get-devices dimmed as
    disabled; then the Actions list, every action "ready" in green; the footer's keys."""
    assert snap_compare(
        build_app(test_node_uri, stats=False),
        terminal_size=(120, 60),
        run_before=open_panel(lambda app: RecordedAgent(app.hosts[0], WEB)),
    )


def test_agent_panel_frozen(snap_compare, test_node_uri: str) -> None:
    """The same guest with its filesystems frozen (as the agent answers then): the bold
    FROZEN warning band under the state line; System, Clock, users, filesystems, disks,
    interfaces say they are not readable while frozen (yellow); in Actions only Ping,
    Thaw and Raw JSON are ready, Freeze says "already frozen" and the rest "the guest's
    filesystems are frozen; thaw them first"; their footer keys are greyed out."""
    answers = recorded_answers(
        freeze_status="frozen", guest_info={}, interfaces=None, vcpus=None, time=None
    )
    frozen = "Not readable while the guest's filesystems are frozen; thaw them first."
    answers.errors = {"interfaces": frozen, "vcpus": frozen, "time": frozen}
    assert snap_compare(
        build_app(test_node_uri, stats=False),
        terminal_size=(120, 64),
        run_before=open_panel(lambda app: RecordedAgent(app.hosts[0], WEB, answers=answers)),
    )


def test_agent_panel_without_channel(snap_compare, test_node_uri: str) -> None:
    """A guest with no agent channel (the test driver's guests have none), read live from
    its XML: "No guest agent channel configured" in yellow with the <channel> XML to add
    (cyan) and how; every section says "Nothing to ask: the guest has no agent channel."
    (dim); every action in
    Actions says "the guest has no agent channel" and the footer greys their keys."""
    app = build_app(test_node_uri, stats=False)
    assert snap_compare(app, terminal_size=(110, 40), run_before=open_panel(lambda app: None))


class LongRun(RecordedAgent):
    """A program that printed 250,000 lines on stdout and two on stderr."""

    def exec(self, argv: Any, limit_s: float = 10.0, *, spool: bool = False) -> ExecResult:
        self.calls.made.append(("exec", tuple(argv), limit_s))
        out = b"".join(b"line %d\n" % n for n in range(1, 250_001))
        err = b"warning: \x1b[31mred\x1b[0m escapes are not sent\nlast words\n"
        return ExecResult(tuple(argv), 7, True, 0, None, out, err, False, 1.5, limit_s)


def test_agent_panel_long_program_output(snap_compare, test_node_uri: str) -> None:
    """After running a program that printed 250,000 lines: the answer box titled "Run
    seq" shows "$ seq 1 250000", "exit code 0 after 1.5 s" in green, the yellow sentence
    "stdout: Output truncated: the first 240,000 lines not shown (2,768,895 of 2,888,895
    bytes).", then (dim) "Output: 2,888,895 bytes on stdout, 54 bytes on stderr. o saves
    the whole output to a file."; below it the scrolling view (focused, tinted) from
    "line 240001" on, 16 lines, its scroll bar on the right; the panel's sections under it."""

    async def run_program(pilot: Pilot[None]) -> None:
        await open_panel(lambda app: LongRun(app.hosts[0], WEB))(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, AgentScreen)
        screen._start_run(ExecRequest(("seq", "1", "250000"), 10.0))
        await wait_for(pilot, lambda: "exit code 0" in output(screen), "the run")
        await pilot.pause()

    app = build_app(test_node_uri, stats=False)
    assert snap_compare(app, terminal_size=(120, 50), run_before=run_program)

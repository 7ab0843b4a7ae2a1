"""A large program output in the agent panel, against the real qemu-ga in a tiny guest.

One guest serves the module. The 5 MB output is random bytes written to a file in the
guest first, so the guest's own ``sha256sum`` says what the saved file must hold.
How fast keys answer is a figure of bench/agent_output_bench.py; here the view is checked
to draw a bounded number of lines per key whatever the output's size.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest
from textual.widgets import Checkbox, Input

from kvmtui.backend.agent import AgentRefusedError, GuestAgent
from kvmtui.backend.agent_runs import runs_of
from kvmtui.backend.clip import MAX_BYTES, MAX_LINE_CHARS, MAX_LINES
from kvmtui.backend.host import Host
from kvmtui.screens.agent import AgentScreen
from kvmtui.screens.agent_forms import ExecFormScreen, SaveFormScreen
from kvmtui.tui.widgets.agent_output import AgentOutput
from tests.conftest import TEST_GUEST_PREFIX, _remove_guests
from tests.daemon.test_agent_daemon import guest_exec
from tests.daemon.test_agent_live_screen import agent_screen
from tests.harness.guests import agent_command, define_guest, wait_for_agent
from tests.harness.image import GuestImage
from tests.pilot import run_async, wait_for
from tests.testdriver.test_agent_screen import answer, open_form, output, plain
from tests.waiting import wait_for as wait_until

pytestmark = pytest.mark.daemon

BOOT_S = 90.0
STEP_S = 30.0
RUN_LIMIT_S = 120.0  # 5 MB through the agent's channel under TCG on a busy machine
OUTPUT_BYTES = 5_000_000
DATA = "/tmp/five-mb.bin"
GO = "/tmp/go-on"
MIB = 2**20
AGENT_LIMIT_S = 30.0  # one guest-exec-status carries 6.7 MB of base64 under TCG
SIZE = (120, 40)


@pytest.fixture(scope="module")
def output_guest(daemon_uri: str, guest_image: GuestImage) -> Iterator[libvirt.virDomain]:
    """A booted guest with 5 MB of random bytes in /tmp/five-mb.bin."""
    name = f"{TEST_GUEST_PREFIX}{uuid.uuid4().hex[:8]}"
    conn = libvirt.open(daemon_uri)
    try:
        dom = define_guest(conn, name, guest_image)
        wait_for_agent(dom, BOOT_S)
        guest_exec(dom, "sh", "-c", f"head -c {OUTPUT_BYTES} /dev/urandom > {DATA}")
        yield dom
    finally:
        conn.close()
        _remove_guests(daemon_uri, [name])


def head(screen: AgentScreen) -> str:
    """The answer box's heading alone (cheap to poll: not its 10,000 lines)."""
    return plain(screen.query_one(AgentOutput).head)


def guest_sha256(dom: libvirt.virDomain) -> str:
    status = guest_exec(dom, "sha256sum", DATA, capture=True)
    return base64.b64decode(status["out-data"]).decode().split()[0]


def test_the_agent_hands_the_output_over_only_at_the_end(
    output_guest: libvirt.virDomain,
) -> None:
    """Why the panel shows "running, N s" rather than streaming: qemu-ga 7.2 gives a
    running program's status without any of its output, even what it has printed."""
    started = agent_command(
        output_guest,
        "guest-exec",
        {"path": "sh", "arg": ["-c", "echo early; sleep 3; echo late"], "capture-output": True},
    )
    assert isinstance(started, dict)
    polls: list[dict[str, object]] = []

    def exited() -> bool:
        status = agent_command(output_guest, "guest-exec-status", {"pid": started["pid"]})
        assert isinstance(status, dict)
        polls.append(status)
        return bool(status["exited"])

    wait_until(exited, STEP_S, 0.2, "the program to exit")
    running = [p for p in polls if not p["exited"]]
    assert running, "the program was seen running at least once"
    assert all(set(p) == {"exited"} for p in running), running
    assert base64.b64decode(str(polls[-1]["out-data"])) == b"early\nlate\n"


@run_async
async def test_a_5_mb_output_is_shown_bounded_and_saved_byte_for_byte(
    daemon_uri: str, output_guest: libvirt.virDomain, tmp_path: Path
) -> None:
    expected = guest_sha256(output_guest)
    async with agent_screen(daemon_uri, output_guest, AGENT_LIMIT_S, SIZE) as (pilot, screen):
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        try:
            form = await open_form(pilot, "e", ExecFormScreen)
            form.query_one("#exec-command", Input).value = f"cat {DATA}"
            form.query_one("#exec-limit", Input).value = f"{RUN_LIMIT_S:g}"
            await pilot.press("enter")
            await answer(pilot, "y")
            # At once: the run's state, before the agent has answered anything.
            await wait_for(
                pilot,
                lambda: "running, " in output(screen),
                lambda: f"running, N s (the heading read {head(screen)!r})",
            )
            await wait_for(pilot, lambda: "exit code 0" in head(screen), "the end", RUN_LIMIT_S)
            gc.collect()
            kept, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        # The run keeps the bytes (5 MB): less than 30 MiB more than before, at the peak too.
        grown = f"peak {(peak - before) / MIB:.1f} MiB, kept {(kept - before) / MIB:.1f} MiB"
        assert (peak - before) / MIB < 30, grown
        assert (kept - before) / MIB < 30, grown
        box = screen.query_one(AgentOutput)
        text = output(screen)
        assert "stdout: Output truncated: the first " in text and " bytes)." in text
        assert len(box.lines) <= MAX_LINES + 1  # the stderr rule
        assert sum(len(line) for line in box.lines) <= MAX_BYTES + MAX_LINES
        assert all(len(line) <= MAX_LINE_CHARS + 1 for line in box.lines)
        assert all("\x1b" not in line for line in box.lines), "no escape reaches the terminal"
        assert f"{OUTPUT_BYTES:,} bytes on stdout" in text

        # Keys scroll the view, which draws only the lines on screen, per key.
        log = box.log_view
        assert log.has_focus
        # Keys scroll once the view is laid out (a key before that finds nothing to scroll).
        await wait_for(pilot, lambda: log.allow_vertical_scroll, "the view on screen")
        drawn: list[int] = []
        render_line = log.render_line

        def counting(y: int):  # type: ignore[no-untyped-def]
            drawn.append(y)
            return render_line(y)

        log.render_line = counting  # type: ignore[method-assign]
        for key, at_end in (("end", True), ("home", False), ("pagedown", False), ("end", True)):
            drawn.clear()
            await pilot.press(key)
            await wait_for(
                pilot,
                lambda at_end=at_end: log.is_vertical_scroll_end == at_end,
                key,  # type: ignore[misc]
            )
            await pilot.pause()
            assert 0 < len(drawn) <= 4 * log.size.height, (key, len(drawn))

        # o saves the whole output: the very bytes the guest's sha256sum read.
        target = tmp_path / "five-mb.out"
        save = await open_form(pilot, "o", SaveFormScreen)
        save.query_one("#save-path", Input).value = str(target)
        await pilot.press("enter")
        await wait_for(pilot, target.exists, "the saved file", STEP_S)
        await pilot.app.workers.wait_for_complete()
        assert hashlib.sha256(target.read_bytes()).hexdigest() == expected
        assert target.stat().st_size == OUTPUT_BYTES
        # Saving again to the same name is refused in the form; nothing is overwritten.
        save = await open_form(pilot, "o", SaveFormScreen)
        save.query_one("#save-path", Input).value = str(target)
        await pilot.press("enter")
        assert "exists; kvmtui never overwrites a file" in save.error_text
        assert pilot.app.screen is save


@run_async
async def test_a_run_goes_on_after_the_panel_closes_and_shows_when_it_reopens(
    daemon_uri: str, output_guest: libvirt.virDomain
) -> None:
    async with agent_screen(daemon_uri, output_guest, AGENT_LIMIT_S, SIZE) as (pilot, screen):
        app, host, uuid_ = pilot.app, screen.host, output_guest.UUIDString()
        form = await open_form(pilot, "e", ExecFormScreen)
        # The program ends when the test says so (a file appears), not after a time.
        guest_exec(output_guest, "rm", "-f", GO)
        form.query_one(
            "#exec-command", Input
        ).value = f"while [ ! -e {GO} ]; do sleep 0.2; done; echo finished while closed"
        form.query_one("#exec-shell", Checkbox).value = True
        form.query_one("#exec-limit", Input).value = f"{RUN_LIMIT_S:g}"
        await pilot.press("enter")
        await answer(pilot, "y")
        await wait_for(pilot, lambda: "running, " in output(screen), "running, N s")
        await pilot.press("escape")
        await wait_for(pilot, lambda: screen not in app.screen_stack, "the panel to close")
        run = runs_of(host).get(uuid_)
        assert run is not None and run.running
        guest_exec(output_guest, "touch", GO)
        await wait_for(pilot, run.done.is_set, "the run to end", STEP_S)

        reopened = AgentScreen(host, uuid_)
        app.push_screen(reopened)
        await wait_for(pilot, lambda: reopened.is_mounted, "the panel to open again")
        await wait_for(pilot, lambda: "exit code 0" in output(reopened), "the kept result")
        assert "finished while closed" in output(reopened)


def test_an_output_over_libvirts_reply_limit_is_a_sentence_unless_spooled(
    daemon_uri: str, output_guest: libvirt.virDomain
) -> None:
    """libvirt carries one agent reply in at most 4 MiB: 5 MB of output (6.7 MB of base64)
    cannot come back in guest-exec-status. Said in a sentence; through files it can."""
    host = Host(daemon_uri)
    host.start()
    try:
        assert host.wait_connected(30)
        agent = GuestAgent(host, output_guest.UUIDString(), limit_s=AGENT_LIMIT_S)
        with pytest.raises(AgentRefusedError, match="larger than libvirt carries in one reply"):
            agent.exec(["cat", DATA], RUN_LIMIT_S)
        spooled = agent.exec(["cat", DATA], RUN_LIMIT_S, spool=True)
        assert spooled.finished and spooled.exit_code == 0 and not spooled.truncated
        assert hashlib.sha256(spooled.out).hexdigest() == guest_sha256(output_guest)
        # The same program, arguments and exit code as without the files; none left behind.
        missing = agent.exec(["nosuchprogram", "a b"], STEP_S, spool=True)
        assert missing.exit_code == 127 and "nosuchprogram" in missing.stderr
        literal = agent.exec(["echo", "$HOME", "*", "a  b"], STEP_S, spool=True)
        assert literal.stdout == "$HOME * a  b\n"
        assert not [
            f for f in agent.exec(["ls", "/tmp"]).stdout.split() if f.endswith((".out", ".err"))
        ]
    finally:
        host.stop()

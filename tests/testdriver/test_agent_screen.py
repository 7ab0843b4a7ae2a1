"""The agent screen on libvirt's test:/// driver, driven with the Pilot.

The test driver has no guest agent: its guests have no agent channel, which the screen
must say. The panel itself is fed answers recorded from the real qemu-ga
(tests/agent_replay.py); tests/daemon/test_agent_daemon.py and test_agent_live_screen.py run
the same code against the live agent.
"""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import AsyncIterator
from typing import Any, TypeVar

from rich.console import Console, RenderableType
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Input, Static

from kvmtui.backend.agent_info import CHANNEL_XML, AgentAnswers, AgentState, ExecResult, Secret
from kvmtui.backend.agent_runs import runs_of
from kvmtui.backend.clip import ERROR_LINES, MAX_LINES
from kvmtui.backend.errors import KvmtuiError
from kvmtui.screens.agent import READ_ONLY_REASON, AgentScreen
from kvmtui.screens.agent_forms import ExecFormScreen, PasswordFormScreen, RawFormScreen
from kvmtui.screens.confirm import ConfirmScreen
from kvmtui.tui.app import KvmtuiApp
from kvmtui.tui.widgets.agent_output import AgentOutput
from kvmtui.tui.widgets.agent_panel import AgentSection
from tests.agent_replay import RecordedAgent, recorded_answers
from tests.pilot import build_app, loaded, run_async, wait_for

WEB = "6695eb01-f6a4-8304-79aa-97f2502e1901"  # web-frontend-1, running
AgentT = TypeVar("AgentT", bound=RecordedAgent)


def plain(renderable: RenderableType) -> str:
    console = Console(width=160, record=True, file=io.StringIO(), color_system=None)
    console.print(renderable)
    return console.export_text()


def section(screen: AgentScreen, key: str) -> str:
    return plain(screen.query_one(f"#agent-{key}", AgentSection).body)


def state_line(screen: AgentScreen) -> str:
    return plain(screen.query_one("#agent-state", Static).content)  # type: ignore[arg-type]


def output(screen: AgentScreen) -> str:
    box = screen.query_one(AgentOutput)
    return "\n".join((str(box.border_title), plain(box.head), *box.lines))


async def open_agent(
    pilot: object, app: KvmtuiApp, agent: RecordedAgent | None = None
) -> AgentScreen:
    await loaded(pilot)  # type: ignore[arg-type]
    screen = AgentScreen(app.hosts[0], WEB, agent=agent)
    app.push_screen(screen)
    await wait_for(pilot, lambda: screen.state is not None, "the agent state")  # type: ignore[arg-type]
    return screen


@contextlib.asynccontextmanager
async def recorded_panel(
    uri: str, answers: AgentAnswers | None = None, agent_type: type[AgentT] = RecordedAgent
) -> AsyncIterator[tuple[Pilot[None], AgentScreen, AgentT]]:
    """The app (120x50) with WEB's agent screen on a recorded agent, its panel read."""
    app = build_app(uri, stats=False)
    async with app.run_test(size=(120, 50)) as pilot:
        agent = agent_type(app.hosts[0], WEB, answers=answers)
        screen = await open_agent(pilot, app, agent)
        await wait_for(pilot, lambda: screen.panel is not None, "the panel")
        yield pilot, screen, agent


FormT = TypeVar("FormT", bound=Screen[object])


async def open_form(pilot: Pilot[None], key: str, form_type: type[FormT]) -> FormT:
    """Press ``key`` and return the form it opens."""
    await pilot.press(key)
    # Mounted, not only pushed: its fields exist once it has composed (on a loaded
    # machine the test could otherwise look for them a moment too early).
    await wait_for(
        pilot,
        lambda: isinstance(pilot.app.screen, form_type) and pilot.app.screen.is_mounted,
        form_type.__name__,
    )
    form = pilot.app.screen
    assert isinstance(form, form_type)
    return form


async def answer(pilot: Pilot[None], key: str) -> None:
    """Answer the confirmation question with ``key`` (y or n)."""
    await wait_for(
        pilot,
        lambda: isinstance(pilot.app.screen, ConfirmScreen) and pilot.app.screen.is_mounted,
        "the question",
    )
    question = pilot.app.screen
    await pilot.press(key)
    # Answered: the question has gone (a key that came too early would leave it up).
    await wait_for(pilot, lambda: question not in pilot.app.screen_stack, f"{key} to answer")


async def exec_confirmed(pilot: Pilot[None], command: str) -> None:
    """Run ``command`` through the keys: the exec form, Enter, yes to the question."""
    form = await open_form(pilot, "e", ExecFormScreen)
    form.query_one("#exec-command", Input).value = command
    await pilot.press("enter")
    await answer(pilot, "y")


@run_async
async def test_a_guest_without_channel_shows_the_xml_to_add(test_node_uri: str) -> None:
    app = build_app(test_node_uri, stats=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_agent(pilot, app)
        assert screen.state is AgentState.NO_CHANNEL
        text = state_line(screen)
        assert "No guest agent channel configured" in text
        assert "<target type='virtio' name='org.qemu.guest_agent.0'/>" in text
        assert CHANNEL_XML.splitlines()[0] in text
        assert screen.check_action("ping", ()) is None
        assert "the guest has no agent channel" in section(screen, "actions")
        await pilot.press("p")
        await pilot.pause()
        assert not screen.query_one(AgentOutput).has_class("-shown"), "nothing was tried"


@run_async
async def test_recorded_panel_shows_every_section(test_node_uri: str) -> None:
    async with recorded_panel(test_node_uri) as (_, screen, _):
        system = section(screen, "system")
        assert "kvmtui tiny guest" in system and "6.1.0-56-cloud-amd64" in system
        assert "kvmtui-guest" in system and "2 of 2 (ids 0, 1)" in system
        clock = section(screen, "clock")
        assert "2026-11-26 05:05:42 UTC (UTC+00:00)" in clock
        assert "0.34 s behind the host" in clock
        assert "Nobody is logged in." in section(screen, "users")
        filesystems = section(screen, "filesystems")
        assert "/mnt/data" in filesystems and "ext2" in filesystems and "59 MiB" in filesystems
        interfaces = section(screen, "interfaces")
        assert "52:54:00:6c:73:81" in interfaces and "127.0.0.1/8" in interfaces
        assert "fe80::5054:ff:fe6c:7381/64" in interfaces
        assert "/dev/vda" in section(screen, "disks")
        commands = section(screen, "commands")
        assert "41 of 42 enabled" in commands and "guest-get-devices (disabled)" in commands
        assert "Agent connected · qemu-ga 7.2.22" in state_line(screen)
        assert screen.check_action("exec", ()) is True


@run_async
async def test_frozen_guest_warns_and_disables_what_the_agent_refuses(test_node_uri: str) -> None:
    answers = recorded_answers(
        freeze_status="frozen", guest_info={}, interfaces=None, vcpus=None, time=None
    )
    async with recorded_panel(test_node_uri, answers) as (_, screen, _):
        assert screen.query_one("#agent-frozen", Static).has_class("-shown")
        assert screen.query_one("#agent-frozen", Static).display
        actions = section(screen, "actions")
        assert "the guest's filesystems are frozen; thaw them first" in actions
        assert "the filesystems are already frozen" in actions
        assert screen.check_action("thaw", ()) is True
        assert screen.check_action("ping", ()) is True
        assert screen.check_action("exec", ()) is None
        assert "frozen" in section(screen, "system")


@run_async
async def test_read_only_says_the_agent_needs_read_write(test_node_uri: str) -> None:
    app = build_app(test_node_uri, readonly=True, stats=False)
    async with app.run_test(size=(120, 40)) as pilot:
        agent = RecordedAgent(app.hosts[0], WEB)
        screen = await open_agent(pilot, app, agent)
        await pilot.pause()
        assert "Read-only connection: libvirt allows the guest agent only" in state_line(screen)
        assert agent.calls.made == [], "no agent read on a read-only connection"
        assert all(screen.check_action(a, ()) is None for a in ("ping", "exec", "raw"))
        assert READ_ONLY_REASON in section(screen, "actions")


@run_async
async def test_exec_form_splits_without_a_shell_and_asks_first(test_node_uri: str) -> None:
    async with recorded_panel(test_node_uri) as (pilot, screen, agent):
        form = await open_form(pilot, "e", ExecFormScreen)
        await pilot.press("enter")
        assert "Type the program" in form.error_text
        form.query_one("#exec-command", Input).value = "echo 'a b' $HOME"
        await pilot.pause()
        assert "Program 'echo', arguments ['a b', '$HOME']" in plain(
            form.query_one("#exec-preview", Static).content  # type: ignore[arg-type]
        )
        form.query_one("#exec-limit", Input).value = "0"
        await pilot.press("enter")
        assert "time limit" in form.error_text
        form.query_one("#exec-limit", Input).value = "3"
        await pilot.press("enter")
        await answer(pilot, "n")
        await pilot.pause()
        assert "exec" not in agent.calls.names()
        # Again, and yes this time.
        await exec_confirmed(pilot, "uname -r")
        await wait_for(pilot, lambda: "exit code 0" in output(screen), "the result")
        assert ("exec", ("uname", "-r"), 10.0) in agent.calls.made
        assert "6.1.0-56-cloud-amd64" in output(screen)


@run_async
async def test_raw_json_is_refused_in_the_form(test_node_uri: str) -> None:
    async with recorded_panel(test_node_uri) as (pilot, screen, agent):
        form = await open_form(pilot, "j", RawFormScreen)
        form.query_one(Input).value = '{"execute": "guest-ping",}'
        await pilot.press("enter")
        assert "Not valid JSON" in form.error_text and "nothing was sent" in form.error_text
        assert pilot.app.screen is form
        assert [c for c in agent.calls.made if c[0] == "raw"] == []
        form.query_one(Input).value = '{"execute": "guest-ping"}'
        await pilot.press("enter")
        await wait_for(pilot, lambda: '"return"' in output(screen), "the reply")
        assert ("raw", '{"execute": "guest-ping"}') in agent.calls.made


@run_async
async def test_password_is_masked_confirmed_and_never_shown(test_node_uri: str) -> None:
    async with recorded_panel(test_node_uri) as (pilot, screen, agent):
        form = await open_form(pilot, "w", PasswordFormScreen)
        assert form.query_one("#password-new", Input).password
        await pilot.press(*"hunter2", "tab")
        await pilot.press(*"hunter3", "enter")
        assert "differ" in form.error_text
        await pilot.press(*"hunter2", "tab", *"hunter2", "enter")
        await answer(pilot, "y")
        await wait_for(pilot, lambda: "Password of 'root' set." in output(screen), "the result")
        (call,) = [c for c in agent.calls.made if c[0] == "set_password"]
        assert call[1] == "root" and isinstance(call[2], Secret)
        assert call[2].reveal() == "hunter2" and "hunter2" not in repr(call)
        workers = [w for w in pilot.app.workers if "hunter2" in (w.description or "")]
        assert workers == []


class ChattyAgent(RecordedAgent):
    """A recorded agent whose raw reply is 50,000 lines and whose errors quote pages."""

    def raw(self, text: str, limit_s: float | None = None) -> tuple[str, str]:
        self.calls.made.append(("raw", text))
        return "guest-file-read", "\n".join(f'  "line {n}": "{"x" * 40}",' for n in range(50_000))

    def ping(self) -> float:
        raise KvmtuiError("Could not ping: " + "the guest said\n" * 3000)


@run_async
async def test_a_huge_raw_reply_and_error_are_bounded(test_node_uri: str) -> None:
    async with recorded_panel(test_node_uri, agent_type=ChattyAgent) as (pilot, screen, _):
        form = await open_form(pilot, "j", RawFormScreen)
        form.query_one(Input).value = '{"execute": "guest-file-read", "arguments": {"handle": 1}}'
        await pilot.press("enter")
        await wait_for(pilot, lambda: "reply to guest-file-read" in output(screen), "the reply")
        box = screen.query_one(AgentOutput)
        assert len(box.lines) == MAX_LINES and box.lines[-1].startswith('  "line 9999"')
        assert "Output truncated: the last 40,000 lines not shown" in output(screen)
        await pilot.press("p")
        await wait_for(pilot, lambda: "Could not ping" in output(screen), "the error")
        text = output(screen)
        assert text.count("the guest said") == ERROR_LINES
        assert "Output truncated: the last 2,960 lines not shown" in text
        assert box.has_class("-error") and box.lines == ()


class SlowAgent(RecordedAgent):
    """A recorded agent whose program runs until the test lets it end."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.release = threading.Event()

    def exec(self, argv: Any, limit_s: float = 10.0, *, spool: bool = False) -> ExecResult:
        self.calls.made.append(("exec", tuple(argv), limit_s, spool))
        self.release.wait(30)
        return ExecResult(tuple(argv), 9, True, 0, None, b"done\n", b"", False, 2.0, limit_s)


@run_async
async def test_a_run_outlives_the_panel_and_is_shown_when_it_opens_again(
    test_node_uri: str,
) -> None:
    async with recorded_panel(test_node_uri, agent_type=SlowAgent) as (pilot, screen, agent):
        app = screen.app
        assert isinstance(app, KvmtuiApp)
        await exec_confirmed(pilot, "sleep 2")
        await wait_for(pilot, lambda: "running, " in output(screen), "running, N s")
        assert ("exec", ("sleep", "2"), 10.0, True) in agent.calls.made  # spooled: it can
        assert screen.check_action("exec", ()) is None  # one program at a time per guest
        assert "a program is still running in this guest" in section(screen, "actions")
        await pilot.press("escape")
        await wait_for(pilot, lambda: screen not in app.screen_stack, "the panel to close")
        agent.release.set()
        run = runs_of(app.hosts[0]).get(WEB)
        assert run is not None
        await wait_for(pilot, run.done.is_set, "the run to end")
        again = await open_agent(pilot, app, agent)
        await wait_for(pilot, lambda: "exit code 0" in output(again), "the kept result")
        assert "done" in output(again) and "$ sleep 2" in output(again)
        assert again.check_action("save_output", ()) is True
        assert again.check_action("exec", ()) is True

"""The guest agent panel of one guest: what qemu-ga reports, and the agent's actions.

Every agent call runs in a thread worker with a time limit (backend.agent) and only
posts a message; the handlers here change the screen. The agent's state follows the
host's agent-lifecycle events (forwarded by the app as GuestUpdated). Actions the agent
cannot do right now are greyed out in the footer and listed with the reason.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import ClassVar

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Static

from kvmtui.backend.agent import DEFAULT_LIMIT_S, GuestAgent
from kvmtui.backend.agent_info import (
    CHANNEL_XML,
    AgentPanel,
    AgentState,
    ExecResult,
    InvalidRequest,
    why_unusable,
)
from kvmtui.backend.agent_runs import ProgramRun, runs_of, save_output
from kvmtui.backend.clip import clip_error, clip_head
from kvmtui.backend.errors import KvmtuiError
from kvmtui.backend.host import Host
from kvmtui.backend.model import Guest, GuestState
from kvmtui.screens.agent_forms import (
    ExecFormScreen,
    ExecRequest,
    PasswordFormScreen,
    PasswordRequest,
    RawFormScreen,
    SaveFormScreen,
)
from kvmtui.screens.confirm import ConfirmScreen
from kvmtui.tui import messages
from kvmtui.tui.widgets.agent_output import (
    AgentOutput,
    LongAnswer,
    run_head,
    run_lines,
    trim_body,
)
from kvmtui.tui.widgets.agent_panel import (
    AgentSection,
    drift_text,
    section_widgets,
    show_panel,
)
from kvmtui.tui.widgets.footer import Footer
from kvmtui.tui.workers import work

# -- messages (posted from the workers) ---------------------------------------------------


@dataclass
class AgentStateRead(Message, bubble=False):
    """The agent channel's state from the domain XML, or why it could not be read."""

    state: AgentState | None
    error: str | None


@dataclass
class AgentPanelRead(Message, bubble=False):
    """A full read of the panel, or the sentence saying why the agent could not be read."""

    panel: AgentPanel | None
    error: str | None


@dataclass
class AgentActionDone(Message, bubble=False):
    """An action finished: its answer (or failure sentence) for the output box."""

    action: str
    title: str
    body: RenderableType | LongAnswer
    ok: bool
    reload: bool


@dataclass
class OutputSaved(Message, bubble=False):
    """A run's output was written to files, or the sentence saying why not."""

    paths: tuple[str, ...]
    error: str | None


@dataclass(frozen=True)
class AgentAction:
    """An action of the panel: its title and the agent commands it needs."""

    title: str
    commands: tuple[str, ...]


#: Action name (as in BINDINGS) -> what it is and needs, in the order the panel lists them.
ACTIONS: dict[str, AgentAction] = {
    "ping": AgentAction("Ping the agent", ("guest-ping",)),
    "set_clock": AgentAction("Set the guest clock from the host", ("guest-set-time",)),
    "exec": AgentAction("Run a program", ("guest-exec", "guest-exec-status")),
    "freeze": AgentAction("Freeze filesystems", ("guest-fsfreeze-freeze",)),
    "thaw": AgentAction("Thaw filesystems", ("guest-fsfreeze-thaw",)),
    "trim": AgentAction("Trim filesystems (fstrim)", ("guest-fstrim",)),
    "password": AgentAction("Set a user's password", ("guest-set-user-password",)),
    "shutdown": AgentAction("Shut down through the agent", ("guest-shutdown",)),
    "reboot": AgentAction("Reboot through the agent", ("guest-shutdown",)),
    "raw": AgentAction("Send a raw JSON command", ()),
}

_STATE_REASONS = {
    AgentState.DISCONNECTED: "the agent is not connected",
    AgentState.NO_CHANNEL: "the guest has no agent channel",
    AgentState.NOT_RUNNING: "the guest is not running",
}

#: What a run with its output through guest files needs besides guest-exec.
SPOOL_COMMANDS = ("guest-file-open", "guest-file-read", "guest-file-close")

#: How often the panel looks at a running program (its elapsed time, its end).
RUN_TICK_S = 0.25

READ_ONLY_REASON = "the connection is read-only (libvirt allows the agent only read-write)"

#: After its guest leaves this host, how long the panel waits for another host to list it
#: running (a migration's destination reports it about when the source lets it go).
FOLLOW_WAIT_S = 15.0
_RUNNING = frozenset({GuestState.RUNNING, GuestState.BLOCKED})

FROZEN_WARNING = (
    "FROZEN: the guest's filesystems are frozen. Writes inside the guest block until "
    "you thaw them (u); most agent commands are refused meanwhile."
)


def _running(_screen: object, _action: str, title: str, *_rest: object) -> str:
    """What an agent action was doing, for the internal-error sentence."""
    return f"running '{title}' with the guest agent"


class AgentScreen(Screen[None]):
    """The guest agent of one guest: state, what it reports, and its actions."""

    CSS_PATH = "agent.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("q", "back", "Back", show=False),
        Binding("r", "refresh", "Refresh"),
        Binding("p", "ping", "Ping"),
        Binding("c", "set_clock", "Clock"),
        Binding("e", "exec", "Run"),
        Binding("f", "freeze", "Freeze"),
        Binding("u", "thaw", "Thaw"),
        Binding("t", "trim", "Trim"),
        Binding("w", "password", "Password"),
        Binding("s", "shutdown", "Shutdown"),
        Binding("b", "reboot", "Reboot"),
        Binding("j", "raw", "JSON"),
        Binding("o", "save_output", "Save output"),
    ]

    def __init__(
        self,
        host: Host,
        guest_uuid: str,
        *,
        agent: GuestAgent | None = None,
        limit_s: float = DEFAULT_LIMIT_S,
    ) -> None:
        super().__init__()
        self.host = host
        self.guest_uuid = guest_uuid
        self.agent = agent or GuestAgent(host, guest_uuid, limit_s=limit_s)
        self.state: AgentState | None = None
        self.panel: AgentPanel | None = None
        self.panel_error: str | None = None
        self.busy: str | None = None  # the title of the action waiting for the agent
        self.raw_text = ""
        #: Program runs live with the host, not the screen: closing the panel keeps them.
        self.runs = runs_of(host)
        self._run_shown = False  # the output box shows the guest's run (not another answer)
        self._run_timer: Timer | None = None
        self._name: str = self.agent.guest_name
        #: The host the guest migrated from (the panel followed it), or None.
        self.moved_from: str | None = None
        #: Waiting for the guest, undefined here, to show up running on another host.
        self._gone_timer: Timer | None = None

    @property
    def guest_key(self) -> str:
        return f"{self.host.label}/{self.guest_uuid}"

    @property
    def guest_name(self) -> str:
        cached = self.host.guest(self.guest_uuid)
        if cached is not None:
            self._name = cached.name  # kept: once the guest leaves, the host forgets it
        return self._name

    # -- layout -------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(self._heading(), id="agent-heading")
        yield Static(Text("Reading the agent's state…", style="dim"), id="agent-state")
        yield Static(FROZEN_WARNING, id="agent-frozen")
        yield AgentOutput(id="agent-output")
        with VerticalScroll(id="agent-sections"):
            yield from section_widgets(None, "Waiting for the agent…")
            yield AgentSection("actions", "Actions", self._actions_body())
        yield Footer()

    def on_mount(self) -> None:
        self.load()
        # After the first refresh: the answer box composes its parts after this handler.
        self.call_after_refresh(self._show_kept_run)

    def _show_kept_run(self) -> None:
        """The guest's last run (going on, or its result) from before the panel opened."""
        run = self.runs.get(self.guest_uuid)
        if run is not None:
            self._show_run(run)

    def _heading(self) -> Text:
        return Text.assemble(
            ("Guest agent", "bold"), " of ", (self.guest_name, "bold"), " on ", self.host.label
        )

    # -- reading ------------------------------------------------------------------------

    @work(doing="reading the guest agent's state", group="agent-read", exclusive=True)
    def load(self) -> None:
        """The channel's state, then (if it may answer) the whole panel."""
        try:
            state, _name = self.agent.state()
        except KvmtuiError as exc:
            self.post_message(AgentStateRead(None, str(exc)))
            return
        self.post_message(AgentStateRead(state, None))
        if state in (AgentState.CONNECTED, AgentState.UNKNOWN) and not self.host.readonly:
            self._read_panel()

    @work(doing="reading the guest agent panel", group="agent-read", exclusive=True)
    def load_panel(self) -> None:
        self._read_panel()

    def _read_panel(self) -> None:
        try:
            panel = self.agent.read_panel()
        except KvmtuiError as exc:
            self.post_message(AgentPanelRead(None, str(exc)))
        else:
            self.post_message(AgentPanelRead(panel, None))

    def on_agent_state_read(self, message: AgentStateRead) -> None:
        if message.error is not None:
            self.query_one("#agent-state", Static).update(
                Text(clip_error(message.error), style="red")
            )
            return
        self._set_state(message.state)

    def on_agent_panel_read(self, message: AgentPanelRead) -> None:
        self.panel_error = message.error
        if message.panel is None:
            error = clip_error(message.error or "")
            self._show_output("Reading the agent", Text(error, style="red"), False)
        else:
            self.panel = message.panel
            show_panel(self._panel_sections(), message.panel)
        self._redraw_status()

    def _panel_sections(self) -> list[AgentSection]:
        return list(self.query(AgentSection).exclude("#agent-actions"))

    def _set_state(self, state: AgentState | None) -> None:
        self.state = state
        self._redraw_status()

    def _redraw_status(self) -> None:
        self.query_one("#agent-state", Static).update(self._state_text())
        if self.panel is None:
            why = (
                READ_ONLY_REASON
                if self.host.readonly
                else _STATE_REASONS.get(self.state or AgentState.UNKNOWN)
            )
            if why is not None:
                note = Text(f"Nothing to ask: {why}.", style="dim")
                for section in self._panel_sections():
                    section.show(note)
        self.query_one("#agent-frozen", Static).set_class(
            bool(self.panel and self.panel.frozen), "-shown"
        )
        self.query_one("#agent-actions", AgentSection).show(self._actions_body())
        self.refresh_bindings()

    def _state_text(self) -> Text:
        state = self.state
        text = Text()
        if state is None:
            text.append("Reading the agent's state…", style="dim")
        elif state is AgentState.CONNECTED:
            text.append("Agent connected", style="bold green")
            caps = self.panel.capabilities if self.panel else None
            if caps is not None:
                text.append(
                    f" · qemu-ga {caps.version} · {caps.enabled_count} of "
                    f"{len(caps.commands)} commands enabled"
                )
        elif state is AgentState.DISCONNECTED:
            text.append("Agent disconnected", style="bold yellow")
            text.append(
                ": qemu-ga is not running in the guest or closed its channel; "
                "agent commands fail until it is back."
            )
        elif state is AgentState.NO_CHANNEL:
            text.append("No guest agent channel configured", style="bold yellow")
            text.append(
                ". Add this to the guest's <devices> (virsh edit "
                f"{self.guest_name}), restart the guest, and run qemu-ga inside it:\n"
            )
            text.append(CHANNEL_XML, style="cyan")
        elif state is AgentState.NOT_RUNNING:
            text.append("Guest not running", style="bold")
            text.append(": its agent starts with it.")
        else:
            text.append("Agent state unknown", style="bold yellow")
            text.append(": libvirt does not report it; commands are tried anyway.")
        if self.moved_from is not None:
            text.append(
                f"\nFollowed the guest from {self.moved_from} to {self.host.label} "
                "(it migrated); the answers below were kept.",
                style="cyan",
            )
        if self.panel is not None and state not in (AgentState.CONNECTED, None):
            text.append("\nThe values below were read while the agent was connected.", "dim")
        if self.host.readonly:
            text.append(
                "\nRead-only connection: libvirt allows the guest agent only on read-write "
                "connections. Start kvmtui without -r/--readonly to use it.",
                style="yellow",
            )
        return text

    # -- live updates (forwarded by the app) ----------------------------------------------

    def on_guest_updated(self, message: messages.GuestUpdated) -> None:
        guest = message.guest
        if guest.uuid == self.guest_uuid and guest.host != self.host.label:
            if guest.state in _RUNNING and self._left_here():
                self._follow_elsewhere()  # it arrived after leaving (a migration)
            return
        self._follow(guest)

    def on_guests_loaded(self, message: messages.GuestsLoaded) -> None:
        """After a reconnect the host reloads every guest, agent state included."""
        for guest in message.guests:
            if guest.key == self.guest_key:
                self._follow(guest)

    def _follow(self, guest: Guest) -> None:
        """Follow the guest's run state and the agent-lifecycle event it carries."""
        if guest.key != self.guest_key or self.state is AgentState.NO_CHANNEL:
            return
        if guest.state is GuestState.UNKNOWN:
            return  # the host is unreachable; the calls will say so
        if not guest.state.active:
            state = AgentState.NOT_RUNNING
        elif guest.agent_connected is None:
            return
        else:
            state = AgentState.CONNECTED if guest.agent_connected else AgentState.DISCONNECTED
        if state is self.state:
            return
        if state is AgentState.NOT_RUNNING and self._follow_elsewhere():
            return  # stopped here, running elsewhere: migrated without leaving its definition
        self._set_state(state)
        if state is AgentState.CONNECTED and not self.host.readonly:
            self.load_panel()

    def on_guest_removed(self, message: messages.GuestRemoved) -> None:
        if message.key != self.guest_key or self._follow_elsewhere():
            return
        self._set_state(AgentState.NOT_RUNNING)
        self.query_one("#agent-state", Static).update(
            Text(
                f"The guest is no longer defined on {self.host.label}; looking for it on "
                "the other hosts (a migration)…",
                style="bold yellow",
            )
        )
        if self._gone_timer is None:
            self._gone_timer = self.set_timer(FOLLOW_WAIT_S, self._gone)

    def _left_here(self) -> bool:
        """The guest is no longer defined or no longer running on the panel's host."""
        here = self.host.guest(self.guest_uuid)
        return here is None or not here.state.active

    def _follow_elsewhere(self) -> bool:
        """Switch to another host that lists the guest running (it migrated there);
        whether one did."""
        hosts: Sequence[Host] = getattr(self.app, "hosts", ())
        for host in hosts:
            guest = host.guest(self.guest_uuid) if host is not self.host else None
            if guest is not None and guest.state in _RUNNING:
                self._switch_to(host)
                return True
        return False

    def _switch_to(self, dest: Host) -> None:
        """The panel now asks the guest's agent on ``dest``; what it shows is kept, the
        guest's program run goes along."""
        if self._gone_timer is not None:
            self._gone_timer.stop()
            self._gone_timer = None
        name, source = self.guest_name, self.host
        self.runs.hand_over(self.guest_uuid, runs_of(dest))
        self.host, self.runs, self.moved_from = dest, runs_of(dest), source.label
        self.agent = GuestAgent(dest, self.guest_uuid, limit_s=self.agent.limit_s)
        self._name = name
        self.query_one("#agent-heading", Static).update(self._heading())
        self.notify(
            f"'{name}' moved from {source.label} to {dest.label}: the agent panel follows it."
        )
        self._set_state(None)
        self.load()

    def _gone(self) -> None:
        """No other host listed the guest running in time: it is gone."""
        self._gone_timer = None
        if self.host.guest(self.guest_uuid) is not None or self._follow_elsewhere():
            return
        text = (
            f"The guest '{self._name}' is gone: it is no longer defined on {self.host.label} "
            "and no other host lists it running."
        )
        self.query_one("#agent-state", Static).update(Text(text, style="bold red"))
        self.notify(text, severity="warning")

    # -- what may be done ---------------------------------------------------------------

    def why_unavailable(self, action: str) -> str | None:
        """None when ``action`` can be tried now, else the reason in a few words."""
        if self.host.readonly:
            return READ_ONLY_REASON
        reason = _STATE_REASONS.get(self.state) if self.state is not None else None
        if reason is not None:
            return reason
        if self.state is None:
            return "the agent's state is not known yet"
        spec = ACTIONS[action]
        caps = self.panel.capabilities if self.panel else None
        frozen = self.panel.frozen if self.panel else None
        if action == "raw":
            return None
        run = self.runs.get(self.guest_uuid)
        if action == "exec" and run is not None and run.running:
            return "a program is still running in this guest"
        if action == "freeze" and frozen:
            return "the filesystems are already frozen"
        return why_unusable(spec.commands, caps, frozen)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ACTIONS and self.why_unavailable(action) is not None:
            return None  # shown greyed out; the Actions section says why
        if action == "save_output" and self._finished_run() is None:
            return None
        return True

    def _actions_body(self) -> RenderableType:
        keys = {
            b.action: b.key for b in self.BINDINGS if isinstance(b, Binding) and b.action in ACTIONS
        }
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column(no_wrap=True)
        table.add_column()
        for name, spec in ACTIONS.items():
            why = self.why_unavailable(name)
            status = Text("ready", style="green") if why is None else Text(why, style="dim")
            table.add_row(keys.get(name, ""), spec.title, status)
        return table

    # -- running actions ----------------------------------------------------------------

    def _show_output(self, title: str, body: RenderableType | LongAnswer, ok: bool) -> None:
        self._run_shown = False
        output = self.query_one(AgentOutput)
        output.add_class("-shown")
        if isinstance(body, LongAnswer):
            self._show_lines(title, body.head, body.body.lines, ok)
        else:
            self._show_lines(title, body, (), ok)

    def _show_lines(self, title: str, head: RenderableType, lines: Sequence[str], ok: bool) -> None:
        output = self.query_one(AgentOutput)
        output.add_class("-shown")
        had_focus = output.log_view.has_focus
        output.show_lines(title, head, lines, ok=ok)
        if lines:
            output.log_view.focus()  # arrows, PgUp/PgDn, Home and End scroll the answer
        elif had_focus:
            self.query_one("#agent-sections").focus()

    # -- a program run (kept by the host's store, followed here) ------------------------

    def _show_run(self, run: ProgramRun) -> None:
        ok = run.running or (run.output is not None and run.output.result.exit_code == 0)
        lines = run_lines(run) if not run.running else ()
        self._show_lines(f"Run {run.argv[0]}", run_head(run), lines, ok)
        self._run_shown = True
        if run.running and self._run_timer is None:
            self._run_timer = self.set_interval(RUN_TICK_S, self._follow_run)

    def _follow_run(self) -> None:
        """Tick while a run goes on: its elapsed time, then its result when it ends."""
        run = self.runs.get(self.guest_uuid)
        if run is None or not run.running:
            if self._run_timer is not None:
                self._run_timer.stop()
                self._run_timer = None
            if run is not None:
                self._show_run(run)
            self._redraw_status()
        elif self._run_shown:
            self.query_one(AgentOutput).update_head(run_head(run))

    def _start(
        self,
        action: str,
        run: Callable[[GuestAgent], RenderableType | LongAnswer],
        *,
        title: str | None = None,
        reload: bool = False,
        limit_s: float | None = None,
    ) -> None:
        title = title or ACTIONS[action].title
        why = self.why_unavailable(action)
        if why is not None:
            self.notify(f"{title}: not available, {why}.", severity="warning")
            return
        if self.busy is not None:
            self.notify(f"Still waiting for: {self.busy}.", severity="warning")
            return
        self.busy = title
        limit = limit_s if limit_s is not None else self.agent.limit_s
        self._show_output(title, Text(f"Waiting for the agent (at most {limit:g} s)…"), True)
        self._run(action, title, run, reload)

    @work(doing=_running, group="agent-action")
    def _run(
        self,
        action: str,
        title: str,
        run: Callable[[GuestAgent], RenderableType | LongAnswer],
        reload: bool,
    ) -> None:
        body: RenderableType | LongAnswer
        try:
            body, ok = run(self.agent), True
        except (KvmtuiError, InvalidRequest) as exc:
            body, ok = Text(clip_error(str(exc)), style="red"), False
        self.post_message(AgentActionDone(action, title, body, ok, reload))

    def on_work_failed(self, message: messages.WorkFailed) -> None:
        """A worker failed past its own handling (kvmtui.tui.workers): not waiting any more."""
        self.busy = None
        title = "Internal error" if message.internal else "Failed"
        self._show_output(title, Text(message.text, style="red"), False)

    def on_agent_action_done(self, message: AgentActionDone) -> None:
        self.busy = None
        self._show_output(message.title, message.body, message.ok)
        if message.reload:
            self.load_panel()

    def _confirmed(self, question: str, yes_label: str, then: Callable[[], None]) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                then()

        self.app.push_screen(ConfirmScreen(question, yes_label), answered)

    # -- actions (keys) -----------------------------------------------------------------

    def action_back(self) -> None:
        self.dismiss(None)

    def action_refresh(self) -> None:
        self.load()

    def action_ping(self) -> None:
        def ping(agent: GuestAgent) -> RenderableType:
            return Text(f"The agent answered in {agent.ping() * 1000:.0f} ms.")

        self._start("ping", ping)

    def action_set_clock(self) -> None:
        def set_clock(agent: GuestAgent) -> RenderableType:
            clock = agent.set_time_from_host()
            return Text.assemble("Guest clock set from the host; now ", drift_text(clock.drift_s))

        self._start("set_clock", set_clock, reload=True)

    def action_freeze(self) -> None:
        def freeze(agent: GuestAgent) -> RenderableType:
            count = agent.freeze()
            return Text(
                f"Froze {count} filesystem{'s' if count != 1 else ''}. Writes in the guest "
                "block until you thaw them (u).",
                style="bold yellow",
            )

        self._confirmed(
            f"Freeze every filesystem of guest '{self.guest_name}'? Writes inside the guest "
            "block until you thaw them (u): applications may stall. Thaw soon.",
            "Freeze",
            lambda: self._start("freeze", freeze, reload=True),
        )

    def action_thaw(self) -> None:
        def thaw(agent: GuestAgent) -> RenderableType:
            count = agent.thaw()
            return Text(f"Thawed {count} filesystem{'s' if count != 1 else ''}.")

        self._start("thaw", thaw, reload=True)

    def action_trim(self) -> None:
        self._start("trim", lambda agent: trim_body(agent.fstrim()))

    def action_shutdown(self) -> None:
        def shutdown(agent: GuestAgent) -> RenderableType:
            agent.shutdown()
            return Text("Asked the guest to power off through its agent.")

        self._confirmed(
            f"Shut down guest '{self.guest_name}' through its agent? The guest OS powers off.",
            "Shut down",
            lambda: self._start("shutdown", shutdown),
        )

    def action_reboot(self) -> None:
        def reboot(agent: GuestAgent) -> RenderableType:
            agent.reboot()
            return Text("Asked the guest to reboot through its agent.")

        self._confirmed(
            f"Reboot guest '{self.guest_name}' through its agent?",
            "Reboot",
            lambda: self._start("reboot", reboot),
        )

    def action_exec(self) -> None:
        if self._refuse("exec"):
            return

        def chosen(request: object) -> None:
            if not isinstance(request, ExecRequest):
                return
            self._confirmed(
                f"Run {shlex.join(request.argv)} in guest '{self.guest_name}' as the agent's "
                f"user (usually root), for at most {request.limit_s:g} s?",
                "Run",
                lambda: self._start_run(request),
            )

        caps = self.panel.capabilities if self.panel else None
        spool = caps is not None and why_unusable(SPOOL_COMMANDS, caps, None) is None
        self.app.push_screen(ExecFormScreen(self.guest_name, spool=spool), chosen)

    def _start_run(self, request: ExecRequest) -> None:
        """Start the program in the host's store: it goes on if the panel is closed."""
        why = self.why_unavailable("exec")
        if why is not None:
            self.notify(f"{ACTIONS['exec'].title}: not available, {why}.", severity="warning")
            return
        try:
            run = self.runs.start(self.agent, request.argv, request.limit_s, spool=request.spool)
        except InvalidRequest as exc:
            self.notify(str(exc), severity="warning")
            return
        self._show_run(run)
        self._redraw_status()

    def _finished_run(self) -> ProgramRun | None:
        run = self.runs.get(self.guest_uuid)
        if run is None or run.running or run.output is None:
            return None
        return run

    def action_save_output(self) -> None:
        run = self._finished_run()
        if run is None or run.output is None:
            self.notify("Save output: no finished program run in this guest.", severity="warning")
            return
        result = run.output.result
        default = f"{self.guest_name}-{PurePath(run.argv[0]).name}.out"

        def chosen(path: object) -> None:
            if isinstance(path, Path):
                self._save(result, path)

        self.app.push_screen(SaveFormScreen(shlex.join(run.argv), default), chosen)

    @work(doing="saving a program's output", group="agent-save")
    def _save(self, result: ExecResult, path: Path) -> None:
        try:
            written = save_output(result, path)
        except KvmtuiError as exc:
            self.post_message(OutputSaved((), clip_error(str(exc))))
        else:
            self.post_message(OutputSaved(tuple(str(p) for p in written), None))

    def on_output_saved(self, message: OutputSaved) -> None:
        if message.error is not None:
            self.notify(message.error, severity="error")
        else:
            self.notify(f"Saved the whole output to {' and '.join(message.paths)}.")

    def action_password(self) -> None:
        if self._refuse("password"):
            return

        def chosen(request: object) -> None:
            if not isinstance(request, PasswordRequest):
                return
            user, secret = request.user, request.password

            def set_password(agent: GuestAgent) -> RenderableType:
                agent.set_password(user, secret)
                return Text(f"Password of '{user}' set.")

            self._confirmed(
                f"Set the password of user '{user}' in guest '{self.guest_name}'?",
                "Set password",
                lambda: self._start("password", set_password),
            )

        self.app.push_screen(PasswordFormScreen(self.guest_name), chosen)

    def action_raw(self) -> None:
        if self._refuse("raw"):
            return

        def chosen(text: object) -> None:
            if not isinstance(text, str):
                return
            self.raw_text = text

            def send(agent: GuestAgent) -> LongAnswer:
                command, reply = agent.raw(text)
                body = clip_head(reply)
                head = Text(f"The agent's reply to {command}:")
                if body.note is not None:
                    head.append(f"\n{body.note}", style="yellow")
                return LongAnswer(head, body)

            self._start("raw", send, title="Raw command")

        self.app.push_screen(RawFormScreen(self.guest_name, self.raw_text), chosen)

    def _refuse(self, action: str) -> bool:
        why = self.why_unavailable(action)
        if why is not None:
            self.notify(f"{ACTIONS[action].title}: not available, {why}.", severity="warning")
        return why is not None

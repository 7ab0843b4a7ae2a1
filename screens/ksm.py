"""KSM and overcommit per host: what merging saves, how it is tuned, how close to the edge.

Polls every host in a thread worker, then re-arms a one-shot timer, so polls never
overlap and a slow host only slows this screen. Tuning keys are disabled (greyed in
the footer) with the reason shown in each host's panel when the host does not allow
them; every change is validated, confirmed, sent in a worker and read back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Static

from kvmtui.backend import failures, ksm
from kvmtui.backend.errors import KvmtuiError
from kvmtui.backend.host import Host
from kvmtui.backend.hoststats import HostSampler
from kvmtui.backend.ksm import KsmHistory, KsmReading, KsmRun, Permission
from kvmtui.backend.overcommit import Density, Thresholds, read_density
from kvmtui.screens.confirm import ConfirmScreen
from kvmtui.screens.ksm_thresholds import ThresholdsScreen
from kvmtui.screens.ksm_tune import KsmTuneScreen
from kvmtui.tui.format import human_kib
from kvmtui.tui.widgets.footer import Footer
from kvmtui.tui.widgets.ksm_panel import KsmPanel
from kvmtui.tui.workers import work

KsmReader = Callable[[Host], KsmReading]
DensityReader = Callable[[Host, int | None], Density]

#: Seconds between polls of every host.
DEFAULT_INTERVAL = 2.0

_RUN_ACTIONS = ("run",)
_TUNE_ACTIONS = ("tune",)


@dataclass
class KsmPolled(Message, bubble=False):
    """One host's KSM reading and density after a poll (either may be None)."""

    host: str
    reading: KsmReading | None
    density: Density | None
    error: str | None


@dataclass
class KsmPollDone(Message, bubble=False):
    """Every host was polled: time to re-arm the timer."""


@dataclass
class KsmChanged(Message, bubble=False):
    """A change went through and was read back."""

    host: str
    reading: KsmReading
    notice: str


@dataclass
class KsmFailed(Message, bubble=False):
    message: str


class KsmScreen(Screen[None]):
    """``KsmScreen(hosts)``: every host's KSM, its tuning and its overcommit."""

    CSS_PATH = "ksm.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("q", "back", "Back", show=False),
        Binding("left_square_bracket", "select_host(-1)", "Prev host", show=False),
        Binding("right_square_bracket", "select_host(1)", "Next host", show=False),
        Binding("p", "tune('pages_to_scan')", "Pages to scan", tooltip="Pages per scan."),
        Binding("s", "tune('sleep_millisecs')", "Sleep", tooltip="Milliseconds between scans."),
        Binding(
            "n",
            "tune('merge_across_nodes')",
            "Merge nodes",
            show=False,
            tooltip="Merge pages across NUMA nodes (only while nothing is shared).",
        ),
        Binding("r", "run(1)", "Run", tooltip="Start KSM (local host)."),
        Binding("x", "run(0)", "Stop", tooltip="Stop scanning; merged pages stay merged."),
        Binding("u", "run(2)", "Unmerge", show=False, tooltip="Stop and split every page."),
        Binding("t", "thresholds", "Thresholds", tooltip="Overcommit colour thresholds."),
        Binding("g", "poll_now", "Refresh", show=False),
    ]

    def __init__(
        self,
        hosts: Sequence[Host],
        *,
        reader: KsmReader = ksm.read_ksm,
        density_reader: DensityReader | None = None,
        interval: float = DEFAULT_INTERVAL,
        thresholds: Thresholds | None = None,
        histories: dict[str, KsmHistory] | None = None,
    ) -> None:
        super().__init__()
        self.hosts = list(hosts)
        self.reader = reader
        self.interval = interval
        self.thresholds = thresholds or Thresholds()
        self.histories = histories if histories is not None else {}
        for host in self.hosts:
            self.histories.setdefault(host.label, KsmHistory())
        self.readings: dict[str, KsmReading | None] = {}
        self.errors: dict[str, str | None] = {}
        self.densities: dict[str, Density | None] = {}
        self.selected = 0
        self.polls = 0
        self._samplers = {host.label: HostSampler() for host in self.hosts}
        self.density_reader = density_reader or self._read_density
        self._timer: Timer | None = None

    def _read_density(self, host: Host, saved_kib: int | None) -> Density:
        return read_density(host, saved_kib, self._samplers[host.label])

    # -- layout ----------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(
            "KSM and overcommit · [ ] choose the host · p s n tune · r x u run/stop/unmerge",
            id="ksm-heading",
        )
        with VerticalScroll(id="ksm-panels", can_focus=False):
            for host in self.hosts:
                yield KsmPanel(host.label)
        yield Footer()

    def on_mount(self) -> None:
        self._render_all()
        self._poll()

    @property
    def host(self) -> Host:
        return self.hosts[self.selected]

    def panel(self, label: str) -> KsmPanel | None:
        return next((p for p in self.query(KsmPanel) if p.label == label), None)

    def tuning_permission(self, host: Host) -> Permission:
        return ksm.tuning_permission(host, self.readings.get(host.label))

    def run_permission(self, host: Host) -> Permission:
        return ksm.run_permission(host, self.readings.get(host.label))

    def _show_host(self, index: int) -> None:
        host = self.hosts[index]
        panel = self.panel(host.label)
        if panel is None:
            return
        panel.show(
            reading=self.readings.get(host.label),
            error=self.errors.get(host.label),
            history=self.histories[host.label],
            density=self.densities.get(host.label),
            thresholds=self.thresholds,
            tuning=self.tuning_permission(host),
            run=self.run_permission(host),
            selected=index == self.selected and len(self.hosts) > 1,
        )

    def _render_all(self) -> None:
        for index in range(len(self.hosts)):
            self._show_host(index)

    # -- polling ---------------------------------------------------------------------

    @work(doing="reading KSM", group="ksm-poll", exclusive=True)
    def _poll(self) -> None:
        for host in self.hosts:
            reading: KsmReading | None = None
            density: Density | None = None
            error: str | None = None
            # Each host on its own: a failure (even a bug) shows in its panel, and the
            # other hosts and the next poll go on.
            try:
                reading = self.reader(host)
            except Exception as exc:
                error = failures.describe(exc, f"reading KSM on {host.label}")
            try:
                density = self.density_reader(host, reading.saved_kib if reading else None)
            except Exception as exc:
                error = error or failures.describe(exc, f"reading memory density on {host.label}")
            self.post_message(KsmPolled(host.label, reading, density, error))
        self.post_message(KsmPollDone())

    def on_ksm_polled(self, message: KsmPolled) -> None:
        self.readings[message.host] = message.reading
        self.errors[message.host] = message.error
        self.densities[message.host] = message.density
        if message.reading is not None:
            self.histories[message.host].append(message.reading)
        index = next((i for i, h in enumerate(self.hosts) if h.label == message.host), None)
        if index is not None:
            self._show_host(index)
        self.refresh_bindings()

    def on_ksm_poll_done(self, _message: KsmPollDone) -> None:
        self.polls += 1
        self._timer = self.set_timer(self.interval, self._poll)

    def action_poll_now(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._poll()

    # -- choosing a host ------------------------------------------------------------

    def action_select_host(self, step: int) -> None:
        self.selected = (self.selected + step) % len(self.hosts)
        self._render_all()
        panel = self.panel(self.host.label)
        if panel is not None:
            panel.scroll_visible()
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in _TUNE_ACTIONS:
            return True if self.tuning_permission(self.host).allowed else None
        if action in _RUN_ACTIONS:
            return True if self.run_permission(self.host).allowed else None
        if action == "select_host":
            return len(self.hosts) > 1
        return True

    # -- tuning ----------------------------------------------------------------------

    def action_tune(self, key: str) -> None:
        host = self.host
        reading = self.readings.get(host.label)
        tunable = ksm.TUNABLES[key]
        current = getattr(reading.counters, key) if reading and reading.counters else None

        def check(text: str) -> int:
            return ksm.validate(key, text, reading)

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._set_tunable(host, key, chosen_text)

        chosen_text = ""

        def chosen(text: str | None) -> None:
            nonlocal chosen_text
            if text is None:
                return
            chosen_text = text
            question = (
                f"Set KSM {tunable.title} on {host.label} from "
                f"{'-' if current is None else current} to {int(text)}?"
            )
            self.app.push_screen(ConfirmScreen(question, yes_label="Set"), confirmed)

        self.app.push_screen(
            KsmTuneScreen(host.label, tunable.title, current, tunable.unit, check), chosen
        )

    @work(doing="tuning KSM", group="ksm-change")
    def _set_tunable(self, host: Host, key: str, text: str) -> None:
        title = ksm.TUNABLES[key].title
        try:
            old, after = ksm.set_tunable(host, key, text)
        except KvmtuiError as exc:
            self.post_message(KsmFailed(str(exc)))
            return
        now = getattr(after.counters, key) if after.counters else None
        notice = f"KSM {title} on {host.label}: {old} → {int(text)} (read back {now})."
        self.post_message(KsmChanged(host.label, after, notice))

    def action_run(self, mode: int) -> None:
        host = self.host
        run = KsmRun(mode)
        reading = self.readings.get(host.label)
        saved = reading.saved_kib if reading else None
        question = {
            KsmRun.RUN: f"Start KSM on {host.label}? The kernel scans guest memory for "
            "identical pages (some CPU).",
            KsmRun.STOP: f"Stop KSM on {host.label}? Merged pages stay merged until unmerged.",
            KsmRun.UNMERGE: f"Unmerge every KSM page on {host.label}? The "
            f"{human_kib(saved or 0)} saved come back into use at once; make sure the host "
            "has that memory free.",
        }[run]
        label = {KsmRun.RUN: "Start", KsmRun.STOP: "Stop", KsmRun.UNMERGE: "Unmerge"}[run]

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._set_run(host, run)

        self.app.push_screen(ConfirmScreen(question, yes_label=label), confirmed)

    @work(doing="starting or stopping KSM", group="ksm-change")
    def _set_run(self, host: Host, mode: KsmRun) -> None:
        try:
            after = ksm.set_run(host, mode)
        except KvmtuiError as exc:
            self.post_message(KsmFailed(str(exc)))
            return
        words = {KsmRun.RUN: "running", KsmRun.STOP: "stopped", KsmRun.UNMERGE: "unmerged"}
        self.post_message(KsmChanged(host.label, after, f"KSM on {host.label}: {words[mode]}."))

    def on_ksm_changed(self, message: KsmChanged) -> None:
        self.readings[message.host] = message.reading
        self.errors[message.host] = None
        self.histories[message.host].append(message.reading)
        self._render_all()
        self.refresh_bindings()
        self.notify(message.notice)

    def on_ksm_failed(self, message: KsmFailed) -> None:
        self.notify(message.message, severity="error", timeout=10)

    # -- thresholds ------------------------------------------------------------------

    def action_thresholds(self) -> None:
        def chosen(thresholds: Thresholds | None) -> None:
            if thresholds is not None:
                self.thresholds = thresholds
                self._render_all()
                self.notify("Overcommit thresholds changed.")

        self.app.push_screen(ThresholdsScreen(self.thresholds), chosen)

    def action_back(self) -> None:
        self.dismiss(None)

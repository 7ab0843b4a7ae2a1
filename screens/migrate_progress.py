"""A running migration's progress view, with its live controls.

The figures come from the source's ``jobStats`` as the job reads them
(``backend.migrate_figures``); this screen only reads them twice a second. A sparkline
draws the remaining memory: a migration that does not converge shows as a line that
stops going down. ``s`` sets the maximum speed, ``d`` the maximum downtime, ``p``
switches to post-copy, ``c`` cancels (after asking); each call runs in a worker.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Sparkline, Static

from kvmtui.backend.errors import KvmtuiError
from kvmtui.backend.jobs import JobRegistry, JobState, JobView
from kvmtui.backend.migrate import Migration
from kvmtui.backend.migrate_figures import MigrationFigures
from kvmtui.backend.throttle import binary_text
from kvmtui.tui.widgets.footer import Footer
from kvmtui.tui.workers import work

REFRESH_S = 0.5


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    return binary_text(n, "B") if n else "0 B"


def _seconds(s: float | None) -> str:
    if s is None:
        return "-"
    if s < 60:
        return f"{s:.1f} s"
    return f"{int(s // 60)} min {int(s % 60):02d} s"


def figure_lines(figures: MigrationFigures | None) -> str:
    """The figures as aligned lines (also what a snapshot shows)."""
    if figures is None:
        return "Phase        waiting for the first figures"
    percent = f" ({figures.fraction:.0%} done)" if figures.fraction is not None else ""
    rate = f"{_size(figures.rate)}/s" if figures.rate else "-"
    dirty = f"{_size(figures.dirty_rate)}/s" if figures.dirty_rate is not None else "-"
    downtime = (
        f"{figures.expected_downtime_ms} ms" if figures.expected_downtime_ms is not None else "-"
    )
    return "\n".join(
        [
            f"Phase        {figures.phase}",
            f"Data         {_size(figures.remaining)} left of {_size(figures.total)}{percent}, "
            f"{_size(figures.processed)} sent",
            f"Rate         {rate:<16} Dirty rate        {dirty}",
            f"Pass         {figures.iteration or '-':<16} Expected downtime {downtime}",
            f"Elapsed      {_seconds(figures.elapsed_s):<16} Time left         "
            f"{_seconds(figures.eta_s)}",
            f"Memory left  {_size(figures.memory_remaining)}",
        ]
    )


class MigrationScreen(Screen[None]):
    CSS_PATH = "migrate.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "speed", "Max speed", tooltip="Set the maximum bandwidth (MiB/s)."),
        Binding("d", "downtime", "Max downtime", tooltip="Set the longest pause allowed (ms)."),
        Binding("p", "postcopy", "Post-copy", tooltip="Run on the destination now."),
        Binding("c", "cancel_migration", "Cancel", tooltip="Abort the migration (asks first)."),
        Binding("escape", "app.pop_screen", "Close", tooltip="The migration goes on."),
    ]

    def __init__(self, migration: Migration, jobs: JobRegistry | None, live: bool = True) -> None:
        super().__init__()
        self.migration = migration
        self.jobs = jobs
        self.live = live  # False in snapshot tests: no refresh timer

    def compose(self) -> ComposeResult:
        m = self.migration
        yield Static(f"Migrate '{m.name}' from {m.host.label} to {m.dest_label}",
                     classes="title")  # fmt: skip
        yield Static("", id="state")
        yield Static(figure_lines(None), id="figures")
        yield Static("Memory left, last minute:", classes="caption")
        yield Sparkline([], id="remaining-line")
        yield Static("", id="outcome")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.show()
        if self.live:
            self.set_interval(REFRESH_S, self.show)

    def view(self) -> JobView | None:
        if self.jobs is None or self.migration.job_id is None:
            return None
        return self.jobs.get(self.migration.job_id)

    def show(self) -> None:
        figures = self.migration.figures
        view = self.view()
        state = view.state.value if view is not None else "running"
        self.query_one("#state", Static).update(f"State        {state}")
        self.query_one("#figures", Static).update(figure_lines(figures))
        if figures is not None and figures.remaining_history:
            self.query_one(Sparkline).data = list(figures.remaining_history)
        if view is not None and view.outcome:
            self.query_one("#outcome", Static).update(view.outcome)
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("speed", "downtime", "postcopy", "cancel_migration"):
            view = self.view()
            if view is not None and view.finished:
                return None
            if action == "postcopy" and not self.migration.options.postcopy:
                return None
        return True

    # -- live controls ------------------------------------------------------------------

    def _ask_number(self, prompt: str, input_id: str, then: str) -> None:
        from kvmtui.screens.path_prompt import PathScreen, count_refusal

        def answered(text: str | None) -> None:
            if text is not None:  # a whole number: count_refusal refused anything else
                self._control(then, int(text))

        self.app.push_screen(
            PathScreen(prompt, "", "Set", input_id, refusal=count_refusal), answered
        )

    def action_speed(self) -> None:
        self._ask_number("Maximum bandwidth, MiB/s (0: no limit)?", "speed", "set_max_speed")

    def action_downtime(self) -> None:
        self._ask_number("Maximum downtime at the switch-over, ms?", "downtime",
                         "set_max_downtime")  # fmt: skip

    def action_postcopy(self) -> None:
        self._control("start_postcopy", None)

    @work(doing=lambda self, what, _value: f"changing a running migration ({what})",
          group="migration-control")  # fmt: skip
    def _control(self, what: str, value: int | None) -> None:
        call = getattr(self.migration, what)
        try:
            call() if value is None else call(value)
        except KvmtuiError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error")
            return
        done = {
            "set_max_speed": f"Maximum speed set to {value} MiB/s.",
            "set_max_downtime": f"Maximum downtime set to {value} ms.",
            "start_postcopy": "Switched to post-copy: the guest now runs on the destination.",
        }[what]
        self.app.call_from_thread(self.notify, done)

    def action_cancel_migration(self) -> None:
        from kvmtui.screens.confirm import ConfirmScreen

        jobs, job_id = self.jobs, self.migration.job_id
        if jobs is None or job_id is None:
            return

        def answered(yes: bool | None) -> None:
            if yes and not jobs.cancel(job_id):
                self.notify("The migration has already ended; nothing to cancel.")

        self.app.push_screen(
            ConfirmScreen(
                f"Cancel the migration of '{self.migration.name}'? It keeps running on "
                f"{self.migration.host.label}.",
                "Cancel migration",
            ),
            answered,
        )

    @property
    def outcome_text(self) -> str:
        return str(self.query_one("#outcome", Static).render())

    @property
    def state_done(self) -> bool:
        view = self.view()
        return view is not None and view.state in (JobState.DONE, JobState.FAILED,
                                                   JobState.CANCELLED)  # fmt: skip

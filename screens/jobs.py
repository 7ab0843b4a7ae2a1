"""Running and recent jobs of every host: progress, rate, time left, cancel, outcome.

The app forwards every job change here as a message; this screen registers nothing
with the job registry, so closing it leaves no reference behind. Jobs run on their
own threads whether this screen is open or not.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from kvmtui.backend.jobs import JobRegistry, JobView
from kvmtui.screens.confirm import ConfirmScreen
from kvmtui.tui import messages
from kvmtui.tui.widgets.footer import Footer
from kvmtui.tui.widgets.job_row import JobRow

EMPTY = (
    "No jobs yet. Long work runs here with its progress: a new guest (n), a clone (C), a "
    "migration (m), a snapshot (z), an upload or download (S, then u or o)."
)


class JobsScreen(Screen[None]):
    """``JobsScreen(host_labels, jobs)``: the jobs of those hosts, grouped by host."""

    CSS_PATH = "jobs.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("q", "back", "Back", show=False),
        Binding("c", "cancel_job", "Cancel job", tooltip="Stop the job and remove what it made."),
        Binding("down,j", "move(1)", "Next", show=False),
        Binding("up,k", "move(-1)", "Previous", show=False),
    ]

    def __init__(self, host_labels: Sequence[str], jobs: JobRegistry) -> None:
        super().__init__()
        self.host_labels = tuple(host_labels)
        self.jobs = jobs
        self.views: dict[int, JobView] = {}

    def compose(self) -> ComposeResult:
        yield Static("Jobs", classes="jobs-heading")
        yield VerticalScroll(id="job-list")
        yield Static(EMPTY, id="jobs-empty")
        yield Footer()

    async def on_mount(self) -> None:
        self.views = {view.id: view for view in self.jobs.jobs()}
        await self._rebuild()

    # -- what is shown -------------------------------------------------------------------

    @property
    def rows(self) -> list[JobRow]:
        return list(self.query(JobRow))

    @property
    def selected(self) -> JobView | None:
        focused = self.focused
        return focused.view if isinstance(focused, JobRow) else None

    def _order(self) -> list[tuple[str, list[JobView]]]:
        """Hosts in the app's order (unknown labels last); per host running jobs first,
        then the newest."""
        labels = list(self.host_labels) + sorted(
            {v.host for v in self.views.values()} - set(self.host_labels)
        )
        groups = []
        for label in labels:
            views = [v for v in self.views.values() if v.host == label]
            if views:
                views.sort(key=lambda v: (v.finished, -v.id))
                groups.append((label, views))
        return groups

    def _heading(self, label: str, views: list[JobView]) -> str:
        running = sum(1 for v in views if not v.finished)
        return f"{label}: {running} running, {len(views) - running} finished"

    async def _rebuild(self) -> None:
        """All rows again, in order (a new job): awaited, so two rebuilds never overlap."""
        selected = self.selected
        job_list = self.query_one("#job-list", VerticalScroll)
        widgets: list[Static | JobRow] = []
        for label, views in self._order():
            widgets.append(Static(self._heading(label, views), classes="jobs-host"))
            widgets.extend(JobRow(view) for view in views)
        with self.app.batch_update():
            await job_list.remove_children()
            await job_list.mount_all(widgets)
            self.query_one("#jobs-empty", Static).display = not self.views
        self.call_after_refresh(self._focus, selected.id if selected else None)

    def _focus(self, job_id: int | None) -> None:
        rows = self.rows
        target = next((r for r in rows if r.view.id == job_id), rows[0] if rows else None)
        if target is not None:
            target.focus(scroll_visible=True)
        self.refresh_bindings()

    async def on_job_changed(self, message: messages.JobChanged) -> None:
        view = message.view
        known = view.id in self.views
        self.views[view.id] = view
        if not known:
            await self._rebuild()
            return
        for row in self.query(f"#job-{view.id}").results(JobRow):
            row.show(view)
        for heading, (label, views) in zip(self.query(".jobs-host"), self._order(), strict=False):
            if isinstance(heading, Static):
                heading.update(self._heading(label, views))
        self.refresh_bindings()

    # -- keys ----------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_job":
            selected = self.selected
            return True if selected is not None and selected.cancellable else None
        return True

    def on_descendant_focus(self) -> None:
        self.refresh_bindings()  # the cancel key follows the job under the cursor

    def action_move(self, step: int) -> None:
        rows = self.rows
        if not rows:
            return
        current = self.focused
        index = rows.index(current) if isinstance(current, JobRow) else -1
        rows[max(0, min(len(rows) - 1, index + step))].focus(scroll_visible=True)
        self.refresh_bindings()

    def action_cancel_job(self) -> None:
        view = self.selected
        if view is None or not view.cancellable:
            return
        jobs = self.jobs

        def answered(yes: bool | None) -> None:
            if yes and not jobs.cancel(view.id):
                self.notify(f"{view.title} has already ended.")

        removes = f" kvmtui then removes {' and '.join(view.cleanups)}." if view.cleanups else ""
        question = f"Stop '{view.title}' on {view.host}?{removes}"
        self.app.push_screen(ConfirmScreen(question, yes_label="Stop the job"), answered)

    def action_back(self) -> None:
        self.dismiss(None)

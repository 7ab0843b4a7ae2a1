"""A guest's snapshots (``z`` on a guest): the tree, and create, revert, delete.

The tree is a table, each snapshot indented below its parent, the current one marked.
Below it, one line per thing not offered on this guest and why (read-only, a raw disk,
UEFI on an old libvirt, external revert before libvirt 9.9). Every libvirt call runs
in a thread worker that posts a message; a snapshot with memory reports its progress
on a line of its own while it is saved.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Static

from kvmtui.backend import snapshots
from kvmtui.backend.errors import KvmtuiError
from kvmtui.backend.host import Host
from kvmtui.backend.jobs import JobRegistry
from kvmtui.backend.snapshots import (
    DeleteMode,
    RevertTo,
    Snapshot,
    SnapshotRequest,
    SnapshotTree,
)
from kvmtui.screens.snapshot_forms import DeleteScreen, RevertScreen, SnapshotFormScreen
from kvmtui.tui import messages
from kvmtui.tui.widgets.footer import Footer
from kvmtui.tui.workers import work

_CHANGES = frozenset({"create", "revert", "delete"})


def created_text(epoch: int) -> str:
    """A snapshot's creation time, in UTC (the same on every machine)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


def tree_cell(snapshot: Snapshot) -> str:
    """The name, indented two columns per level below its root."""
    branch = "└ " if snapshot.depth else ""
    return "  " * max(snapshot.depth - 1, 0) + branch + snapshot.name


@dataclass
class TreeLoaded(Message, bubble=False):
    tree: SnapshotTree | None
    error: str | None = None


@dataclass
class SnapshotDone(Message, bubble=False):
    """An action finished: a sentence for the admin, and whether it failed."""

    notice: str
    failed: bool = False


@dataclass
class SnapshotProgress(Message, bubble=False):
    text: str


class SnapshotsScreen(Screen[None]):
    """``SnapshotsScreen(host, uuid, name)``: the snapshots of one guest."""

    CSS_PATH = "snapshots.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("n", "create", "New snapshot", tooltip="Take a snapshot (a form)."),
        Binding("v", "revert", "Revert", tooltip="Go back to the snapshot (asks first)."),
        Binding("d", "delete", "Delete", tooltip="Delete the snapshot (asks first)."),
        Binding("f5", "reload", "Reload", show=False),
    ]

    def __init__(
        self, host: Host, uuid: str, name: str, jobs: JobRegistry | None = None
    ) -> None:
        super().__init__()
        self.host = host
        self.jobs = jobs
        self.job_id: int | None = None  # the snapshot with memory being taken as a job
        self.uuid = uuid
        self.guest_name = name
        self.snapshot_tree: SnapshotTree | None = None
        self.loads = 0
        self.busy: str | None = None  # what is running now (one change at a time)

    def compose(self) -> ComposeResult:
        yield Static(
            f"Snapshots of '{self.guest_name}' on {self.host.label}", classes="snapshot-heading"
        )
        yield DataTable(id="snapshot-tree", cursor_type="row", zebra_stripes=False)
        yield Static("", id="snapshot-offer")
        yield Static("", id="snapshot-progress")
        yield Footer()

    @property
    def table(self) -> DataTable[str]:
        return self.query_one("#snapshot-tree", DataTable)

    @property
    def selected(self) -> Snapshot | None:
        tree = self.snapshot_tree
        if tree is None or not tree.snapshots or self.table.row_count == 0:
            return None
        row = self.table.cursor_row
        return tree.snapshots[row] if 0 <= row < len(tree.snapshots) else None

    def on_mount(self) -> None:
        self.table.add_columns("", "Snapshot", "Created", "State", "Description")
        self.table.focus()
        self._load()

    # -- loading ---------------------------------------------------------------------

    @work(doing="reading snapshots", group="snapshots-load", exclusive=True)
    def _load(self) -> None:
        try:
            tree = snapshots.read_tree(self.host, self.uuid)
        except KvmtuiError as exc:
            self.post_message(TreeLoaded(None, str(exc)))
            return
        self.post_message(TreeLoaded(tree))

    def on_tree_loaded(self, message: TreeLoaded) -> None:
        self.loads += 1
        if message.tree is None:
            self.query_one("#snapshot-offer", Static).update(message.error or "")
            return
        keep = self.selected.name if self.selected is not None else None
        self.snapshot_tree = message.tree
        table = self.table
        with self.app.batch_update():
            table.clear()
            for snap in self.snapshot_tree.snapshots:
                table.add_row(
                    "*" if snap.current else "",
                    tree_cell(snap),
                    created_text(snap.created),
                    snap.state,
                    snap.description or "",
                    key=snap.name,
                )
            names = [s.name for s in self.snapshot_tree.snapshots]
            current = next((s.name for s in self.snapshot_tree.snapshots if s.current), None)
            target = keep if keep in names else current
            if target is not None:
                table.move_cursor(row=names.index(target), animate=False)
            self.query_one("#snapshot-offer", Static).update(self.offer_text())
        self.refresh_bindings()

    def offer_text(self) -> str:
        tree = self.snapshot_tree
        if tree is None:
            return ""
        lines = [
            "* current snapshot (the guest's disks build on it)."
            if tree.snapshots
            else "No snapshots yet; n takes one."
        ]
        lines.extend(tree.offer.not_offered())
        return "\n".join(lines)

    def action_reload(self) -> None:
        self._load()

    # -- which actions are allowed -----------------------------------------------------

    def disabled_reason(self, action: str) -> str | None:
        tree = self.snapshot_tree
        if tree is None:
            return "the snapshots are not read yet"
        if self.host.readonly:
            return "read-only connection"
        if self.busy is not None:
            return f"busy: {self.busy}"
        if action == "create":
            if tree.offer.internal and tree.offer.external:
                return "no kind of snapshot is offered here"
            return None
        snap = self.selected
        if snap is None:
            return "no snapshot selected"
        if action == "revert":
            return tree.revert_reason(snap)
        return None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in _CHANGES:
            return True if self.disabled_reason(action) is None else None
        return True

    @on(DataTable.RowHighlighted)
    def _moved(self) -> None:
        self.refresh_bindings()

    # -- actions ---------------------------------------------------------------------

    def _start(self, what: str) -> None:
        self.busy = what
        self.query_one("#snapshot-progress", Static).update(f"{what}…")
        self.refresh_bindings()

    @work(doing="changing snapshots", group="snapshots-act")
    def _act(self, change: Callable[[], str]) -> None:
        """Run ``change`` (a backend call returning the sentence for the admin)."""
        try:
            notice = change()
        except KvmtuiError as exc:
            self.post_message(SnapshotDone(str(exc), failed=True))
        else:
            self.post_message(SnapshotDone(notice))

    def _create(self, request: SnapshotRequest) -> str:
        made = snapshots.create(self.host, self.uuid, request, self._progress)
        return f"Took snapshot '{made.name}' ({'with memory' if made.memory else made.state})."

    def _revert(self, name: str, after: RevertTo) -> str:
        snapshots.revert(self.host, self.uuid, name, after)
        return f"Reverted '{self.guest_name}' to '{name}'; it is {after}."

    def _delete(self, name: str, mode: DeleteMode) -> str:
        snapshots.delete(self.host, self.uuid, name, mode)
        return {
            DeleteMode.ONE: f"Deleted snapshot '{name}'.",
            DeleteMode.CHILDREN: f"Deleted snapshot '{name}' and its children.",
            DeleteMode.METADATA: f"libvirt forgot snapshot '{name}'; its data stays.",
        }[mode]

    def _progress(self, text: str, _done: int, _total: int | None) -> None:
        """From the backend's progress thread."""
        self.post_message(SnapshotProgress(text))

    def on_job_changed(self, message: messages.JobChanged) -> None:
        view = message.view
        if view.id != self.job_id:
            return
        if not view.finished:
            self.query_one("#snapshot-progress", Static).update(view.phase)
            return
        self.job_id = None
        self.busy = None
        self.query_one("#snapshot-progress", Static).update(view.outcome or "")
        self._load()  # the app shows the outcome as a notification

    def on_snapshot_progress(self, message: SnapshotProgress) -> None:
        if self.busy is not None:
            self.query_one("#snapshot-progress", Static).update(message.text)

    def on_snapshot_done(self, message: SnapshotDone) -> None:
        self.busy = None
        self.query_one("#snapshot-progress", Static).update(message.notice)
        if message.failed:
            self.notify(message.notice, severity="error", timeout=10)
        else:
            self.notify(message.notice)
        self._load()

    def on_work_failed(self) -> None:
        self.busy = None
        self.refresh_bindings()

    def action_create(self) -> None:
        tree = self.snapshot_tree
        if tree is None or self.disabled_reason("create"):
            return

        def chosen(request: SnapshotRequest | None) -> None:
            if request is None or tree is None:
                return
            self._start(f"taking snapshot {request.name or '(named by libvirt)'}")
            if self.jobs is not None and snapshots.with_memory(tree, request):
                view = snapshots.start_create(self.jobs, self.host, self.uuid, request)
                self.job_id = view.id
                self.notify(f"Started: {view.title}. J shows the jobs.")
            else:
                self._act(lambda: self._create(request))

        self.app.push_screen(SnapshotFormScreen(tree), chosen)

    def action_revert(self) -> None:
        snap = self.selected
        if snap is None or self.snapshot_tree is None or self.disabled_reason("revert"):
            return

        def chosen(after: RevertTo | None) -> None:
            if after is not None:
                self._start(f"reverting to {snap.name}")
                self._act(lambda: self._revert(snap.name, after))

        self.app.push_screen(RevertScreen(self.snapshot_tree, snap), chosen)

    def action_delete(self) -> None:
        snap = self.selected
        if snap is None or self.disabled_reason("delete"):
            return

        def chosen(mode: DeleteMode | None) -> None:
            if mode is not None:
                self._start(f"deleting {snap.name}")
                self._act(lambda: self._delete(snap.name, mode))

        self.app.push_screen(DeleteScreen(self.guest_name, snap), chosen)

    def action_back(self) -> None:
        self.dismiss(None)

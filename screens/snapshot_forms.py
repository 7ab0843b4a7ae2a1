"""The snapshot screen's questions: the new-snapshot form, revert (running or paused
afterwards) and delete (one, with its children, or metadata only)."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar, Generic, TypeVar, cast

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, RadioButton, RadioSet, Static

from kvmtui.backend.errors import KvmtuiError
from kvmtui.backend.snapshots import (
    DeleteMode,
    Kind,
    RevertTo,
    Snapshot,
    SnapshotRequest,
    SnapshotTree,
    validate_name,
)

C = TypeVar("C", bound=StrEnum)


class SnapshotFormScreen(ModalScreen[SnapshotRequest | None]):
    """Name, description, kind; memory and quiesce where offered, the rest with why not."""

    CSS_PATH = "snapshots.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "Take snapshot"),
    ]

    def __init__(self, tree: SnapshotTree) -> None:
        super().__init__()
        self.snapshot_tree = tree

    def compose(self) -> ComposeResult:
        offer = self.snapshot_tree.offer
        with Vertical(classes="dialog"):
            tree = self.snapshot_tree
            yield Static(f"New snapshot of '{tree.guest}' on {tree.host}", classes="question")
            with Grid(id="snapshot-grid"):
                yield Label("name")
                yield Input(placeholder="(libvirt picks one)", id="snapshot-name", compact=True)
                yield Label("description")
                yield Input(id="snapshot-description", compact=True)
                yield Label("kind")
                with RadioSet(id="snapshot-kind", compact=True):
                    yield RadioButton(
                        "internal (inside the qcow2 images)",
                        value=offer.internal is None,
                        disabled=offer.internal is not None,
                        id="kind-internal",
                    )
                    yield RadioButton(
                        "external, disk-only (overlay files)",
                        value=offer.internal is not None,
                        disabled=offer.external is not None,
                        id="kind-external",
                    )
                yield Label("memory")
                yield Checkbox(
                    "with memory (the guest runs on after a revert)",
                    value=offer.memory is None,
                    disabled=True,  # internal of a running guest: always; else: never
                    id="snapshot-memory",
                    compact=True,
                )
                yield Label("quiesce")
                yield Checkbox(
                    "freeze filesystems through the guest agent",
                    value=False,
                    disabled=True,
                    id="snapshot-quiesce",
                    compact=True,
                )
            yield Static(
                "\n".join(offer.not_offered(revert=False)), id="snapshot-reasons"
            )
            yield Static("enter or ctrl+s: take it · esc: cancel", classes="hint")
            yield Static("", id="snapshot-error")

    def on_mount(self) -> None:
        self.query_one("#snapshot-name", Input).focus()
        self._kind_changed()

    @property
    def kind(self) -> Kind:
        external = self.query_one("#kind-external", RadioButton).value
        return Kind.EXTERNAL if external else Kind.INTERNAL

    @property
    def error_text(self) -> str:
        return str(self.query_one("#snapshot-error", Static).render())

    @on(RadioSet.Changed)
    def _kind_changed(self) -> None:
        offer = self.snapshot_tree.offer
        quiesce = self.query_one("#snapshot-quiesce", Checkbox)
        quiesce.disabled = self.kind is not Kind.EXTERNAL or offer.quiesce is not None
        if quiesce.disabled:
            quiesce.value = False
        self.query_one("#snapshot-memory", Checkbox).value = (
            self.kind is Kind.INTERNAL and offer.memory is None
        )

    @on(Input.Submitted)
    def action_submit(self) -> None:
        try:
            name = validate_name(self.query_one("#snapshot-name", Input).value,
                                 self.snapshot_tree.snapshots)  # fmt: skip
        except KvmtuiError as exc:
            self.query_one("#snapshot-error", Static).update(f"{exc} Nothing was changed.")
            return
        description = self.query_one("#snapshot-description", Input).value
        quiesce = self.query_one("#snapshot-quiesce", Checkbox).value
        self.dismiss(SnapshotRequest(name, description, self.kind, quiesce))

    def action_cancel(self) -> None:
        self.dismiss(None)


class _ChoiceScreen(ModalScreen[C | None], Generic[C]):
    """A question whose buttons' ids are the answers (values of ``CHOICES``); the
    cancel button has the focus, so enter right after the key cancels."""

    CSS_PATH = "snapshots.tcss"
    CHOICES: ClassVar[type[StrEnum]]

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def action_answer(self, choice: str | None) -> None:
        self.dismiss(cast("C", self.CHOICES(choice)) if choice else None)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.action_answer(event.button.id if event.button.id != "cancel" else None)


class RevertScreen(_ChoiceScreen[RevertTo]):
    """Asks before a revert, and whether the guest runs or waits paused afterwards."""

    CHOICES = RevertTo
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "answer('running')", "Revert, running"),
        Binding("p", "answer('paused')", "Revert, paused"),
        Binding("n", "answer(None)", "Cancel"),
        Binding("escape", "answer(None)", "Cancel"),
    ]

    def __init__(self, tree: SnapshotTree, snapshot: Snapshot) -> None:
        super().__init__()
        self.snapshot_tree = tree
        self.snapshot = snapshot

    def question(self) -> str:
        """Asks, and warns what no snapshot holds: the guest's state since the current
        snapshot (its memory too when it runs), or all of it when there is none."""
        tree = self.snapshot_tree
        memory = "its memory and " if tree.running else ""
        current = next((s for s in tree.snapshots if s.current), None)
        lost = (
            f"{memory}every change to its disks since snapshot '{current.name}'"
            if current
            else f"{memory}its disks as they are now, which no snapshot holds"
        )
        return (
            f"Revert '{tree.guest}' on {tree.host} to snapshot '{self.snapshot.name}'? "
            f"Unsaved state is lost: {lost}. To keep it, cancel and take a snapshot "
            "first (n)."
        )

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question(), classes="question")
            with Horizontal(classes="buttons"):
                yield Button("Revert, running (r)", variant="error", id="running")
                yield Button("Revert, paused (p)", variant="warning", id="paused")
                yield Button("Cancel (n)", id="cancel")




class DeleteScreen(_ChoiceScreen[DeleteMode]):
    """Asks before a delete: this snapshot, with its children, or its metadata only."""

    CHOICES = DeleteMode
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("d", "answer('one')", "Delete"),
        Binding("c", "answer('children')", "With children"),
        Binding("m", "answer('metadata')", "Metadata only"),
        Binding("n", "answer(None)", "Cancel"),
        Binding("escape", "answer(None)", "Cancel"),
    ]

    def __init__(self, guest: str, snapshot: Snapshot) -> None:
        super().__init__()
        self.guest = guest
        self.snapshot = snapshot

    def compose(self) -> ComposeResult:
        snap = self.snapshot
        below = (
            f" It has {snap.children} child snapshot{'s' if snap.children > 1 else ''}: "
            "alone, they move to its parent; with children, they go too."
            if snap.children
            else ""
        )
        with Vertical(classes="dialog"):
            yield Static(
                f"Delete snapshot '{snap.name}' of '{self.guest}'?{below} Metadata only: "
                "libvirt forgets it and its data stays in the images.",
                classes="question",
            )
            with Horizontal(classes="buttons"):
                yield Button("Delete (d)", variant="error", id="one")
                if snap.children:
                    yield Button("With children (c)", variant="error", id="children")
                yield Button("Metadata only (m)", variant="warning", id="metadata")
                yield Button("Cancel (n)", id="cancel")


    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "answer" and parameters == ("children",) and not self.snapshot.children:
            return None
        return True


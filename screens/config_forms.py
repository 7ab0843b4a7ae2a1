"""The configuration editor's questions: one value, a disk to attach, a NIC to attach,
and the preview of the pending changes (old beside new, where each goes).

Each question is given a ``refusal`` (screens/refusal.py): the editor's plan of the
pending changes with this one, so a refused answer is said in the question, which stays
open with what was typed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, TypeVar

from rich.table import Table
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Label, RadioButton, RadioSet, Static

from kvmtui.backend.config_changes import AttachDisk, AttachNic, SourceKind
from kvmtui.backend.config_edit import Step
from kvmtui.backend.config_state import GuestConfig
from kvmtui.backend.domain.build import NIC_KINDS
from kvmtui.screens.refusal import Refusal, error_line, refused
from kvmtui.tui.format import literal
from kvmtui.tui.widgets.footer import Footer

C = TypeVar("C")


class ValueScreen(ModalScreen[str | None]):
    """One value typed; ``enter`` gives it, ``escape`` None."""

    CSS_PATH = "config_editor.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self,
        question: str,
        value: str = "",
        hint: str = "",
        *,
        refusal: Refusal[str] | None = None,
    ) -> None:
        super().__init__()
        self.question = question
        self.value = value
        self.hint = hint
        self.refusal = refusal

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(literal(self.question), classes="question")
            yield Input(value=self.value, id="config-value", compact=True)
            yield error_line()
            yield Static(literal(self.hint), classes="hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        if not refused(self, self.refusal, event.value):
            self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


def _pressed(radios: RadioSet) -> str:
    button = radios.pressed_button
    return str(button.id or "").split("-", 1)[-1] if button is not None else ""


class _AttachForm(ModalScreen[C | None]):
    """A form that gives one change to add (``ctrl+s`` or ``enter``) or None."""

    CSS_PATH = "config_editor.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "Add to the changes"),
    ]

    def __init__(self, config: GuestConfig, *, refusal: Refusal[C] | None = None) -> None:
        super().__init__()
        self.config = config
        self.refusal = refusal

    def action_submit(self) -> None:
        raise NotImplementedError

    def offer(self, change: C) -> None:
        """Give ``change`` to the editor, unless it is refused: then say why and stay."""
        if not refused(self, self.refusal, change):
            self.dismiss(change)

    @on(Input.Submitted)
    def _enter(self) -> None:
        self.action_submit()

    def action_cancel(self) -> None:
        self.dismiss(None)


class AttachDiskScreen(_AttachForm[AttachDisk]):
    """Where the new disk comes from (a new thin volume, an existing one, a host path),
    its bus (virtio unless chosen) and whether it is read-only."""

    def compose(self) -> ComposeResult:
        pools = ", ".join(self.config.pools) or "none running"
        with Vertical(classes="dialog"):
            yield Static(literal(f"Attach a disk to '{self.config.name}'"), classes="question")
            with Grid(classes="config-grid"):
                yield Label("source")
                with RadioSet(id="disk-kind", compact=True):
                    yield RadioButton("new thin volume", value=True, id="kind-new")
                    yield RadioButton("existing volume", id="kind-volume")
                    yield RadioButton("host path", id="kind-path")
                yield Label("pool")
                yield Input(
                    value=self.config.pools[0] if self.config.pools else "",
                    placeholder=pools,
                    id="disk-pool",
                    compact=True,
                )
                yield Label("volume/path")
                yield Input(
                    placeholder="data.qcow2 or /srv/disk.img", id="disk-source", compact=True
                )
                yield Label("size (new)")
                yield Input(value="1G", id="disk-size", compact=True)
                yield Label("bus")
                yield Input(value="virtio", id="disk-bus", compact=True)
                yield Label("")
                yield Checkbox("read-only", id="disk-readonly", compact=True)
            yield error_line()
            yield Static(literal(f"Pools running: {pools}. ctrl+s adds it."), classes="hint")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#disk-source", Input).focus()

    def _value(self, wanted: str) -> str:
        return self.query_one(f"#disk-{wanted}", Input).value.strip()

    def action_submit(self) -> None:
        kind = SourceKind(_pressed(self.query_one("#disk-kind", RadioSet)) or "new")
        self.offer(
            AttachDisk(
                kind,
                self._value("source"),
                pool=self._value("pool") or None,
                size=self._value("size") or "1G",
                bus=self._value("bus") or "virtio",
                readonly=self.query_one("#disk-readonly", Checkbox).value,
            )
        )


class AttachNicScreen(_AttachForm[AttachNic]):
    """A NIC on a libvirt network, a bridge or a host device; model; MAC (blank: new)."""

    def compose(self) -> ComposeResult:
        networks = ", ".join(self.config.networks) or "none defined"
        with Vertical(classes="dialog"):
            yield Static(literal(f"Attach a NIC to '{self.config.name}'"), classes="question")
            with Grid(classes="config-grid"):
                yield Label("kind")
                with RadioSet(id="nic-kind", compact=True):
                    for number, kind in enumerate(NIC_KINDS):
                        yield RadioButton(kind, value=number == 0, id=f"kind-{kind}")
                yield Label("source")
                yield Input(
                    placeholder="network, bridge or host device", id="nic-source", compact=True
                )
                yield Label("model")
                yield Input(value="virtio", id="nic-model", compact=True)
                yield Label("MAC")
                yield Input(placeholder="(a new one)", id="nic-mac", compact=True)
            yield error_line()
            yield Static(literal(f"Networks: {networks}. ctrl+s adds it."), classes="hint")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#nic-source", Input).focus()

    def action_submit(self) -> None:
        def value(wanted: str) -> str:
            return self.query_one(f"#nic-{wanted}", Input).value.strip()

        self.offer(
            AttachNic(
                _pressed(self.query_one("#nic-kind", RadioSet)) or "network",
                value("source"),
                model=value("model") or "virtio",
                mac=value("mac") or None,
            )
        )


@dataclass(frozen=True, slots=True)
class PreviewRow:
    """One pending change as the preview lists it."""

    change: str
    now: str
    after: str
    goes_to: str


def preview_rows(config: GuestConfig, steps: tuple[Step, ...]) -> tuple[PreviewRow, ...]:
    """One row per change (a change applied on both sides is one step per side)."""
    rows: list[PreviewRow] = []
    seen: list[object] = []
    for step in steps:
        if step.change in seen:
            continue
        seen.append(step.change)
        sides = [s.side.value for s in steps if s.change is step.change]
        old, new = step.change.old_new(config)
        rows.append(PreviewRow(step.change.label, old, new, ", ".join(sides)))
    return tuple(rows)


class ChangesTable(Widget):
    """The changes, old beside new, at any width: the Now and After texts wrap (a word
    longer than the column folds) so every character of what will change is on screen;
    the short Change and Goes to columns stay on one line. Rows are striped so that a
    wrapped row reads as one."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"changes-table--odd-row"}
    DEFAULT_CSS = """
    ChangesTable { height: auto; }
    ChangesTable > .changes-table--odd-row { background: $surface-lighten-1; }
    """

    def __init__(self, rows: tuple[PreviewRow, ...], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows = rows

    def render(self) -> Table:
        odd = self.get_component_rich_style("changes-table--odd-row", partial=True)
        table = Table(
            box=None, padding=(0, 1), pad_edge=False, show_edge=False, header_style="bold",
            row_styles=["", odd], expand=True,
        )  # fmt: skip
        table.add_column("Change", no_wrap=True)
        table.add_column("Now", overflow="fold", ratio=1)
        table.add_column("After", overflow="fold", ratio=1)
        table.add_column("Goes to", no_wrap=True)
        for row in self.rows:
            table.add_row(literal(row.change), literal(row.now), literal(row.after),
                          literal(row.goes_to))  # fmt: skip
        return table


class PreviewScreen(ModalScreen[bool]):
    """The pending changes, old beside new and where each goes; ``y`` applies them. The
    texts wrap to the dialog's width; a long list scrolls (up, down, page keys)."""

    CSS_PATH = "config_editor.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Apply"),
        Binding("n", "answer(False)", "Back"),
        Binding("escape", "answer(False)", "Back", show=False),
    ]

    def __init__(self, config: GuestConfig, steps: tuple[Step, ...]) -> None:
        super().__init__()
        self.config = config
        self.steps = steps
        self.rows = preview_rows(config, steps)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog preview"):
            yield Static(
                literal(
                    f"Apply to '{self.config.name}' on {self.config.host}? "
                    "If one step fails, those before it are undone."
                ),
                classes="question",
            )
            with VerticalScroll(id="config-preview"):
                yield ChangesTable(self.rows)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#config-preview", VerticalScroll).focus()

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

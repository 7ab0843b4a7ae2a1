"""The upload and download forms of the storage screen: a local path (and for an upload
the volume's name, the file's name unless typed). Checked as submitted; the job checks
everything again, with the host, before a byte is sent."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, TypeVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from kvmtui.backend.errors import KvmtuiError
from kvmtui.backend.storage import Pool, Volume, validate_name
from kvmtui.backend.transfer import local_target
from kvmtui.tui.widgets.storage_tables import size_text


@dataclass(frozen=True, slots=True)
class UploadRequest:
    path: str
    name: str


T = TypeVar("T")


class _TransferForm(ModalScreen[T | None]):
    """What both forms share: a grid of fields, a hint, a refusal line."""

    CSS_PATH = "storage.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def refuse(self, sentence: str) -> None:
        self.query_one("#transfer-error", Static).update(f"{sentence} Nothing was started.")

    @property
    def error_text(self) -> str:
        return str(self.query_one("#transfer-error", Static).render())

    def footer_lines(self) -> ComposeResult:
        yield Static("enter: start the job · esc: cancel", classes="hint")
        yield Static("", id="transfer-error")

    def action_cancel(self) -> None:
        self.dismiss(None)


class UploadFormScreen(_TransferForm[UploadRequest]):
    """``UploadFormScreen(pool)``: dismisses with an :class:`UploadRequest` or None."""

    def __init__(self, pool: Pool) -> None:
        super().__init__()
        self.pool = pool
        self._name_typed = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(
                f"Upload a local file into pool '{self.pool.name}' on {self.pool.host} "
                f"({size_text(self.pool.available_bytes)} available)",
                classes="question",
            )
            with Grid(classes="transfer-grid"):
                yield Label("local file")
                yield Input(placeholder="/path/to/disk.qcow2", id="upload-path", compact=True)
                yield Label("volume name")
                yield Input(placeholder="the file's name", id="upload-name", compact=True)
            yield Static("qcow2 or raw is read from the file's header.", classes="hint")
            yield from self.footer_lines()

    def on_mount(self) -> None:
        self.query_one("#upload-path", Input).focus()

    @on(Input.Changed, "#upload-path")
    def _path_changed(self, event: Input.Changed) -> None:
        if not self._name_typed:
            name = self.query_one("#upload-name", Input)
            with name.prevent(Input.Changed):
                name.value = Path(event.value.strip()).name

    @on(Input.Changed, "#upload-name")
    def _name_changed(self) -> None:
        self._name_typed = True

    @on(Input.Submitted)
    def _submitted(self) -> None:
        path = os.path.expanduser(self.query_one("#upload-path", Input).value.strip())
        if not path:
            self.refuse("Type the path of the file to upload.")
            return
        if not os.path.isfile(path):
            self.refuse(f"{path} is not a file here.")
            return
        typed = self.query_one("#upload-name", Input).value.strip() or Path(path).name
        try:
            name = validate_name(typed, self.pool)
        except KvmtuiError as exc:
            self.refuse(str(exc))
            return
        self.dismiss(UploadRequest(path, name))


class DownloadFormScreen(_TransferForm[str]):
    """``DownloadFormScreen(pool, volume)``: dismisses with the local path or None."""

    def __init__(self, pool: Pool, volume: Volume) -> None:
        super().__init__()
        self.pool = pool
        self.volume = volume

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(
                f"Download volume '{self.volume.name}' of pool '{self.pool.name}' on "
                f"{self.pool.host} ({size_text(self.volume.allocation_bytes)} on disk)",
                classes="question",
            )
            with Grid(classes="transfer-grid"):
                yield Label("local file")
                yield Input(value=self.volume.name, id="download-path", compact=True)
            yield Static(
                "A folder keeps the volume's name; an existing file is never overwritten.",
                classes="hint",
            )
            yield from self.footer_lines()

    def on_mount(self) -> None:
        self.query_one("#download-path", Input).focus()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        typed = self.query_one("#download-path", Input).value.strip()
        if not typed:
            self.refuse("Type where to save the volume.")
            return
        path = local_target(typed, self.volume.name)
        if path.exists():
            self.refuse(f"{path} exists; kvmtui does not overwrite files.")
            return
        self.dismiss(str(path.absolute()))

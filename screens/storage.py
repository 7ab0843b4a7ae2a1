"""Storage pools and volumes of every host, with thin provisioning in plain view.

Pools on top (what each has, what its volumes promise), the chosen pool's volumes
below (what each holds on disk, which guest uses it). Every libvirt call runs in a
thread worker that posts a message; actions reload the host's pools afterwards.
Uploads and downloads are jobs: they start at once, run on their own threads (this
screen may close meanwhile) and show on the jobs screen (J); the pools reload when one
of this screen's hosts finishes one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Static

from kvmtui.backend import storage, transfer
from kvmtui.backend.errors import KvmtuiError
from kvmtui.backend.host import Host
from kvmtui.backend.jobs import JobRegistry
from kvmtui.backend.storage import Pool, Volume
from kvmtui.screens.confirm import ConfirmScreen, TypeToConfirmScreen
from kvmtui.screens.storage_transfer import DownloadFormScreen, UploadFormScreen, UploadRequest
from kvmtui.screens.storage_volume import VolumeFormScreen, VolumeRequest
from kvmtui.tui import messages
from kvmtui.tui.widgets.footer import Footer
from kvmtui.tui.widgets.storage_tables import PoolTable, VolumeTable, size_text, thin_text
from kvmtui.tui.workers import work

READ_ONLY = "read-only connection"
_POOL_ACTIONS = {"refresh_pool", "start_pool", "stop_pool", "create_volume", "upload_volume"}
_VOLUME_ACTIONS = {"grow_volume", "delete_volume", "download_volume"}
_JOB_ACTIONS = {"upload_volume", "download_volume"}


@dataclass
class PoolsLoaded(Message, bubble=False):
    """Every pool of one host, or why they could not be read."""

    host: str
    pools: tuple[Pool, ...]
    error: str | None = None


@dataclass
class StorageDone(Message, bubble=False):
    """An action finished: a sentence for the admin, and whether it failed."""

    host: str
    notice: str
    failed: bool = False


class StorageScreen(Screen[None]):
    """``StorageScreen(hosts)``: pools and volumes of every host."""

    CSS_PATH = "storage.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("q", "back", "Back", show=False),
        Binding("r", "refresh_pool", "Refresh pool", tooltip="Re-scan the pool's target."),
        Binding("c", "create_volume", "New volume", tooltip="Create a volume (sparse)."),
        Binding("g", "grow_volume", "Grow", tooltip="Grow the volume (never shrinks)."),
        Binding("d", "delete_volume", "Delete", tooltip="Delete the volume (type its name)."),
        Binding("u", "upload_volume", "Upload", tooltip="Upload a local file as a new volume."),
        Binding("o", "download_volume", "Download", tooltip="Save the volume to a local file."),
        Binding("J", "app.jobs_screen", "Jobs", tooltip="Running and recent uploads, downloads."),
        Binding("s", "start_pool", "Start pool", show=False),
        Binding("S", "stop_pool", "Stop pool", show=False),
        Binding("f5", "reload", "Reload", show=False),
    ]

    def __init__(self, hosts: Sequence[Host], jobs: JobRegistry | None = None) -> None:
        super().__init__()
        self.hosts = {host.label: host for host in hosts}
        self.jobs = jobs
        self.pools: dict[str, tuple[Pool, ...]] = {}
        self.errors: dict[str, str | None] = {}
        self.loads = 0

    def compose(self) -> ComposeResult:
        yield Static("Storage pools", classes="storage-heading")
        yield PoolTable(show_host=len(self.hosts) > 1, id="pools")
        yield Static("", id="thin")
        yield VolumeTable(id="volumes")
        yield Static("", id="storage-status")
        yield Footer()

    @property
    def pool_table(self) -> PoolTable:
        return self.query_one("#pools", PoolTable)

    @property
    def volume_table(self) -> VolumeTable:
        return self.query_one("#volumes", VolumeTable)

    @property
    def selected_pool(self) -> Pool | None:
        return self.pool_table.selected_pool

    @property
    def selected_volume(self) -> Volume | None:
        return self.volume_table.selected_volume

    def on_mount(self) -> None:
        self.pool_table.focus()
        for label in self.hosts:
            self._load(label)

    # -- loading ---------------------------------------------------------------------

    @work(doing="reading storage pools", group="storage-load")
    def _load(self, label: str) -> None:
        host = self.hosts[label]
        try:
            pools = storage.list_pools(host)
        except KvmtuiError as exc:
            self.post_message(PoolsLoaded(label, (), str(exc)))
            return
        self.post_message(PoolsLoaded(label, pools))

    def on_pools_loaded(self, message: PoolsLoaded) -> None:
        self.pools[message.host] = message.pools
        self.errors[message.host] = message.error
        self.loads += 1
        with self.app.batch_update():
            self.pool_table.show(p for pools in self.pools.values() for p in pools)
            self._show_pool()

    @on(DataTable.RowHighlighted, "#pools")
    def _pool_moved(self) -> None:
        self._show_pool()

    @on(DataTable.RowHighlighted, "#volumes")
    def _volume_moved(self) -> None:
        self._show_status()
        self.refresh_bindings()

    def _show_pool(self) -> None:
        pool = self.selected_pool
        self.query_one("#thin", Static).update(thin_text(pool))
        self.volume_table.show(pool.volumes if pool else ())
        self._show_status()
        self.refresh_bindings()

    def _show_status(self) -> None:
        lines = [f"{label}: {error}" for label, error in self.errors.items() if error]
        pool = self.selected_pool
        if pool is not None:
            reason = self.disabled_reason("create_volume")
            if reason:
                lines.append(f"Changes disabled: {reason}.")
            volume = self.selected_volume
            if volume is not None and volume.users:
                lines.append(f"{volume.name} is used by {volume.used_by}: delete is refused.")
        self.query_one("#storage-status", Static).update("\n".join(lines))

    def action_reload(self) -> None:
        for label in self.hosts:
            self._load(label)

    def on_job_changed(self, message: messages.JobChanged) -> None:
        view = message.view
        if view.finished and view.host in self.hosts:
            self._load(view.host)  # an uploaded volume appears, a downloaded one is unchanged

    # -- which actions are allowed -----------------------------------------------------

    def disabled_reason(self, action: str) -> str | None:
        pool = self.selected_pool
        if pool is None:
            return "no pool selected"
        host = self.hosts[pool.host]
        if host.readonly:
            return READ_ONLY
        if not host.connected:
            return "host not connected"
        if action == "start_pool" and pool.active:
            return "the pool is running"
        if action in _JOB_ACTIONS and self.jobs is None:
            return "jobs are off in this session"
        if action in ("stop_pool", "refresh_pool", "create_volume", "upload_volume") and not (
            pool.active
        ):
            return "the pool is not running"
        if action in _VOLUME_ACTIONS:
            volume = self.selected_volume
            if volume is None:
                return "no volume selected"
            if action == "delete_volume" and volume.users:
                return f"used by {volume.used_by}"
            if action == "grow_volume" and any(u.running for u in volume.users):
                return "a running guest uses it"
        return None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in _POOL_ACTIONS or action in _VOLUME_ACTIONS:
            return True if self.disabled_reason(action) is None else None
        return True

    # -- actions ---------------------------------------------------------------------

    def _run(self, pool: Pool, what: Callable[[Host], str]) -> None:
        self._act(pool.host, what)

    @work(doing="changing storage", group="storage-act")
    def _act(self, label: str, what: Callable[[Host], str]) -> None:
        try:
            notice = what(self.hosts[label])
        except KvmtuiError as exc:
            self.post_message(StorageDone(label, str(exc), failed=True))
        else:
            self.post_message(StorageDone(label, notice))
        self._load(label)

    def on_storage_done(self, message: StorageDone) -> None:
        if message.failed:
            self.notify(message.notice, severity="error", timeout=10)
        else:
            self.notify(message.notice)

    def action_refresh_pool(self) -> None:
        pool = self.selected_pool
        if pool is None:
            return

        def refresh(host: Host) -> str:
            after = storage.refresh_pool(host, pool.name)
            return f"Refreshed pool '{pool.name}' on {host.label}: {len(after.volumes)} volumes."

        self._run(pool, refresh)

    def action_start_pool(self) -> None:
        pool = self.selected_pool
        if pool is None:
            return

        def start(host: Host) -> str:
            storage.start_pool(host, pool.name)
            return f"Started pool '{pool.name}' on {host.label}."

        self._run(pool, start)

    def action_stop_pool(self) -> None:
        pool = self.selected_pool
        if pool is None:
            return

        def stop(host: Host) -> str:
            storage.stop_pool(host, pool.name)
            return f"Stopped pool '{pool.name}' on {host.label}."

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._run(pool, stop)

        question = (
            f"Stop pool '{pool.name}' on {pool.host}? Its volumes stay on disk, but guests "
            "that use them cannot start until the pool runs again."
        )
        self.app.push_screen(ConfirmScreen(question, yes_label="Stop pool"), confirmed)

    def action_create_volume(self) -> None:
        pool = self.selected_pool
        if pool is None:
            return

        def chosen(request: VolumeRequest | None) -> None:
            if request is None:
                return

            def create(host: Host) -> str:
                made = storage.create_volume(
                    host, pool.name, request.name, request.capacity, request.format,
                    sparse=request.sparse,
                )  # fmt: skip
                return (
                    f"Created {made.format} volume '{made.name}' in '{pool.name}': "
                    f"{size_text(made.capacity_bytes)}, {size_text(made.allocation_bytes)} "
                    "on disk."
                )

            self._run(pool, create)

        self.app.push_screen(VolumeFormScreen(pool), chosen)

    def action_grow_volume(self) -> None:
        pool, volume = self.selected_pool, self.selected_volume
        if pool is None or volume is None:
            return

        def chosen(request: VolumeRequest | None) -> None:
            if request is None:
                return

            def grow(host: Host) -> str:
                after = storage.resize_volume(host, pool.name, volume.name, request.capacity)
                return (
                    f"Grew '{volume.name}' from {size_text(volume.capacity_bytes)} "
                    f"to {size_text(after.capacity_bytes)}."
                )

            self._run(pool, grow)

        self.app.push_screen(VolumeFormScreen(pool, volume), chosen)

    def action_delete_volume(self) -> None:
        pool, volume = self.selected_pool, self.selected_volume
        if pool is None or volume is None:
            return

        def delete(host: Host) -> str:
            storage.delete_volume(host, pool.name, volume.name)
            return f"Deleted volume '{volume.name}' from pool '{pool.name}' on {host.label}."

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._run(pool, delete)

        question = (
            f"Delete volume '{volume.name}' ({size_text(volume.capacity_bytes)}) from pool "
            f"'{pool.name}' on {pool.host}? Its data is lost. Type '{volume.name}' to confirm."
        )
        self.app.push_screen(TypeToConfirmScreen(volume.name, question), confirmed)

    def action_upload_volume(self) -> None:
        pool, jobs = self.selected_pool, self.jobs
        if pool is None or jobs is None:
            return
        host = self.hosts[pool.host]

        def chosen(request: UploadRequest | None) -> None:
            if request is not None:
                view = transfer.start_upload(jobs, host, pool.name, request.path, request.name)
                self.notify(f"Started: {view.title}. J shows the jobs.")

        self.app.push_screen(UploadFormScreen(pool), chosen)

    def action_download_volume(self) -> None:
        pool, volume, jobs = self.selected_pool, self.selected_volume, self.jobs
        if pool is None or volume is None or jobs is None:
            return
        host = self.hosts[pool.host]

        def chosen(path: str | None) -> None:
            if path is not None:
                view = transfer.start_download(jobs, host, pool.name, volume.name, path)
                self.notify(f"Started: {view.title}. J shows the jobs.")

        self.app.push_screen(DownloadFormScreen(pool, volume), chosen)

    def action_back(self) -> None:
        self.dismiss(None)

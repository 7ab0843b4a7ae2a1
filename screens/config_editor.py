"""The configuration editor (``e`` on a guest): its settings by section, running beside
saved; changes gathered, previewed old beside new, applied as one transaction and read
back. The backend is :mod:`kvmtui.backend.config_edit`; every libvirt call runs in a
thread worker whose result comes back as a message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Static
from textual.widgets.data_table import CellDoesNotExist

from kvmtui.backend import storage
from kvmtui.backend.config_changes import (
    CDROM_BUSES,
    AddCdrom,
    AddDimm,
    AttachDisk,
    AttachNic,
    Change,
    ChangeMedia,
    DetachDisk,
    DetachNic,
    RemoveCdrom,
    Rename,
    SetAutostart,
    SetBoot,
    SetCpuMode,
    SetDiskOptions,
    SetLink,
    SetMemory,
    SetText,
    SetVcpus,
    kib_text,
)
from kvmtui.backend.config_edit import (
    ConfigRefused,
    Outcome,
    apply_changes,
    named_changes,
    plan_changes,
)
from kvmtui.backend.config_state import CACHE_MODES, GuestConfig, read_config
from kvmtui.backend.domain.build import new_mac
from kvmtui.backend.errors import KvmtuiError
from kvmtui.backend.host import Host
from kvmtui.backend.throttle import Scope
from kvmtui.screens.config_forms import (
    AttachDiskScreen,
    AttachNicScreen,
    PreviewScreen,
    ValueScreen,
)
from kvmtui.screens.confirm import ConfirmScreen
from kvmtui.tui import messages
from kvmtui.tui.format import literal, printable_lines
from kvmtui.tui.widgets.footer import Footer
from kvmtui.tui.workers import work

_SCOPES = (Scope.BOTH, Scope.LIVE, Scope.CONFIG)
_CHANGING = frozenset(
    {"change", "attach_disk", "attach_nic", "add_cdrom", "detach", "eject", "link"}
)


@dataclass
class ConfigLoaded(Message, bubble=False):
    config: GuestConfig | None
    error: str | None = None


@dataclass
class ConfigApplied(Message, bubble=False):
    outcome: Outcome | None
    error: str | None = None


def _word(state: bool | None) -> str:
    return "" if state is None else ("up" if state else "down")


def rows_of(config: GuestConfig) -> list[tuple[str, str, str, str]]:
    """(key, setting, running, saved) per row; a key starting '#' is a section title."""
    running = config.active

    def live(text: str) -> str:
        return text if running else ""

    rows = [
        ("#cpu", "CPU and memory", "", ""),
        (
            "vcpus",
            "vCPUs (now of max)",
            live(f"{config.vcpus_live} of {config.vcpus_max_live}"),
            f"{config.vcpus_saved} of {config.vcpus_max}",
        ),
        (
            "memory",
            "memory",
            live(f"{kib_text(config.memory_live_kib)} of {kib_text(config.memory_max_live_kib)}"),
            f"{kib_text(config.memory_saved_kib)} of {kib_text(config.memory_max_kib)}",
        ),
        ("cpu", "CPU mode", "", config.cpu_text),
        ("#boot", "Boot", "", ""),
        ("boot", "boot order", "", config.boot_text),
        ("bootmenu", "boot menu", "", "on" if config.boot_menu else "off"),
        ("firmware", "firmware (shown)", "", config.firmware or "bios"),
        ("#disks", "Disks and CD-ROMs", "", ""),
    ]
    for disk in config.disks:
        kind = "CD-ROM" if disk.cdrom else (disk.bus or "?")
        rows.append(
            (
                f"disk:{disk.target}",
                f"{disk.target} {kind}",
                (disk.source or "(empty)") if disk.live else "",
                (disk.saved_source or "(empty)") if disk.saved else "",
            )
        )
        if not disk.cdrom and disk.saved:
            rows.append((f"opts:{disk.target}", f"{disk.target} options", "", disk.options_text))
    rows.append(("#nics", "NICs", "", ""))
    for nic in config.nics:
        where = ", ".join(p for p in (f"{nic.kind} {nic.source or ''}".strip(), nic.model) if p)
        rows.append(
            (
                f"nic:{nic.mac}",
                nic.mac,
                f"{where}, {_word(nic.link_live)}" if nic.live else "",
                f"{where}, {_word(nic.link_saved)}" if nic.saved else "",
            )
        )
    rows += [
        ("#identity", "Identity", "", ""),
        ("name", "name", "", config.name),
        ("title", "title", "", config.title or ""),
        ("description", "description", "", (config.description or "").replace("\n", " ")),
        ("autostart", "autostart", "", "on" if config.autostart else "off"),
    ]
    return rows


SETTING_WIDTH = 18


def fit(text: str, width: int) -> str:
    """``text`` in ``width`` cells; a longer one keeps its end (a path's file name)."""
    return text if len(text) <= width else "…" + text[-(width - 1) :]


def _memory_kib(text: str) -> int:
    return storage.parse_size(text if text.strip()[-1:].isalpha() else f"{text}M") // 1024


class ConfigEditorScreen(Screen[None]):
    """``ConfigEditorScreen(host, uuid, name)``: one guest's configuration."""

    CSS_PATH = "config_editor.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("enter", "change", "Change", tooltip="Change the selected setting."),
        Binding("a", "attach_disk", "Attach disk", tooltip="A new thin volume, a volume, a path."),
        Binding("n", "attach_nic", "Attach NIC", tooltip="On a network, a bridge or a device."),
        Binding("c", "add_cdrom", "Add CD-ROM", show=False, tooltip="A new drive (saved)."),
        Binding("d", "detach", "Detach", tooltip="Detach the selected disk or NIC (asks first)."),
        Binding("x", "eject", "Eject", show=False, tooltip="Empty the selected CD-ROM drive."),
        Binding("l", "link", "Link up/down", show=False, tooltip="The selected NIC's link."),
        Binding("ctrl+g", "cycle_scope", "Scope", tooltip="Running guest, saved, or both."),
        Binding("u", "drop", "Drop last", show=False, tooltip="Drop the last pending change."),
        Binding("ctrl+s", "apply", "Apply", tooltip="Preview the changes, then apply them."),
        Binding("f5", "reload", "Reload", show=False),
    ]

    def __init__(self, host: Host, uuid: str, name: str) -> None:
        super().__init__()
        self.host = host
        self.uuid = uuid
        self.guest_name = name
        self.config: GuestConfig | None = None
        self.pending: list[Change] = []
        self.scope = Scope.BOTH
        self.busy = False
        self.loads = 0

    def compose(self) -> ComposeResult:
        yield Static(
            literal(f"Configuration of '{self.guest_name}' on {self.host.label}"),
            classes="config-heading",
        )
        yield DataTable(id="config-table", cursor_type="row", zebra_stripes=False)
        yield Static("", id="config-pending")
        yield Static("", id="config-status")
        yield Footer()

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one("#config-table", DataTable)

    @property
    def value_width(self) -> int:
        """The Running and Saved columns share what the setting column leaves."""
        return max(12, (self.app.size.width - SETTING_WIDTH - 8) // 2)

    def on_mount(self) -> None:
        table, width = self.table, self.value_width
        table.add_column("Setting", width=SETTING_WIDTH)
        table.add_column("Running", width=width)
        table.add_column("Saved", width=width)
        self.table.focus()
        self._show_pending()
        self._load()

    # -- loading ---------------------------------------------------------------------

    @work(doing="reading a guest's configuration", group="config-load", exclusive=True)
    def _load(self) -> None:
        try:
            config = read_config(self.host, self.uuid)
        except KvmtuiError as exc:
            self.post_message(ConfigLoaded(None, str(exc)))
            return
        self.post_message(ConfigLoaded(config))

    def on_config_loaded(self, message: ConfigLoaded) -> None:
        self.loads += 1
        if message.config is None:
            self._status(message.error or "", error=True)
            return
        self._show(message.config)

    def _show(self, config: GuestConfig) -> None:
        self.config = config
        if not config.active:
            self.scope = Scope.CONFIG
        elif not config.persistent:
            self.scope = Scope.LIVE
        table = self.table
        keep = self.selected_key
        with self.app.batch_update():
            table.clear()
            for key, setting, running, saved in rows_of(config):
                if key.startswith("#"):
                    table.add_row(Text(setting, style="bold underline"), Text(), Text(), key=key)
                else:
                    table.add_row(
                        literal(fit(setting, SETTING_WIDTH)),
                        literal(fit(running, self.value_width)),
                        literal(fit(saved, self.value_width)),
                        key=key,
                    )
            keys = [row.key.value for row in table.ordered_rows]
            if keep in keys:
                table.move_cursor(row=keys.index(keep), animate=False)
            elif len(keys) > 1:
                table.move_cursor(row=1, animate=False)
        self._show_pending()
        self.refresh_bindings()

    def action_reload(self) -> None:
        self._load()

    def on_guest_updated(self, message: messages.GuestUpdated) -> None:
        """The guest started or stopped elsewhere: its sides changed, read it again."""
        guest, config = message.guest, self.config
        moved = config is not None and guest.active != config.active
        if guest.uuid == self.uuid and moved and not self.busy:
            self._load()

    @property
    def selected_key(self) -> str | None:
        table = self.table
        if table.row_count == 0:
            return None
        try:
            return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        except CellDoesNotExist:
            return None

    @on(DataTable.RowHighlighted)
    def _moved(self) -> None:
        self.refresh_bindings()

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        """The table takes enter before the screen's binding: the same action."""
        event.stop()
        self.action_change()

    # -- pending changes -------------------------------------------------------------

    def _show_pending(self) -> None:
        config = self.config
        if config is not None and not config.active:
            scope = "saved (the guest is shut off)"
        else:
            scope = f"{self.scope.value}: {self.scope.text}"
        lines = [f"Scope {scope}. Pending: {len(self.pending) or 'none'}"]
        if config is not None:
            for change in named_changes(config, self.pending):  # sdb, as the preview says
                old, new = change.old_new(config)
                lines.append(f"  {change.label}: {old} -> {new}")
        self.query_one("#config-pending", Static).update(Text(printable_lines("\n".join(lines))))

    def _status(self, text: str, *, error: bool = False) -> None:
        status = self.query_one("#config-status", Static)
        status.update(literal(text))
        status.set_class(error, "-error")

    def refusal(self, change: Change) -> str | None:
        """Why the backend's plan would not take ``change`` after the pending ones (one
        sentence), or None. The questions ask it before they close."""
        config = self.config
        if config is None:
            return "The configuration has not been read yet."
        try:
            plan_changes(config, [*self.pending, change], self.scope)
        except ConfigRefused as exc:
            return str(exc)
        return None

    def add(self, change: Change) -> None:
        """Add ``change`` to the pending ones if the backend's plan takes it; else say why
        (a question refused it already; this one catches a guest changed meanwhile)."""
        if self.config is None:
            return
        reason = self.refusal(change)
        if reason is not None:
            self._status(reason, error=True)
            self.notify(reason, severity="error", timeout=10)
            return
        self.pending.append(change)
        self._status("ctrl+s previews and applies the pending changes.")
        self._show_pending()
        self.refresh_bindings()

    def action_drop(self) -> None:
        if self.pending:
            self.pending.pop()
            self._show_pending()
            self.refresh_bindings()

    def action_cycle_scope(self) -> None:
        if self.config is None or not (self.config.active and self.config.persistent):
            return
        self.scope = _SCOPES[(_SCOPES.index(self.scope) + 1) % len(_SCOPES)]
        self._show_pending()

    # -- which keys work now ---------------------------------------------------------

    def disabled_reason(self, action: str) -> str | None:
        if self.config is None:
            return "the configuration is not read yet"
        if self.host.readonly and action in (*_CHANGING, "apply", "cycle_scope"):
            return "read-only connection"
        if self.busy and action in (*_CHANGING, "apply"):
            return "applying"
        key = self.selected_key or ""
        if action == "apply" and not self.pending:
            return "no pending changes"
        if action == "drop" and not self.pending:
            return "no pending changes"
        if action == "cycle_scope" and not (self.config.active and self.config.persistent):
            return "the guest has one side only"
        if action == "detach" and not key.startswith(("disk:", "nic:")):
            return "select a disk or NIC"
        if action == "eject" and not self._cdrom(key):
            return "select a CD-ROM drive"
        if action == "link" and not key.startswith("nic:"):
            return "select a NIC"
        if action == "change" and (key.startswith("#") or key == "firmware"):
            return "nothing to change on this row"
        return None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in (*_CHANGING, "apply", "drop", "cycle_scope"):
            return True if self.disabled_reason(action) is None else None
        return True

    def _cdrom(self, key: str) -> bool:
        config = self.config
        disk = (
            config.disk(key.removeprefix("disk:")) if config and key.startswith("disk:") else None
        )
        return disk is not None and disk.cdrom

    # -- changes ---------------------------------------------------------------------

    def _ask(
        self, question: str, value: str, make: Callable[[str], Change | None], hint: str = ""
    ) -> None:
        def refused(text: str) -> str | None:
            try:
                change = make(text.strip())
            except (ValueError, KvmtuiError) as exc:
                return f"{str(exc).rstrip('.')}. Nothing added."
            return self.refusal(change) if change is not None else None

        def answered(text: str | None) -> None:
            if text is None:
                return
            try:
                change = make(text.strip())
            except (ValueError, KvmtuiError) as exc:  # refused in the question already
                self._status(
                    f"{question.rstrip('?:')}: {str(exc).rstrip('.')}. Nothing added.", error=True
                )
                return
            if change is not None:
                self.add(change)

        self.app.push_screen(ValueScreen(question, value, hint, refusal=refused), answered)

    def action_change(self) -> None:
        config, key = self.config, self.selected_key or ""
        if config is None or self.disabled_reason("change"):
            return
        if key == "vcpus":
            self._ask(
                "vCPUs (now, or now/max):",
                f"{config.vcpus_live or config.vcpus_saved}/{config.vcpus_max}",
                _vcpus,
                "Live: hot-plug up to the maximum; the maximum changes in the saved definition.",
            )
        elif key == "memory":
            now = config.memory_live_kib or config.memory_saved_kib
            plug = (
                f"+128M plugs a DIMM, live up to {kib_text(config.memory_hotplug_kib)}."
                if config.memory_hotplug is None
                else f"The maximum changes in the saved definition only: {config.memory_hotplug}."
            )
            self._ask(
                "Memory (now, or now/max, or +DIMM; M or G):",
                f"{_typed(now)}/{_typed(config.memory_max_kib)}",
                _memory,
                f"Live: the balloon. {plug}",
            )
        elif key == "cpu":
            self._ask(
                "CPU mode (host-passthrough, host-model, maximum) or a model name:",
                config.cpu_text if config.cpu_mode else "host-passthrough",
                SetCpuMode,
            )
        elif key == "boot":
            self._ask(
                "Boot order (disk targets and NIC MACs, first first):",
                _boot_value(config),
                lambda text: SetBoot(tuple(n.strip() for n in text.split(",") if n.strip())),
            )
        elif key == "bootmenu":
            self.add(SetBoot((), menu=not config.boot_menu))
        elif key == "autostart":
            self.add(SetAutostart(not config.autostart))
        elif key in ("title", "description"):
            self._ask(
                f"{key.capitalize()} (empty removes it):",
                getattr(config, key) or "",
                lambda text: SetText(key, text),
            )
        elif key == "name":
            self._ask("New name (the guest must be shut off):", config.name, Rename)
        elif self._cdrom(key):
            target = key.removeprefix("disk:")
            self._ask(
                f"ISO to insert into {target} (a host path or pool/volume; empty ejects):",
                "",
                lambda text: _media(target, text),
            )
        elif key.startswith("opts:"):
            target = key.removeprefix("opts:")
            disk = config.disk(target)
            self._ask(
                f"Options of disk {target} (saved; read-only, shareable, cache MODE):",
                disk.options_text if disk else "",
                lambda text: _disk_options(target, text),
                f"Cache modes: {', '.join(CACHE_MODES)}. Libvirt changes these at the next boot.",
            )
        elif key.startswith("nic:"):
            self.action_link()
        elif key.startswith("disk:"):
            self._status("d detaches the disk; a attaches another.")

    def action_attach_disk(self) -> None:
        if self.config is None or self.disabled_reason("attach_disk"):
            return

        def chosen(change: AttachDisk | None) -> None:
            if change is not None:
                self.add(change)

        self.app.push_screen(AttachDiskScreen(self.config, refusal=self.refusal), chosen)

    def action_attach_nic(self) -> None:
        if self.config is None or self.disabled_reason("attach_nic"):
            return

        config = self.config

        def chosen(change: AttachNic | None) -> None:
            if change is not None:
                self.add(change if change.mac else replace(change, mac=self._free_mac(config)))

        self.app.push_screen(AttachNicScreen(config, refusal=self.refusal), chosen)

    def _free_mac(self, config: GuestConfig) -> str:
        """A MAC for a new NIC, picked when it is added: the pending list, the preview and
        libvirt then see the same one (planned again at apply, it would change)."""
        pending = {c.mac for c in self.pending if isinstance(c, AttachNic) and c.mac}
        return new_mac({n.mac for n in config.nics} | pending)

    def action_add_cdrom(self) -> None:
        if self.config is None or self.disabled_reason("add_cdrom"):
            return
        self._ask(
            f"New CD-ROM drive: bus ({' or '.join(CDROM_BUSES)}), then an ISO path if any:",
            "scsi",
            _new_cdrom,
            "Saved definition: the guest sees it after a restart. SCSI without a controller "
            "gets a virtio-scsi one.",
        )

    def action_detach(self) -> None:
        config, key = self.config, self.selected_key or ""
        if config is None or self.disabled_reason("detach"):
            return
        if self._cdrom(key):
            target = key.removeprefix("disk:")
            question = (
                f"Remove CD-ROM drive {target} from '{config.name}'? It goes from the saved "
                "definition (after a restart); x ejects its disc instead."
            )
            change: Change = RemoveCdrom(target)
        elif key.startswith("disk:"):
            target = key.removeprefix("disk:")
            question = (
                f"Detach disk {target} from '{config.name}'? If the guest still uses it, "
                "writes it has not flushed are lost. Its volume or file is kept."
            )
            change = DetachDisk(target)
        else:
            mac = key.removeprefix("nic:")
            question = f"Detach NIC {mac} from '{config.name}'? The guest loses that link."
            change = DetachNic(mac)

        def answered(yes: bool | None) -> None:
            if yes:
                self.add(change)

        self.app.push_screen(ConfirmScreen(question, "Detach"), answered)

    def action_eject(self) -> None:
        key = self.selected_key or ""
        if self.disabled_reason("eject") is None:
            self.add(ChangeMedia(key.removeprefix("disk:"), None))

    def action_link(self) -> None:
        config, key = self.config, self.selected_key or ""
        if config is None or self.disabled_reason("link"):
            return
        nic = config.nic(key.removeprefix("nic:"))
        if nic is not None:
            up = nic.link_live if nic.link_live is not None else nic.link_saved
            self.add(SetLink(nic.mac, not up))

    # -- applying --------------------------------------------------------------------

    def action_apply(self) -> None:
        config = self.config
        if config is None or self.disabled_reason("apply"):
            return
        try:
            steps = plan_changes(config, self.pending, self.scope)
        except ConfigRefused as exc:
            self._status(str(exc), error=True)
            return
        changes, scope = list(self.pending), self.scope

        def answered(yes: bool | None) -> None:
            if yes:
                self.busy = True
                self._status("Applying…")
                self.refresh_bindings()
                self._apply(changes, scope)

        self.app.push_screen(PreviewScreen(config, steps), answered)

    @work(doing="changing a guest's configuration", group="config-apply")
    def _apply(self, changes: list[Change], scope: Scope) -> None:
        try:
            outcome = apply_changes(self.host, self.uuid, changes, scope)
        except KvmtuiError as exc:
            self.post_message(ConfigApplied(None, str(exc)))
            return
        self.post_message(ConfigApplied(outcome))

    def on_config_applied(self, message: ConfigApplied) -> None:
        self.busy = False
        outcome = message.outcome
        if outcome is None:
            self._status(message.error or "", error=True)
            self.notify(message.error or "", severity="error", timeout=10)
            self.refresh_bindings()
            return
        if outcome.ok:
            self.pending.clear()
        self._status(outcome.text, error=not outcome.ok)
        self.notify(outcome.text, severity="information" if outcome.ok else "error", timeout=10)
        if outcome.after is not None:
            self._show(outcome.after)
        else:
            self._load()

    def on_work_failed(self) -> None:
        self.busy = False
        self.refresh_bindings()

    def action_back(self) -> None:
        if not self.pending:
            self.dismiss(None)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.dismiss(None)

        count = len(self.pending)
        self.app.push_screen(
            ConfirmScreen(f"Leave without applying {count} pending change(s)?", "Leave"), answered
        )


def _vcpus(text: str) -> SetVcpus:
    now, _, most = text.partition("/")
    try:
        return SetVcpus(int(now), int(most) if most.strip() else None)
    except ValueError:
        raise ValueError(f"'{text}' is not a number of vCPUs like 2 or 2/4") from None


def _memory(text: str) -> SetMemory | AddDimm:
    if text.startswith("+"):
        return AddDimm(_memory_kib(text[1:]))
    now, _, most = text.partition("/")
    if not now.strip():
        raise ValueError("type an amount like 512M or 1G/2G")
    return SetMemory(_memory_kib(now), _memory_kib(most) if most.strip() else None)


def _boot_value(config: GuestConfig) -> str:
    """The per-device boot order to start editing from (else the first disk)."""
    ordered = sorted(
        [(d.boot_order, d.target) for d in config.disks if d.boot_order]
        + [(n.boot_order, n.mac) for n in config.nics if n.boot_order]
    )
    if ordered:
        return ", ".join(name for _, name in ordered)
    return config.disks[0].target if config.disks else ""


def _typed(kib: int | None) -> str:
    """An amount as one types it back: 256M, 1G."""
    return kib_text(kib).replace(" ", "").replace("iB", "")


def _media(target: str, text: str) -> ChangeMedia:
    """``/path/x.iso``, ``pool/volume.iso``, or nothing (eject)."""
    if not text:
        return ChangeMedia(target, None)
    pool, slash, volume = text.partition("/")
    if slash and pool and volume and "/" not in volume:
        return ChangeMedia(target, volume, pool=pool)
    return ChangeMedia(target, text)


def _disk_options(target: str, text: str) -> SetDiskOptions:
    """``read-only, shareable, cache none`` (as the row shows them): a word left out is
    off; no cache word keeps the cache mode."""
    readonly = shareable = False
    cache: str | None = None
    for word in (w.strip().lower() for w in text.split(",") if w.strip()):
        if word in ("read-only", "readonly"):
            readonly = True
        elif word == "shareable":
            shareable = True
        elif word.startswith("cache "):
            cache = word.removeprefix("cache ").strip()
        else:
            raise ValueError(f"'{word}' is not read-only, shareable or cache MODE")
    return SetDiskOptions(target, cache=cache, shareable=shareable, readonly=readonly)


def _new_cdrom(text: str) -> AddCdrom:
    """``scsi``, ``sata /isos/x.iso``."""
    bus, _, media = text.partition(" ")
    return AddCdrom(bus=bus or "scsi", media=media.strip() or None)

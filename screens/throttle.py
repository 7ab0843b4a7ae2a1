"""The throttle editor of one guest: disk I/O limits and network bandwidth, two tabs.

Each tab shows, for the chosen disk or interface, the limits in force on the running
guest and in its saved configuration, a form for the new values, and the device's
live rates against its limits. Apply validates (a message on each field at fault,
nothing sent), previews old beside new, applies in a worker and shows what the
hypervisor kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Input, Label, Select, Static, TabbedContent, TabPane

from kvmtui.backend import bandwidth, errors, iotune
from kvmtui.backend.host import Host
from kvmtui.backend.poller import StatsEngine
from kvmtui.backend.stats import DeviceRates
from kvmtui.backend.throttle import (
    DeviceSides,
    FieldError,
    Scope,
    sample_device_rates,
    scope_errors,
)
from kvmtui.screens.confirm import ConfirmScreen
from kvmtui.screens.throttle_preview import PreviewRow, ThrottlePreviewScreen
from kvmtui.tui import messages
from kvmtui.tui.widgets.footer import Footer
from kvmtui.tui.widgets.throttle_form import FormRow, LimitForm
from kvmtui.tui.widgets.throttle_messages import (
    LimitsApplied,
    LimitsFailed,
    LimitsLoaded,
    RatesSampled,
)
from kvmtui.tui.widgets.throttle_rates import DiskRatesView, NicRatesView
from kvmtui.tui.workers import work

DISK_TAB, NIC_TAB = "disk-tab", "nic-tab"
_SCOPES = (Scope.BOTH, Scope.LIVE, Scope.CONFIG)
L = TypeVar("L", iotune.IoTune, bandwidth.Bandwidth)
_HINTS = {"B/s": "B/s (K,M,G)", "B": "bytes (K,M)", "IOPS": "IOPS", "s": "seconds"}


def disk_rows() -> tuple[FormRow, ...]:
    rows = tuple(FormRow(s.name, s.label, _HINTS[s.unit]) for s in iotune.FIELDS)
    return (*rows, FormRow(iotune.GROUP_NAME, iotune.LABELS[iotune.GROUP_NAME], "name"))


def nic_rows() -> tuple[FormRow, ...]:
    return tuple(
        FormRow(s.name, s.label, "KiB/s (M,G)" if s.unit == "KiB/s" else "KiB (M,G)")
        for s in bandwidth.FIELDS
    )


def _disk_texts(settings: iotune.IoTune | None) -> dict[str, str] | None:
    if settings is None:
        return None
    return {n: iotune.display(n, settings.value(n)) for n in (*iotune.FIELD_NAMES, "group_name")}


def _nic_texts(settings: bandwidth.Bandwidth | None) -> dict[str, str] | None:
    if settings is None:
        return None
    return {n: bandwidth.display(n, settings.get(n)) for n in bandwidth.FIELD_NAMES}


def _not_kept_text(
    labels: Mapping[str, str], show: Callable[[str, Any], str], rows: Iterable[tuple[str, Any, Any]]
) -> list[str]:
    """For each (field, requested, kept): 'Total IOPS 400 IOPS instead of 500 IOPS'."""
    return [f"{labels[n]} {show(n, k)} instead of {show(n, r)}" for n, r, k in rows]


class ScopedLimitsScreen(Screen[None]):
    """What the limit editors share: the scope (ctrl+g) and its line, the status line,
    Enter to apply, a question before anything is sent, Escape to close."""

    scope: reactive[Scope] = reactive(Scope.BOTH)

    def __init__(self) -> None:
        super().__init__()
        self._busy = False  # a change is being applied

    def action_apply(self) -> None:
        raise NotImplementedError

    def action_close(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_apply()

    def _status(self, text: str, *, error: bool = False) -> None:
        status = self.query_one("#throttle-status", Static)
        status.update(text)
        status.set_class(error, "-error")

    def on_work_failed(self, message: messages.WorkFailed) -> None:
        """A worker failed past its own handling (kvmtui.tui.workers): not busy any more."""
        self._busy = False
        self._status(message.text, error=True)

    def watch_scope(self) -> None:
        if self.is_mounted:
            self._show_scope()

    def _show_scope(self) -> None:
        self.query_one("#throttle-scope", Static).update(
            f"Scope: [b]{self.scope.value}[/b] — changes go to {self.scope.text} (ctrl+g changes)"
        )

    def action_cycle_scope(self) -> None:
        """Live, saved configuration or both, as virsh's --live / --config."""
        self.scope = _SCOPES[(_SCOPES.index(self.scope) + 1) % len(_SCOPES)]

    def _ask_then_apply(
        self,
        question: Screen[bool] | Screen[bool | None],
        applying: str,
        start: Callable[[], object],
        declined: str | None = "Not applied.",
    ) -> None:
        """Push ``question``; on yes, say ``applying`` and ``start`` the worker."""

        def answered(yes: bool | None) -> None:
            if yes:
                self._busy = True
                self._status(applying)
                start()
            elif declined is not None:
                self._status(declined)

        self.app.push_screen(question, answered)


class ThrottleScreen(ScopedLimitsScreen):
    """Disk and network limits of the guest ``uuid`` on ``host``."""

    CSS_PATH = "throttle.tcss"
    #: Focus starts on the first value of the open tab: see on_mount.
    AUTO_FOCUS = ""
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "apply", "Preview & apply"),
        Binding("ctrl+g", "cycle_scope", "Scope"),
        # Short titles and reload left to help and the palette: at 80 columns the footer
        # has room for every other key, escape among them.
        Binding("ctrl+l", "clear", "Clear all"),
        Binding("ctrl+r", "reload", "Reload", show=False),
        Binding("ctrl+t", "switch_tab", "Disk/Net"),
        Binding("escape", "close", "Close"),
    ]

    def __init__(
        self,
        host: Host,
        uuid: str,
        *,
        rate_interval: float | None = 2.0,
        initial_tab: str = DISK_TAB,
    ) -> None:
        """``rate_interval``: seconds between live-rate samples; None samples nothing
        (tests feed rates with :meth:`show_rates`)."""
        super().__init__()
        self.host = host
        self.uuid = uuid
        self.rate_interval = rate_interval
        self.initial_tab = initial_tab
        self.disks: iotune.GuestIoTune | None = None
        self.nics: bandwidth.GuestBandwidth | None = None
        self.disk: str | None = None
        self.nic: str | None = None  # MAC
        self._disk_rates: tuple[DeviceRates, ...] | None = None
        self._nic_rates: tuple[DeviceRates, ...] | None = None
        self._engine = StatsEngine(host.label, with_host_figures=False)

    # -- layout ---------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        cached = self.host.guest(self.uuid)
        name = cached.name if cached else self.uuid
        suffix = " (read-only connection)" if self.host.readonly else ""
        yield Static(f"I/O limits · {name} on {self.host.label}{suffix}", id="throttle-title")
        yield Static("", id="throttle-scope")
        with TabbedContent(initial=self.initial_tab, id="throttle-tabs"):
            with TabPane("Disk I/O", id=DISK_TAB):
                with Horizontal(classes="device-bar"):
                    yield Label("Disk ", classes="device-label")
                    yield Select[str]([], id="disk-select", prompt="(loading)", compact=True)
                yield DiskRatesView(id="disk-rates")
                yield LimitForm(disk_rows(), id="disk-form")
            with TabPane("Network", id=NIC_TAB):
                with Horizontal(classes="device-bar"):
                    yield Label("Interface ", classes="device-label")
                    yield Select[str]([], id="nic-select", prompt="(loading)", compact=True)
                yield NicRatesView(id="nic-rates")
                yield LimitForm(nic_rows(), id="nic-form")
        yield Static("Reading the limits…", id="throttle-status")
        yield Footer()

    def on_mount(self) -> None:
        self._show_scope()
        (self.disk_form if self.initial_tab == DISK_TAB else self.nic_form).focus_first()
        self._load()
        if self.rate_interval is not None:
            self._sample()

    @property
    def disk_form(self) -> LimitForm:
        return self.query_one("#disk-form", LimitForm)

    @property
    def nic_form(self) -> LimitForm:
        return self.query_one("#nic-form", LimitForm)

    @property
    def active_tab(self) -> str:
        return self.query_one(TabbedContent).active or DISK_TAB

    @property
    def active_form(self) -> LimitForm:
        return self.disk_form if self.active_tab == DISK_TAB else self.nic_form

    # -- workers: every libvirt call happens in one of these ------------------------------

    @work(doing="reading I/O limits", group="throttle-load", exclusive=True)
    def _load(self) -> None:
        try:
            disks = iotune.read_iotune(self.host, self.uuid)
            nics = bandwidth.read_bandwidth(self.host, self.uuid)
        except errors.KvmtuiError as exc:
            self.post_message(LimitsFailed.of(exc))
            return
        self.post_message(LimitsLoaded(disks, nics))

    @work(doing="sampling device rates", group="throttle-rates", exclusive=True)
    def _sample(self) -> None:
        rates = sample_device_rates(self.host, self._engine, self.uuid)
        disks, nics = rates if rates is not None else ((), ())
        self.post_message(RatesSampled(disks or None, nics or None))

    @work(doing="setting I/O limits", group="throttle-apply", exclusive=True)
    def _apply_limits(
        self,
        set_limits: Callable[
            [Host, str, str, L, Scope], iotune.IoTuneResult | bandwidth.BandwidthResult
        ],
        device: str,
        settings: L,
        scope: Scope,
    ) -> None:
        """``set_limits``: iotune.set_iotune (``device`` a disk) or bandwidth.set_bandwidth
        (``device`` a MAC)."""
        try:
            result = set_limits(self.host, self.uuid, device, settings, scope)
        except errors.KvmtuiError as exc:
            self.post_message(LimitsFailed.of(exc))
            return
        self.post_message(LimitsApplied(result))

    # -- what the workers report ------------------------------------------------------------

    def on_limits_loaded(self, message: LimitsLoaded) -> None:
        self.disks, self.nics = message.disks, message.nics
        ref = message.disks.guest
        if not ref.active:
            self.scope = Scope.CONFIG
        elif not ref.persistent:
            self.scope = Scope.LIVE
        disk_select = self.query_one("#disk-select", Select)
        disk_select.set_options([(d.disk, d.disk) for d in message.disks.disks])
        nic_select = self.query_one("#nic-select", Select)
        nic_select.set_options(
            [(f"{n.nic.target or n.nic.kind} ({n.nic.mac})", n.nic.mac) for n in message.nics.nics]
        )
        names = [d.disk for d in message.disks.disks]
        self.disk = self.disk if self.disk in names else (names[0] if names else None)
        macs = [n.nic.mac for n in message.nics.nics]
        self.nic = self.nic if self.nic in macs else (macs[0] if macs else None)
        if self.disk is not None:
            disk_select.value = self.disk
        if self.nic is not None:
            nic_select.value = self.nic
        self._fill_disk()
        self._fill_nic()
        self._busy = False
        self._status(
            f"{len(names)} disk(s), {len(macs)} interface(s). Type new values; "
            "ctrl+s previews and applies."
        )

    def on_limits_failed(self, message: LimitsFailed) -> None:
        self._busy = False
        self.active_form.show_errors(message.field_errors)
        self._status(message.error, error=True)

    def on_limits_applied(self, message: LimitsApplied) -> None:
        self._busy = False
        result = message.result
        if isinstance(result, iotune.IoTuneResult):
            if self.disks is not None:
                disks = tuple(
                    result.after if d.disk == result.disk else d for d in self.disks.disks
                )
                self.disks = iotune.GuestIoTune(self.disks.host, self.disks.guest, disks)
            self._fill_disk()
            missed = _not_kept_text(iotune.LABELS, iotune.display, result.not_kept())
            what = f"disk {result.disk}"
        else:
            if self.nics is not None:
                nics = tuple(
                    result.after if n.nic.mac == result.nic.mac else n for n in self.nics.nics
                )
                self.nics = bandwidth.GuestBandwidth(self.nics.host, self.nics.guest, nics)
            self._fill_nic()
            missed = _not_kept_text(bandwidth.LABELS, bandwidth.display, result.not_kept())
            what = f"interface {result.nic.target or result.nic.mac}"
        summary = result.after.side(result.scope).summary()
        kept = (
            "The hypervisor kept every value as asked."
            if not missed
            else "The hypervisor kept " + "; ".join(missed) + "."
        )
        self._status(
            f"Applied to {what} ({result.scope.text}): now {summary}. {kept}", error=bool(missed)
        )

    def on_rates_sampled(self, message: RatesSampled) -> None:
        self.show_rates(message.disks, message.nics)
        if self.rate_interval is not None:
            self.set_timer(self.rate_interval, self._sample)

    def show_rates(
        self, disks: Sequence[DeviceRates] | None, nics: Sequence[DeviceRates] | None
    ) -> None:
        """Show live rates (the sampler calls it; tests feed recorded figures)."""
        self._disk_rates = tuple(disks) if disks is not None else None
        self._nic_rates = tuple(nics) if nics is not None else None
        self._show_disk_rates()
        self._show_nic_rates()

    # -- filling the forms ------------------------------------------------------------------

    def _disk_record(self) -> iotune.DiskIoTune | None:
        if self.disks is None:
            return None
        return next((d for d in self.disks.disks if d.disk == self.disk), None)

    def _nic_record(self) -> bandwidth.NicBandwidth | None:
        if self.nics is None:
            return None
        return next((n for n in self.nics.nics if n.nic.mac == self.nic), None)

    def _fill_disk(self) -> None:
        record = self._disk_record()
        if record is None:
            return
        self.disk_form.show_current(_disk_texts(record.live), _disk_texts(record.config))
        current = record.current
        self.disk_form.set_values(
            {n: iotune.form_text(n, current.value(n)) for n in (*iotune.FIELD_NAMES, "group_name")}
        )
        self._show_disk_rates()

    def _fill_nic(self) -> None:
        record = self._nic_record()
        if record is None:
            return
        self.nic_form.show_current(_nic_texts(record.live), _nic_texts(record.config))
        self.nic_form.set_values(
            {n: bandwidth.form_text(n, record.current.get(n)) for n in bandwidth.FIELD_NAMES}
        )
        self._show_nic_rates()

    def _show_disk_rates(self) -> None:
        record = self._disk_record()
        if record is None:
            return
        rates = next((r for r in self._disk_rates or () if r.name == record.disk), None)
        self.query_one(DiskRatesView).show(
            record.disk, rates, record.live, running=record.live is not None
        )

    def _show_nic_rates(self) -> None:
        record = self._nic_record()
        if record is None:
            return
        name = record.nic.target or record.nic.mac
        rates = next((r for r in self._nic_rates or () if r.name == record.nic.target), None)
        self.query_one(NicRatesView).show(name, rates, record.live, running=record.live is not None)

    @on(Select.Changed, "#disk-select")
    def _disk_chosen(self, event: Select.Changed) -> None:
        if isinstance(event.value, str) and event.value != self.disk:
            self.disk = event.value
            self._fill_disk()

    @on(Select.Changed, "#nic-select")
    def _nic_chosen(self, event: Select.Changed) -> None:
        if isinstance(event.value, str) and event.value != self.nic:
            self.nic = event.value
            self._fill_nic()

    # -- actions ----------------------------------------------------------------------------

    def action_reload(self) -> None:
        """Read every limit again from the hypervisor (typed values are dropped)."""
        self._status("Reading the limits…")
        self._load()

    def action_switch_tab(self) -> None:
        tabs = self.query_one(TabbedContent)
        tabs.active = NIC_TAB if self.active_tab == DISK_TAB else DISK_TAB
        self.active_form.focus_first()

    def _refusal(self) -> str | None:
        """Why nothing can be applied right now, or None."""
        if self._busy:
            return "A change is being applied; wait for its result."
        if self.disks is None or self.nics is None:
            return "The limits have not been read yet."
        try:
            self.host.require_writable("change the limits of", self.disks.guest.name)
        except errors.ReadOnlyError as exc:
            return str(exc)
        found = scope_errors(self.disks.guest, self.scope)
        if found:
            return f"Scope {self.scope.value}: {found[0].message}. Nothing was sent."
        return None

    def _refused(self) -> bool:
        """Say why nothing can be applied right now, if so."""
        refusal = self._refusal()
        if refusal is not None:
            self._status(refusal, error=True)
        return refusal is not None

    def action_apply(self) -> None:
        """Validate the form, preview old beside new, then apply."""
        if self._refused():
            return
        if self.active_tab == DISK_TAB:
            self._apply_disk_form()
        else:
            self._apply_nic_form()

    def _invalid(
        self, form: LimitForm, found: Sequence[FieldError], labels: Mapping[str, str]
    ) -> None:
        form.show_errors(found)
        first = found[0]
        more = f" ({len(found) - 1} more marked)" if len(found) > 1 else ""
        self._status(
            f"Nothing was sent: {labels.get(first.field, first.field)} {first.message}{more}.",
            error=True,
        )

    def _apply_disk_form(self) -> None:
        record, disk = self._disk_record(), self.disk
        if record is None or disk is None:
            self._status("This guest has no disk to limit.", error=True)
            return
        self._preview_form(
            self.disk_form,
            iotune.parse_form(self.disk_form.texts()),
            iotune.LABELS,
            iotune.display,
            record,
            f"Disk {disk} of {self.disks.guest.name if self.disks else '?'}",
            f"disk {disk}",
            lambda settings, scope: self._apply_limits(iotune.set_iotune, disk, settings, scope),
        )

    def _apply_nic_form(self) -> None:
        record, mac = self._nic_record(), self.nic
        if record is None or mac is None:
            self._status("This guest has no interface to limit.", error=True)
            return
        name = record.nic.target or mac
        self._preview_form(
            self.nic_form,
            bandwidth.parse_form(self.nic_form.texts()),
            bandwidth.LABELS,
            bandwidth.display,
            record,
            f"Interface {name}",
            f"interface {name}",
            lambda settings, scope: self._apply_limits(
                bandwidth.set_bandwidth, mac, settings, scope
            ),
        )

    def _preview_form(
        self,
        form: LimitForm,
        parsed: tuple[L | None, Sequence[FieldError]],
        labels: Mapping[str, str],
        show: Callable[[str, Any], str],
        record: DeviceSides[L],
        title: str,
        device: str,
        start: Callable[[L, Scope], object],
    ) -> None:
        """Mark the form's faults, or preview what changes on ``device`` and, on yes,
        ``start`` applying it."""
        settings, found = parsed
        if settings is None:
            self._invalid(form, found, labels)
            return
        form.clear_errors()
        rows = self._preview_rows(
            labels,
            show,
            record.live.as_dict() if record.live else None,
            record.config.as_dict() if record.config else None,
            settings.as_dict(),
        )
        if not rows:
            self._status("Nothing to change: the new values are the ones in force.")
            return
        scope = self.scope
        self._ask_then_apply(
            self._preview(f"{title}: {scope.text}", rows, scope),
            f"Applying to {device}…",
            lambda: start(settings, scope),
        )

    def _preview(
        self, title: str, rows: Sequence[PreviewRow], scope: Scope
    ) -> ThrottlePreviewScreen:
        return ThrottlePreviewScreen(
            title,
            rows,
            "Only the settings that change are listed.",
            show_live=scope is not Scope.CONFIG,
            show_config=scope is not Scope.LIVE,
        )

    def _preview_rows(
        self,
        labels: Mapping[str, str],
        show: Callable[[str, Any], str],
        live: Mapping[str, Any] | None,
        config: Mapping[str, Any] | None,
        new: Mapping[str, Any],
    ) -> list[PreviewRow]:
        """One row per setting that changes on a side the scope touches."""
        live = live if self.scope is not Scope.CONFIG else None
        config = config if self.scope is not Scope.LIVE else None
        rows = []
        for name, value in new.items():
            if any(side is not None and side[name] != value for side in (live, config)):
                rows.append(
                    PreviewRow(
                        labels[name],
                        show(name, live[name]) if live is not None else "",
                        show(name, config[name]) if config is not None else "",
                        show(name, value),
                    )
                )
        return rows

    def action_clear(self) -> None:
        """Remove every limit of the chosen disk or interface (asks first)."""
        if self._refused():
            return
        if self.active_tab == DISK_TAB:
            disk = self.disk
            if disk is not None:
                self._ask_clear(
                    "I/O",
                    f"disk {disk}",
                    lambda scope: self._apply_limits(
                        iotune.set_iotune, disk, iotune.IoTune.of(), scope
                    ),
                )
        elif (mac := self.nic) is not None:
            self._ask_clear(
                "bandwidth",
                f"interface {mac}",
                lambda scope: self._apply_limits(
                    bandwidth.set_bandwidth, mac, bandwidth.Bandwidth.of(), scope
                ),
            )

    def _ask_clear(self, kind: str, device: str, start: Callable[[Scope], object]) -> None:
        scope = self.scope
        guest = self.disks.guest.name if self.disks else self.uuid
        question = f"Remove every {kind} limit of {device} of '{guest}' ({scope.text})?"
        self._ask_then_apply(
            ConfirmScreen(question, "Clear limits"),
            f"Clearing the limits of {device}…",
            lambda: start(scope),
            declined=None,
        )

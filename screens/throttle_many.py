"""The same disk I/O limits on several guests at once, with a result for each guest."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import DataTable, Input, Label, Static

from kvmtui.backend import errors, iotune
from kvmtui.backend.host import Host
from kvmtui.backend.throttle import Scope
from kvmtui.screens.throttle import ScopedLimitsScreen, disk_rows
from kvmtui.screens.throttle_preview import PreviewRow, ThrottlePreviewScreen
from kvmtui.tui.widgets.footer import Footer
from kvmtui.tui.widgets.throttle_form import LimitForm
from kvmtui.tui.widgets.throttle_messages import BatchApplied, LimitsFailed
from kvmtui.tui.workers import work


class ThrottleManyScreen(ScopedLimitsScreen):
    """Limits typed once, applied to one disk (or every disk) of each target guest."""

    CSS_PATH = "throttle.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "apply", "Preview & apply"),
        Binding("ctrl+g", "cycle_scope", "Scope"),
        Binding("escape", "close", "Close"),
    ]

    def __init__(self, targets: Sequence[tuple[Host, str]]) -> None:
        super().__init__()
        self.targets = tuple(targets)
        self.outcomes: tuple[iotune.GuestOutcome, ...] = ()

    def _names(self) -> list[str]:
        names = []
        for host, uuid in self.targets:
            guest = host.guest(uuid)
            names.append(f"{guest.name if guest else uuid} ({host.label})")
        return names

    def compose(self) -> ComposeResult:
        yield Static(
            f"I/O limits for {len(self.targets)} guests: " + ", ".join(self._names()),
            id="throttle-title",
        )
        yield Static("", id="throttle-scope")
        with Horizontal(id="many-bar"):
            yield Label("Disk ", classes="device-label")
            yield Input(placeholder="all disks", id="many-disk", compact=True)
            yield Label("  (a target name such as vda; blank: every disk but CD-ROMs)")
        yield LimitForm(disk_rows(), show_current=False, id="many-form")
        table: DataTable[str] = DataTable(id="many-outcomes", cursor_type="row")
        table.add_columns("Guest", "Host", "Result")
        yield table
        yield Static(
            "Type the limits once; ctrl+s previews and applies them to every guest listed.",
            id="throttle-status",
        )
        yield Footer()

    def on_mount(self) -> None:
        self._show_scope()

    @property
    def form(self) -> LimitForm:
        return self.query_one("#many-form", LimitForm)

    def action_apply(self) -> None:
        """Validate, preview the new limits and the guests, then apply to each."""
        if self._busy:
            self._status("A change is being applied; wait for its results.", error=True)
            return
        readonly = [h.label for h, _ in self.targets if h.readonly]
        if readonly:
            self._status(
                f"Could not set limits: {', '.join(sorted(set(readonly)))} is read-only. "
                "Nothing was sent.",
                error=True,
            )
            return
        settings, found = iotune.parse_form(self.form.texts())
        if settings is None:
            self.form.show_errors(found)
            first = found[0]
            self._status(
                f"Nothing was sent: {iotune.LABELS.get(first.field, first.field)} {first.message}.",
                error=True,
            )
            return
        self.form.clear_errors()
        disk = self.query_one("#many-disk", Input).value.strip() or None
        values = settings.as_dict()
        rows = [
            PreviewRow(iotune.LABELS[n], "", "", iotune.display(n, v))
            for n, v in values.items()
            if v
        ] or [PreviewRow("Every limit", "", "", "removed")]
        scope = self.scope
        title = (
            f"{'Disk ' + disk if disk else 'Every disk'} of {len(self.targets)} guests: "
            f"{scope.text}"
        )
        note = "Guests: " + ", ".join(self._names()) + ". Limits not listed are removed."
        self._ask_then_apply(
            ThrottlePreviewScreen(title, rows, note, show_live=False, show_config=False),
            f"Applying to {len(self.targets)} guests…",
            lambda: self._apply(settings, scope, disk),
        )

    @work(doing="setting disk limits on several guests", group="throttle-many", exclusive=True)
    def _apply(self, settings: iotune.IoTune, scope: Scope, disk: str | None) -> None:
        try:
            outcomes = iotune.apply_to_guests(self.targets, settings, scope, disk)
        except errors.KvmtuiError as exc:
            self.post_message(LimitsFailed.of(exc))
            return
        self.post_message(BatchApplied(outcomes))

    def on_limits_failed(self, message: LimitsFailed) -> None:
        self._busy = False
        self.form.show_errors(message.field_errors)
        self._status(message.error, error=True)

    def on_batch_applied(self, message: BatchApplied) -> None:
        self._busy = False
        self.outcomes = message.outcomes
        table = self.query_one("#many-outcomes", DataTable)
        table.clear()
        for outcome in message.outcomes:
            if outcome.ok:
                result = "; ".join(
                    f"{r.disk}: {r.after.side(r.scope).summary()}"
                    + (" (not all kept)" if r.not_kept() else "")
                    for r in outcome.results
                )
            else:
                result = outcome.error or "failed"
            table.add_row(outcome.guest, outcome.host, result, key=f"{outcome.host}/{outcome.uuid}")
        failed = sum(1 for o in message.outcomes if not o.ok)
        self._status(
            f"Applied to {len(message.outcomes) - failed} of {len(message.outcomes)} guests"
            + (f"; {failed} failed and kept their old limits." if failed else "."),
            error=bool(failed),
        )

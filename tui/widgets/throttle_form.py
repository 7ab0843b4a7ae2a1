"""A form of limits: one row per setting with its live and saved values, the value to
set, and the message when that value is refused.

Used by the disk and network editors and by the several-guests editor (which hides
the live/saved columns). Knows nothing of libvirt: rows come as :class:`FormRow`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Grid, VerticalScroll
from textual.widgets import Input, Label, Static

from kvmtui.backend.throttle import FieldError


@dataclass(frozen=True, slots=True)
class FormRow:
    name: str  # the setting's name, as the backend spells it
    label: str
    hint: str  # the unit typed: "B/s (K, M, G)", "IOPS", "s", "KiB/s"


def _key(name: str) -> str:
    return name.replace(".", "-")


class LimitForm(VerticalScroll, can_focus=False):
    """Rows of settings; ``texts()`` is what the admin typed, keyed by setting name.

    Only the value fields take focus, so tab goes down the column of new values (the
    form scrolls to the focused field)."""

    DEFAULT_CSS = """
    LimitForm { height: 1fr; }
    LimitForm > Grid {
        grid-size: 6;
        /* At 80 columns every column but the refusal's fits (the status line repeats
           the refusal); the longest label is 26 cells, the longest unit 11. */
        grid-columns: 26 12 12 12 11 1fr;
        grid-rows: auto;
        grid-gutter: 0 1;
        height: auto;
    }
    LimitForm .head { text-style: bold; color: $text-muted; }
    LimitForm .differs { color: $warning; text-style: bold; }
    LimitForm Input { width: 12; }
    LimitForm Input.-pending { background: $accent 30%; }
    LimitForm Input.-invalid { background: $error 35%; }
    LimitForm .error { color: $error; }
    LimitForm .hint { color: $text-muted; }
    LimitForm > Grid.-no-current { grid-size: 4; grid-columns: 26 12 11 1fr; }
    """

    def __init__(
        self, rows: Sequence[FormRow], *, show_current: bool = True, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.rows = tuple(rows)
        self.with_current = show_current
        self._baseline: dict[str, str] = {r.name: "" for r in self.rows}

    def compose(self) -> ComposeResult:
        titles = ("Setting", "Live", "Saved", "New value", "Unit", "")
        with Grid(classes="" if self.with_current else "-no-current"):
            for title in titles if self.with_current else titles[:1] + titles[3:]:
                yield Label(title, classes="head")
            for row in self.rows:
                key = _key(row.name)
                yield Label(row.label, id=f"label-{key}")
                if self.with_current:
                    yield Static("", id=f"live-{key}")
                    yield Static("", id=f"config-{key}")
                yield Input(id=f"in-{key}", compact=True, select_on_focus=True)
                yield Static(row.hint, classes="hint")
                yield Static("", id=f"error-{key}", classes="error")

    def input(self, name: str) -> Input:
        return self.query_one(f"#in-{_key(name)}", Input)

    def focus_first(self) -> None:
        """Focus the first value, its text selected so that typing replaces it."""
        first = self.input(self.rows[0].name)
        first.focus(scroll_visible=False)
        first.select_all()
        self.scroll_home(animate=False)

    def show_current(
        self, live: Mapping[str, str] | None, config: Mapping[str, str] | None
    ) -> None:
        """Show the values now in force; a row whose live and saved values differ is marked."""
        if not self.with_current:
            return
        for row in self.rows:
            key = _key(row.name)
            live_text = live.get(row.name, "-") if live is not None else "(not running)"
            config_text = config.get(row.name, "-") if config is not None else "(transient)"
            differs = live is not None and config is not None and live_text != config_text
            for prefix, text in (("live", live_text), ("config", config_text)):
                cell = self.query_one(f"#{prefix}-{key}", Static)
                cell.update(text)
                cell.set_class(differs, "differs")

    def set_values(self, values: Mapping[str, str]) -> None:
        """Fill the inputs (and remember them: a row typed away from them is pending)."""
        self._baseline = {r.name: values.get(r.name, "") for r in self.rows}
        for row in self.rows:
            self.input(row.name).value = self._baseline[row.name]
        self.clear_errors()
        self._mark_pending()
        focused = self.screen.focused
        if isinstance(focused, Input) and focused.parent is not None and self in focused.ancestors:
            focused.select_all()  # typing replaces the value that just came

    def texts(self) -> dict[str, str]:
        return {row.name: self.input(row.name).value for row in self.rows}

    def pending(self) -> tuple[str, ...]:
        """The settings typed away from the values the form was filled with."""
        texts = self.texts()
        return tuple(n for n in texts if texts[n].strip() != self._baseline.get(n, "").strip())

    def show_errors(self, field_errors: Iterable[FieldError]) -> None:
        self.clear_errors()
        first: Input | None = None
        names = {r.name for r in self.rows}
        for error in field_errors:
            if error.field in names:
                key = _key(error.field)
                self.query_one(f"#error-{key}", Static).update(error.message)
                box = self.input(error.field)
                box.add_class("-invalid")
                first = first or box
        if first is not None:
            first.focus()
            self.scroll_to_widget(first, animate=False)

    def clear_errors(self) -> None:
        for row in self.rows:
            key = _key(row.name)
            self.query_one(f"#error-{key}", Static).update("")
            self.input(row.name).remove_class("-invalid")

    def on_input_changed(self, _event: Input.Changed) -> None:
        self._mark_pending()

    def _mark_pending(self) -> None:
        pending = set(self.pending())
        for row in self.rows:
            self.input(row.name).set_class(row.name in pending, "-pending")

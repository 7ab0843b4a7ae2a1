"""The raw XML editor (E): a guest's saved definition in a TextArea, checked, shown as a
diff and confirmed before libvirt validates and defines it. A read-only connection
opens it as a viewer. The backend is kvmtui.backend.xmledit."""

from __future__ import annotations

import contextlib
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import ScrollableContainer
from textual.screen import Screen
from textual.widgets import Static, TextArea
from textual.widgets.text_area import LanguageDoesNotExist

from kvmtui.backend import xmledit
from kvmtui.backend.errors import KvmtuiError
from kvmtui.backend.host import Host
from kvmtui.backend.model import Guest
from kvmtui.screens.confirm import ConfirmScreen
from kvmtui.tui import messages
from kvmtui.tui.widgets.footer import Footer
from kvmtui.tui.workers import work

#: How each line of a unified diff is drawn.
_DIFF_STYLES = (("+++", "bold"), ("---", "bold"), ("@@", "cyan"), ("+", "green"), ("-", "red"))


def diff_text(lines: tuple[str, ...]) -> Text:
    """A unified diff, coloured: added lines green, removed red, hunk heads cyan. Lines
    are never wrapped or cut: the diff scrolls sideways to a long line's end."""
    text = Text(no_wrap=True, overflow="ignore")
    for number, line in enumerate(lines):
        if number:
            text.append("\n")
        style = next((style for prefix, style in _DIFF_STYLES if line.startswith(prefix)), "")
        text.append(line, style=style)
    return text


class XmlDiffScreen(Screen[bool]):
    """The edit as a diff against the saved definition; dismisses True only to save."""

    CSS_PATH = "xml_editor.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Save", tooltip="Validate and save (libvirt checks it)."),
        Binding("n", "answer(False)", "Back to the editor"),
        Binding("escape", "answer(False)", "Back to the editor", show=False),
    ]

    def __init__(self, prepared: xmledit.Prepared) -> None:
        super().__init__()
        self.prepared = prepared

    def compose(self) -> ComposeResult:
        current = self.prepared.current
        heading = Text.assemble(
            "Save these changes to the definition of ",
            (current.name, "bold"),
            f" on {current.host}? y saves, escape goes back to the editor.",
        )
        yield Static(heading, id="xml-heading")
        if self.prepared.changed_elsewhere:
            yield Static(
                "The saved definition changed since the editor opened: this diff is against "
                "the current one, and saving replaces it.",
                id="diff-warning",
            )
        with ScrollableContainer(id="diff-body"):
            yield Static(diff_text(self.prepared.diff), id="diff-text")
        yield Footer(compact=True)

    def action_answer(self, save: bool) -> None:
        self.dismiss(save)


class XmlEditorScreen(Screen[None]):
    """The saved definition of one guest as text; ctrl+s checks it and shows the diff."""

    CSS_PATH = "xml_editor.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "ctrl+s",
            "save",
            "Save",
            tooltip="Check the text, show the diff, and save once confirmed.",
        ),
        Binding("escape", "close", "Close"),
    ]

    def __init__(self, host: Host, guest: Guest) -> None:
        super().__init__()
        self.host = host
        self.guest = guest
        self.definition: xmledit.Definition | None = None
        self.busy = False
        self.area = self._text_area()

    @property
    def viewer(self) -> bool:
        """A read-only connection: the text can be read, not saved."""
        return self.host.readonly

    def compose(self) -> ComposeResult:
        yield Static(self._heading(), id="xml-heading")
        yield self.area
        yield Static("Reading the definition…", id="xml-status")
        yield Footer(compact=True)

    def _text_area(self) -> TextArea:
        # escape closes the editor: with tab_behavior "indent" TextArea would take it.
        area = TextArea(
            "",
            id="xml-text",
            read_only=True,
            show_line_numbers=True,
            tab_behavior="focus",
            soft_wrap=False,
        )
        return area

    def _heading(self) -> Text:
        heading = Text.assemble(
            "Definition of ", (self.guest.name, "bold"), f" on {self.guest.host}"
        )
        if self.viewer:
            heading.append("  read-only connection: viewing only", style="bold yellow")
        elif self.guest.active:
            heading.append("  (saved; the running guest gets it at its next boot)", style="dim")
        return heading

    @property
    def text_area(self) -> TextArea:
        return self.query_one("#xml-text", TextArea)

    def on_mount(self) -> None:
        self.load(self.host, self.guest.uuid)

    def on_unmount(self) -> None:
        # TextArea watches the app's ``theme`` reactive and never stops: Textual keeps
        # (node, callback) on the app until the theme changes, so every editor ever
        # opened stayed alive with its parsed document (about 100 KiB each).
        watchers: dict[str, list[tuple[object, object]]] = getattr(self.app, "__watchers", {})
        for entries in watchers.values():
            entries[:] = [(node, callback) for node, callback in entries if node is not self.area]
        # tree-sitter's parser and tree hold the document's read callback but are not
        # seen by the garbage collector: the document would never be freed.
        document = self.area.document
        with contextlib.suppress(TypeError):
            for name in ("_parser", "_syntax_tree"):
                vars(document).pop(name, None)

    @work(doing="reading the guest's definition", group="xml-editor", exclusive=True)
    def load(self, host: Host, uuid: str) -> None:
        try:
            definition = xmledit.read_definition(host, uuid)
        except KvmtuiError as exc:
            self.post_message(messages.XmlLoaded(None, str(exc)))
        else:
            self.post_message(messages.XmlLoaded(definition, None))

    def on_xml_loaded(self, message: messages.XmlLoaded) -> None:
        if message.definition is None:
            self._status(message.error or "", error=True)
            return
        self.definition = message.definition
        area = self.text_area
        area.load_text(message.definition.xml)
        # The language after the text: each highlighted document is made once.
        with contextlib.suppress(LanguageDoesNotExist):  # tree-sitter-xml (see README)
            area.language = "xml"
        area.read_only = self.viewer
        area.focus()
        self._status(
            "Viewing only: the connection is read-only."
            if self.viewer
            else "ctrl+s checks the text and shows the diff; nothing is saved before you confirm."
        )
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "save":
            return None if self.viewer or self.definition is None or self.busy else True
        return True

    def _status(self, text: str, *, error: bool = False) -> None:
        status = self.query_one("#xml-status", Static)
        status.update(text)
        status.set_class(error, "-error")

    @property
    def edited(self) -> bool:
        return self.definition is not None and self.text_area.text != self.definition.xml

    # -- saving: check, diff, confirm, define ------------------------------------------

    def action_save(self) -> None:
        if self.definition is None or self.viewer or self.busy:
            return
        self._busy(True, "Checking…")
        self.prepare(self.host, self.guest.uuid, self.definition.xml, self.text_area.text)

    def _busy(self, busy: bool, text: str | None = None) -> None:
        self.busy = busy
        if text is not None:
            self._status(text)
        self.refresh_bindings()

    @work(doing="checking the edited definition", group="xml-editor", exclusive=True)
    def prepare(self, host: Host, uuid: str, opened: str, edited: str) -> None:
        try:
            prepared = xmledit.prepare(host, uuid, opened, edited)
        except xmledit.EditRefused as exc:
            self.post_message(messages.XmlRefused(str(exc), exc.line))
        except KvmtuiError as exc:
            self.post_message(messages.XmlRefused(str(exc), None))
        else:
            self.post_message(messages.XmlPrepared(prepared))

    def on_xml_prepared(self, message: messages.XmlPrepared) -> None:
        prepared = message.prepared

        def answered(save: bool | None) -> None:
            if save:
                self._busy(True, "libvirt is validating and saving…")
                self.define(self.host, self.guest.uuid, prepared.xml)
            else:
                self._busy(False, "Not saved. ctrl+s shows the diff again.")
                self.text_area.focus()

        self.app.push_screen(XmlDiffScreen(prepared), answered)

    @work(doing="saving the edited definition", group="xml-editor", exclusive=True)
    def define(self, host: Host, uuid: str, edited: str) -> None:
        try:
            name = xmledit.define(host, uuid, edited)
        except xmledit.EditRefused as exc:
            self.post_message(messages.XmlRefused(str(exc), exc.line))
        except KvmtuiError as exc:
            self.post_message(messages.XmlRefused(str(exc), None))
        else:
            self.post_message(messages.XmlSaved(name))

    def on_xml_refused(self, message: messages.XmlRefused) -> None:
        self._busy(False)
        self._status(message.text, error=True)
        area = self.text_area
        if message.line is not None and message.line >= 1:
            area.cursor_location = (message.line - 1, 0)
            area.scroll_cursor_visible(center=True)
        area.focus()

    def on_xml_saved(self, message: messages.XmlSaved) -> None:
        self._busy(False)
        later = " (the running guest gets it at its next boot)" if self.guest.active else ""
        self.app.notify(f"Saved the definition of {message.name}{later}.")
        self.dismiss(None)

    def on_work_failed(self, message: messages.WorkFailed) -> None:
        self._busy(False, "")

    # -- leaving -------------------------------------------------------------------------

    def action_close(self) -> None:
        if not self.edited or self.viewer:
            self.dismiss(None)
            return

        def answered(discard: bool | None) -> None:
            if discard:
                self.dismiss(None)

        question = f"Close the editor? Your edits to '{self.guest.name}' are not saved."
        self.app.push_screen(ConfirmScreen(question, "Discard edits"), answered)

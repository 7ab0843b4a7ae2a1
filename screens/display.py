"""A guest's graphical screen inside the terminal: screenshots drawn as half-blocks, keys
sent with send-key.

Screenshots are taken by a thread worker, one at a time: the next is scheduled after the
last one came back (:class:`~kvmtui.backend.display.RefreshPolicy` says when), so a slow
link only slows this screen. Keys are queued and sent in order by one thread, one
send-key call per press; a paste is typed at a bounded rate, after a question when long.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from kvmtui.backend import display
from kvmtui.backend.display_keys import MENU_COMBOS, text_presses
from kvmtui.backend.errors import KvmtuiError
from kvmtui.backend.host import Host
from kvmtui.screens.confirm import ConfirmScreen
from kvmtui.screens.guest_view import GuestViewScreen
from kvmtui.screens.path_prompt import PathScreen, file_refusal
from kvmtui.tui import messages
from kvmtui.tui.graphics import Graphics
from kvmtui.tui.widgets.screen_image import ScreenImage
from kvmtui.tui.widgets.terminal import LEAVE_KEY
from kvmtui.tui.workers import work

KEY_MENU_KEY = "shift+f2"
SAVE_KEY = "shift+f3"
HINT = "Ctrl+] leave | Shift+F2 key menu (Ctrl+Alt+Del...) | Shift+F3 save PNG | paste types"
#: Keys queued but not yet sent beyond this are dropped (a stuck host must not pile up).
MAX_QUEUED_KEYS = 10_000
#: The shortest wait before the next screenshot (see _schedule).
MIN_DELAY_S = 0.01


@dataclass
class FrameArrived(Message, bubble=False):
    capture: display.Capture


@dataclass
class DisplayProblem(Message, bubble=False):
    text: str


@dataclass
class KeysTyped(Message, bubble=False):
    count: int


class KeyMenuScreen(ModalScreen[tuple[int, ...] | None]):
    """Keys a terminal cannot send; dismisses with the chosen codes."""

    DEFAULT_CSS = """
    KeyMenuScreen { align: center middle; }
    KeyMenuScreen > Vertical {
        width: 44; height: auto; max-height: 100%; border: thick $primary; background: $surface;
    }
    KeyMenuScreen OptionList { height: auto; max-height: 16; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Send to the guest (escape cancels):")
            yield OptionList(*(Option(label) for label, _ in MENU_COMBOS))

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(MENU_COMBOS[event.option_index][1])

    def action_cancel(self) -> None:
        self.dismiss(None)


class SavePathScreen(PathScreen):
    """Asks where to save the screen; dismisses with the path, or None."""

    def __init__(self, suggestion: str) -> None:
        super().__init__(
            "Save the current screen as a PNG file:",
            suggestion,
            "Save",
            "save-path",
            refusal=file_refusal,
        )


class DisplayScreen(GuestViewScreen):
    """The graphical screen of one running guest."""

    PART = "display"
    HINT = HINT
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(LEAVE_KEY, "leave", "Leave display", key_display="Ctrl+]", priority=True),
        Binding(KEY_MENU_KEY, "key_menu", "Key menu"),
        Binding(SAVE_KEY, "save", "Save PNG"),
    ]
    RESERVED_KEYS = frozenset({LEAVE_KEY, KEY_MENU_KEY, SAVE_KEY})

    def __init__(self, host: Host, uuid: str, name: str | None = None) -> None:
        super().__init__(host, uuid, name)
        self.source = display.ScreenSource(host, uuid)
        self.policy = display.RefreshPolicy()
        self.frame: display.Frame | None = None
        self.interval = self.policy.fastest
        self._timer: Timer | None = None
        self._capture_started = 0.0
        #: Key presses sent so far (one send-key call each).
        self.keys_sent = 0
        self._ended = threading.Event()
        self._keys: queue.Queue[tuple[tuple[int, ...], float]] = queue.Queue()
        self._paste_cancel = threading.Event()

    def first_status(self) -> str:
        return "Taking the first screenshot..."

    def view_widget(self) -> ScreenImage:
        graphics = getattr(self.app, "graphics", Graphics.TEXT)
        if graphics is Graphics.TEXT:
            return ScreenImage(reserved_keys=self.RESERVED_KEYS, id="display-image")
        # Loaded only when pictures were chosen (textual-image asked the terminal at start).
        from kvmtui.tui.widgets.screen_picture import ScreenPicture

        return ScreenPicture(graphics, reserved_keys=self.RESERVED_KEYS, id="display-image")

    @property
    def image(self) -> ScreenImage:
        return self.query_one(ScreenImage)

    def on_mount(self) -> None:
        self.image.focus()
        self.capture()
        self.send_queued_keys()

    def on_unmount(self) -> None:
        self._ended.set()
        self._paste_cancel.set()
        if self._timer is not None:
            self._timer.stop()

    def _header_text(self) -> str:
        size = f"{self.frame.size[0]}x{self.frame.size[1]}" if self.frame else "-"
        return (
            f" Screen of {self.guest_name} on {self.host.label}   {size}   "
            f"refresh every {self.interval:.1f} s"
        )

    # -- screenshots -----------------------------------------------------------------

    @work(doing=lambda self: f"taking a screenshot of '{self.guest_name}'", group="capture",
          exclusive=True)  # fmt: skip
    def capture(self) -> None:
        if self._ended.is_set():
            return
        self._capture_started = time.monotonic()
        try:
            if self.frame is None:  # opened before the guest list knew: say it plainly
                no_display = display.has_display(self.host, self.uuid)
                if no_display is not None:
                    self.post_message(DisplayProblem(f"'{self.guest_name}': {no_display}."))
                    return
            capture = self.source.capture()
        except KvmtuiError as error:
            self.post_message(DisplayProblem(str(error)))
            return
        self.post_message(FrameArrived(capture))

    def on_frame_arrived(self, message: FrameArrived) -> None:
        capture = message.capture
        if capture.frame is not None:
            self.frame = capture.frame
            self.image.show(capture.frame.image)
        self.set_status(f"Live: {capture.seconds:.2f} s a screenshot")
        self.interval = self.policy.next_interval(capture.changed, capture.seconds)
        self._refresh_header()
        # The interval runs from one screenshot's start to the next one's.
        self._schedule(max(0.0, self.interval - (time.monotonic() - self._capture_started)))

    def on_display_problem(self, message: DisplayProblem) -> None:
        self.set_status(message.text, problem=True)
        self.interval = self.policy.slowest
        self._schedule(self.interval)  # a guest that stopped may run again

    def on_work_failed(self, message: messages.WorkFailed) -> None:
        self.set_status(message.text, problem=True)
        self._schedule(self.policy.slowest)

    def _schedule(self, delay: float) -> None:
        if self._ended.is_set() or not self.is_attached:
            return
        if self._timer is not None:
            self._timer.stop()
        # Never 0: Textual's timer divides by its interval when it runs late (a capture
        # longer than the interval, under load: ZeroDivisionError, seen with CPU hogs).
        self._timer = self.set_timer(max(delay, MIN_DELAY_S), self.capture)

    # -- keys ------------------------------------------------------------------------

    def enqueue(self, codes: tuple[int, ...], gap: float = 0.0) -> bool:
        if self._keys.qsize() >= MAX_QUEUED_KEYS:
            self.set_status("Too many keys wait for the guest; this one was dropped.", problem=True)
            return False
        self._keys.put((codes, gap))
        return True

    @work(doing=lambda self: f"sending keys to '{self.guest_name}'", group="keys")
    def send_queued_keys(self) -> None:
        sent = 0
        while not self._ended.is_set():
            try:
                codes, gap = self._keys.get(timeout=0.25)
            except queue.Empty:
                if sent:
                    self.post_message(KeysTyped(sent))
                    sent = 0
                continue
            try:
                display.send_keys(self.host, self.uuid, codes)
            except KvmtuiError as error:
                self.post_message(DisplayProblem(str(error)))
                continue
            sent += 1
            self.keys_sent += 1
            if gap and self._ended.wait(gap):
                return

    @on(ScreenImage.KeyPressed)
    def _key(self, message: ScreenImage.KeyPressed) -> None:
        self.policy.poke()
        self.enqueue(message.codes)

    def on_keys_typed(self, message: KeysTyped) -> None:
        # Typed keys change the screen: look again now rather than after a long idle wait.
        if self.interval > self.policy.fastest:
            self.interval = self.policy.fastest
            self._schedule(self.interval)

    def on_paste(self, event: events.Paste) -> None:
        event.stop()
        self.paste(event.text)

    def paste(self, text: str) -> None:
        """Type TEXT into the guest, asking first when it is long."""
        presses, missing = text_presses(text)
        if not presses:
            self.notify("Nothing to type: no character of the paste has a key.")
            return
        gap = 1.0 / display.PASTE_KEYS_PER_S

        def go(yes: bool | None = True) -> None:
            if not yes:
                return
            for codes in presses:
                if not self.enqueue(codes, gap):
                    break
            if missing:
                self.notify(f"Left out characters with no key on a US keyboard: {missing!r}")

        if len(presses) > display.PASTE_CONFIRM_CHARS:
            seconds = len(presses) / display.PASTE_KEYS_PER_S
            question = (
                f"Type {len(presses)} keys into '{self.guest_name}'? "
                f"At {display.PASTE_KEYS_PER_S:.0f} keys/s this takes {seconds:.0f} s."
            )
            self.app.push_screen(ConfirmScreen(question, "Type"), go)
        else:
            go()

    # -- actions ---------------------------------------------------------------------

    def action_leave(self) -> None:
        self._ended.set()
        self.dismiss(None)

    def action_key_menu(self) -> None:
        def chosen(codes: tuple[int, ...] | None) -> None:
            if codes:
                self.policy.poke()
                self.enqueue(codes)

        self.app.push_screen(KeyMenuScreen(), chosen)

    def action_save(self) -> None:
        frame = self.frame
        if frame is None:
            self.notify("No screen yet to save.")
            return

        def chosen(path: str | None) -> None:
            if path:
                self.save(frame, path)

        suggestion = str(Path.cwd() / f"{self.guest_name}-screen.png")
        self.app.push_screen(SavePathScreen(suggestion), chosen)

    @work(doing="saving a screenshot")
    def save(self, frame: display.Frame, path: str) -> None:
        try:
            saved = display.save_png(frame, path)
        except KvmtuiError as error:
            self.app.call_from_thread(self.notify, str(error), severity="error")
            return
        self.app.call_from_thread(self.notify, f"Saved the screen to {saved}.")

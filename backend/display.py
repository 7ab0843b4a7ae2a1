"""A guest's graphical screen: screenshots over a libvirt stream, keys through send-key.

``virDomainScreenshot`` hands the image over a stream, so remote hosts work like the
local one; QEMU answers PNG. A frame's digest (BLAKE2 of the bytes as they came) tells
an unchanged screen without decoding it, and :class:`RefreshPolicy` then slows the
refresh down. Pillow decodes and scales; :func:`half_block_rows` gives the pixel pairs a
terminal draws as ``▀`` cells. Keys are Linux keycodes (:mod:`display_keys`), one
send-key call per press: libvirt presses a call's codes in order and releases them all.

libvirt refuses screenshots and keys on a read-only connection; kvmtui refuses first.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import libvirt

from kvmtui.backend import errors
from kvmtui.backend.host import Host
from kvmtui.backend.model import Guest

if TYPE_CHECKING:  # Pillow is imported with the first frame: the guest list never needs it
    from PIL import Image

CAPTURE_ACTION = "take a screenshot of"
KEYS_ACTION = "send keys to"
SAVE_ACTION = "save the screen of"
NO_DISPLAY = "this guest has no display; use the serial console"
RECV_SIZE = 256 * 1024
#: A paste is typed at most this many keys per second (the guest drops faster input).
PASTE_KEYS_PER_S = 25.0
#: Frames kept by digest: a blinking cursor toggles between two, a spinner a few more.
RECENT_FRAMES = 4
#: Above this many characters a paste asks first.
PASTE_CONFIRM_CHARS = 200

RGB = tuple[int, int, int]


def display_reason(domain_xml: str) -> str | None:
    """None when the domain XML has a screen to capture (:attr:`Domain.has_display`),
    else why not. Raises ``DomainXmlError`` for text that is not domain XML."""
    from kvmtui.backend.domain import Domain  # lxml: not on the start-up path

    return None if Domain.from_xml(domain_xml).has_display else NO_DISPLAY


def can_show(host: Host, guest: Guest | None) -> str | None:
    """None when the screen of GUEST can be shown now, else the reason (for the key's
    disabled state); whether it has a display at all is :func:`has_display`'s question."""
    if host.readonly:
        return "read-only connection (libvirt refuses screenshots and keys)"
    if not host.connected:
        return f"{host.label} is not connected"
    if guest is not None and not guest.state.active:
        return f"the guest is not running ({guest.state})"
    return None


def has_display(host: Host, uuid: str) -> str | None:
    """None when the guest has a display, else :data:`NO_DISPLAY` (reads its live XML)."""
    from kvmtui.backend.domain.layout import read_domain  # lxml: not on the start-up path

    return None if read_domain(host, uuid, CAPTURE_ACTION).has_display else NO_DISPLAY


@dataclass(frozen=True, slots=True)
class Frame:
    """One screenshot: the bytes as they came, their digest and the decoded image."""

    data: bytes
    mime: str
    digest: bytes
    image: Image.Image = field(compare=False)
    seconds: float  # the capture's round trip

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size


def digest_of(data: bytes) -> bytes:
    """A cheap fingerprint of a frame (about 20 us for a text console's PNG)."""
    return hashlib.blake2b(data, digest_size=16).digest()


def decode(data: bytes) -> Image.Image:
    """The frame as an RGB image (PNG from QEMU, PPM from older hypervisors)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")


def _guest_name(host: Host, uuid: str) -> str:
    cached = host.guest(uuid)
    return cached.name if cached else uuid


class ScreenSource:
    """Screenshots of one guest; counts its calls (for tests and the idle figure)."""

    def __init__(self, host: Host, uuid: str) -> None:
        self.host = host
        self.uuid = uuid
        self.calls = 0
        self._lock = threading.Lock()
        self._last: bytes | None = None
        self._recent: OrderedDict[bytes, Frame] = OrderedDict()

    def grab(self) -> tuple[bytes, str, float]:
        """The screen's bytes, their MIME type and the round trip in seconds."""
        name = _guest_name(self.host, self.uuid)
        self.host.require_writable(CAPTURE_ACTION, name)
        dom = self.host.domain(self.uuid, CAPTURE_ACTION)
        conn = self.host.connection(CAPTURE_ACTION)
        with self._lock:
            self.calls += 1
        started = time.monotonic()
        stream = conn.newStream(0)
        try:
            mime = dom.screenshot(stream, 0, 0) or "application/octet-stream"
            chunks: list[bytes] = []
            while True:
                chunk = stream.recv(RECV_SIZE)
                if not chunk:
                    break
                chunks.append(chunk)
            stream.finish()
        except libvirt.libvirtError as exc:
            with contextlib.suppress(libvirt.libvirtError):  # gone with the failure
                stream.abort()
            raise errors.from_libvirt(
                exc, host=self.host.label, action=CAPTURE_ACTION, guest=name
            ) from exc
        return b"".join(chunks), mime, time.monotonic() - started

    def capture(self) -> Capture:
        """The screen now: a new frame to draw or not, and whether it is new content.

        A text console's blinking cursor alternates between two images; a frame whose
        digest was seen among the last :data:`RECENT_FRAMES` is drawn again from the
        kept copy (no decoding) but does not count as a change, so the refresh can slow.
        """
        data, mime, seconds = self.grab()
        digest = digest_of(data)
        if digest == self._last:
            return Capture(None, False, seconds)
        self._last = digest
        kept = self._recent.get(digest)
        if kept is not None:
            self._recent.move_to_end(digest)
            return Capture(kept, False, seconds)
        try:
            image = decode(data)
        except (OSError, ValueError) as exc:
            raise errors.OperationError(
                f"Could not {CAPTURE_ACTION} guest '{_guest_name(self.host, self.uuid)}' on "
                f"{self.host.label}: the hypervisor sent an image kvmtui cannot read "
                f"({mime}, {len(data)} bytes).",
                host=self.host.label,
                action=CAPTURE_ACTION,
            ) from exc
        frame = Frame(data, mime, digest, image, seconds)
        self._recent[digest] = frame
        while len(self._recent) > RECENT_FRAMES:
            self._recent.popitem(last=False)
        return Capture(frame, True, seconds)


@dataclass(frozen=True, slots=True)
class Capture:
    """One screenshot call's outcome."""

    frame: Frame | None  # None: the same image as the last call's
    changed: bool  # new content (not the last frame, nor one seen just before)
    seconds: float


class RefreshPolicy:
    """How long to wait before the next screenshot.

    A changing screen is fetched every ``fastest`` seconds; each unchanged frame stretches
    the wait by ``backoff`` up to ``slowest``. A slow link (a capture that takes long)
    never gets more than a ``duty`` share of the time: the wait is at least the capture
    time times ``(1 - duty) / duty``.
    """

    def __init__(
        self,
        fastest: float = 0.18,
        slowest: float = 2.0,
        backoff: float = 1.5,
        duty: float = 0.5,
    ) -> None:
        self.fastest = fastest
        self.slowest = slowest
        self.backoff = backoff
        self.duty = duty
        self.interval = fastest

    def next_interval(self, changed: bool, capture_seconds: float) -> float:
        if changed:
            self.interval = self.fastest
        else:
            self.interval = min(self.slowest, self.interval * self.backoff)
        link_floor = capture_seconds * (1 - self.duty) / self.duty
        return max(self.interval, min(link_floor, self.slowest * 4))

    def poke(self) -> None:
        """Something was typed: the screen will change, look again soon."""
        self.interval = self.fastest


def fit_cells(image_size: tuple[int, int], columns: int, rows: int) -> tuple[int, int]:
    """Pixels (width, height) to scale to so the image fills at most COLUMNS x ROWS cells
    of two square pixels each (a cell is about twice as tall as it is wide), keeping the
    aspect ratio. The height is even: two pixels per cell row."""
    width, height = image_size
    if width <= 0 or height <= 0 or columns <= 0 or rows <= 0:
        return (0, 0)
    scale = min(columns / width, rows * 2 / height)
    scaled_width = max(1, min(columns, round(width * scale)))
    scaled_height = max(2, min(rows * 2, round(height * scale)))
    return scaled_width, scaled_height + scaled_height % 2


def scale(image: Image.Image, columns: int, rows: int) -> Image.Image:
    """IMAGE scaled (box filter: each pixel the mean of what it covers) to fit the cells."""
    from PIL import Image

    size = fit_cells(image.size, columns, rows)
    if size == (0, 0):
        return Image.new("RGB", (0, 0))
    if size[1] > image.size[1]:  # odd height or upscaling: keep the pairs complete
        return image.resize(size, Image.Resampling.NEAREST)
    return image.resize(size, Image.Resampling.BOX)


def half_block_rows(scaled: Image.Image) -> list[list[tuple[RGB, RGB]]]:
    """Per cell row, per column: (upper pixel, lower pixel) of a scaled image."""
    width, height = scaled.size
    pixels: Sequence[RGB] = list(scaled.getdata())
    rows: list[list[tuple[RGB, RGB]]] = []
    for top in range(0, height - 1, 2):
        upper = pixels[top * width : (top + 1) * width]
        lower = pixels[(top + 1) * width : (top + 2) * width]
        rows.append(list(zip(upper, lower, strict=True)))
    return rows


def send_keys(host: Host, uuid: str, codes: Sequence[int]) -> None:
    """Press CODES in order and release them all (one key, maybe with modifiers)."""
    name = _guest_name(host, uuid)
    host.require_writable(KEYS_ACTION, name)
    dom = host.domain(uuid, KEYS_ACTION)
    try:
        dom.sendKey(libvirt.VIR_KEYCODE_SET_LINUX, 0, list(codes), len(codes), 0)
    except libvirt.libvirtError as exc:
        raise errors.from_libvirt(exc, host=host.label, action=KEYS_ACTION, guest=name) from exc


def type_presses(
    host: Host,
    uuid: str,
    presses: Sequence[Sequence[int]],
    *,
    keys_per_s: float = PASTE_KEYS_PER_S,
    cancelled: Callable[[], bool] = lambda: False,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Send PRESSES one call each, at most KEYS_PER_S a second; the number sent."""
    host.require_writable(KEYS_ACTION, _guest_name(host, uuid))
    gap = 1.0 / keys_per_s
    sent = 0
    for codes in presses:
        if cancelled():
            break
        send_keys(host, uuid, codes)
        sent += 1
        sleep(gap)
    return sent


def save_png(frame: Frame, path: str | Path) -> Path:
    """Write the frame as a PNG file; a clear sentence when the path will not do."""
    target = Path(path).expanduser()
    if target.is_dir():
        raise errors.KvmtuiError(f"Could not save the screen: {target} is a folder.")
    if not target.parent.is_dir():
        raise errors.KvmtuiError(f"Could not save the screen: no folder {target.parent}.")
    try:
        if frame.mime == "image/png":
            target.write_bytes(frame.data)
        else:
            frame.image.save(target, format="PNG")
    except OSError as exc:
        raise errors.KvmtuiError(
            f"Could not save the screen to {target}: {exc.strerror or exc}."
        ) from exc
    return target

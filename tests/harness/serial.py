"""The guest's serial console read straight from its pty (no libvirt stream).

The pty path comes from the live XML. This needs no libvirt event loop and leaves the
process's event implementation to the code under test; it also bypasses libvirt's
console lock, so it does not collide with a stream console opened later.
"""

from __future__ import annotations

import os
import select
import time
import tty
import xml.etree.ElementTree as ET
from types import TracebackType

import libvirt


def serial_pty_path(dom: libvirt.virDomain) -> str:
    """/dev/pts/N of the running guest's console (libvirt fills it in at start)."""
    root = ET.fromstring(dom.XMLDesc(0))
    for element in root.findall("devices/console[@type='pty']"):
        source = element.find("source")
        path = element.get("tty") or (source.get("path", "") if source is not None else "")
        if path:
            return path
    raise LookupError(f"guest {dom.name()} has no pty console (is it running?)")


class SerialConsole:
    """`with SerialConsole(dom) as console: console.send(b"\\r"); console.read_until(...)`"""

    def __init__(self, dom: libvirt.virDomain) -> None:
        self.path = serial_pty_path(dom)
        self._fd = -1

    def __enter__(self) -> SerialConsole:
        self._fd = os.open(self.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self._fd)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        os.close(self._fd)
        self._fd = -1

    def send(self, data: bytes) -> None:
        os.write(self._fd, data)

    def read_until(self, marker: bytes, timeout: float) -> bytes:
        """Everything read up to and including MARKER; TimeoutError with what came."""
        received = b""
        deadline = time.monotonic() + timeout
        while marker not in received:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"{marker!r} not seen on {self.path} within {timeout:.0f} s; got {received!r}"
                )
            readable, _, _ = select.select([self._fd], [], [], min(remaining, 0.5))
            if readable:
                received += os.read(self._fd, 4096)
        return received[: received.index(marker) + len(marker)]

    def wait_for_prompt(self, prompt: bytes, timeout: float, every: float = 1.0) -> None:
        """Press Enter until the shell shows ``prompt``: at boot the agent answers before
        init has opened ttyS0 for the shell, and bytes sent to a tty nobody has open
        are dropped, so one Enter (or a command) sent then is lost."""
        deadline = time.monotonic() + timeout
        while True:
            self.send(b"\r")
            try:
                self.read_until(prompt, min(every, max(deadline - time.monotonic(), 0.1)))
                return
            except TimeoutError:
                if time.monotonic() >= deadline:
                    raise


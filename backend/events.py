"""The one libvirt event loop of the process.

libvirt's own poll-based implementation runs in a daemon thread. It is registered
once, before any connection is opened, and it is independent of asyncio: the
libvirtaio pitfall (timers scheduled from the wrong thread fire 5 s late, see the
hypervisor notes) cannot happen. Callbacks run on this thread; the backend only
queues work from them and never blocks there.
"""

from __future__ import annotations

import threading
from typing import Any

import libvirt

_lock = threading.Lock()
_thread: threading.Thread | None = None


def _run() -> None:
    while True:
        if libvirt.virEventRunDefaultImpl() < 0:  # pragma: no cover - libvirt internal failure
            break


def _quiet(_ctx: Any, _err: Any) -> None:
    """libvirt prints every error to stderr by default, which would draw over the TUI."""


def ensure_event_loop() -> None:
    """Register libvirt's default event implementation and start its thread, once.

    Also silences libvirt's default stderr error printer: errors reach the admin as
    exceptions turned into sentences, never as raw text on the terminal.
    """
    global _thread
    with _lock:
        if _thread is not None:
            return
        libvirt.registerErrorHandler(_quiet, None)
        libvirt.virEventRegisterDefaultImpl()
        _thread = threading.Thread(target=_run, name="libvirt-events", daemon=True)
        _thread.start()


def event_loop_running() -> bool:
    return _thread is not None and _thread.is_alive()

"""A guest's serial console over a libvirt stream: bytes in and out, takeover, reattach.

The stream is non-blocking and driven by libvirt's event loop (backend/events.py), so it
works the same on local and remote URIs, with no ``virsh`` child and no pty of our own.
Stream callbacks run on the event thread and never block: they read what is there, hand
it to ``on_data`` and queue anything slow (working out why a stream ended, reopening it)
for the session's own thread. This mirrors ``virsh console``: received bytes go out as
they arrive, bytes to send are buffered and written when the stream is writable.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any

import libvirt

from kvmtui.backend import errors, failures
from kvmtui.backend.errors import KvmtuiError
from kvmtui.backend.events import ensure_event_loop
from kvmtui.backend.host import Host
from kvmtui.backend.model import Guest

log = logging.getLogger(__name__)

ACTION = "open the console of"
#: Bytes read per recv call; the stream hands over what the daemon has queued.
RECV_SIZE = 16 * 1024
#: While the console waits for its guest (or host) to come back, check this often (s).
REATTACH_POLL_S = 0.25
#: After an EOF, reopen on the same QEMU process only once it outlived this (s).
SAME_PROCESS_GRACE_S = 2.0
#: Default size cap of a console log before it is rotated to ``NAME.1``.
LOG_CAP_BYTES = 16 * 1024 * 1024

_READ_EVENTS = (
    libvirt.VIR_STREAM_EVENT_READABLE
    | libvirt.VIR_STREAM_EVENT_HANGUP
    | libvirt.VIR_STREAM_EVENT_ERROR
)
_BUSY_TEXT = "active console session exists"


class CloseReason(StrEnum):
    """Why a console stream ended."""

    GUEST_STOPPED = "guest stopped"
    TAKEN_OVER = "taken over by another client"
    STREAM_ERROR = "stream error"
    HOST_DISCONNECTED = "host disconnected"
    CLOSED = "closed"  # by us
    INTERNAL_ERROR = "internal error"  # a bug in kvmtui; the traceback is in the log

    @property
    def reattaches(self) -> bool:
        """True when the session reopens by itself once the guest or host is back."""
        return self in (CloseReason.GUEST_STOPPED, CloseReason.HOST_DISCONNECTED)


class ConsoleBusyError(errors.OperationError):
    """Another client holds the console; opening with ``force=True`` takes it over."""


def can_open(host: Host, guest: Guest | None = None) -> str | None:
    """None when a console can be opened on HOST (for GUEST), else the reason it cannot.

    For the guest list to disable its console key with the reason as the tooltip/notice.
    """
    if host.readonly:
        return (
            f"Consoles cannot be opened on {host.label}: the connection is read-only "
            "(libvirt refuses). Start kvmtui without -r/--readonly."
        )
    if not host.connected:
        return f"{host.label} is not connected."
    if guest is not None and not guest.state.active:
        return f"Guest '{guest.name}' is not running ({guest.state})."
    return None


def describe(reason: CloseReason, guest: str) -> str:
    """One sentence for the admin about a console that ended."""
    match reason:
        case CloseReason.GUEST_STOPPED:
            return f"Guest '{guest}' stopped; the console reattaches when it runs again."
        case CloseReason.TAKEN_OVER:
            return f"Another client took over the console of '{guest}'."
        case CloseReason.HOST_DISCONNECTED:
            return f"The host of '{guest}' is disconnected; the console reattaches when it is back."
        case CloseReason.STREAM_ERROR:
            return f"The console stream of '{guest}' failed."
        case CloseReason.INTERNAL_ERROR:
            return failures.internal_sentence(f"reading the console of '{guest}'")
        case _:
            return f"The console of '{guest}' is closed."


class ConsoleLog:
    """Append everything the guest prints to a file, flushed, rotated at a size cap.

    When the file would pass ``max_bytes`` it is renamed to ``NAME.1`` (replacing an older
    one) and a new file is started, so at most twice the cap is kept on disk.
    """

    def __init__(self, path: str | Path, max_bytes: int = LOG_CAP_BYTES) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("ab")
        self._size = self._file.tell()

    def write(self, data: bytes) -> None:
        with self._lock:
            if self._file.closed:
                return
            if self._size and self._size + len(data) > self.max_bytes:
                self._rotate()
            self._file.write(data)
            self._file.flush()
            self._size += len(data)

    def _rotate(self) -> None:
        self._file.close()
        self.path.replace(self.path.with_name(self.path.name + ".1"))
        self._file = self.path.open("ab")
        self._size = 0

    def close(self) -> None:
        with self._lock:
            self._file.close()


DataCallback = Callable[[bytes], None]
ClosedCallback = Callable[[CloseReason], None]
AttachedCallback = Callable[[bool], None]


class ConsoleSession:
    """The serial console of one guest on one host.

    ``on_data(bytes)`` and ``on_closed(reason)`` are called from libvirt's event thread
    or the session's thread: hand the work to the UI, never block there.
    ``on_attached(reattached)`` is called after every successful open, with True when the
    session reopened by itself (after the guest restarted or the host came back).
    """

    def __init__(
        self,
        host: Host,
        uuid: str,
        *,
        on_data: DataCallback,
        on_closed: ClosedCallback,
        on_attached: AttachedCallback | None = None,
        name: str | None = None,
        log_file: ConsoleLog | None = None,
        reattach: bool = True,
    ) -> None:
        self.host = host
        self.uuid = uuid
        cached = host.guest(uuid)
        self.name = name or (cached.name if cached else uuid)
        self.on_data = on_data
        self.on_closed = on_closed
        self.on_attached = on_attached
        self.log_file = log_file
        self.reattach = reattach
        self._lock = threading.Lock()
        self._stream: libvirt.virStream | None = None
        self._generation = 0
        self._domain_id: int | None = None
        self._outbox = bytearray()
        self._events = 0
        self._paused = False
        self._closing = False
        self._waiting = False  # for the guest or host to come back
        self._closed_reason: CloseReason | None = None
        self._ended_at = 0.0
        self._queue: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._thread: threading.Thread | None = None

    # -- what callers use ------------------------------------------------------------

    @property
    def attached(self) -> bool:
        return self._stream is not None

    @property
    def closed_reason(self) -> CloseReason | None:
        """Why the last stream ended; None while attached or before the first open."""
        return self._closed_reason

    @property
    def waiting(self) -> bool:
        """True while the session waits for the guest or host to reattach."""
        return self._waiting

    def open(self, force: bool = False) -> None:
        """Open the console (blocking: call from a worker thread).

        Raises ReadOnlyError before libvirt is called on a read-only connection,
        ConsoleBusyError when another client holds the console and ``force`` is False,
        and other KvmtuiErrors with a sentence for the admin.
        """
        self.host.require_writable(ACTION, self.name)
        self._closing = False
        self._waiting = False
        self._open_stream(force)
        self._ensure_thread()
        self._notify_attached(False)

    def send(self, data: bytes) -> None:
        """Queue bytes for the guest; thread-safe, never blocks on libvirt; dropped if detached."""
        if not data:
            return
        with self._lock:
            stream = self._stream
            if stream is None:
                return  # keys typed while detached are dropped, not replayed later
            self._outbox += data
            self._update_events_locked(stream)

    def set_paused(self, paused: bool) -> None:
        """Stop (or resume) reading: flow control when the reader falls behind a flood.

        While paused the daemon's and QEMU's buffers fill and the guest's writes block,
        which is what a real serial line does to a slow terminal.
        """
        with self._lock:
            if self._paused == paused:
                return
            self._paused = paused
            stream = self._stream
            if stream is not None:
                self._update_events_locked(stream)

    def close(self) -> None:
        """End the stream and stop reattaching; safe to call more than once.

        Aborting the stream is one round trip to the daemon: call from a worker thread.
        """
        self._closing = True
        self._waiting = False
        with self._lock:
            stream, self._stream = self._stream, None
            self._generation += 1
        if stream is not None:
            self._finish(stream, abort=True)
        self._queue.put(("stop",))
        if self.log_file is not None:
            self.log_file.close()

    # -- opening ---------------------------------------------------------------------

    def _open_stream(self, force: bool) -> None:
        ensure_event_loop()
        conn = self.host.connection(f"{ACTION} guest '{self.name}'")
        dom = self.host.domain(self.uuid, f"{ACTION}")
        flags = libvirt.VIR_DOMAIN_CONSOLE_FORCE if force else libvirt.VIR_DOMAIN_CONSOLE_SAFE
        stream = conn.newStream(libvirt.VIR_STREAM_NONBLOCK)
        try:
            try:
                dom.openConsole(None, stream, flags)
            except libvirt.libvirtError as exc:
                if not force and exc.get_error_code() == libvirt.VIR_ERR_OPERATION_UNSUPPORTED:
                    # Drivers without safe-console support: open without the flag.
                    dom.openConsole(None, stream, 0)
                else:
                    raise
            domain_id = dom.ID()
        except libvirt.libvirtError as exc:
            with contextlib.suppress(libvirt.libvirtError):
                stream.abort()
            raise _open_error(exc, self.host.label, self.name) from exc
        with self._lock:
            self._generation += 1
            generation = self._generation
            self._stream = stream
            self._domain_id = domain_id
            self._closed_reason = None
            self._events = self._wanted_events_locked()
            try:
                stream.eventAddCallback(self._events, self._on_stream_event, generation)
            except libvirt.libvirtError as exc:
                self._stream = None
                with contextlib.suppress(libvirt.libvirtError):
                    stream.abort()
                raise errors.from_libvirt(
                    exc, host=self.host.label, action=ACTION, guest=self.name
                ) from exc

    def _wanted_events_locked(self) -> int:
        events = 0 if self._paused else _READ_EVENTS
        events |= libvirt.VIR_STREAM_EVENT_HANGUP | libvirt.VIR_STREAM_EVENT_ERROR
        if self._outbox:
            events |= libvirt.VIR_STREAM_EVENT_WRITABLE
        return events

    def _update_events_locked(self, stream: libvirt.virStream) -> None:
        wanted = self._wanted_events_locked()
        if wanted != self._events:
            self._events = wanted
            with contextlib.suppress(libvirt.libvirtError):
                stream.eventUpdateCallback(wanted)

    # -- event thread: read, write, notice the end; never block ---------------------

    def _on_stream_event(self, stream: libvirt.virStream, events: int, generation: int) -> None:
        if generation != self._generation:
            return
        try:
            if events & libvirt.VIR_STREAM_EVENT_READABLE and not self._read(stream):
                self._stream_ended(stream, generation, eof=True)
                return
            if events & libvirt.VIR_STREAM_EVENT_WRITABLE:
                self._write(stream)
        except libvirt.libvirtError as exc:
            log.debug("console stream of %s: %s", self.name, exc)
            self._stream_ended(stream, generation, eof=False)
            return
        except Exception as exc:  # a bug: logged, and the session ends with a sentence
            failures.describe(exc, f"reading the console of '{self.name}'")
            self._stream_ended(stream, generation, eof=False, internal=True)
            return
        if events & (libvirt.VIR_STREAM_EVENT_HANGUP | libvirt.VIR_STREAM_EVENT_ERROR):
            self._stream_ended(stream, generation, eof=not events & libvirt.VIR_STREAM_EVENT_ERROR)

    def _read(self, stream: libvirt.virStream) -> bool:
        """Read what is queued; False at end of stream."""
        while not self._paused:
            data = stream.recv(RECV_SIZE)
            if data == -2:  # EAGAIN: nothing more for now
                return True
            if not data:
                return False
            assert isinstance(data, bytes)
            if self.log_file is not None:
                try:
                    self.log_file.write(data)
                except OSError as exc:
                    log.warning("console log %s: %s", self.log_file.path, exc)
                    self.log_file = None
            self.on_data(data)
        return True

    def _write(self, stream: libvirt.virStream) -> None:
        with self._lock:
            while self._outbox:
                sent = stream.send(bytes(self._outbox[:RECV_SIZE]))
                if sent == -2:  # EAGAIN: wait for the next writable event
                    break
                del self._outbox[:sent]
            self._update_events_locked(stream)

    def _stream_ended(
        self, stream: libvirt.virStream, generation: int, *, eof: bool, internal: bool = False
    ) -> None:
        with self._lock:
            if generation != self._generation:
                return
            self._stream = None
            self._generation += 1
            self._outbox.clear()
        self._finish(stream, abort=not eof)
        self._queue.put(("ended", eof, internal))

    def _finish(self, stream: libvirt.virStream, *, abort: bool) -> None:
        with contextlib.suppress(libvirt.libvirtError):
            stream.eventRemoveCallback()
        with contextlib.suppress(libvirt.libvirtError):
            if abort:
                stream.abort()
            else:
                stream.finish()

    # -- session thread: why it ended, reattach --------------------------------------

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._thread = threading.Thread(target=self._run, name=f"console:{self.name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=REATTACH_POLL_S if self._waiting else None)
            except queue.Empty:
                with failures.reported(f"reattaching the console of '{self.name}'", self._failed):
                    self._try_reattach()
                continue
            if item[0] == "stop":
                return
            if item[0] == "ended" and not self._closing:
                with failures.reported(f"reading the console of '{self.name}'", self._failed):
                    self._ended(eof=item[1], internal=item[2])

    def _ended(self, *, eof: bool, internal: bool) -> None:
        reason = CloseReason.INTERNAL_ERROR if internal else self._why_ended(eof=eof)
        self._closed_reason = reason
        self._waiting = self.reattach and reason.reattaches
        self._ended_at = time.monotonic()
        self._emit_closed(reason)
        if self._waiting:
            self._try_reattach()

    def _failed(self, _sentence: str) -> None:
        """Working out the end (or reattaching) hit a bug: stop, and say so."""
        self._waiting = False
        self._closed_reason = CloseReason.INTERNAL_ERROR
        self._emit_closed(CloseReason.INTERNAL_ERROR)

    def _why_ended(self, *, eof: bool) -> CloseReason:
        """Classify the end: QEMU closing its end is EOF, a forced takeover an error."""
        try:
            conn = self.host.connection()
            if not conn.isAlive():
                return CloseReason.HOST_DISCONNECTED
            dom = conn.lookupByUUIDString(self.uuid)
            if eof or not dom.isActive() or dom.ID() != self._domain_id:
                return CloseReason.GUEST_STOPPED
        except KvmtuiError:
            return CloseReason.HOST_DISCONNECTED
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return CloseReason.GUEST_STOPPED
            return CloseReason.HOST_DISCONNECTED
        # Same guest, same QEMU process, connection alive: another client forced it away.
        return CloseReason.TAKEN_OVER

    def _try_reattach(self) -> None:
        if self._closing or not self._waiting or not self.host.connected:
            return
        try:
            dom = self.host.domain(self.uuid, ACTION)
            if not dom.isActive():
                return
            # Right after an EOF the dying QEMU may still count as active: wait for a
            # new process (a new domain ID), or for the old one to prove it lives on.
            same_process = dom.ID() == self._domain_id
            if same_process and time.monotonic() - self._ended_at < SAME_PROCESS_GRACE_S:
                return
            self._open_stream(force=False)
        except ConsoleBusyError:
            self._waiting = False
            self._closed_reason = CloseReason.TAKEN_OVER
            self._emit_closed(CloseReason.TAKEN_OVER)
            return
        except (KvmtuiError, libvirt.libvirtError) as exc:
            log.debug("console of %s not back yet: %s", self.name, exc)
            return
        self._waiting = False
        self._notify_attached(True)

    def _emit_closed(self, reason: CloseReason) -> None:
        try:
            self.on_closed(reason)
        except Exception:
            log.exception("console on_closed callback failed")

    def _notify_attached(self, reattached: bool) -> None:
        if self.on_attached is None:
            return
        try:
            self.on_attached(reattached)
        except Exception:
            log.exception("console on_attached callback failed")


def _open_error(exc: libvirt.libvirtError, host: str, guest: str) -> KvmtuiError:
    message = (exc.get_error_message() or str(exc)).lower()
    if _BUSY_TEXT in message:
        return ConsoleBusyError(
            f"The console of guest '{guest}' on {host} is in use by another client "
            "(virsh console or another kvmtui). Take it over to disconnect them.",
            host=host,
            guest=guest,
            action=ACTION,
            detail=exc.get_error_message(),
            code=exc.get_error_code(),
        )
    return errors.from_libvirt(exc, host=host, action=ACTION, guest=guest)

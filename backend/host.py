"""One hypervisor connection: open, watch, keep alive, reconnect, cache its guests.

Each :class:`Host` owns one supervisor thread. libvirt event callbacks (on the event
loop thread) only put work on the host's queue; the supervisor does every RPC that
keeps the cached guest list current, so a slow or dead host only slows itself.
Changes go to a listener callable, called from the supervisor thread.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import libvirt

from kvmtui.backend import errors, failures, reach
from kvmtui.backend import uri as uris
from kvmtui.backend.events import ensure_event_loop
from kvmtui.backend.guests import GuestList, fill_in_figures, list_guests, read_guest
from kvmtui.backend.model import (
    ConnectionState,
    Guest,
    GuestRemoved,
    GuestsLoaded,
    GuestUpdated,
    HostChange,
    HostStatus,
    StatusChanged,
    version_text,
)

log = logging.getLogger(__name__)

Listener = Callable[[HostChange], None]

#: Seconds between reconnect attempts: back-off, then every 15 s.
RETRY_DELAYS: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 15.0)
#: Keepalive on remote links: a probe every 5 s, give up after 3 unanswered.
KEEPALIVE_INTERVAL, KEEPALIVE_COUNT = 5, 3
#: Guests whose missing figures are read in one go before the supervisor looks at its
#: queue again (events, stop): about 50 ms of round trips on a local daemon.
FIGURES_CHUNK = 500
#: Seconds between sweeps that compare each running guest's live and saved definitions
#: (libvirt sends no event for a change to the saved definition alone).
PENDING_SWEEP_S = 60.0
#: Guests the sweeps of all hosts together check per second. One check reads and
#: compares two definitions (about 1.2 ms of CPU); unpaced, 20 hosts of 500 guests
#: swept 10,000 guests a minute, 17 % of a core (bench/many_hosts_bench.py). At 20 a
#: second the sweeps cost at most about 2.5 %; 10,000 guests take 8 minutes a round.
SWEEP_CHECKS_PER_S = 20.0


class _Pace:
    """A rate shared by every host's thread: one ``take`` per ``1/rate`` seconds."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._next = 0.0
        self._lock = threading.Lock()

    def wait_s(self) -> float:
        """Seconds until the next take may succeed (0: now)."""
        return max(0.0, self._next - time.monotonic())

    def take(self) -> bool:
        with self._lock:
            now = time.monotonic()
            if now < self._next:
                return False
            self._next = max(self._next, now - self.interval) + self.interval
            return True


_SWEEP_PACE = _Pace(SWEEP_CHECKS_PER_S)

_CLOSE_REASONS = {
    libvirt.VIR_CONNECT_CLOSE_REASON_ERROR: "I/O error",
    libvirt.VIR_CONNECT_CLOSE_REASON_EOF: "the daemon closed the connection",
    libvirt.VIR_CONNECT_CLOSE_REASON_KEEPALIVE: "keepalive timed out",
    libvirt.VIR_CONNECT_CLOSE_REASON_CLIENT: "closed by the client",
}



def _pending_for(dom: libvirt.virDomain, guest: Guest) -> tuple[str, ...]:
    """What waits for a restart (``backend.pending``), imported on first use: it brings
    the domain model and lxml, which the first frame does not need."""
    from kvmtui.backend.pending import pending_for

    return pending_for(dom, guest)

class Host:
    """A libvirt connection that comes back by itself."""

    def __init__(
        self,
        uri: str | None,
        *,
        readonly: bool = False,
        label: str | None = None,
        listener: Listener | None = None,
        clock: Callable[[], float] = time.time,
        retry_delays: Sequence[float] = RETRY_DELAYS,
        pending_sweep: float = PENDING_SWEEP_S,
    ) -> None:
        self.uri = uri
        self.readonly = readonly
        self.label = label or uris.label_for(uri)
        self._listener = listener
        self._clock = clock
        self._retry_delays = tuple(retry_delays)
        #: Seconds between sweeps for changes waiting for a restart (tests shorten it).
        self.pending_sweep = pending_sweep
        #: Guests whose pending changes the sweep still has to check, and when the next
        #: sweep starts (monotonic); checked one at a time while no event waits.
        self._sweep: collections.deque[str] = collections.deque()
        self._next_sweep = 0.0
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._conn: libvirt.virConnect | None = None
        self._callback_ids: list[int] = []
        self._guests: dict[str, Guest] = {}
        #: ``guests()`` as last built; None after any change to ``_guests``. The pollers
        #: ask every tick: one snapshot object while nothing changes lets them skip work.
        self._snapshot: tuple[Guest, ...] | None = None
        self._agents: dict[str, bool] = {}
        #: The latest listing whose missing figures are still being read (None: none).
        self._filling: object | None = None
        #: While held, a reading of figures waits here (``hold_figures``).
        self._figures_held = False
        self._held_figures: tuple[Any, ...] | None = None
        self._status = HostStatus(
            label=self.label,
            uri=uri or "(libvirt default)",
            readonly=readonly,
            state=ConnectionState.CONNECTING,
            since=clock(),
        )
        self._connected = threading.Event()
        #: Connected, and the first list's figures are all read (``wait_connected``).
        self._complete = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopping = False

    # -- life of the supervisor ------------------------------------------------------

    def start(self) -> None:
        """Start connecting in the background; changes arrive at the listener."""
        if self._thread is not None:
            return
        ensure_event_loop()
        self._thread = threading.Thread(target=self._run, name=f"host:{self.label}", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the supervisor to end, without waiting (to stop many hosts at once)."""
        self._stopping = True
        self._queue.put(("stop",))

    def stop(self, timeout: float = 5.0) -> None:
        """End the supervisor and close the connection.

        A host stuck inside libvirt (an ssh link that hangs while connecting) cannot be
        interrupted; after ``timeout`` its daemon thread is left to die with the process.
        """
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout)
        self._drop_connection(None, notify=False)

    def set_listener(self, listener: Listener | None) -> None:
        self._listener = listener

    def reconnect_now(self) -> None:
        """Skip the rest of the back-off and try to connect at once."""
        self._queue.put(("retry",))

    def request_refresh(self, uuid: str | None = None) -> None:
        """Re-read one guest (or all guests) on the supervisor thread."""
        self._queue.put(("guest", uuid) if uuid else ("refresh",))

    def wait_connected(self, timeout: float) -> bool:
        """Wait until connected with a complete guest list: listed, and the figures the
        listing lacked (:attr:`figures_pending`) read. False at the timeout."""
        return self._complete.wait(timeout)

    # -- what callers read -----------------------------------------------------------

    @property
    def status(self) -> HostStatus:
        with self._lock:
            return self._status

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def guests(self) -> tuple[Guest, ...]:
        """Every guest by name: the same tuple object until a guest changes."""
        with self._lock:
            if self._snapshot is None:
                self._snapshot = tuple(sorted(self._guests.values(), key=lambda g: g.name))
            return self._snapshot

    def guest(self, uuid: str) -> Guest | None:
        with self._lock:
            return self._guests.get(uuid)

    def hold_figures(self) -> None:
        """Read no missing figures until :meth:`release_figures`: at start-up the first
        frame goes first (their round trips would compete with it for the CPU)."""
        self._figures_held = True

    def release_figures(self) -> None:
        """Read the held figures now, and any later listing's at once."""
        if self._figures_held:
            self._figures_held = False
            self._queue.put(("figures-go",))

    @property
    def figures_pending(self) -> bool:
        """Some guests' vCPUs and memory are still unknown and being read (see
        :func:`backend.guests.list_guests`); a GuestsLoaded follows when they are in."""
        return self._filling is not None

    def connection(self, action: str = "reach the host") -> libvirt.virConnect:
        conn = self._conn
        if conn is None:
            raise errors.not_connected(host=self.label, action=action)
        return conn

    def require_writable(self, action: str, guest: str | None = None) -> None:
        """Refuse any change on a read-only connection, before libvirt is called."""
        if self.readonly:
            raise errors.read_only(host=self.label, action=action, guest=guest)

    def domain(self, uuid: str, action: str) -> libvirt.virDomain:
        conn = self.connection(action)
        cached = self.guest(uuid)
        try:
            return conn.lookupByUUIDString(uuid)
        except libvirt.libvirtError as exc:
            raise errors.from_libvirt(
                exc, host=self.label, action=action, guest=cached.name if cached else uuid
            ) from exc

    # -- supervisor thread -----------------------------------------------------------

    def _run(self) -> None:
        attempt = 0
        while not self._stopping:
            if self._conn is None:
                if self._try_connect():
                    attempt = 0
                else:
                    delay = self._retry_delays[min(attempt, len(self._retry_delays) - 1)]
                    attempt += 1
                    self._set_status(next_retry=self._clock() + delay)
                    self._wait_for_retry(delay)
                    continue
            # While a sweep runs, wait for events only until the shared pace allows
            # the next check (every host's sweep shares it).
            wait = _SWEEP_PACE.wait_s() if self._sweep else 1.0
            try:
                item = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
            except queue.Empty:
                if self._sweep and not _SWEEP_PACE.take():
                    continue
                doing = f"comparing saved definitions on {self.label}"
                with failures.reported(doing, self._problem):
                    self._sweep_step()
                continue
            # A bug in handling one change must not end the thread: the host would go
            # quiet for the rest of the session. Its sentence goes to the status line.
            with failures.reported(f"reading guest changes on {self.label}", self._problem):
                self._handle(item)

    def _problem(self, sentence: str) -> None:
        self._set_status(error=sentence)

    def _wait_for_retry(self, delay: float) -> None:
        deadline = time.monotonic() + delay
        while not self._stopping:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                item = self._queue.get(timeout=remaining)
            except queue.Empty:
                return
            if item[0] in ("retry", "stop"):
                return

    def _handle(self, item: tuple[Any, ...]) -> None:
        kind = item[0]
        if kind == "closed":
            self._drop_connection(item[1])
            return
        if kind == "refresh":
            self._load_all()
            return
        if kind == "figures":
            if self._figures_held:
                self._held_figures = item
            else:
                self._fill_figures(*item[1:])
            return
        if kind == "figures-go":
            held, self._held_figures = self._held_figures, None
            if held is not None:
                self._fill_figures(*held[1:])
            return
        if kind == "agent":
            self._agents[item[1]] = item[2]
            self._refresh_guest(item[1])
            return
        if kind == "guest":
            # Coalesce a burst of events into one read per guest.
            pending = [item[1]]
            while True:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt[0] == "guest":
                    if nxt[1] not in pending:
                        pending.append(nxt[1])
                else:
                    self._queue.put(nxt)
                    break
            for uuid in pending:
                self._refresh_guest(uuid)

    def _try_connect(self) -> bool:
        try:
            conn = reach.open_connection(self.uri, readonly=self.readonly)
        except libvirt.libvirtError as exc:
            self._mark_disconnected(_connect_error(exc, self.label, self.uri))
            return False
        except reach.ConnectTimeout:
            self._mark_disconnected(reach.timeout_sentence(self.label))
            return False
        try:
            self._conn = conn
            self._register_callbacks(conn)
            if uris.is_remote(self.uri):
                conn.setKeepAlive(KEEPALIVE_INTERVAL, KEEPALIVE_COUNT)
            lib = version_text(conn.getLibVersion())
            hv = f"{conn.getType()} {version_text(conn.getVersion())}"
            listing = list_guests(self.label, conn, self._agents)
        except libvirt.libvirtError as exc:
            self._drop_connection(None, notify=False)
            self._mark_disconnected(_connect_error(exc, self.label, self.uri))
            return False
        except Exception as exc:  # a bug reading the host: retried like a failed connect
            self._drop_connection(None, notify=False)
            self._mark_disconnected(failures.describe(exc, f"connecting to {self.label}"))
            return False
        guests = listing.guests
        with self._lock:
            self._guests = {g.uuid: g for g in self._carry_pending(guests)}
            self._snapshot = None
            self._status = replace(
                self._status,
                state=ConnectionState.CONNECTED,
                since=self._clock(),
                error=None,
                libvirt_version=lib,
                hypervisor=hv,
                next_retry=None,
            )
            status = self._status
        self._connected.set()
        self._emit(StatusChanged(status))
        self._emit(GuestsLoaded(self.label, self.guests()))
        self._queue_figures(conn, listing)
        self._start_sweep()
        return True

    def _register_callbacks(self, conn: libvirt.virConnect) -> None:
        conn.registerCloseCallback(self._on_close, None)
        self._callback_ids = [
            conn.domainEventRegisterAny(
                None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._on_lifecycle, None
            )
        ]
        with contextlib.suppress(libvirt.libvirtError):  # drivers without agent events
            self._callback_ids.append(
                conn.domainEventRegisterAny(
                    None, libvirt.VIR_DOMAIN_EVENT_ID_AGENT_LIFECYCLE, self._on_agent, None
                )
            )

    def _drop_connection(self, reason: int | None, *, notify: bool = True) -> None:
        conn, self._conn = self._conn, None
        self._filling = None
        self._connected.clear()
        self._complete.clear()
        if conn is not None:
            for cid in self._callback_ids:
                with contextlib.suppress(libvirt.libvirtError):
                    conn.domainEventDeregisterAny(cid)
            self._callback_ids = []
            with contextlib.suppress(libvirt.libvirtError):
                conn.unregisterCloseCallback()
            with contextlib.suppress(libvirt.libvirtError):
                conn.close()
        if not notify:
            return
        why = _CLOSE_REASONS.get(reason if reason is not None else -1, "connection lost")
        self._mark_disconnected(f"Lost the connection to {self.label}: {why}.")

    def _mark_disconnected(self, error: str) -> None:
        with self._lock:
            was = self._status.state
            since = self._status.since if was == ConnectionState.DISCONNECTED else self._clock()
            old = self._status
            self._status = status = replace(
                old, state=ConnectionState.DISCONNECTED, since=since, error=error
            )
            changed_guests = bool(self._guests) and was != ConnectionState.DISCONNECTED
            if changed_guests:
                self._guests = {u: g.with_unknown_state() for u, g in self._guests.items()}
                self._snapshot = None
            guests = tuple(sorted(self._guests.values(), key=lambda g: g.name))
        if status != old:
            self._emit(StatusChanged(status))
        if changed_guests:
            self._emit(GuestsLoaded(self.label, guests))

    def _set_status(self, **changes: Any) -> None:
        with self._lock:
            old = self._status
            self._status = status = replace(old, **changes)
        if status != old:
            self._emit(StatusChanged(status))

    def _load_all(self) -> None:
        conn = self._conn
        if conn is None:
            return
        try:
            listing = list_guests(self.label, conn, self._agents)
        except libvirt.libvirtError as exc:
            self._on_rpc_failure(exc)
            return
        with self._lock:
            self._guests = {g.uuid: g for g in self._carry_pending(listing.guests)}
            self._snapshot = None
        self._emit(GuestsLoaded(self.label, self.guests()))
        self._queue_figures(conn, listing)
        self._start_sweep()

    def _queue_figures(self, conn: libvirt.virConnect, listing: GuestList) -> None:
        """Read the figures the listing lacked after it is shown, in chunks, queued
        behind whatever else the supervisor has to do (an older listing's reading is
        dropped)."""
        token = self._filling = object() if listing.incomplete else None
        if token is not None:
            self._queue.put(("figures", token, conn, listing.incomplete))
        else:
            self._complete.set()

    def _fill_figures(
        self, token: object, conn: libvirt.virConnect, incomplete: list[tuple[Any, Guest]]
    ) -> None:
        if token is not self._filling or conn is not self._conn:
            return  # listed again since, or the connection went away
        chunk, rest = incomplete[:FIGURES_CHUNK], incomplete[FIGURES_CHUNK:]
        try:
            filled = fill_in_figures(chunk)
        except libvirt.libvirtError as exc:
            self._filling = None
            self._on_rpc_failure(exc)
            if self._conn is not None:  # still connected: the list is what it can be
                self._complete.set()
                self._emit(GuestsLoaded(self.label, self.guests()))
            return
        except Exception:  # a bug: the list stays as it is; the thread's policy says so
            self._filling = None
            self._complete.set()
            raise
        with self._lock:
            for guest in filled:
                cached = self._guests.get(guest.uuid)
                if cached is not None and not cached.figures_known:  # else an event's read
                    self._guests[guest.uuid] = replace(
                        cached,
                        vcpus=guest.vcpus,
                        memory_kib=guest.memory_kib,
                        max_memory_kib=guest.max_memory_kib,
                    )
            self._snapshot = None
        if rest:
            self._queue.put(("figures", token, conn, rest))
            return
        self._filling = None
        self._complete.set()
        self._emit(GuestsLoaded(self.label, self.guests()))

    # -- changes waiting for a restart -------------------------------------------------

    def _carry_pending(self, guests: Sequence[Guest]) -> list[Guest]:
        """A reloaded list keeps what was known to wait for a restart while the same run
        of each guest goes on (same domain id); the sweep checks again soon after."""
        old = self._guests
        carried: list[Guest] = []
        for guest in guests:
            before = old.get(guest.uuid)
            if before is not None and before.pending and before.domain_id == guest.domain_id:
                guest = replace(guest, pending=before.pending)
            carried.append(guest)
        return carried

    def _start_sweep(self) -> None:
        with self._lock:
            self._sweep = collections.deque(
                g.uuid for g in self._guests.values() if g.active and g.persistent
            )
        self._next_sweep = time.monotonic() + self.pending_sweep

    def _sweep_step(self) -> None:
        """Check one guest of the sweep; start the next sweep when it is due."""
        if not self._sweep:
            if time.monotonic() >= self._next_sweep and self._conn is not None:
                self._start_sweep()
            return
        uuid = self._sweep.popleft()
        conn = self._conn
        cached = self.guest(uuid)
        if conn is None or cached is None:
            return
        try:
            pending = _pending_for(conn.lookupByUUIDString(uuid), cached)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:  # gone: its event comes
                self._on_rpc_failure(exc)
            return
        with self._lock:
            current = self._guests.get(uuid)
            if current is None or current.pending == pending:
                return
            self._guests[uuid] = guest = replace(current, pending=pending)
            self._snapshot = None
        self._emit(GuestUpdated(guest))

    def _refresh_guest(self, uuid: str) -> None:
        conn = self._conn
        if conn is None:
            return
        try:
            dom = conn.lookupByUUIDString(uuid)
            guest = read_guest(self.label, dom, agent_connected=self._agents.get(uuid))
            guest = replace(guest, pending=_pending_for(dom, guest))
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                with self._lock:
                    existed = self._guests.pop(uuid, None) is not None
                    self._snapshot = None
                self._agents.pop(uuid, None)
                if existed:
                    self._emit(GuestRemoved(self.label, uuid))
                return
            self._on_rpc_failure(exc)
            return
        with self._lock:
            self._guests[uuid] = guest
            self._snapshot = None
        self._emit(GuestUpdated(guest))

    def _on_rpc_failure(self, exc: libvirt.libvirtError) -> None:
        conn = self._conn
        alive = False
        if conn is not None:
            with contextlib.suppress(libvirt.libvirtError):
                alive = bool(conn.isAlive())
        if not alive:
            self._drop_connection(libvirt.VIR_CONNECT_CLOSE_REASON_ERROR)
        else:
            log.warning("%s: %s", self.label, exc)

    def _emit(self, change: HostChange) -> None:
        listener = self._listener
        if listener is None:
            return
        try:
            listener(change)
        except Exception:  # a broken listener must not kill the supervisor
            log.exception("host listener failed")

    # -- libvirt callbacks (event loop thread: queue only, never block) ---------------

    @failures.guarded("handling a libvirt event")
    def _on_close(self, _conn: libvirt.virConnect, reason: int, _opaque: Any) -> None:
        self._queue.put(("closed", reason))

    @failures.guarded("handling a libvirt event")
    def _on_lifecycle(
        self,
        _conn: libvirt.virConnect,
        dom: libvirt.virDomain,
        _event: int,
        _detail: int,
        _opaque: Any,
    ) -> None:
        self._queue.put(("guest", dom.UUIDString()))

    @failures.guarded("handling a libvirt event")
    def _on_agent(
        self,
        _conn: libvirt.virConnect,
        dom: libvirt.virDomain,
        state: int,
        _reason: int,
        _opaque: Any,
    ) -> None:
        connected = state == libvirt.VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_STATE_CONNECTED
        self._queue.put(("agent", dom.UUIDString(), connected))


def make_hosts(
    targets: Sequence[str | None],
    *,
    readonly: bool | Sequence[bool] = False,
    clock: Callable[[], float] = time.time,
    retry_delays: Sequence[float] = RETRY_DELAYS,
) -> list[Host]:
    """One Host per entry, not started: a URI, ``NAME=URI`` to give the host its own
    label, or None for libvirt's default. Labels are made unique so every row names
    its host. ``readonly`` is for all of them, or one flag per entry (saved hosts)."""
    split = [uris.split_label(u) if u is not None else (None, None) for u in targets]
    labels = uris.unique_labels([label or uris.label_for(u) for label, u in split])
    flags = [readonly] * len(split) if isinstance(readonly, bool) else list(readonly)
    return [
        Host(u, readonly=ro, label=label, clock=clock, retry_delays=retry_delays)
        for (_, u), label, ro in zip(split, labels, flags, strict=True)
    ]


def _connect_error(exc: libvirt.libvirtError, label: str, uri: str | None) -> str:
    return reach.connect_sentence(exc.get_error_message() or str(exc), label, uri)

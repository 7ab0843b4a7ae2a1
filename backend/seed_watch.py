"""Detach the cloud-init seed once the first boot has ended, for guests that carry the
wizard's mark (:data:`~kvmtui.backend.domain.notes.SEED_DETACH_NAMESPACE`).

One :class:`SeedWatcher` per read-write host, on its own thread (it asks guest agents
and waits on them; the host's supervisor must not). It learns of guests through the
host's changes (:meth:`SeedWatcher.observe`, called from the host's listener, never
blocks). For a marked guest:

- when its agent connects, or when the watcher finds it running (kvmtui starts or the
  host reconnects), it runs ``cloud-init status`` in the guest through guest-exec:
  ``done``, ``error`` (or ``degraded done``, ``disabled``) mean the first boot ended;
  ``running`` (or ``not started``) is asked again every :data:`ASK_AGAIN_S`, at most
  :data:`ASK_TIMES` times; an agent without guest-exec, or a guest without a
  ``cloud-init`` program, leaves the first shutdown to tell;
- when it shuts down (its own shutdown, not a forced power-off or a crash) for the
  first time kvmtui sees, the first boot ended too, unless cloud-init's last answer was
  that it still runs: that shutdown cut the first boot short (the admin shut the guest
  down while packages were installed, say), so the seed stays for the next boot, which
  is watched again from its start.

Then the seed is detached (:func:`~kvmtui.backend.seed_detach.detach_seed`: the saved
definition, and the running guest where its bus lets it go; its volume is kept) and the
mark removed; ``say`` gets one sentence either way (and whether it is a failure). A
failure is said once and the mark stays: it is tried once more after
:data:`ASK_AGAIN_S`, then left for the next session (or for ``x`` in the details).
Read-only hosts are never watched.

The marks are read with one ``metadata`` RPC per guest when the guest is first seen
running (shut-off guests when they start), not for every guest of a host.
"""

from __future__ import annotations

import enum
import logging
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import libvirt

from kvmtui.backend import errors
from kvmtui.backend.agent import (
    AgentRefusedError,
    AgentTimeoutError,
    AgentUnavailableError,
    GuestAgent,
)
from kvmtui.backend.agent_info import ExecResult
from kvmtui.backend.domain.notes import SEED_DETACH_NAMESPACE
from kvmtui.backend.host import Host
from kvmtui.backend.metadata import saved_note
from kvmtui.backend.model import (
    ConnectionState,
    Guest,
    GuestRemoved,
    GuestsLoaded,
    GuestState,
    GuestUpdated,
    HostChange,
    StatusChanged,
)
from kvmtui.backend.seed_detach import detach_seed, read_guest_seed

log = logging.getLogger(__name__)

#: Seconds between two questions while cloud-init still runs, and before the one retry
#: of a failed detach.
ASK_AGAIN_S = 15.0
#: Questions asked while cloud-init runs (15 s x 40: 10 minutes), then the first
#: shutdown is left to tell.
ASK_TIMES = 40
#: Seconds ``cloud-init status`` may take in the guest.
STATUS_LIMIT_S = 30.0
#: How many times a detach is tried in one session.
DETACH_TRIES = 2

STATUS_ARGV = ("cloud-init", "status")
_STATUS_LINE = re.compile(r"^\s*status:\s*(.+?)\s*$", re.MULTILINE | re.IGNORECASE)


class FirstBoot(enum.Enum):
    """What the guest said about its first boot."""

    ENDED = "ended"
    RUNNING = "running"
    #: No answer that tells (no cloud-init, no guest-exec, output not understood).
    UNKNOWN = "unknown"


#: ``cloud-init status`` words: finished (with or without errors), or not yet.
ENDED_WORDS = frozenset({"done", "error", "degraded done", "degraded error", "disabled"})
RUNNING_WORDS = frozenset({"running", "not started", "not run"})


def status_word(output: str) -> str | None:
    """The word after ``status:`` in ``cloud-init status``'s output (its last such line)."""
    found = _STATUS_LINE.findall(output)
    return found[-1].lower() if found else None


def first_boot(result: ExecResult) -> FirstBoot:
    """Whether ``cloud-init status`` says the first boot ended.

    cloud-init exits 0 when done, 1 on an error and 2 on a recoverable one; the word
    decides, whatever the exit code. A program still running at the time limit, or an
    answer without a known word, tells nothing.
    """
    if not result.finished:
        return FirstBoot.RUNNING
    word = status_word(result.stdout)
    if word in ENDED_WORDS:
        return FirstBoot.ENDED
    if word in RUNNING_WORDS:
        return FirstBoot.RUNNING
    return FirstBoot.UNKNOWN


def has_mark(dom: libvirt.virDomain) -> bool:
    """The guest's saved definition carries the mark."""
    return saved_note(dom, SEED_DETACH_NAMESPACE) is not None


def remove_mark(host: Host, uuid: str) -> None:
    """Take the mark out of the saved definition (and the running guest's)."""
    action = "remove the seed-detach mark of"
    host.require_writable(action)
    dom = host.domain(uuid, action)
    flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG
    try:
        if dom.isActive():
            flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
        dom.setMetadata(
            libvirt.VIR_DOMAIN_METADATA_ELEMENT, None, None, SEED_DETACH_NAMESPACE, flags
        )
    except libvirt.libvirtError as exc:
        raise errors.from_libvirt(exc, host=host.label, action=action) from exc


@dataclass
class _Watch:
    """One marked guest, as the watcher last saw it."""

    name: str
    active: bool
    agent: bool | None
    asked: int = 0
    #: Monotonic time of the next question (None: none planned).
    ask_at: float | None = None
    #: No more questions: the first shutdown tells.
    shutdown_only: bool = False
    #: cloud-init's last answer in this boot (None: none yet).
    last: FirstBoot | None = None
    failures: int = 0
    #: What the watcher is doing, for the log and the tests.
    doing: str = "waiting for the guest agent"


def change_host(change: HostChange) -> str:
    """The label of the host a change comes from."""
    if isinstance(change, StatusChanged):
        return change.status.label
    if isinstance(change, GuestUpdated):
        return change.guest.host
    return change.host


class SeedWatcher:
    """Watches one read-write host's marked guests (see the module)."""

    def __init__(
        self,
        host: Host,
        say: Callable[[str, bool], None],
        *,
        ask_again_s: float = ASK_AGAIN_S,
        ask_times: int = ASK_TIMES,
    ) -> None:
        self.host = host
        self._say = say
        self.ask_again_s = ask_again_s
        self.ask_times = ask_times
        self._queue: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._stopping = False
        #: Guests whose mark was read in this connection (marked or not).
        self._read: set[str] = set()
        self._watched: dict[str, _Watch] = {}
        #: Guests whose detach failed twice: left alone for the rest of the session.
        self._given_up: set[str] = set()
        self._lock = threading.Lock()

    # -- any thread -----------------------------------------------------------------------

    def start(self) -> None:
        """Start the thread; a host connected already has its guests looked at now."""
        if self._thread is not None or self.host.readonly:
            return
        self._thread = threading.Thread(
            target=self._run, name=f"seed-watch:{self.host.label}", daemon=True
        )
        self._thread.start()
        if self.host.connected:
            self._queue.put(("guests", self.host.guests()))

    def request_stop(self) -> None:
        """End the thread without waiting (an agent call in progress ends by its limit)."""
        self._stopping = True
        self._queue.put(("stop",))

    def stop(self, timeout: float = 2.0) -> None:
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout)

    def observe(self, change: HostChange) -> None:
        """A change of the host (its listener's thread): queued, never blocks."""
        if self._thread is None or self._stopping:
            return
        if isinstance(change, StatusChanged):
            if change.status.state is ConnectionState.CONNECTED:
                self._queue.put(("reconnected",))
        elif isinstance(change, GuestsLoaded):
            self._queue.put(("guests", change.guests))
        elif isinstance(change, GuestUpdated):
            self._queue.put(("guest", change.guest))
        elif isinstance(change, GuestRemoved):
            self._queue.put(("removed", change.uuid))

    def doing(self, uuid: str) -> str | None:
        """What the watcher does about the guest (None: it does not watch it)."""
        with self._lock:
            watch = self._watched.get(uuid)
            return watch.doing if watch is not None else None

    # -- the watcher's thread ---------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping:
            try:
                item = self._queue.get(timeout=self._wait_s())
            except queue.Empty:
                item = ("due",)
            try:
                self._handle(item)
            except errors.KvmtuiError as exc:  # not connected, gone: the next change tells
                log.info("%s", exc)
            except Exception:  # a bug must not end the thread
                log.exception("seed watcher of %s", self.host.label)

    def _wait_s(self) -> float:
        with self._lock:
            due = [w.ask_at for w in self._watched.values() if w.ask_at is not None]
        return max(0.0, min(due) - time.monotonic()) if due else 5.0

    def _handle(self, item: tuple[Any, ...]) -> None:
        kind = item[0]
        if kind == "reconnected":
            self._read.clear()
        elif kind == "guests":
            for guest in item[1]:
                try:  # one guest gone or unreadable must not hide the others
                    self._saw(guest)
                except (errors.KvmtuiError, libvirt.libvirtError) as exc:
                    log.info("seed watcher: %s: %s", guest.name, exc)
        elif kind == "guest":
            self._saw(item[1])
        elif kind == "removed":
            self._read.discard(item[1])
            self._forget(item[1])
        if kind in ("due", "guests", "guest"):
            self._ask_due()

    def _saw(self, guest: Guest) -> None:
        uuid = guest.uuid
        if uuid in self._given_up:
            return
        if uuid not in self._read:
            with self._lock:
                known = self._watched.get(uuid)
            if known is not None:  # seen again after a reconnect: what it knew stays
                self._read.add(uuid)
                self._saw(guest)
                if guest.active and not known.shutdown_only and known.ask_at is None:
                    self._plan(uuid, "looking whether the first boot ended", now=True)
                return
            if not guest.active or not guest.persistent:
                return  # read when it starts: a shut-off guest has not booted yet
            marked = has_mark(self.host.domain(uuid, "read the seed-detach mark of"))
            self._read.add(uuid)  # after the read: a failed one is tried at the next change
            if not marked:
                return
            with self._lock:
                self._watched[uuid] = _Watch(guest.name, True, guest.agent_connected)
            self._plan(uuid, "looking whether the first boot ended", now=True)
            return
        with self._lock:
            watch = self._watched.get(uuid)
        if watch is None:
            return
        was_active, had_agent = watch.active, watch.agent
        watch.name, watch.active, watch.agent = guest.name, guest.active, guest.agent_connected
        if was_active and guest.state is GuestState.SHUTOFF:
            if guest.reason != "shutdown":  # forced off or crashed
                self._again(watch, "waiting for the guest to start again")
            elif watch.last is FirstBoot.RUNNING and not watch.shutdown_only:
                self._again(watch, "cloud-init still ran when the guest shut down: "
                            "watching its next boot")
            else:
                self._detach(uuid, "it shut down")
            return
        if guest.active and guest.agent_connected and not had_agent and not watch.shutdown_only:
            self._plan(uuid, "the agent connected: looking whether the first boot ended", now=True)

    @staticmethod
    def _again(watch: _Watch, doing: str) -> None:
        """The first boot did not end: the next boot is again the first."""
        watch.ask_at, watch.asked, watch.shutdown_only, watch.last = None, 0, False, None
        watch.doing = doing

    def _plan(self, uuid: str, doing: str, *, now: bool = False) -> None:
        with self._lock:
            watch = self._watched.get(uuid)
            if watch is None:
                return
            watch.doing = doing
            watch.ask_at = time.monotonic() + (0.0 if now else self.ask_again_s)

    def _forget(self, uuid: str) -> None:
        with self._lock:
            self._watched.pop(uuid, None)

    def _ask_due(self) -> None:
        now = time.monotonic()
        with self._lock:
            due = [u for u, w in self._watched.items() if w.ask_at is not None and w.ask_at <= now]
        for uuid in due:
            if self._stopping:
                return
            self._ask(uuid)

    def _ask(self, uuid: str) -> None:
        with self._lock:
            watch = self._watched.get(uuid)
        if watch is None:
            return
        watch.ask_at = None
        if watch.failures:  # the one retry of a failed detach
            self._detach(uuid, "retrying")
            return
        if not watch.active:
            return
        try:
            result = GuestAgent(self.host, uuid).exec(STATUS_ARGV, STATUS_LIMIT_S)
        except AgentRefusedError as exc:
            # No guest-exec, or no cloud-init program in the guest: nothing to ask.
            log.info("%s", exc)
            watch.shutdown_only = True
            watch.doing = "waiting for the first shutdown (cloud-init cannot be asked)"
            return
        except AgentTimeoutError:
            watch.asked += 1
            if watch.asked < self.ask_times:
                self._plan(uuid, "the agent did not answer: asking again later")
            return
        except AgentUnavailableError:
            watch.doing = "waiting for the guest agent"  # its connect event asks again
            return
        answer = first_boot(result)
        watch.asked += 1
        watch.last = answer
        if answer is FirstBoot.ENDED:
            self._detach(uuid, f"cloud-init status: {status_word(result.stdout)}")
        elif answer is FirstBoot.RUNNING and watch.asked < self.ask_times:
            self._plan(uuid, "cloud-init is running: asking again later")
        else:
            watch.shutdown_only = True
            watch.doing = "waiting for the first shutdown"

    def _detach(self, uuid: str, why: str) -> None:
        with self._lock:
            watch = self._watched.get(uuid)
        if watch is None:
            return
        try:
            if read_guest_seed(self.host, uuid) is None:
                sentence = f"The cloud-init seed of '{watch.name}' was detached already."
            else:
                sentence = detach_seed(self.host, uuid, delete_volume=False)
            remove_mark(self.host, uuid)
        except errors.KvmtuiError as exc:
            watch.failures += 1
            if watch.failures < DETACH_TRIES:
                self._plan(uuid, "the detach failed: trying once more")
                again = f" Tried once more in {self.ask_again_s:g} s."
            else:
                self._forget(uuid)
                self._given_up.add(uuid)
                again = " Left for now: x in the guest's details detaches it."
            self._say(f"Could not detach the seed after the first boot: {exc}{again}", True)
            return
        self._forget(uuid)
        self._say(f"The first boot of '{watch.name}' ended ({why}). {sentence}", False)


def watch_host(host: Host, say: Callable[[str, bool], None]) -> SeedWatcher | None:
    """A started watcher for a read-write host; None for a read-only one."""
    if host.readonly:
        return None
    watcher = SeedWatcher(host, say)
    watcher.start()
    return watcher

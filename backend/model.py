"""Plain, immutable values the backend hands to the UI."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum

import libvirt


class GuestState(StrEnum):
    """A guest's state as virsh names it, plus UNKNOWN while its host is unreachable."""

    NOSTATE = "no state"
    RUNNING = "running"
    BLOCKED = "idle"
    PAUSED = "paused"
    SHUTDOWN = "in shutdown"
    SHUTOFF = "shut off"
    CRASHED = "crashed"
    PMSUSPENDED = "pmsuspended"
    UNKNOWN = "unknown"

    @property
    def active(self) -> bool:
        """True while QEMU runs for the guest (what libvirt calls an active domain)."""
        return self in _ACTIVE


_ACTIVE = {
    GuestState.RUNNING,
    GuestState.BLOCKED,
    GuestState.PAUSED,
    GuestState.SHUTDOWN,
    GuestState.PMSUSPENDED,
    GuestState.CRASHED,
}

_STATE_BY_CODE: dict[int, GuestState] = {
    libvirt.VIR_DOMAIN_NOSTATE: GuestState.NOSTATE,
    libvirt.VIR_DOMAIN_RUNNING: GuestState.RUNNING,
    libvirt.VIR_DOMAIN_BLOCKED: GuestState.BLOCKED,
    libvirt.VIR_DOMAIN_PAUSED: GuestState.PAUSED,
    libvirt.VIR_DOMAIN_SHUTDOWN: GuestState.SHUTDOWN,
    libvirt.VIR_DOMAIN_SHUTOFF: GuestState.SHUTOFF,
    libvirt.VIR_DOMAIN_CRASHED: GuestState.CRASHED,
    libvirt.VIR_DOMAIN_PMSUSPENDED: GuestState.PMSUSPENDED,
}

# virsh domstate --reason wording, by state then reason code.
_REASONS: dict[GuestState, tuple[str, ...]] = {
    GuestState.RUNNING: (
        "unknown",
        "booted",
        "migrated",
        "restored",
        "from snapshot",
        "unpaused",
        "migration canceled",
        "save canceled",
        "event wakeup",
        "crashed",
        "post-copy",
        "post-copy failed",
    ),
    GuestState.BLOCKED: ("unknown",),
    GuestState.PAUSED: (
        "unknown",
        "user",
        "migrating",
        "saving",
        "dumping",
        "I/O error",
        "watchdog",
        "from snapshot",
        "shutting down",
        "creating snapshot",
        "crashed",
        "starting up",
        "post-copy",
        "post-copy failed",
        "api error",
    ),
    GuestState.SHUTDOWN: ("unknown", "user"),
    GuestState.SHUTOFF: (
        "unknown",
        "shutdown",
        "destroyed",
        "crashed",
        "migrated",
        "saved",
        "failed",
        "from snapshot",
        "daemon",
    ),
    GuestState.CRASHED: ("unknown", "panicked"),
    GuestState.PMSUSPENDED: ("unknown",),
}


def state_from_code(code: int) -> GuestState:
    return _STATE_BY_CODE.get(code, GuestState.NOSTATE)


def reason_text(state: GuestState, reason: int) -> str:
    names = _REASONS.get(state, ())
    return names[reason] if 0 <= reason < len(names) else "unknown"


@dataclass(frozen=True, slots=True)
class Guest:
    """One guest (libvirt domain) as last seen on its host.

    ``vcpus``, ``memory_kib`` and ``max_memory_kib`` are None while unknown: a host
    whose bulk statistics lack them (libvirt's test driver) lists its guests first and
    reads those figures right after (:func:`backend.guests.list_guests`).
    """

    host: str
    uuid: str
    name: str
    state: GuestState
    reason: str
    vcpus: int | None
    memory_kib: int | None
    max_memory_kib: int | None
    autostart: bool
    persistent: bool
    domain_id: int | None = None
    agent_connected: bool | None = None
    #: What differs between the running guest and its saved definition, one phrase each
    #: ("vCPUs 2 now, 4 after restart"); () when nothing waits for a restart.
    pending: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """Unique across hosts: the same UUID may exist on two hosts (after a migration)."""
        return f"{self.host}/{self.uuid}"

    @property
    def active(self) -> bool:
        return self.state.active

    @property
    def figures_known(self) -> bool:
        """vCPUs and memory are read (not still unknown after a fast listing)."""
        return not (self.vcpus is None or self.memory_kib is None or self.max_memory_kib is None)

    def with_unknown_state(self) -> Guest:
        return dataclasses.replace(self, state=GuestState.UNKNOWN, reason="host unreachable")


class ConnectionState(StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"


@dataclass(frozen=True, slots=True)
class HostStatus:
    """What the status line says about one host."""

    label: str
    uri: str
    readonly: bool
    state: ConnectionState
    since: float | None = None
    error: str | None = None
    libvirt_version: str | None = None
    hypervisor: str | None = None
    next_retry: float | None = None


# Changes a Host reports to its listener (from a backend thread).


@dataclass(frozen=True, slots=True)
class GuestsLoaded:
    """The whole guest list of one host, after a (re)connect or a disconnect."""

    host: str
    guests: tuple[Guest, ...]


@dataclass(frozen=True, slots=True)
class GuestUpdated:
    guest: Guest


@dataclass(frozen=True, slots=True)
class GuestRemoved:
    host: str
    uuid: str

    @property
    def key(self) -> str:
        return f"{self.host}/{self.uuid}"


@dataclass(frozen=True, slots=True)
class StatusChanged:
    status: HostStatus


HostChange = GuestsLoaded | GuestUpdated | GuestRemoved | StatusChanged


def version_text(number: int) -> str:
    """libvirt's packed version number (major*1,000,000 + minor*1,000 + micro) as text."""
    major, rest = divmod(number, 1_000_000)
    minor, micro = divmod(rest, 1_000)
    return f"{major}.{minor}.{micro}"

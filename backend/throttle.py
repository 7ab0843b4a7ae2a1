"""What the disk and network limit editors share: scopes, field errors, number parsing,
the guest's disks and NICs as the editors name them, and reading, applying and reading
back one device's limits scope by scope.

:mod:`backend.iotune` (blkdeviotune) and :mod:`backend.bandwidth` (interface bandwidth)
build on this, passing the libvirt calls for their kind of device.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

import libvirt

from kvmtui.backend import errors
from kvmtui.backend.domain import Domain
from kvmtui.backend.domain.layout import parse_for
from kvmtui.backend.host import Host
from kvmtui.backend.poller import StatsEngine
from kvmtui.backend.stats import DeviceRates


class Scope(StrEnum):
    """Where a change goes, as virsh's --live / --config / both."""

    LIVE = "live"
    CONFIG = "config"
    BOTH = "both"

    @property
    def flags(self) -> tuple[int, ...]:
        """The libvirt flags, one call each: live first, so a refusal there sends nothing."""
        live, config = libvirt.VIR_DOMAIN_AFFECT_LIVE, libvirt.VIR_DOMAIN_AFFECT_CONFIG
        return {Scope.LIVE: (live,), Scope.CONFIG: (config,), Scope.BOTH: (live, config)}[self]

    @property
    def text(self) -> str:
        return {
            Scope.LIVE: "the running guest only",
            Scope.CONFIG: "the saved configuration only (from the next boot)",
            Scope.BOTH: "the running guest and its saved configuration",
        }[self]


@dataclass(frozen=True, slots=True)
class FieldError:
    """A refusal tied to one field of the form (``field`` is the setting's name)."""

    field: str
    message: str


class ValidationError(errors.KvmtuiError):
    """The settings break a rule; nothing was sent to libvirt."""

    def __init__(self, message: str, field_errors: Sequence[FieldError], **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.field_errors = tuple(field_errors)


def refuse_invalid(
    field_errors: Sequence[FieldError], *, host: str, guest: str, action: str
) -> None:
    """Raise :class:`ValidationError` naming the first fault, if there is any."""
    if not field_errors:
        return
    first = field_errors[0]
    more = f" (and {len(field_errors) - 1} more)" if len(field_errors) > 1 else ""
    raise ValidationError(
        f"Could not {action} guest '{guest}' on {host}: {first.field}: {first.message}{more}. "
        "Nothing was changed.",
        field_errors,
        host=host,
        guest=guest,
        action=action,
    )


# -- numbers as people type them ------------------------------------------------------

_BINARY = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_NUMBER = re.compile(r"^\s*(\d+)\s*([kmgt]?)(i?b)?(/s)?\s*$", re.IGNORECASE)


def parse_whole(text: str, *, units: bool) -> int | str:
    """A whole non-negative number from a form field, or the message saying why not.

    ``units``: accept a binary suffix (``512K``, ``10 MiB``, ``1g``); blank is 0.
    """
    stripped = text.strip().replace(",", "").replace("_", "")
    if not stripped:
        return 0
    if stripped.startswith("-"):
        return "must not be negative"
    match = _NUMBER.match(stripped)
    if match is None or (not units and (match.group(2) or match.group(3))):
        if re.match(r"^\s*\d*\.\d+", stripped):
            return "must be a whole number"
        hint = " (a suffix K, M, G or T is allowed)" if units else ""
        return f"must be a whole number{hint}, not '{text.strip()}'"
    return int(match.group(1)) * _BINARY[match.group(2).lower()]


# -- display ----------------------------------------------------------------------------

_UNITS = ("", "Ki", "Mi", "Gi", "Ti", "Pi")


def binary_text(value: int, unit: str) -> str:
    """An exact figure in the largest binary unit that divides it, else to one decimal:
    0 -> "-" (no limit), 10485760 B/s -> "10 MiB/s", 1500 -> "1.5 KiB/s"."""
    if value == 0:
        return "-"
    scaled, step = float(value), 0
    while scaled >= 1024 and step < len(_UNITS) - 1:
        scaled /= 1024
        step += 1
    number = f"{scaled:.0f}" if scaled == int(scaled) else f"{scaled:.1f}"
    return f"{number} {_UNITS[step]}{unit}"


# -- the guest's devices ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DiskDevice:
    target: str  # vda: what blkdeviotune and the statistics call it
    device: str  # disk, cdrom, floppy, lun
    source: str | None


@dataclass(frozen=True, slots=True)
class NicDevice:
    mac: str  # what the bandwidth calls use: stable whether or not the guest runs
    target: str | None  # the host-side device while the guest runs (the statistics name)
    kind: str  # network, bridge, ethernet, direct...


def devices_of(domain: Domain) -> tuple[tuple[DiskDevice, ...], tuple[NicDevice, ...]]:
    """Disks (with a target) and NICs (with a MAC) of a guest's definition."""
    disks = tuple(
        DiskDevice(disk.target, disk.device or "disk", disk.source_text)
        for disk in domain.disks
        if disk.target
    )
    nics = tuple(
        NicDevice(nic.mac, nic.target, nic.type or "?") for nic in domain.interfaces if nic.mac
    )
    return disks, nics


@dataclass(frozen=True, slots=True)
class GuestRef:
    """The guest a change is for, as libvirt reports it now."""

    uuid: str
    name: str
    active: bool
    persistent: bool
    disks: tuple[DiskDevice, ...]
    nics: tuple[NicDevice, ...]


def open_guest(host: Host, uuid: str, action: str) -> tuple[libvirt.virDomain, GuestRef]:
    """Look the guest up and read its devices (blocking: run it in a worker)."""
    dom = host.domain(uuid, action)
    cached = host.guest(uuid)
    name = cached.name if cached else uuid
    try:
        name = dom.name()
        active = bool(dom.isActive())
        persistent = bool(dom.isPersistent())
        xml = dom.XMLDesc(0)
    except libvirt.libvirtError as exc:
        raise errors.from_libvirt(exc, host=host.label, action=action, guest=name) from exc
    disks, nics = devices_of(parse_for(xml, host=host.label, guest=name, action=action))
    return dom, GuestRef(uuid, name, active, persistent, disks, nics)


def scope_errors(ref: GuestRef, scope: Scope) -> list[FieldError]:
    """A scope the guest cannot take (live on a stopped guest, config on a transient one)."""
    if scope in (Scope.LIVE, Scope.BOTH) and not ref.active:
        return [FieldError("scope", "the guest is not running; choose config")]
    if scope in (Scope.CONFIG, Scope.BOTH) and not ref.persistent:
        return [FieldError("scope", "the guest is transient (no saved configuration); choose live")]
    return []


T = TypeVar("T")  # one device's limits: IoTune or Bandwidth
D = TypeVar("D")  # how a device is named: a disk target or a NicDevice
C = TypeVar("C")  # one (field, requested, kept) row
V = TypeVar("V")
R = TypeVar("R", bound="DeviceSides[Any]")


class DeviceSides(Generic[T]):
    """Mixin for one device's limits on the running guest (``live``, None when it is not
    running) and in its saved configuration (``config``, None when it is transient)."""

    __slots__ = ()
    live: T | None
    config: T | None

    @staticmethod
    def no_limits() -> T:
        """The limits of a device without any (the subclass says which kind)."""
        raise NotImplementedError

    @property
    def differs(self) -> bool:
        return self.live is not None and self.config is not None and self.live != self.config

    @property
    def current(self) -> T:
        """What the editor starts from: live when running, else the configuration."""
        return self.live or self.config or self.no_limits()

    def side(self, scope: Scope) -> T:
        return (self.config if scope is Scope.CONFIG else self.live) or self.no_limits()

    def at(self, flag: int) -> T | None:
        """The side one libvirt flag (VIR_DOMAIN_AFFECT_LIVE or _CONFIG) addresses."""
        return self.live if flag == libvirt.VIR_DOMAIN_AFFECT_LIVE else self.config


def read_scopes(
    ref: GuestRef,
    read: Callable[[int], Mapping[str, object]],
    parse: Callable[[Mapping[str, object]], T],
) -> tuple[T | None, T | None]:
    """(live, config) values of one device; None where that side does not exist."""
    live = parse(read(libvirt.VIR_DOMAIN_AFFECT_LIVE)) if ref.active else None
    config = parse(read(libvirt.VIR_DOMAIN_AFFECT_CONFIG)) if ref.persistent else None
    return live, config


def read_devices(
    host: Host,
    uuid: str,
    action: str,
    devices: Callable[[GuestRef], Iterable[D]],
    read: Callable[[libvirt.virDomain, GuestRef, D], R],
) -> tuple[GuestRef, tuple[R, ...]]:
    """The guest and each of its ``devices``' limits, live and saved (blocking)."""
    dom, ref = open_guest(host, uuid, action)
    try:
        return ref, tuple(read(dom, ref, device) for device in devices(ref))
    except libvirt.libvirtError as exc:
        raise errors.from_libvirt(exc, host=host.label, action=action, guest=ref.name) from exc


def changed_fields(
    names: Iterable[str], old: Mapping[str, V], new: Mapping[str, V]
) -> tuple[tuple[str, V, V], ...]:
    """(field, old, new) for every field whose value differs."""
    return tuple((n, old[n], new[n]) for n in names if old[n] != new[n])


def not_kept_rows(
    scope: Scope, requested: T, after: DeviceSides[T], changes: Callable[[T, T], Iterable[C]]
) -> tuple[C, ...]:
    """(field, requested, kept) where the hypervisor kept something else on a side the
    change went to; each row once."""
    sides = [after.live] if scope is not Scope.CONFIG else []
    if scope is not Scope.LIVE:
        sides.append(after.config)
    out: list[C] = []
    for side in sides:
        if side is not None:
            out.extend(c for c in changes(requested, side) if c not in out)
    return tuple(out)


def _apply_scopes(
    scope: Scope,
    settings: T,
    before: DeviceSides[T],
    send: Callable[[T, T | None, int], None],
) -> None:
    """``send(new, old, flag)`` one scope at a time; if a later scope fails, put back
    what the earlier ones had, so nothing is left half applied."""
    done: list[int] = []
    try:
        for flag in scope.flags:
            send(settings, before.at(flag), flag)
            done.append(flag)
    except libvirt.libvirtError:
        for flag in done:
            old = before.at(flag)
            if old is not None:
                with contextlib.suppress(libvirt.libvirtError):  # report the first error
                    send(old, settings, flag)
        raise


def set_device_limits(
    host: Host,
    uuid: str,
    action: str,
    settings: T,
    scope: Scope,
    *,
    invalid: Sequence[FieldError],
    find: Callable[[GuestRef], D | None],
    missing: str,
    read: Callable[[libvirt.virDomain, GuestRef, D], R],
    send: Callable[[libvirt.virDomain, D, T, T | None, int], None],
) -> tuple[GuestRef, D, R, R]:
    """Refuse, apply and read back one device's limits (blocking: run it in a worker).

    ``invalid``: the settings' field errors; ``find``: the device in the guest, None
    when it has none (``missing`` names it); ``read``: its limits, live and saved;
    ``send(dom, device, new, old, flag)``: one libvirt call. Returns the guest, the
    device, and its limits before and after. Raises
    :class:`ValidationError` (nothing sent) or another :class:`~backend.errors.KvmtuiError`;
    a failure leaves the old limits everywhere.
    """
    cached = host.guest(uuid)
    host.require_writable(action, cached.name if cached else uuid)
    refuse_invalid(invalid, host=host.label, guest=cached.name if cached else uuid, action=action)
    dom, ref = open_guest(host, uuid, action)
    device = find(ref)
    if device is None:
        raise errors.OperationError(
            f"Could not {action} guest '{ref.name}' on {host.label}: it has no {missing}.",
            host=host.label,
            guest=ref.name,
            action=action,
        )
    refuse_invalid(scope_errors(ref, scope), host=host.label, guest=ref.name, action=action)
    try:
        before = read(dom, ref, device)
        _apply_scopes(
            scope, settings, before, lambda new, old, flag: send(dom, device, new, old, flag)
        )
        after = read(dom, ref, device)
    except libvirt.libvirtError as exc:
        failure = errors.from_libvirt(exc, host=host.label, action=action, guest=ref.name)
        raise type(failure)(
            f"{failure.message} Nothing was changed.",
            host=host.label,
            guest=ref.name,
            action=action,
            detail=failure.detail,
            code=failure.code,
        ) from exc
    return ref, device, before, after


def sample_device_rates(
    host: Host, engine: StatsEngine, uuid: str
) -> tuple[tuple[DeviceRates, ...], tuple[DeviceRates, ...]] | None:
    """One statistics sample of one guest's disks and NICs (rates need two samples).

    None when the guest cannot be read now (host down, guest gone); the engine then
    starts afresh so the next rates do not span the gap.
    """
    try:
        conn = host.connection("read statistics")
        dom = conn.lookupByUUIDString(uuid)
        return engine.tick(conn, domains=[dom]).devices(uuid)
    except (errors.KvmtuiError, libvirt.libvirtError):
        engine.reset()
        return None

"""What the disk and network limit editors share: scopes, field errors, number parsing,
and the guest's disks and NICs as the editors name them.

:mod:`backend.iotune` (blkdeviotune) and :mod:`backend.bandwidth` (interface bandwidth)
build on this. Nothing here calls libvirt except :func:`read_devices`.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

import libvirt

from backend import errors
from backend.host import Host


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


def parse_devices(xml: str) -> tuple[tuple[DiskDevice, ...], tuple[NicDevice, ...]]:
    """Disks (with a target) and NICs (with a MAC) of a domain XML. Raises ValueError."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise ValueError(f"not a domain XML: {exc}") from exc
    disks = []
    for disk in root.iterfind("devices/disk"):
        target = disk.find("target")
        if target is None or not target.get("dev"):
            continue
        source = disk.find("source")
        path = None
        if source is not None:
            path = source.get("file") or source.get("dev") or source.get("name")
        disks.append(DiskDevice(target.get("dev", ""), disk.get("device", "disk"), path))
    nics = []
    for nic in root.iterfind("devices/interface"):
        mac = nic.find("mac")
        if mac is None or not mac.get("address"):
            continue
        target = nic.find("target")
        nics.append(
            NicDevice(
                mac.get("address", ""),
                target.get("dev") if target is not None else None,
                nic.get("type", "?"),
            )
        )
    return tuple(disks), tuple(nics)


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
    try:
        disks, nics = parse_devices(xml)
    except ValueError as exc:
        raise errors.OperationError(
            f"Could not {action} guest '{name}' on {host.label}: {exc}.",
            host=host.label,
            guest=name,
            action=action,
        ) from exc
    return dom, GuestRef(uuid, name, active, persistent, disks, nics)


def scope_errors(ref: GuestRef, scope: Scope) -> list[FieldError]:
    """A scope the guest cannot take (live on a stopped guest, config on a transient one)."""
    if scope in (Scope.LIVE, Scope.BOTH) and not ref.active:
        return [FieldError("scope", "the guest is not running; choose config")]
    if scope in (Scope.CONFIG, Scope.BOTH) and not ref.persistent:
        return [FieldError("scope", "the guest is transient (no saved configuration); choose live")]
    return []


T = TypeVar("T")


def read_scopes(
    ref: GuestRef,
    read: Callable[[int], Mapping[str, object]],
    parse: Callable[[Mapping[str, object]], T],
) -> tuple[T | None, T | None]:
    """(live, config) values of one device; None where that side does not exist."""
    live = parse(read(libvirt.VIR_DOMAIN_AFFECT_LIVE)) if ref.active else None
    config = parse(read(libvirt.VIR_DOMAIN_AFFECT_CONFIG)) if ref.persistent else None
    return live, config


def changed_fields(
    names: Iterable[str], old: Mapping[str, object], new: Mapping[str, object]
) -> tuple[tuple[str, object, object], ...]:
    """(field, old, new) for every field whose value differs."""
    return tuple((n, old.get(n), new.get(n)) for n in names if old.get(n) != new.get(n))

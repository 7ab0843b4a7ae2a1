"""Disk I/O limits (blkdeviotune): read, validate, preview, apply, read back.

Every field libvirt offers for a disk: total / read / write bytes per second and IOPS,
their ``_max`` bursts and ``_max_length`` burst durations, ``size_iops_sec`` and
``group_name``. :func:`validate` knows the rules libvirt and QEMU enforce, so a bad value
is refused on its field before anything is sent; :func:`set_iotune` sends every field
(so libvirt's merge with the old values cannot surprise), one scope at a time, and reads
back what the hypervisor kept. Changing a running guest's limits and then failing on its
saved configuration undoes the live change, so nothing is left half applied.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import libvirt

from kvmtui.backend import errors
from kvmtui.backend.host import Host
from kvmtui.backend.throttle import (
    DeviceSides,
    FieldError,
    GuestRef,
    Scope,
    ValidationError,
    binary_text,
    changed_fields,
    not_kept_rows,
    open_guest,
    parse_whole,
    read_devices,
    read_scopes,
    set_device_limits,
)

#: The largest value QEMU and libvirt accept for any limit (THROTTLE_VALUE_MAX).
IOTUNE_MAX = 10**15

_KINDS = ("bytes", "iops")
_WAYS = ("total", "read", "write")


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    label: str
    unit: str  # B/s, IOPS, s, B
    base: str | None = None  # for a burst or a burst length: the field it extends
    burst: str | None = None  # for a burst length: its burst

    @property
    def takes_units(self) -> bool:
        return self.unit in ("B/s", "B")


def _specs() -> tuple[FieldSpec, ...]:
    specs: list[FieldSpec] = []
    for kind in _KINDS:
        unit = "B/s" if kind == "bytes" else "IOPS"
        noun = "bytes/s" if kind == "bytes" else "IOPS"
        for way in _WAYS:
            specs.append(FieldSpec(f"{way}_{kind}_sec", f"{way.title()} {noun}", unit))
    for kind in _KINDS:
        unit = "B/s" if kind == "bytes" else "IOPS"
        noun = "bytes/s" if kind == "bytes" else "IOPS"
        for way in _WAYS:
            base = f"{way}_{kind}_sec"
            specs.append(FieldSpec(f"{base}_max", f"{way.title()} {noun} burst", unit, base))
    for kind in _KINDS:
        noun = "bytes/s" if kind == "bytes" else "IOPS"
        for way in _WAYS:
            base = f"{way}_{kind}_sec"
            specs.append(
                FieldSpec(
                    f"{base}_max_length",
                    f"{way.title()} {noun} burst length",
                    "s",
                    base,
                    f"{base}_max",
                )
            )
    specs.append(FieldSpec("size_iops_sec", "I/O size per IOPS", "B"))
    return tuple(specs)


#: Every numeric field, in the order the editor shows them.
FIELDS: tuple[FieldSpec, ...] = _specs()
FIELD_NAMES: tuple[str, ...] = tuple(s.name for s in FIELDS)
SPECS: Mapping[str, FieldSpec] = {s.name: s for s in FIELDS}
GROUP_NAME = "group_name"
LABELS: Mapping[str, str] = {**{s.name: s.label for s in FIELDS}, GROUP_NAME: "Group name"}


@dataclass(frozen=True, slots=True)
class IoTune:
    """One disk's limits; 0 means no limit, "" no group (QEMU's own per-disk group)."""

    values: Mapping[str, int] = field(default_factory=dict)
    group_name: str = ""

    def get(self, name: str) -> int:
        return int(self.values.get(name, 0))

    def value(self, name: str) -> int | str:
        return self.group_name if name == GROUP_NAME else self.get(name)

    @property
    def unlimited(self) -> bool:
        return not any(self.get(n) for n in FIELD_NAMES)

    def as_dict(self) -> dict[str, int | str]:
        out: dict[str, int | str] = {n: self.get(n) for n in FIELD_NAMES}
        out[GROUP_NAME] = self.group_name
        return out

    @staticmethod
    def of(group_name: str = "", **values: int) -> IoTune:
        unknown = set(values) - set(FIELD_NAMES)
        if unknown:
            raise ValueError(f"unknown blkdeviotune fields: {sorted(unknown)}")
        return IoTune({n: values.get(n, 0) for n in FIELD_NAMES}, group_name)

    @staticmethod
    def from_params(params: Mapping[str, object]) -> IoTune:
        """From ``virDomain.blockIoTune``; QEMU's automatic group (its QOM path) is ""."""
        group = str(params.get(GROUP_NAME) or "")
        if group.startswith("/machine/"):
            group = ""
        values = {n: int(params.get(n) or 0) for n in FIELD_NAMES}  # type: ignore[call-overload]
        return IoTune(values, group)

    def summary(self) -> str:
        """The limits that are set, briefly: "total IOPS 100, read bytes/s 10 MiB/s"."""
        if self.unlimited:
            return "no limits"
        return ", ".join(
            f"{SPECS[n].label[:1].lower()}{SPECS[n].label[1:]} {display(n, self.get(n))}"
            for n in FIELD_NAMES
            if self.get(n)
        ) + (f", group {self.group_name}" if self.group_name else "")


def display(name: str, value: int | str) -> str:
    """A value as the editor shows it: 10 MiB/s, 100 IOPS, 5 s, "-" for no limit."""
    if name == GROUP_NAME:
        return str(value) or "-"
    number = int(value)
    unit = SPECS[name].unit
    if number == 0:
        return "-"
    if unit in ("B/s", "B"):
        return binary_text(number, unit)
    return f"{number} {unit}"


def form_text(name: str, value: int | str) -> str:
    """A value as typed into the form: the plain number ("" for no limit)."""
    if name == GROUP_NAME:
        return str(value)
    number = int(value)
    if not number:
        return ""
    if SPECS[name].takes_units:
        for suffix, scale in (("T", 1024**4), ("G", 1024**3), ("M", 1024**2), ("K", 1024)):
            if number % scale == 0:
                return f"{number // scale}{suffix}"
    return str(number)


# -- validation -------------------------------------------------------------------------


def parse_form(texts: Mapping[str, str]) -> tuple[IoTune | None, list[FieldError]]:
    """Form texts (missing or blank: 0) to settings, or the field errors. Then validated."""
    values: dict[str, int] = {}
    found: list[FieldError] = []
    for spec in FIELDS:
        parsed = parse_whole(texts.get(spec.name, ""), units=spec.takes_units)
        if isinstance(parsed, str):
            found.append(FieldError(spec.name, parsed))
        else:
            values[spec.name] = parsed
    group = texts.get(GROUP_NAME, "").strip()
    if found:
        return None, found
    settings = IoTune(values, group)
    found = validate(settings)
    return (settings if not found else None), found


def validate(settings: IoTune) -> list[FieldError]:
    """Every rule libvirt or QEMU enforces that can be checked before sending."""
    found: list[FieldError] = []
    for name in FIELD_NAMES:
        if settings.get(name) < 0:
            found.append(FieldError(name, "must not be negative"))
        elif settings.get(name) > IOTUNE_MAX:
            found.append(
                FieldError(name, f"is absurdly large: at most {IOTUNE_MAX:,} (QEMU's limit)")
            )
    if found:
        return found
    for kind in _KINDS:
        noun = "bytes/s" if kind == "bytes" else "IOPS"
        total_set = any(settings.get(f"total_{kind}_sec{s}") for s in ("", "_max"))
        for way in ("read", "write"):
            for suffix in ("", "_max"):
                name = f"{way}_{kind}_sec{suffix}"
                if total_set and settings.get(name):
                    found.append(
                        FieldError(
                            name,
                            f"cannot be combined with a total {noun} limit: "
                            "set the total or read/write, not both",
                        )
                    )
    for spec in FIELDS:
        value = settings.get(spec.name)
        if not value or spec.base is None:
            continue
        base = settings.get(spec.base)
        if spec.burst is None:  # a burst
            if not base:
                found.append(FieldError(spec.name, f"a burst needs the {LABELS[spec.base]} limit"))
            elif value < base:
                found.append(
                    FieldError(
                        spec.name,
                        f"a burst must be at least its base ({display(spec.base, base)})",
                    )
                )
        else:  # a burst length
            burst = settings.get(spec.burst)
            if not burst:
                found.append(FieldError(spec.name, f"a burst length needs a {LABELS[spec.burst]}"))
            elif value > IOTUNE_MAX // burst:
                found.append(
                    FieldError(
                        spec.name, "is too long for this burst (QEMU's limit: 10^15 / burst)"
                    )
                )
    if settings.get("size_iops_sec") and not any(settings.get(f"{w}_iops_sec") for w in _WAYS):
        found.append(FieldError("size_iops_sec", "needs an IOPS limit (total, read or write)"))
    if len(settings.group_name) > 255:
        found.append(FieldError(GROUP_NAME, "is too long (255 characters at most)"))
    return found


# -- reading and applying -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DiskIoTune(DeviceSides[IoTune]):
    """One disk's limits on the running guest and in its saved configuration."""

    disk: str
    live: IoTune | None  # None: the guest is not running
    config: IoTune | None  # None: the guest is transient

    @staticmethod
    def no_limits() -> IoTune:
        return IoTune.of()


@dataclass(frozen=True, slots=True)
class GuestIoTune:
    host: str
    guest: GuestRef
    disks: tuple[DiskIoTune, ...]


def _read_disk(dom: libvirt.virDomain, ref: GuestRef, disk: str) -> DiskIoTune:
    live, config = read_scopes(ref, lambda f: dom.blockIoTune(disk, f), IoTune.from_params)
    return DiskIoTune(disk, live, config)


def read_iotune(host: Host, uuid: str) -> GuestIoTune:
    """Every disk's limits, live and saved (blocking: run it in a worker)."""
    action = "read the disk limits of"
    ref, disks = read_devices(
        host, uuid, action, lambda ref: [d.target for d in ref.disks], _read_disk
    )
    return GuestIoTune(host.label, ref, disks)


def changes(old: IoTune, new: IoTune) -> tuple[tuple[str, int | str, int | str], ...]:
    """(field, old, new) for each field that differs: the preview's rows."""
    return changed_fields((*FIELD_NAMES, GROUP_NAME), old.as_dict(), new.as_dict())


def _params(settings: IoTune, current: IoTune | None) -> dict[str, int | str]:
    params: dict[str, int | str] = {n: settings.get(n) for n in FIELD_NAMES}
    # An empty group is sent only to leave a named one; QEMU names its own otherwise.
    if settings.group_name or (current is not None and current.group_name):
        params[GROUP_NAME] = settings.group_name
    return params


@dataclass(frozen=True, slots=True)
class IoTuneResult:
    """Before and after one change, as libvirt reported them."""

    host: str
    guest: str
    disk: str
    scope: Scope
    requested: IoTune
    before: DiskIoTune
    after: DiskIoTune

    def not_kept(self) -> tuple[tuple[str, int | str, int | str], ...]:
        """(field, requested, kept) where the hypervisor kept something else."""
        return not_kept_rows(self.scope, self.requested, self.after, changes)


def _send(dom: libvirt.virDomain, disk: str, new: IoTune, old: IoTune | None, flag: int) -> None:
    dom.setBlockIoTune(disk, _params(new, old), flag)


def set_iotune(
    host: Host, uuid: str, disk: str, settings: IoTune, scope: Scope = Scope.BOTH
) -> IoTuneResult:
    """Validate, apply and read back one disk's limits (blocking: run it in a worker).

    Raises :class:`~backend.throttle.ValidationError` (nothing sent) or another
    :class:`~backend.errors.KvmtuiError` with libvirt's reason in a sentence.
    """
    ref, _, before, after = set_device_limits(
        host,
        uuid,
        f"set the I/O limits of disk {disk} of",
        settings,
        scope,
        invalid=validate(settings),
        find=lambda ref: disk if disk in {d.target for d in ref.disks} else None,
        missing=f"disk {disk}",
        read=_read_disk,
        send=_send,
    )
    return IoTuneResult(host.label, ref.name, disk, scope, settings, before, after)


def clear_iotune(host: Host, uuid: str, disk: str, scope: Scope = Scope.BOTH) -> IoTuneResult:
    """Remove every limit of one disk."""
    return set_iotune(host, uuid, disk, IoTune.of(), scope)


# -- several guests at once ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GuestOutcome:
    """One guest of a batch: the disks changed, or the sentence saying why not."""

    host: str
    uuid: str
    guest: str
    results: tuple[IoTuneResult, ...] = ()
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def apply_to_guests(
    targets: Sequence[tuple[Host, str]],
    settings: IoTune,
    scope: Scope = Scope.BOTH,
    disk: str | None = None,
) -> tuple[GuestOutcome, ...]:
    """The same limits on each guest's disk ``disk`` (None: every disk that is not a
    CD-ROM or floppy), one outcome per guest in the order given.

    Invalid settings raise :class:`~backend.throttle.ValidationError` before any guest
    is touched. A guest that fails keeps its old limits on every disk.
    """
    found = validate(settings)
    if found:
        raise ValidationError(
            f"Could not set the I/O limits of {len(targets)} guests: {LABELS[found[0].field]} "
            f"{found[0].message}. Nothing was changed.",
            found,
            action="set the I/O limits of",
        )
    outcomes: list[GuestOutcome] = []
    for host, uuid in targets:
        cached = host.guest(uuid)
        name = cached.name if cached else uuid
        done: list[IoTuneResult] = []
        try:
            _, ref = open_guest(host, uuid, "set the I/O limits of")
            name = ref.name
            disks = [d.target for d in ref.disks if d.device not in ("cdrom", "floppy")]
            if disk is not None:
                if disk not in {d.target for d in ref.disks}:
                    raise errors.OperationError(
                        f"guest '{name}' on {host.label} has no disk {disk}."
                    )
                disks = [disk]
            if not disks:
                raise errors.OperationError(f"guest '{name}' on {host.label} has no disk to limit.")
            for target in disks:
                done.append(set_iotune(host, uuid, target, settings, scope))
        except errors.KvmtuiError as exc:
            _undo(host, uuid, done)
            outcomes.append(GuestOutcome(host.label, uuid, name, (), str(exc)))
            continue
        outcomes.append(GuestOutcome(host.label, uuid, name, tuple(done)))
    return tuple(outcomes)


def _undo(host: Host, uuid: str, done: Sequence[IoTuneResult]) -> None:
    """Put back the limits of disks already changed when a later disk failed."""
    for result in done:
        sides = {Scope.LIVE: result.before.live, Scope.CONFIG: result.before.config}
        for scope, old in sides.items():
            if old is None or (result.scope is not Scope.BOTH and result.scope is not scope):
                continue
            with contextlib.suppress(errors.KvmtuiError):
                set_iotune(host, uuid, result.disk, old, scope)


def replace_values(settings: IoTune, **values: int) -> IoTune:
    """A copy with some fields changed (tests and the form use it)."""
    return dataclasses.replace(settings, values={**settings.values, **values})

"""Network bandwidth limits per interface: inbound and outbound average, peak and burst.

libvirt's units: average and peak in KiB/s, burst in KiB; 0 means no limit. "Inbound"
is traffic to the guest, "outbound" traffic from it. libvirt silently drops a peak or
burst given without an average, so :func:`validate` refuses that before sending.
Interfaces are named by MAC address, which is stable whether or not the guest runs.
On a running guest libvirt shapes with ``tc`` (htb, sfq, police): a host kernel without
those modules makes the live change fail with tc's message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import libvirt

from kvmtui.backend.host import Host
from kvmtui.backend.throttle import (
    DeviceSides,
    FieldError,
    GuestRef,
    NicDevice,
    Scope,
    binary_text,
    changed_fields,
    not_kept_rows,
    parse_whole,
    read_devices,
    read_scopes,
    set_device_limits,
)

#: libvirt passes these as unsigned 32-bit numbers.
BANDWIDTH_MAX = 2**32 - 1


@dataclass(frozen=True, slots=True)
class BandwidthSpec:
    name: str  # libvirt's parameter name
    label: str
    unit: str  # KiB/s or KiB
    average: str | None = None  # for a peak or burst: its direction's average


def _specs() -> tuple[BandwidthSpec, ...]:
    specs: list[BandwidthSpec] = []
    for direction, words in (("inbound", "In (to guest)"), ("outbound", "Out (from guest)")):
        average = f"{direction}.average"
        specs += [
            BandwidthSpec(average, f"{words} average", "KiB/s"),
            BandwidthSpec(f"{direction}.peak", f"{words} peak", "KiB/s", average),
            BandwidthSpec(f"{direction}.burst", f"{words} burst", "KiB", average),
        ]
    return tuple(specs)


FIELDS: tuple[BandwidthSpec, ...] = _specs()
FIELD_NAMES: tuple[str, ...] = tuple(s.name for s in FIELDS)
SPECS: Mapping[str, BandwidthSpec] = {s.name: s for s in FIELDS}
LABELS: Mapping[str, str] = {s.name: s.label for s in FIELDS}


@dataclass(frozen=True, slots=True)
class Bandwidth:
    """One interface's limits (KiB/s, burst KiB); 0 means no limit."""

    values: Mapping[str, int] = field(default_factory=dict)

    def get(self, name: str) -> int:
        return int(self.values.get(name, 0))

    @property
    def unlimited(self) -> bool:
        return not any(self.get(n) for n in FIELD_NAMES)

    def as_dict(self) -> dict[str, int]:
        return {n: self.get(n) for n in FIELD_NAMES}

    @staticmethod
    def of(**values: int) -> Bandwidth:
        """Keyword names use _ for the dot: ``Bandwidth.of(inbound_average=1000)``."""
        named = {k.replace("_", ".", 1): v for k, v in values.items()}
        unknown = set(named) - set(FIELD_NAMES)
        if unknown:
            raise ValueError(f"unknown bandwidth fields: {sorted(unknown)}")
        return Bandwidth({n: named.get(n, 0) for n in FIELD_NAMES})

    @staticmethod
    def from_params(params: Mapping[str, object]) -> Bandwidth:
        return Bandwidth({n: int(params.get(n) or 0) for n in FIELD_NAMES})  # type: ignore[call-overload]

    def summary(self) -> str:
        if self.unlimited:
            return "no limits"
        return ", ".join(
            f"{_lower_first(SPECS[n].label)} {display(n, self.get(n))}"
            for n in FIELD_NAMES
            if self.get(n)
        )


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def display(name: str, value: int) -> str:
    """10240 (KiB/s) -> "10 MiB/s"; 0 -> "-"."""
    unit = SPECS[name].unit
    return binary_text(value * 1024, "B/s" if unit == "KiB/s" else "B")


def form_text(_name: str, value: int) -> str:
    """As typed into the form: KiB, or MiB/GiB with a suffix when whole (10240 -> "10M")."""
    if not value:
        return ""
    for suffix, scale in (("G", 1024**2), ("M", 1024)):
        if value % scale == 0:
            return f"{value // scale}{suffix}"
    return str(value)


def _parse_kib(text: str) -> int | str:
    """Plain numbers are KiB (libvirt's unit); a suffix (512K, 10M, 1G) is converted."""
    stripped = text.strip()
    if stripped.replace(",", "").replace("_", "").isdigit():
        return int(stripped.replace(",", "").replace("_", ""))
    parsed = parse_whole(text, units=True)
    if isinstance(parsed, str):
        return parsed
    if parsed % 1024:
        return "must be a whole number of KiB"
    return parsed // 1024


def parse_form(texts: Mapping[str, str]) -> tuple[Bandwidth | None, list[FieldError]]:
    values: dict[str, int] = {}
    found: list[FieldError] = []
    for name in FIELD_NAMES:
        parsed = _parse_kib(texts.get(name, ""))
        if isinstance(parsed, str):
            found.append(FieldError(name, parsed))
        else:
            values[name] = parsed
    if found:
        return None, found
    settings = Bandwidth(values)
    found = validate(settings)
    return (settings if not found else None), found


def validate(settings: Bandwidth) -> list[FieldError]:
    found: list[FieldError] = []
    for spec in FIELDS:
        value = settings.get(spec.name)
        if value < 0:
            found.append(FieldError(spec.name, "must not be negative"))
        elif value > BANDWIDTH_MAX:
            found.append(
                FieldError(
                    spec.name,
                    f"is absurdly large: at most {BANDWIDTH_MAX:,} {spec.unit} (libvirt's limit)",
                )
            )
        elif value and spec.average is not None:
            average = settings.get(spec.average)
            if not average:
                found.append(
                    FieldError(
                        spec.name,
                        f"needs the {LABELS[spec.average]} set (libvirt ignores it alone)",
                    )
                )
            elif spec.unit == "KiB/s" and value < average:
                found.append(
                    FieldError(
                        spec.name,
                        f"a peak must be at least the average ({display(spec.average, average)})",
                    )
                )
    return found


# -- reading and applying -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NicBandwidth(DeviceSides[Bandwidth]):
    nic: NicDevice
    live: Bandwidth | None
    config: Bandwidth | None

    @staticmethod
    def no_limits() -> Bandwidth:
        return Bandwidth.of()


@dataclass(frozen=True, slots=True)
class GuestBandwidth:
    host: str
    guest: GuestRef
    nics: tuple[NicBandwidth, ...]


def _read_nic(dom: libvirt.virDomain, ref: GuestRef, nic: NicDevice) -> NicBandwidth:
    live, config = read_scopes(
        ref, lambda f: dom.interfaceParameters(nic.mac, f), Bandwidth.from_params
    )
    return NicBandwidth(nic, live, config)


def read_bandwidth(host: Host, uuid: str) -> GuestBandwidth:
    """Every interface's limits, live and saved (blocking: run it in a worker)."""
    action = "read the network limits of"
    ref, nics = read_devices(host, uuid, action, lambda ref: ref.nics, _read_nic)
    return GuestBandwidth(host.label, ref, nics)


def changes(old: Bandwidth, new: Bandwidth) -> tuple[tuple[str, int, int], ...]:
    return changed_fields(FIELD_NAMES, old.as_dict(), new.as_dict())


@dataclass(frozen=True, slots=True)
class BandwidthResult:
    host: str
    guest: str
    nic: NicDevice
    scope: Scope
    requested: Bandwidth
    before: NicBandwidth
    after: NicBandwidth

    def not_kept(self) -> tuple[tuple[str, int, int], ...]:
        return not_kept_rows(self.scope, self.requested, self.after, changes)


def set_bandwidth(
    host: Host, uuid: str, mac: str, settings: Bandwidth, scope: Scope = Scope.BOTH
) -> BandwidthResult:
    """Validate, apply and read back one interface's limits (blocking: run it in a worker).

    Raises :class:`~backend.throttle.ValidationError` (nothing sent) or another
    :class:`~backend.errors.KvmtuiError`; a failure leaves the old limits everywhere.
    """

    def send(
        dom: libvirt.virDomain, nic: NicDevice, new: Bandwidth, _old: Bandwidth | None, flag: int
    ) -> None:
        dom.setInterfaceParameters(nic.mac, new.as_dict(), flag)

    ref, nic, before, after = set_device_limits(
        host,
        uuid,
        f"set the network limits of interface {mac} of",
        settings,
        scope,
        invalid=validate(settings),
        find=lambda ref: next((n for n in ref.nics if n.mac.lower() == mac.lower()), None),
        missing=f"interface {mac}",
        read=_read_nic,
        send=send,
    )
    return BandwidthResult(host.label, ref.name, nic, scope, settings, before, after)


def clear_bandwidth(host: Host, uuid: str, mac: str, scope: Scope = Scope.BOTH) -> BandwidthResult:
    return set_bandwidth(host, uuid, mac, Bandwidth.of(), scope)

"""How close a host is to the edge: overcommit with KSM's savings, thresholds, what won't fit.

Builds on :func:`backend.hoststats.overcommit` (vCPUs and maximum memory of running
and of all defined guests) and adds what KSM saves today and the guests that would
not fit in real memory if every defined guest were started.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import libvirt

from kvmtui.backend import errors
from kvmtui.backend.host import Host
from kvmtui.backend.hoststats import HostSampler, Overcommit, host_mem_total_kib, overcommit
from kvmtui.backend.model import Guest


class Level(StrEnum):
    OK = "ok"
    WARN = "warn"
    CRITICAL = "critical"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Ratios from which an overcommit is a warning and from which it is critical.

    vCPUs share well (a 4:1 ratio is common for idle guests); memory does not, so
    its defaults sit near 1.
    """

    cpu_warn: float = 2.0
    cpu_critical: float = 4.0
    mem_warn: float = 0.9
    mem_critical: float = 1.1

    def __post_init__(self) -> None:
        for kind, warn, critical in (
            ("vCPU", self.cpu_warn, self.cpu_critical),
            ("memory", self.mem_warn, self.mem_critical),
        ):
            if not 0 < warn < critical:
                raise ValueError(
                    f"The {kind} thresholds need 0 < warning < critical, "
                    f"not {warn:g} and {critical:g}."
                )

    def cpu_level(self, ratio: float | None) -> Level:
        return _level(ratio, self.cpu_warn, self.cpu_critical)

    def mem_level(self, ratio: float | None) -> Level:
        return _level(ratio, self.mem_warn, self.mem_critical)


def _level(ratio: float | None, warn: float, critical: float) -> Level:
    if ratio is None:
        return Level.UNKNOWN
    if ratio >= critical:
        return Level.CRITICAL
    return Level.WARN if ratio >= warn else Level.OK


def parse_thresholds(
    cpu_warn: str, cpu_critical: str, mem_warn: str, mem_critical: str
) -> Thresholds:
    """Four typed ratios as Thresholds; ValueError with a sentence for the admin."""
    values: list[float] = []
    for label, text in (
        ("vCPU warning", cpu_warn),
        ("vCPU critical", cpu_critical),
        ("memory warning", mem_warn),
        ("memory critical", mem_critical),
    ):
        try:
            values.append(float(text.strip().rstrip("xX")))
        except ValueError:
            raise ValueError(f"The {label} ratio '{text.strip()}' is not a number.") from None
    return Thresholds(*values)


@dataclass(frozen=True, slots=True)
class Density:
    """One host's overcommit, KSM's savings and the guests that would not fit."""

    host: str
    overcommit: Overcommit
    ksm_saved_kib: int | None
    would_not_fit: tuple[str, ...]

    @property
    def mem_with_ksm_kib(self) -> int | None:
        """Host memory plus what KSM saves today: what the guests really have."""
        total = self.overcommit.host_mem_kib
        if total is None:
            return None
        return total + (self.ksm_saved_kib or 0)

    @property
    def running_mem_ratio_with_ksm(self) -> float | None:
        budget = self.mem_with_ksm_kib
        return self.overcommit.running_mem_kib / budget if budget else None

    @property
    def defined_mem_ratio_with_ksm(self) -> float | None:
        budget = self.mem_with_ksm_kib
        return self.overcommit.defined_mem_kib / budget if budget else None


def would_not_fit(
    guests: Iterable[Guest], host_mem_kib: int | None, ksm_saved_kib: int | None = None
) -> tuple[str, ...]:
    """Shut-off guests that would not fit in memory if all were started.

    Running guests hold their maximum memory; the others start in the order the host
    would (autostart first, then by name) and each one that no longer fits is named.
    """
    if not host_mem_kib:
        return ()
    budget = host_mem_kib + (ksm_saved_kib or 0)
    all_guests = list(guests)
    used = sum(g.max_memory_kib or 0 for g in all_guests if g.active)  # None: not read yet
    missing: list[str] = []
    for guest in sorted(
        (g for g in all_guests if not g.active), key=lambda g: (not g.autostart, g.name)
    ):
        need = guest.max_memory_kib or 0
        if used + need > budget:
            missing.append(guest.name)
        else:
            used += need
    return tuple(missing)


def density(
    label: str,
    guests: Iterable[Guest],
    host_cpus: int,
    host_mem_kib: int | None,
    ksm_saved_kib: int | None = None,
) -> Density:
    listed = list(guests)
    return Density(
        host=label,
        overcommit=overcommit(listed, host_cpus, host_mem_kib),
        ksm_saved_kib=ksm_saved_kib,
        would_not_fit=would_not_fit(listed, host_mem_kib, ksm_saved_kib),
    )


def read_density(host: Host, ksm_saved_kib: int | None, sampler: HostSampler) -> Density:
    """The host's density now (blocking RPCs: run it in a worker)."""
    action = "read the host's CPUs and memory"
    conn = host.connection(action)
    try:
        sample = sampler.sample(conn)
    except libvirt.libvirtError as exc:
        raise errors.from_libvirt(exc, host=host.label, action=action) from exc
    return density(
        host.label, host.guests(), sample.node.cpus, host_mem_total_kib(sample), ksm_saved_kib
    )

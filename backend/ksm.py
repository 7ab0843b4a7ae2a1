"""Kernel same-page merging (KSM): what a host saves and how it is tuned.

Every host is read through libvirt's node memory parameters (``shm_*``), so remote
hosts work. On the machine kvmtui runs on, sysfs and each QEMU process's
``/proc/PID/ksm_stat`` add what libvirt does not carry: whether KSM runs, the
kernel's own profit figure, zero pages, and which guests merge most.

Tuning goes through ``setMemoryParameters`` (pages to scan, sleep, merge across
nodes) and is validated here before anything is sent; run / stop / unmerge has no
libvirt call and is a sysfs write, so it exists only on the local host.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from urllib.parse import urlsplit

import libvirt
import psutil

from kvmtui.backend import errors
from kvmtui.backend import uri as uris
from kvmtui.backend.history import Series
from kvmtui.backend.host import Host

SYSFS = Path("/sys/kernel/mm/ksm")
QEMU_PID_DIR = Path("/run/libvirt/qemu")
#: KSM merges base pages; 4 KiB on x86-64 and on the usual arm64/s390x kernels.
PAGE_SIZE = 4096
#: The kernel parses these with kstrtouint: 0 .. 2**32-1.
UINT_MAX = 2**32 - 1

_UNSUPPORTED = {libvirt.VIR_ERR_NO_SUPPORT, libvirt.VIR_ERR_INVALID_ARG}
_GUEST_NAME = re.compile(r"(?:^|,)guest=([^,]+)")


class KsmRun(IntEnum):
    """The values of /sys/kernel/mm/ksm/run an admin may write."""

    STOP = 0
    RUN = 1
    UNMERGE = 2  # stop and split every merged page again


@dataclass(frozen=True, slots=True)
class KsmCounters:
    """libvirt's node memory parameters (``shm_*``); None where the host leaves one out."""

    pages_shared: int | None = None
    pages_sharing: int | None = None
    pages_unshared: int | None = None
    pages_volatile: int | None = None
    full_scans: int | None = None
    pages_to_scan: int | None = None
    sleep_millisecs: int | None = None
    merge_across_nodes: int | None = None


@dataclass(frozen=True, slots=True)
class KsmLocal:
    """What only the local sysfs says."""

    run: int | None
    general_profit_bytes: int | None
    zero_pages: int | None
    advisor_mode: str | None  # "none" or "scan-time": the advisor sets pages_to_scan itself


@dataclass(frozen=True, slots=True)
class GuestKsm:
    """One QEMU process's own KSM figures (``/proc/PID/ksm_stat``)."""

    name: str
    pid: int
    merging_pages: int
    zero_pages: int | None
    profit_bytes: int | None

    @property
    def saved_kib(self) -> int:
        return self.merging_pages * PAGE_SIZE // 1024


@dataclass(frozen=True, slots=True)
class KsmReading:
    """One host's KSM at one moment. ``counters`` is None when the host reports no KSM."""

    host: str
    wall: float
    counters: KsmCounters | None
    local: KsmLocal | None = None
    guests: tuple[GuestKsm, ...] = ()
    unavailable: str | None = None  # why counters is None

    @property
    def saved_kib(self) -> int | None:
        """Memory saved: every page sharing a merged page is one page not held twice."""
        sharing = self.counters.pages_sharing if self.counters else None
        return None if sharing is None else sharing * PAGE_SIZE // 1024

    @property
    def sharing_ratio(self) -> float | None:
        """Pages sharing per shared page: how many users each merged page has."""
        if self.counters is None:
            return None
        shared, sharing = self.counters.pages_shared, self.counters.pages_sharing
        if shared is None or sharing is None or shared == 0:
            return None
        return sharing / shared

    @property
    def running(self) -> bool | None:
        """Whether KSM scans: known from sysfs only (libvirt does not say)."""
        if self.local is None or self.local.run is None:
            return None
        return self.local.run == KsmRun.RUN


# -- where a host is ----------------------------------------------------------------------


def is_local_kvm(host: Host) -> bool:
    """True for a QEMU/KVM host on this machine: its sysfs and QEMU processes are ours."""
    uri = host.uri or uris.default_uri() or "qemu:///system"
    if uris.is_remote(uri):
        return False
    return urlsplit(uri).scheme in ("qemu", "kvm")


def is_session(host: Host) -> bool:
    uri = host.uri or uris.default_uri() or ""
    return urlsplit(uri).path.rstrip("/").endswith("session")


# -- reading ------------------------------------------------------------------------------


def counters_from_params(params: Mapping[str, int]) -> KsmCounters:
    def get(key: str) -> int | None:
        value = params.get(f"shm_{key}")
        return int(value) if value is not None else None

    return KsmCounters(
        pages_shared=get("pages_shared"),
        pages_sharing=get("pages_sharing"),
        pages_unshared=get("pages_unshared"),
        pages_volatile=get("pages_volatile"),
        full_scans=get("full_scans"),
        pages_to_scan=get("pages_to_scan"),
        sleep_millisecs=get("sleep_millisecs"),
        merge_across_nodes=get("merge_across_nodes"),
    )


def _sysfs_int(name: str, root: Path) -> int | None:
    try:
        return int((root / name).read_text().strip())
    except (OSError, ValueError):
        return None


def _advisor_mode(root: Path) -> str | None:
    try:
        text = (root / "advisor_mode").read_text()
    except OSError:
        return None
    chosen = re.search(r"\[([^\]]+)\]", text)
    return chosen.group(1) if chosen else text.strip() or None


def read_local(root: Path = SYSFS) -> KsmLocal | None:
    """The local sysfs figures, or None when this kernel has no KSM."""
    if not root.is_dir():
        return None
    return KsmLocal(
        run=_sysfs_int("run", root),
        general_profit_bytes=_sysfs_int("general_profit", root),
        zero_pages=_sysfs_int("ksm_zero_pages", root),
        advisor_mode=_advisor_mode(root),
    )


def parse_ksm_stat(text: str) -> dict[str, int]:
    """``ksm_rmap_items 12\\nksm_merging_pages 3...`` as a dict; odd lines skipped."""
    figures: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        with contextlib.suppress(ValueError):
            figures[key.strip()] = int(value.strip())
    return figures


def guest_name_from_cmdline(cmdline: Iterable[str]) -> str | None:
    """The guest of a QEMU command line: ``-name guest=NAME,debug-threads=on``."""
    args = list(cmdline)
    for i, arg in enumerate(args[:-1]):
        if arg == "-name":
            found = _GUEST_NAME.search(args[i + 1])
            return found.group(1) if found else args[i + 1].split(",", 1)[0]
    return None


def qemu_pids(names: Iterable[str], pid_dir: Path = QEMU_PID_DIR) -> dict[str, int]:
    """PIDs of the named guests' QEMU processes: libvirt's pid files, else the -name argument."""
    wanted = set(names)
    pids: dict[str, int] = {}
    for name in wanted:
        with contextlib.suppress(OSError, ValueError):
            pid = int((pid_dir / f"{name}.pid").read_text().strip())
            if psutil.pid_exists(pid):
                pids[name] = pid
    missing = wanted - pids.keys()
    if missing:
        for proc in psutil.process_iter(["name", "cmdline"]):
            cmdline = proc.info.get("cmdline") or []
            if not cmdline or "qemu" not in os.path.basename(cmdline[0]):
                continue
            guest = guest_name_from_cmdline(cmdline)
            if guest is not None and guest in missing:
                pids[guest] = proc.pid
    return pids


def read_guest_ksm(names: Iterable[str], proc: Path = Path("/proc")) -> tuple[GuestKsm, ...]:
    """Per running guest, its QEMU process's KSM figures; guests without any are left out."""
    found: list[GuestKsm] = []
    for name, pid in sorted(qemu_pids(names).items()):
        try:
            stat = parse_ksm_stat((proc / str(pid) / "ksm_stat").read_text())
        except OSError:
            continue
        if "ksm_merging_pages" not in stat:
            continue
        found.append(
            GuestKsm(
                name=name,
                pid=pid,
                merging_pages=stat["ksm_merging_pages"],
                zero_pages=stat.get("ksm_zero_pages"),
                profit_bytes=stat.get("ksm_process_profit"),
            )
        )
    return tuple(found)


def read_ksm(host: Host, *, clock: Callable[[], float] = time.time) -> KsmReading:
    """One reading of the host's KSM (blocking RPCs: run it in a worker).

    A host whose driver has no node memory parameters gives a reading with
    ``counters=None`` and the reason; other libvirt failures raise KvmtuiError.
    """
    action = "read KSM figures"
    conn = host.connection(action)
    try:
        params = conn.getMemoryParameters(0)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() not in _UNSUPPORTED:
            raise errors.from_libvirt(exc, host=host.label, action=action) from exc
        return KsmReading(
            host.label,
            clock(),
            None,
            unavailable="this host's driver does not report KSM (no node memory parameters)",
        )
    counters = counters_from_params(params)
    local: KsmLocal | None = None
    guests: tuple[GuestKsm, ...] = ()
    if is_local_kvm(host) and not is_session(host):
        local = read_local()
        running = [g.name for g in host.guests() if g.active]
        guests = read_guest_ksm(running)
    return KsmReading(host.label, clock(), counters, local, guests)


# -- tuning -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tunable:
    """A setting libvirt sets: its parameter, the words for it and what the kernel accepts."""

    key: str  # KsmCounters field and, prefixed with shm_, libvirt's parameter
    title: str
    low: int
    high: int
    unit: str = ""


TUNABLES: dict[str, Tunable] = {
    t.key: t
    for t in (
        Tunable("pages_to_scan", "pages to scan", 0, UINT_MAX, "pages per wake-up"),
        Tunable("sleep_millisecs", "sleep", 0, UINT_MAX, "ms between scans"),
        Tunable("merge_across_nodes", "merge across NUMA nodes", 0, 1, "0 or 1"),
    )
}


class KsmValueError(errors.KvmtuiError):
    """A value the kernel would refuse; nothing was sent."""


@dataclass(frozen=True, slots=True)
class Permission:
    """Whether an action may run on a host, and if not, the sentence why."""

    allowed: bool
    reason: str | None = None


def tuning_permission(host: Host, reading: KsmReading | None) -> Permission:
    """Pages to scan, sleep and merge across nodes through libvirt."""
    if host.readonly:
        return Permission(False, "read-only connection")
    if not host.connected:
        return Permission(False, "host not connected")
    if reading is None:
        return Permission(False, "no KSM reading yet")
    if reading.counters is None:
        return Permission(False, reading.unavailable or "the host reports no KSM")
    if is_session(host):
        return Permission(False, "a session daemon runs as your user; KSM needs qemu:///system")
    return Permission(True)


def run_permission(host: Host, reading: KsmReading | None) -> Permission:
    """Run / stop / unmerge: a sysfs write, so local hosts only and as root."""
    if host.readonly:
        return Permission(False, "read-only connection")
    if not is_local_kvm(host):
        return Permission(
            False,
            "libvirt has no call to start or stop KSM; on that host write "
            "/sys/kernel/mm/ksm/run, or use ksmtuned",
        )
    if reading is None or reading.local is None:
        return Permission(False, "this kernel has no /sys/kernel/mm/ksm")
    if os.geteuid() != 0:
        return Permission(False, "only root may write /sys/kernel/mm/ksm/run")
    return Permission(True)


def validate(key: str, text: str, reading: KsmReading | None) -> int:
    """The admin's text as a value the kernel accepts, or KsmValueError with a sentence."""
    tunable = TUNABLES.get(key)
    if tunable is None:
        raise KsmValueError(f"'{key}' is not a KSM setting kvmtui changes.")
    typed = text.strip()
    if not re.fullmatch(r"\d+", typed):
        raise KsmValueError(
            f"'{typed}' is not a whole number; {tunable.title} takes "
            f"{tunable.low} to {tunable.high} ({tunable.unit})."
        )
    value = int(typed)
    if not tunable.low <= value <= tunable.high:
        raise KsmValueError(
            f"{value} is out of range; {tunable.title} takes "
            f"{tunable.low} to {tunable.high} ({tunable.unit})."
        )
    counters = reading.counters if reading else None
    if key == "merge_across_nodes" and counters is not None:
        if counters.merge_across_nodes is None:
            raise KsmValueError("This host has no merge_across_nodes (a kernel without NUMA).")
        if value != counters.merge_across_nodes and counters.pages_shared:
            raise KsmValueError(
                f"The kernel changes merge_across_nodes only while no pages are shared "
                f"({counters.pages_shared} are now); unmerge first (u), then change it."
            )
    if (
        key == "pages_to_scan"
        and reading is not None
        and reading.local is not None
        and reading.local.advisor_mode not in (None, "none")
    ):
        raise KsmValueError(
            f"The KSM advisor ({reading.local.advisor_mode}) sets pages_to_scan itself; "
            "set /sys/kernel/mm/ksm/advisor_mode to none first."
        )
    return value


def set_tunable(host: Host, key: str, text: str) -> tuple[int | None, KsmReading]:
    """Validate, send through ``setMemoryParameters`` and read back.

    Returns the value before and the reading after. Raises KvmtuiError (ReadOnlyError
    before libvirt is called, KsmValueError for values the kernel would refuse, and
    an error when the value read back is not the one sent).
    """
    tunable = TUNABLES.get(key)
    title = tunable.title if tunable else key
    action = f"set KSM {title}"
    host.require_writable(action)
    before = read_ksm(host)
    permission = tuning_permission(host, before)
    if not permission.allowed:
        raise errors.OperationError(f"Could not {action} on {host.label}: {permission.reason}.")
    value = validate(key, text, before)
    old = getattr(before.counters, key) if before.counters else None
    conn = host.connection(action)
    try:
        conn.setMemoryParameters({f"shm_{key}": value}, 0)
    except libvirt.libvirtError as exc:
        raise errors.from_libvirt(exc, host=host.label, action=action) from exc
    after = read_ksm(host)
    now = getattr(after.counters, key) if after.counters else None
    if now != value:
        raise errors.OperationError(
            f"Could not {action} on {host.label}: sent {value} but read back {now}."
        )
    return old, after


def set_run(host: Host, mode: KsmRun, root: Path = SYSFS) -> KsmReading:
    """Start, stop or unmerge KSM on the local host (sysfs); returns the reading after."""
    action = {KsmRun.RUN: "start KSM", KsmRun.STOP: "stop KSM", KsmRun.UNMERGE: "unmerge KSM"}[mode]
    host.require_writable(action)
    permission = run_permission(host, KsmReading(host.label, 0.0, None, read_local(root)))
    if not permission.allowed:
        raise errors.OperationError(f"Could not {action} on {host.label}: {permission.reason}.")
    try:
        (root / "run").write_text(f"{int(mode)}\n")
    except OSError as exc:
        raise errors.OperationError(
            f"Could not {action} on {host.label}: writing {root / 'run'} failed "
            f"({exc.strerror or exc})."
        ) from exc
    after = read_ksm(host)
    if after.local is None or after.local.run != int(mode):
        got = after.local.run if after.local else None
        raise errors.OperationError(
            f"Could not {action} on {host.label}: wrote {int(mode)} but read back {got}."
        )
    return after


# -- history ------------------------------------------------------------------------------


@dataclass
class KsmHistory:
    """The last ``capacity`` readings of one host, for the memory-saved graph."""

    capacity: int = 120
    _readings: deque[KsmReading] = field(default_factory=deque)

    def append(self, reading: KsmReading) -> None:
        self._readings.append(reading)
        while len(self._readings) > self.capacity:
            self._readings.popleft()

    @property
    def last(self) -> KsmReading | None:
        return self._readings[-1] if self._readings else None

    def saved_kib(self) -> Series:
        return Series(tuple(_float(r.saved_kib) for r in self._readings))

    def __len__(self) -> int:
        return len(self._readings)


def _float(value: int | None) -> float | None:
    return None if value is None else float(value)

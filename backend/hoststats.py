"""Host figures through libvirt (so remote hosts work): CPU, memory, overcommit.

Three RPCs per tick: ``getInfo``, ``getCPUStats`` and ``getMemoryStats``. A driver
that does not support one of them (the test driver has no memory statistics) is
remembered per connection and the figure is unknown (None), never 0.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import libvirt

from kvmtui.backend.model import Guest

_UNSUPPORTED = {libvirt.VIR_ERR_NO_SUPPORT, libvirt.VIR_ERR_INVALID_ARG}


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """``conn.getInfo()``: the host's CPU topology. ``memory_kib`` is libvirt's NUMA sum,
    which can be below the real total; prefer :attr:`HostSample.mem_total_kib`."""

    model: str
    memory_kib: int
    cpus: int
    mhz: int
    nodes: int
    sockets: int
    cores: int
    threads: int


@dataclass(frozen=True, slots=True)
class HostSample:
    """Raw host counters at one moment (CPU times are cumulative nanoseconds)."""

    monotonic: float
    wall: float
    node: NodeInfo
    cpu_busy_ns: int | None = None  # kernel + user
    cpu_total_ns: int | None = None  # kernel + user + idle + iowait
    mem_total_kib: int | None = None
    mem_free_kib: int | None = None
    mem_buffers_kib: int | None = None
    mem_cached_kib: int | None = None


@dataclass(frozen=True, slots=True)
class Overcommit:
    """vCPUs and memory promised to guests against what the host has.

    Memory of a guest is its maximum memory (what it may balloon up to).
    """

    host_cpus: int
    host_mem_kib: int | None
    running_guests: int
    defined_guests: int
    running_vcpus: int
    defined_vcpus: int
    running_mem_kib: int
    defined_mem_kib: int

    @property
    def running_vcpu_ratio(self) -> float | None:
        return self.running_vcpus / self.host_cpus if self.host_cpus else None

    @property
    def defined_vcpu_ratio(self) -> float | None:
        return self.defined_vcpus / self.host_cpus if self.host_cpus else None

    @property
    def running_mem_ratio(self) -> float | None:
        return self.running_mem_kib / self.host_mem_kib if self.host_mem_kib else None

    @property
    def defined_mem_ratio(self) -> float | None:
        return self.defined_mem_kib / self.host_mem_kib if self.host_mem_kib else None


@dataclass(frozen=True, slots=True)
class HostFigures:
    """What the host summary shows after a tick; None means unknown."""

    node: NodeInfo
    cpu_pct: float | None
    mem_total_kib: int | None
    mem_used_kib: int | None
    overcommit: Overcommit | None = None

    @property
    def mem_pct(self) -> float | None:
        if self.mem_used_kib is None or not self.mem_total_kib:
            return None
        return 100.0 * self.mem_used_kib / self.mem_total_kib


def node_info(conn: libvirt.virConnect) -> NodeInfo:
    model, memory_mib, cpus, mhz, nodes, sockets, cores, threads = conn.getInfo()
    return NodeInfo(
        str(model),
        int(memory_mib) * 1024,
        int(cpus),
        int(mhz),
        int(nodes),
        int(sockets),
        int(cores),
        int(threads),
    )


#: ``getInfo`` (CPU topology, NUMA memory) is asked again after this many samples; it
#: changes only with hot-plug, and one RPC less a tick is about 0.3 ms.
NODE_INFO_EVERY = 20


class HostSampler:
    """Samples one host's CPU and memory counters; remembers what its driver lacks.

    The node's topology (``getInfo``) is read on the first sample of a connection and
    then every :data:`NODE_INFO_EVERY` samples; the counters every sample.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock
        self._wall_clock = wall_clock
        self._conn: libvirt.virConnect | None = None
        self._no_cpu_stats = False
        self._no_mem_stats = False
        self._node: NodeInfo | None = None
        self._node_age = 0

    def sample(self, conn: libvirt.virConnect) -> HostSample:
        if conn is not self._conn:
            self._conn, self._no_cpu_stats, self._no_mem_stats = conn, False, False
            self._node = None
        if self._node is None or self._node_age >= NODE_INFO_EVERY:
            self._node, self._node_age = node_info(conn), 0
        self._node_age += 1
        node = self._node
        busy = total = None
        if not self._no_cpu_stats:
            try:
                cpu = conn.getCPUStats(libvirt.VIR_NODE_CPU_STATS_ALL_CPUS)
            except libvirt.libvirtError as exc:
                if exc.get_error_code() not in _UNSUPPORTED:
                    raise
                self._no_cpu_stats = True
            else:
                busy, total = cpu_times(cpu)
        mem: dict[str, int] = {}
        if not self._no_mem_stats:
            try:
                mem = conn.getMemoryStats(libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS)
            except libvirt.libvirtError as exc:
                if exc.get_error_code() not in _UNSUPPORTED:
                    raise
                self._no_mem_stats = True
        return HostSample(
            monotonic=self._clock(),
            wall=self._wall_clock(),
            node=node,
            cpu_busy_ns=busy,
            cpu_total_ns=total,
            mem_total_kib=_kib(mem, "total"),
            mem_free_kib=_kib(mem, "free"),
            mem_buffers_kib=_kib(mem, "buffers"),
            mem_cached_kib=_kib(mem, "cached"),
        )


def _kib(mem: dict[str, int], key: str) -> int | None:
    value = mem.get(key)
    return int(value) if value is not None else None


def cpu_times(cpu: dict[str, int]) -> tuple[int | None, int | None]:
    """Busy (kernel + user) and total nanoseconds from ``getCPUStats``.

    Linux reports kernel, user, idle, iowait; other fields are left out so the total
    stays the sum of what busy and idle mean.
    """
    if "kernel" not in cpu or "user" not in cpu or "idle" not in cpu:
        return None, None
    busy = int(cpu["kernel"]) + int(cpu["user"])
    return busy, busy + int(cpu["idle"]) + int(cpu.get("iowait", 0))


def host_cpu_pct(old: HostSample | None, new: HostSample) -> float | None:
    """Share of all host CPUs busy between two samples; None if unknown or reset."""
    if (
        old is None
        or old.cpu_busy_ns is None
        or old.cpu_total_ns is None
        or new.cpu_busy_ns is None
        or new.cpu_total_ns is None
    ):
        return None
    busy = new.cpu_busy_ns - old.cpu_busy_ns
    total = new.cpu_total_ns - old.cpu_total_ns
    if total <= 0 or busy < 0 or busy > total:
        return None
    return 100.0 * busy / total


def host_mem_total_kib(sample: HostSample) -> int:
    """The real memory total: ``getMemoryStats`` (/proc/meminfo), else ``getInfo``."""
    return sample.mem_total_kib if sample.mem_total_kib else sample.node.memory_kib


def host_mem_used_kib(sample: HostSample) -> int | None:
    """Used as ``free`` counts it: total - free - buffers - cached; None if not reported."""
    parts = (
        sample.mem_total_kib,
        sample.mem_free_kib,
        sample.mem_buffers_kib,
        sample.mem_cached_kib,
    )
    if any(p is None for p in parts):
        return None
    total, free, buffers, cached = (int(p or 0) for p in parts)
    used = total - free - buffers - cached
    return used if 0 <= used <= total else None


def overcommit(guests: Iterable[Guest], host_cpus: int, host_mem_kib: int | None) -> Overcommit:
    """Sum vCPUs and maximum memory of running (active) and of all defined guests."""
    running = defined = 0
    running_vcpus = defined_vcpus = running_mem = defined_mem = 0
    for guest in guests:
        defined += 1
        vcpus, mem = guest.vcpus or 0, guest.max_memory_kib or 0  # None: not read yet
        defined_vcpus += vcpus
        defined_mem += mem
        if guest.active:
            running += 1
            running_vcpus += vcpus
            running_mem += mem
    return Overcommit(
        host_cpus=host_cpus,
        host_mem_kib=host_mem_kib,
        running_guests=running,
        defined_guests=defined,
        running_vcpus=running_vcpus,
        defined_vcpus=defined_vcpus,
        running_mem_kib=running_mem,
        defined_mem_kib=defined_mem,
    )


def known_overcommit(
    guests: Iterable[Guest], host_cpus: int, host_mem_kib: int | None
) -> Overcommit | None:
    """:func:`overcommit`, or None while some guest's vCPUs or memory are still being
    read (a fast listing, see ``Guest``): sums without them would read low."""
    listed = tuple(guests)
    if not all(g.figures_known for g in listed):
        return None
    return overcommit(listed, host_cpus, host_mem_kib)


class OvercommitMemo:
    """:func:`known_overcommit` of the last guest list, again while the same list object
    comes.

    A poller asks every tick with the host's guest snapshot (``Host.guests()``, one
    tuple until a guest changes): at 10,000 guests the sums cost a few ms a tick.
    """

    def __init__(self) -> None:
        self._guests: Iterable[Guest] | None = None
        self._numbers: tuple[int, int | None] | None = None
        self._value: Overcommit | None = None

    def __call__(
        self, guests: Iterable[Guest], host_cpus: int, host_mem_kib: int | None
    ) -> Overcommit | None:
        numbers = (host_cpus, host_mem_kib)
        if guests is not self._guests or numbers != self._numbers:
            self._value = known_overcommit(guests, host_cpus, host_mem_kib)
            self._guests, self._numbers = guests, numbers
        return self._value


def host_figures(
    old: HostSample | None,
    new: HostSample,
    guests: Iterable[Guest] | None = None,
    *,
    memo: OvercommitMemo | None = None,
) -> HostFigures:
    """The host summary of a tick; overcommit only when the guest list is given."""
    total = host_mem_total_kib(new)
    of = memo or known_overcommit
    return HostFigures(
        node=new.node,
        cpu_pct=host_cpu_pct(old, new),
        mem_total_kib=total,
        mem_used_kib=host_mem_used_kib(new),
        overcommit=of(guests, new.node.cpus, total) if guests is not None else None,
    )

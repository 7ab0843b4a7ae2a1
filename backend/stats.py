"""Guest statistics: one bulk libvirt call per host per tick, and rates from two samples.

A :class:`Sample` holds raw counters exactly as libvirt reported them; it is immutable
and cheap to keep. :func:`compute_rates` turns two samples into :class:`GuestRates`.
Anything that cannot be known honestly is ``None``, never 0: a guest that restarted
(its domain id changed or a counter went down), a guest that just appeared, a group the
guest does not report (no balloon driver, no NIC), a rate that makes no sense.

The per-guest records are ``NamedTuple``s built positionally: immutable and typed like
frozen dataclasses, and about five times cheaper to build, which matters at 10,000
guests a tick. Per-device rates are computed on demand (:func:`device_rates`, for the
one guest a details screen shows); every tick computes only the totals.

Nothing here changes a guest: the balloon statistics period is never set. A balloon
report older than :data:`BALLOON_STALE_S` counts as unknown: without a period the virtio
driver reports once, at boot, and that figure would otherwise stand as current forever.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from types import MappingProxyType
from typing import Any, NamedTuple

import libvirt

from kvmtui.backend.model import GuestState, state_from_code

#: The groups of one bulk call: what virt-top shows, nothing more.
STATS_GROUPS = (
    libvirt.VIR_DOMAIN_STATS_STATE
    | libvirt.VIR_DOMAIN_STATS_CPU_TOTAL
    | libvirt.VIR_DOMAIN_STATS_BALLOON
    | libvirt.VIR_DOMAIN_STATS_VCPU
    | libvirt.VIR_DOMAIN_STATS_INTERFACE
    | libvirt.VIR_DOMAIN_STATS_BLOCK
)
#: Skip guests whose job lock is held, so one hung guest cannot stall the host's refresh.
NOWAIT = libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT

#: A guest's CPU use above this share of its vCPUs is a broken counter, not load.
#: Up to it, small overshoots from sampling jitter are clamped to 100 %.
MAX_CPU_RATIO = 1.5
#: Rates above these are treated as broken counters (1 TB/s, a billion requests/s).
MAX_BYTES_PER_S = 1e12
MAX_EVENTS_PER_S = 1e9

_NO_FLAG_CODES = {libvirt.VIR_ERR_INVALID_ARG, libvirt.VIR_ERR_NO_SUPPORT}


# -- raw counters ---------------------------------------------------------------------


class DiskCounters(NamedTuple):
    """One disk's cumulative counters (``block.N.*``); None where not reported."""

    name: str
    rd_bytes: int | None
    wr_bytes: int | None
    rd_reqs: int | None
    wr_reqs: int | None


class NicCounters(NamedTuple):
    """One NIC's cumulative counters (``net.N.*``), as the host-side device counts them."""

    name: str
    rx_bytes: int | None
    tx_bytes: int | None
    rx_pkts: int | None
    tx_pkts: int | None


#: One disk or NIC as the parser keeps it: a plain tuple laid out as
#: :class:`DiskCounters` / :class:`NicCounters` (name, then the four counters). The
#: cycle collector stops tracking a plain tuple of strings and numbers the first time
#: it looks at it (never a named tuple): at 10,000 guests that is 40,000 objects fewer
#: for each full collection to walk.
Device = tuple[str, int | None, int | None, int | None, int | None]


class GuestCounters(NamedTuple):
    """One guest in one sample: raw values, None where libvirt did not report them.

    ``disks``/``nics`` are None when the block/interface group is missing entirely and
    an empty tuple when the group is there but the guest has no disk or NIC. Each
    device is a :data:`Device` (a :class:`DiskCounters` or :class:`NicCounters` is one).
    """

    uuid: str
    name: str
    domain_id: int | None
    state: GuestState
    cpu_time_ns: int | None = None
    vcpus: int | None = None
    balloon_current_kib: int | None = None
    balloon_maximum_kib: int | None = None
    balloon_available_kib: int | None = None
    balloon_unused_kib: int | None = None
    balloon_rss_kib: int | None = None
    disks: tuple[Device, ...] | None = None
    nics: tuple[Device, ...] | None = None
    #: The monotonic time of the sample this reading is from (its rates' start next
    #: time); None when unknown. Kept here rather than beside it: one object a guest.
    read_at: float | None = None


@dataclass(frozen=True, slots=True)
class Sample:
    """All guests of one host at one moment.

    ``monotonic`` is for rates (it never jumps), ``wall`` (seconds since the epoch) for
    display. ``guests`` maps UUID to counters and is read-only.
    """

    host: str
    monotonic: float
    wall: float
    guests: Mapping[str, GuestCounters]
    duration_s: float = 0.0  # how long the bulk call took

    @staticmethod
    def of(
        host: str,
        monotonic: float,
        wall: float,
        guests: Iterable[GuestCounters],
        duration_s: float = 0.0,
    ) -> Sample:
        return Sample(
            host, monotonic, wall, MappingProxyType({g.uuid: g for g in guests}), duration_s
        )


# libvirt's keys for device N, built once per N instead of once per guest and tick.
_Keys = tuple[str, str, str, str, str]
_BLOCK_KEYS: list[_Keys] = []
_NET_KEYS: list[_Keys] = []
_BLOCK_FIELDS = ("rd.bytes", "wr.bytes", "rd.reqs", "wr.reqs")
_NET_FIELDS = ("rx.bytes", "tx.bytes", "rx.pkts", "tx.pkts")


def _keys(cache: list[_Keys], prefix: str, fields: tuple[str, ...], i: int) -> _Keys:
    while len(cache) <= i:
        n = len(cache)
        a, b, c, d = (f"{prefix}.{n}.{f}" for f in fields)
        cache.append((f"{prefix}.{n}.name", a, b, c, d))
    return cache[i]


def _devices(
    get: Callable[[str], Any],
    count: int,
    cache: list[_Keys],
    prefix: str,
    fields: tuple[str, str, str, str],
) -> tuple[Device, ...]:
    if count == 1:  # the common case: one disk, one NIC
        k = cache[0] if cache else _keys(cache, prefix, fields, 0)
        return ((get(k[0]) or f"{prefix}0", get(k[1]), get(k[2]), get(k[3]), get(k[4])),)
    out = []
    for i in range(count):
        k = cache[i] if i < len(cache) else _keys(cache, prefix, fields, i)
        out.append((get(k[0]) or f"{prefix}{i}", get(k[1]), get(k[2]), get(k[3]), get(k[4])))
    return tuple(out)


#: A balloon report older than this (``balloon.last-update``, the host's clock against
#: this machine's) makes memory in use unknown. Guests report every few seconds when a
#: period is set; hosts keep their clocks within seconds of each other with NTP.
BALLOON_STALE_S = 120.0


def parse_counters(
    uuid: str,
    name: str,
    domain_id: int | None,
    stats: Mapping[str, Any],
    read_at: float | None = None,
    stale_before: float | None = None,
) -> GuestCounters:
    """One record of ``getAllDomainStats`` as :class:`GuestCounters`.

    With ``stale_before`` (seconds since the epoch), a balloon report made before it
    leaves the memory figures it feeds (available, unused) unknown. A record without
    ``balloon.last-update`` (older libvirt, the test driver) is taken as it is.
    """
    get = stats.get
    available = get("balloon.available")
    unused = get("balloon.unused")
    if available is not None and stale_before is not None:
        updated = get("balloon.last-update")
        if updated is not None and updated < stale_before:
            available = unused = None
    state_code = get("state.state")
    count = get("block.count")
    disks = None if count is None else _devices(get, count, _BLOCK_KEYS, "block", _BLOCK_FIELDS)
    count = get("net.count")
    nics = None if count is None else _devices(get, count, _NET_KEYS, "net", _NET_FIELDS)
    return GuestCounters(
        uuid,
        name,
        domain_id if domain_id is not None and domain_id >= 0 else None,
        state_from_code(state_code) if state_code is not None else GuestState.UNKNOWN,
        get("cpu.time"),
        get("vcpu.current"),
        get("balloon.current"),
        get("balloon.maximum"),
        available,
        unused,
        get("balloon.rss"),
        disks,
        nics,
        read_at,
    )


# -- collecting a sample --------------------------------------------------------------


class StatsCollector:
    """Takes samples from one libvirt connection with one bulk call each.

    NOWAIT is tried first; a daemon that refuses the flag is remembered (per
    connection) and asked without it from then on.
    """

    def __init__(
        self,
        host: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.host = host
        self._clock = clock
        self._wall_clock = wall_clock
        self._nowait_refused_by: libvirt.virConnect | None = None
        #: The domain objects of the latest replies by UUID, for ``domainListGetStats``
        #: (their name, UUID and id are held locally: reusing them costs no lookup RPC).
        self.domains: dict[str, libvirt.virDomain] = {}

    def sample(
        self, conn: libvirt.virConnect, domains: Sequence[libvirt.virDomain] | None = None
    ) -> Sample:
        """Every guest of the host, or only ``domains`` (``domainListGetStats``).

        Raises :class:`libvirt.libvirtError`; the caller turns it into a sentence.
        """
        started = self._clock()
        records = self._bulk(conn, domains)
        finished = self._clock()
        wall = self._wall_clock()
        # The daemon read the counters somewhere inside the call: its middle is the
        # best estimate, and it keeps rates honest when one call is slow.
        monotonic = (started + finished) / 2
        guests = []
        # Each reply brings new domain objects; the ones already known are kept (they
        # name the same guest: calls find it by UUID) and the new ones dropped, so a
        # tick does not hand the cycle collector a few hundred long-lived objects.
        known = self.domains
        kept: dict[str, libvirt.virDomain] = known if domains is not None else {}
        stale_before = wall - BALLOON_STALE_S
        for d, s in records:
            uuid = d.UUIDString()
            kept[uuid] = known.get(uuid, d)
            guests.append(parse_counters(uuid, d.name(), d.ID(), s, monotonic, stale_before))
        self.domains = kept
        return Sample.of(self.host, monotonic, wall, guests, finished - started)

    def _bulk(
        self, conn: libvirt.virConnect, domains: Sequence[libvirt.virDomain] | None
    ) -> list[tuple[libvirt.virDomain, dict[str, Any]]]:
        def call(flags: int) -> list[tuple[libvirt.virDomain, dict[str, Any]]]:
            if domains is None:
                return conn.getAllDomainStats(STATS_GROUPS, flags)
            if not domains:
                return []
            return conn.domainListGetStats(list(domains), STATS_GROUPS, flags)

        if self._nowait_refused_by is not conn:
            try:
                return call(NOWAIT)
            except libvirt.libvirtError as exc:
                if exc.get_error_code() not in _NO_FLAG_CODES:
                    raise
                self._nowait_refused_by = conn
        return call(0)


# -- rates ----------------------------------------------------------------------------


class GuestRates(NamedTuple):
    """What the UI shows for one guest after a tick; None means unknown (draw a dash).

    ``cpu_pct`` is the share of the guest's own vCPUs (100 = all of them busy),
    ``cpu_host_pct`` the share of the host's logical CPUs. ``mem_used_kib`` comes from
    the guest's balloon driver (available - unused) and is None without it; it is never
    the allocated memory. ``mem_rss_kib`` is what QEMU holds on the host. Disk and net
    figures are totals over the guest's disks and NICs.
    """

    host: str
    uuid: str
    name: str
    state: GuestState
    domain_id: int | None
    vcpus: int | None
    cpu_time_s: float | None
    cpu_pct: float | None = None
    cpu_host_pct: float | None = None
    mem_used_kib: int | None = None
    mem_rss_kib: int | None = None
    mem_current_kib: int | None = None
    mem_max_kib: int | None = None
    disk_rd_bps: float | None = None
    disk_wr_bps: float | None = None
    disk_rd_reqs_ps: float | None = None
    disk_wr_reqs_ps: float | None = None
    net_rx_bps: float | None = None
    net_tx_bps: float | None = None
    net_rx_pps: float | None = None
    net_tx_pps: float | None = None

    @property
    def key(self) -> str:
        """Unique across hosts, like :attr:`backend.model.Guest.key`."""
        return f"{self.host}/{self.uuid}"


class DeviceRates(NamedTuple):
    """One disk (read, write) or NIC (rx, tx): bytes/s and requests or packets/s."""

    name: str
    in_bps: float | None  # disk: read; NIC: received
    out_bps: float | None  # disk: written; NIC: sent
    in_ps: float | None  # disk: read requests/s; NIC: packets received/s
    out_ps: float | None  # disk: write requests/s; NIC: packets sent/s


_LIMITS = (MAX_BYTES_PER_S, MAX_BYTES_PER_S, MAX_EVENTS_PER_S, MAX_EVENTS_PER_S)
_UNKNOWN4: tuple[None, None, None, None] = (None, None, None, None)


def _comparable(old: GuestCounters | None, new: GuestCounters, elapsed: float | None) -> bool:
    """Both samples are of the same run of the guest, some time apart."""
    return (
        old is not None
        and elapsed is not None
        and elapsed > 0
        and new.domain_id is not None
        and old.domain_id == new.domain_id
    )


def _pairs(old: Sequence[Device], new: Sequence[Device]) -> Iterable[tuple[Device | None, Device]]:
    """Each current device with its earlier self, matched by name (hot-plug safe)."""
    if len(old) == len(new) and all(o[0] == n[0] for o, n in zip(old, new, strict=True)):
        return zip(old, new, strict=True)
    before = {o[0]: o for o in old}
    return ((before.get(n[0]), n) for n in new)


def _rate(old: int | None, new: int | None, elapsed: float, limit: float) -> float | None:
    if old is None or new is None or new < old:
        return None
    rate = (new - old) / elapsed
    return rate if rate <= limit else None


def _one_rates(old: Device | None, new: Device, elapsed: float) -> list[float | None]:
    if old is None:
        return [None, None, None, None]
    before: tuple[Any, ...] = old  # fields 1-4 are int | None in both kinds of device
    now: tuple[Any, ...] = new
    return [_rate(before[k], now[k], elapsed, _LIMITS[k - 1]) for k in range(1, 5)]


def _totals(
    old: Sequence[Device] | None, new: Sequence[Device] | None, elapsed: float
) -> tuple[float | None, float | None, float | None, float | None]:
    """Summed rates of all devices; a total with any unknown part is unknown.

    A device without byte counters (an empty CD-ROM drive) does not count.
    """
    if not new or old is None:
        return _UNKNOWN4
    if len(new) == 1 and len(old) == 1 and old[0][0] == new[0][0]:
        # The common case (one disk, one NIC), without the general loop's overhead.
        o: tuple[Any, ...] = old[0]
        n: tuple[Any, ...] = new[0]
        if n[1] is None and n[2] is None:
            return _UNKNOWN4
        return (
            _rate(o[1], n[1], elapsed, MAX_BYTES_PER_S),
            _rate(o[2], n[2], elapsed, MAX_BYTES_PER_S),
            _rate(o[3], n[3], elapsed, MAX_EVENTS_PER_S),
            _rate(o[4], n[4], elapsed, MAX_EVENTS_PER_S),
        )
    sums = [0.0, 0.0, 0.0, 0.0]
    known = [True, True, True, True]
    counted = False
    for before, now in _pairs(old, new):
        if now[1] is None and now[2] is None:
            continue
        counted = True
        if before is None:
            return _UNKNOWN4
        for i, rate in enumerate(_one_rates(before, now, elapsed)):
            if rate is None:
                known[i] = False
            else:
                sums[i] += rate
    if not counted:
        return _UNKNOWN4
    a, b, c, d = (total if ok else None for total, ok in zip(sums, known, strict=True))
    return a, b, c, d


def _cpu_share(used_ns: int, capacity_ns: float) -> float | None:
    ratio = used_ns / capacity_ns
    if ratio < 0 or ratio > MAX_CPU_RATIO:
        return None
    return 100.0 if ratio >= 1.0 else ratio * 100.0


def guest_rates(
    host: str,
    old: GuestCounters | None,
    new: GuestCounters,
    elapsed: float | None,
    host_cpus: int | None = None,
) -> GuestRates:
    """Rates of one guest between two of its samples ``elapsed`` seconds apart.

    Rates are None when there is no earlier sample, when the guest restarted in
    between (domain id changed or went away, or a counter went down) or when either
    sample lacks the counter. Point values (memory, cumulative CPU time) need only
    ``new``.
    """
    available, unused = new.balloon_available_kib, new.balloon_unused_kib
    mem_used = available - unused if available is not None and unused is not None else None
    if mem_used is not None and mem_used < 0:
        mem_used = None
    cpu_time_ns = new.cpu_time_ns
    cpu_time_s = cpu_time_ns / 1e9 if cpu_time_ns is not None else None
    if not _comparable(old, new, elapsed):
        return GuestRates(
            host, new.uuid, new.name, new.state, new.domain_id, new.vcpus, cpu_time_s,
            None, None, mem_used, new.balloon_rss_kib, new.balloon_current_kib,
            new.balloon_maximum_kib,
        )  # fmt: skip
    assert old is not None and elapsed is not None

    cpu_pct = cpu_host_pct = None
    if cpu_time_ns is not None and old.cpu_time_ns is not None:
        used_ns = cpu_time_ns - old.cpu_time_ns
        wall_ns = elapsed * 1e9
        if new.vcpus:
            cpu_pct = _cpu_share(used_ns, wall_ns * new.vcpus)
        if host_cpus:
            cpu_host_pct = _cpu_share(used_ns, wall_ns * host_cpus)
    rd_bps, wr_bps, rd_ps, wr_ps = _totals(old.disks, new.disks, elapsed)
    rx_bps, tx_bps, rx_ps, tx_ps = _totals(old.nics, new.nics, elapsed)
    return GuestRates(
        host, new.uuid, new.name, new.state, new.domain_id, new.vcpus, cpu_time_s,
        cpu_pct, cpu_host_pct, mem_used, new.balloon_rss_kib, new.balloon_current_kib,
        new.balloon_maximum_kib, rd_bps, wr_bps, rd_ps, wr_ps, rx_bps, tx_bps, rx_ps, tx_ps,
    )  # fmt: skip


def device_rates(
    old: GuestCounters | None, new: GuestCounters, elapsed: float | None
) -> tuple[tuple[DeviceRates, ...], tuple[DeviceRates, ...]]:
    """Per-disk and per-NIC rates of one guest: every current device, unknown ones too."""
    comparable = _comparable(old, new, elapsed)

    def rows(
        before: Sequence[Device] | None, now: Sequence[Device] | None
    ) -> tuple[DeviceRates, ...]:
        if not now:
            return ()
        if not comparable or before is None or elapsed is None:
            return tuple(DeviceRates(d[0], None, None, None, None) for d in now)
        return tuple(DeviceRates(n[0], *_one_rates(o, n, elapsed)) for o, n in _pairs(before, now))

    return (
        rows(old.disks if old else None, new.disks),
        rows(old.nics if old else None, new.nics),
    )


_BY_NAME = attrgetter("name")


def rates_since(
    last_seen: Mapping[str, GuestCounters], current: Sample, host_cpus: int | None = None
) -> list[GuestRates]:
    """Rates of every guest of ``current`` against its own last reading, in sample order.

    Guests are read at different cadences (the visible ones every tick, the rest
    every few ticks), so each rate uses the time since *that guest's* previous
    reading (its ``read_at``), never one elapsed time for the whole sample. A guest
    without an earlier timed reading gets point values and unknown rates.
    """
    now = current.monotonic
    host = current.host
    get = last_seen.get
    out = []
    for uuid, g in current.guests.items():
        seen = get(uuid)
        if seen is None or seen.read_at is None:
            out.append(guest_rates(host, None, g, None, host_cpus))
        else:
            out.append(guest_rates(host, seen, g, now - seen.read_at, host_cpus))
    return out


def compute_rates(
    previous: Sample | None, current: Sample, host_cpus: int | None = None
) -> tuple[GuestRates, ...]:
    """Rates for every guest of ``current``, sorted by name, against ``previous``.

    Guests only in ``previous`` (vanished) are simply absent; guests only in
    ``current`` (appeared) get point values and unknown rates. Both samples must hold
    the same guests' readings (one cadence); :func:`rates_since` handles mixed ones.
    """
    elapsed = current.monotonic - previous.monotonic if previous is not None else None
    before = previous.guests if previous is not None else {}
    host = current.host
    rates = [
        guest_rates(host, before.get(uuid), g, elapsed, host_cpus)
        for uuid, g in current.guests.items()
    ]
    rates.sort(key=_BY_NAME)
    return tuple(rates)

"""Reading guests from libvirt into :class:`~backend.model.Guest` values."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from operator import attrgetter
from typing import Any

import libvirt

from kvmtui.backend.model import Guest, reason_text, state_from_code


def read_guest(
    host: str,
    dom: libvirt.virDomain,
    *,
    autostart: bool | None = None,
    persistent: bool | None = None,
    agent_connected: bool | None = None,
) -> Guest:
    """One guest: two RPCs (state, info), two more when autostart/persistent are not given.

    ``name``, ``UUIDString`` and ``ID`` are held by the domain object and cost no RPC.
    """
    if persistent is None:
        persistent = bool(dom.isPersistent())
    if autostart is None:
        autostart = bool(dom.autostart()) if persistent else False
    return _from_record(
        host, dom, {}, autostart=autostart, persistent=persistent, agent_connected=agent_connected
    )


#: What the guest list needs from one bulk call: state, memory, vCPUs.
LIST_GROUPS = (
    libvirt.VIR_DOMAIN_STATS_STATE
    | libvirt.VIR_DOMAIN_STATS_BALLOON
    | libvirt.VIR_DOMAIN_STATS_VCPU
)
_NAME = attrgetter("name")
_NO_FLAG_CODES = {libvirt.VIR_ERR_INVALID_ARG, libvirt.VIR_ERR_NO_SUPPORT}


def _bulk_records(
    conn: libvirt.virConnect,
) -> list[tuple[libvirt.virDomain, dict[str, Any]]] | None:
    """Every guest's state, memory and vCPUs in one call; None if the driver cannot."""
    for flags in (libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT, 0):
        try:
            return conn.getAllDomainStats(LIST_GROUPS, flags)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() not in _NO_FLAG_CODES:
                raise
    return None


def _from_record(
    host: str,
    dom: libvirt.virDomain,
    stats: dict[str, Any],
    *,
    autostart: bool,
    persistent: bool,
    agent_connected: bool | None,
    ask: bool = True,
    uuid: str | None = None,
) -> Guest:
    """One guest from its bulk record. What the record lacks (libvirt's test driver
    reports the state group alone) is asked of the guest itself (``state``, ``info``),
    or with ``ask`` False left unknown (None) for :func:`fill_in_figures` to read later."""
    get = stats.get
    state_code, reason_code = get("state.state"), get("state.reason")
    vcpus, mem, max_mem = get("vcpu.current"), get("balloon.current"), get("balloon.maximum")
    if state_code is None or reason_code is None:
        state_code, reason_code = dom.state()
    if ask and (vcpus is None or mem is None or max_mem is None):
        _state, info_max, info_mem, info_vcpus, _cpu_time = dom.info()
        vcpus = info_vcpus if vcpus is None else vcpus
        mem = info_mem if mem is None else mem
        max_mem = info_max if max_mem is None else max_mem
    state = state_from_code(state_code)
    domain_id = dom.ID()
    return Guest(
        host=host,
        uuid=uuid or dom.UUIDString(),
        name=dom.name(),
        state=state,
        reason=reason_text(state, reason_code),
        vcpus=None if vcpus is None else int(vcpus),
        memory_kib=None if mem is None else int(mem),
        max_memory_kib=None if max_mem is None else int(max_mem),
        autostart=autostart,
        persistent=persistent,
        domain_id=domain_id if domain_id >= 0 else None,
        agent_connected=agent_connected,
    )


@dataclass(frozen=True, slots=True)
class GuestList:
    """Every guest of a host as one bulk call gives it, sorted by name.

    ``incomplete`` pairs each guest whose record lacked vCPUs or memory (shown as
    unknown meanwhile) with its domain, for :func:`fill_in_figures`.
    """

    guests: list[Guest]
    incomplete: list[tuple[libvirt.virDomain, Guest]]


def list_guests(
    host: str, conn: libvirt.virConnect, agents: dict[str, bool] | None = None
) -> GuestList:
    """Every guest of a host, active and inactive, without an RPC per guest.

    One ``getAllDomainStats`` (state, balloon and vCPU groups) gives state, memory and
    vCPUs of every guest; autostart and persistence come from two filtered list calls
    instead of two RPCs per guest. Figures a record lacks stay unknown: asking each
    guest costs a round trip per guest (1.2 s at 10,000 guests through a local daemon,
    far more over ssh), which the list does not wait for. A guest that vanishes
    meanwhile is skipped.
    """
    agents = agents or {}
    autostart = {
        d.UUIDString() for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_AUTOSTART)
    }
    transient = {
        d.UUIDString() for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_TRANSIENT)
    }
    records = _bulk_records(conn)
    if records is None:
        records = [(dom, {}) for dom in conn.listAllDomains(0)]
    guests: list[Guest] = []
    incomplete: list[tuple[libvirt.virDomain, Guest]] = []
    for dom, stats in records:
        uuid = dom.UUIDString()
        try:
            guest = _from_record(
                host,
                dom,
                stats,
                autostart=uuid in autostart,
                persistent=uuid not in transient,
                agent_connected=agents.get(uuid),
                ask=False,
                uuid=uuid,
            )
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                raise
            continue
        guests.append(guest)
        if not guest.figures_known:
            incomplete.append((dom, guest))
    guests.sort(key=_NAME)
    return GuestList(guests, incomplete)


def fill_in_figures(incomplete: Iterable[tuple[libvirt.virDomain, Guest]]) -> list[Guest]:
    """The guests again with the vCPUs and memory their bulk record lacked, read with
    one ``info`` each; a guest that vanished meanwhile is left out."""
    filled: list[Guest] = []
    for dom, guest in incomplete:
        try:
            _state, max_mem, mem, vcpus, _cpu_time = dom.info()
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                raise
            continue
        filled.append(
            replace(
                guest,
                vcpus=_known(guest.vcpus, vcpus),
                memory_kib=_known(guest.memory_kib, mem),
                max_memory_kib=_known(guest.max_memory_kib, max_mem),
            )
        )
    return filled


def _known(value: int | None, read: int) -> int:
    return value if value is not None else int(read)


def read_all_guests(
    host: str, conn: libvirt.virConnect, agents: dict[str, bool] | None = None
) -> list[Guest]:
    """Every guest of a host with every figure: :func:`list_guests`, then
    :func:`fill_in_figures` for the guests whose bulk record lacked some."""
    listing = list_guests(host, conn, agents)
    if not listing.incomplete:
        return listing.guests
    filled = {g.uuid: g for g in fill_in_figures(listing.incomplete)}
    gone = {g.uuid for _dom, g in listing.incomplete} - filled.keys()
    return [filled.get(g.uuid, g) for g in listing.guests if g.uuid not in gone]

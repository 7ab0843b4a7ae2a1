"""Reading guests from libvirt into :class:`~backend.model.Guest` values."""

from __future__ import annotations

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
) -> Guest:
    """One guest from its bulk record; asks the guest itself only for what is missing
    (libvirt's test driver reports the state group alone)."""
    get = stats.get
    state_code, reason_code = get("state.state"), get("state.reason")
    vcpus, mem, max_mem = get("vcpu.current"), get("balloon.current"), get("balloon.maximum")
    if state_code is None or reason_code is None:
        state_code, reason_code = dom.state()
    if vcpus is None or mem is None or max_mem is None:
        _state, info_max, info_mem, info_vcpus, _cpu_time = dom.info()
        vcpus = info_vcpus if vcpus is None else vcpus
        mem = info_mem if mem is None else mem
        max_mem = info_max if max_mem is None else max_mem
    state = state_from_code(state_code)
    domain_id = dom.ID()
    return Guest(
        host=host,
        uuid=dom.UUIDString(),
        name=dom.name(),
        state=state,
        reason=reason_text(state, reason_code),
        vcpus=int(vcpus),
        memory_kib=int(mem),
        max_memory_kib=int(max_mem),
        autostart=autostart,
        persistent=persistent,
        domain_id=domain_id if domain_id >= 0 else None,
        agent_connected=agent_connected,
    )


def read_all_guests(
    host: str, conn: libvirt.virConnect, agents: dict[str, bool] | None = None
) -> list[Guest]:
    """Every guest of a host, active and inactive.

    One ``getAllDomainStats`` (state, balloon and vCPU groups) gives state, memory and
    vCPUs of every guest; a guest whose record lacks some of them is asked with
    ``info``/``state``. Autostart and persistence come from two filtered list calls
    instead of two RPCs per guest. A guest that vanishes meanwhile is skipped.
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
    for dom, stats in records:
        uuid = dom.UUIDString()
        try:
            guests.append(
                _from_record(
                    host,
                    dom,
                    stats,
                    autostart=uuid in autostart,
                    persistent=uuid not in transient,
                    agent_connected=agents.get(uuid),
                )
            )
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                raise
    guests.sort(key=lambda g: g.name)
    return guests

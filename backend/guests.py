"""Reading guests from libvirt into :class:`~backend.model.Guest` values."""

from __future__ import annotations

import libvirt

from backend.model import Guest, reason_text, state_from_code


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
    state_code, reason_code = dom.state()
    _state, max_mem, mem, nr_vcpus, _cpu_time = dom.info()
    if autostart is None:
        autostart = bool(dom.autostart()) if dom.isPersistent() else False
    if persistent is None:
        persistent = bool(dom.isPersistent())
    state = state_from_code(state_code)
    domain_id = dom.ID()
    return Guest(
        host=host,
        uuid=dom.UUIDString(),
        name=dom.name(),
        state=state,
        reason=reason_text(state, reason_code),
        vcpus=int(nr_vcpus),
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

    Autostart and persistence come from two filtered list calls instead of two RPCs per
    guest. A guest that vanishes between the list and its read is skipped.
    """
    agents = agents or {}
    domains = conn.listAllDomains(0)
    autostart = {
        d.UUIDString() for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_AUTOSTART)
    }
    transient = {
        d.UUIDString() for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_TRANSIENT)
    }
    guests: list[Guest] = []
    for dom in domains:
        uuid = dom.UUIDString()
        try:
            guests.append(
                read_guest(
                    host,
                    dom,
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

"""Which linked clones depend on a guest's disks: kvmtui's note in the guest's metadata.

A linked clone's disk is a qcow2 overlay whose backing store is the source guest's disk,
so the source must not write to that disk again while the clone lives. When kvmtui makes
a linked clone it records it in the SOURCE's definition, under ``<metadata>`` in
kvmtui's own namespace (:mod:`kvmtui.backend.domain.notes`), through libvirt's
``setMetadata``.

Starting the source then costs one more RPC (the metadata, read by libvirt from the
definition it holds) while nothing is recorded, and two per recorded clone otherwise:
the clone is looked up by UUID and its saved definition read; it still depends on the
base while it exists and one of its disks is still the recorded overlay. A clone
undefined since, or whose disk was replaced, no longer counts, and the next linked clone
made from the source drops such entries. Scanning every guest's disks' backing chains
instead would cost a volume lookup per disk of every guest on the host at every start,
and libvirt reports no backing chain for shut-off guests at all.
"""

from __future__ import annotations

import libvirt

from kvmtui.backend.domain import Domain, DomainXmlError
from kvmtui.backend.domain.notes import (
    LINKED_NAMESPACE,
    LINKED_PREFIX,
    LinkedClone,
    linked_clones_xml,
    parse_linked_clones,
)
from kvmtui.backend.metadata import saved_note


def recorded(dom: libvirt.virDomain) -> tuple[LinkedClone, ...]:
    """The linked clones recorded in the guest's saved definition (none: empty)."""
    text = saved_note(dom, LINKED_NAMESPACE)
    if text is None:
        return ()
    return parse_linked_clones(text)


def still_depends(conn: libvirt.virConnect, clone: LinkedClone) -> str | None:
    """The clone's current name while it still uses the overlay; None once it does not."""
    try:
        dom = conn.lookupByUUIDString(clone.uuid)
        xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return None
        raise
    try:
        disks = Domain.from_xml(xml).disks
    except DomainXmlError:
        return None
    if any(disk.source_text == clone.overlay for disk in disks):
        return str(dom.name())
    return None


def dependants(conn: libvirt.virConnect, dom: libvirt.virDomain) -> tuple[str, ...]:
    """Names of the linked clones that still depend on the guest's disks."""
    names = (still_depends(conn, clone) for clone in recorded(dom))
    return tuple(sorted({name for name in names if name is not None}))


def record(conn: libvirt.virConnect, dom: libvirt.virDomain, new: LinkedClone) -> None:
    """Add a linked clone to the source's saved definition, dropping entries whose
    clone no longer depends on it."""
    kept = tuple(c for c in recorded(dom) if still_depends(conn, c) is not None)
    dom.setMetadata(
        libvirt.VIR_DOMAIN_METADATA_ELEMENT,
        linked_clones_xml((*kept, new)),
        LINKED_PREFIX,
        LINKED_NAMESPACE,
        libvirt.VIR_DOMAIN_AFFECT_CONFIG,
    )


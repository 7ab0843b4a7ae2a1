"""Which running guests wait for a restart: their saved definition differs from what runs.

Two ``XMLDesc`` calls and the model's comparison (:mod:`.domain.pending`) per guest; the
host's supervisor thread calls it on a guest's lifecycle events (defined, started,
stopped...) and in a slow sweep, never on a statistics tick. The sweep is needed
because libvirt sends no event when a change goes to the saved definition alone
(``virsh setvcpus --config``, ``setmem --config``, ``attach-device --config``: measured
on libvirt 9.0).
"""

from __future__ import annotations

import logging

import libvirt

from kvmtui.backend.domain import Domain, DomainXmlError
from kvmtui.backend.domain.pending import pending_changes
from kvmtui.backend.model import Guest

log = logging.getLogger(__name__)


def pending_for(dom: libvirt.virDomain, guest: Guest) -> tuple[str, ...]:
    """The changes waiting for ``guest``'s next boot, one phrase each; () for a guest that
    is not running or has no saved definition (transient). Blocking: raises libvirtError."""
    if not guest.active or not guest.persistent:
        return ()
    live_xml = dom.XMLDesc(0)
    saved_xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    if live_xml == saved_xml:
        return ()
    try:
        return pending_changes(Domain.from_xml(live_xml), Domain.from_xml(saved_xml))
    except DomainXmlError as exc:  # libvirt wrote something the model cannot read
        log.warning("%s on %s: cannot compare its definitions: %s", guest.name, guest.host, exc)
        return ()

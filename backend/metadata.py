"""kvmtui's notes in a guest's saved definition, read through libvirt's ``metadata`` API
(one RPC; the notes themselves are in :mod:`kvmtui.backend.domain.notes`)."""

from __future__ import annotations

import libvirt

#: libvirt's answers that mean "no such note": none recorded, or a driver without the API.
_NONE = (
    libvirt.VIR_ERR_NO_DOMAIN_METADATA,
    libvirt.VIR_ERR_NO_SUPPORT,
    libvirt.VIR_ERR_ARGUMENT_UNSUPPORTED,
)


def saved_note(dom: libvirt.virDomain, namespace: str) -> str | None:
    """The element kvmtui keeps in ``namespace`` in the saved definition; None if none."""
    try:
        text = dom.metadata(
            libvirt.VIR_DOMAIN_METADATA_ELEMENT, namespace, libvirt.VIR_DOMAIN_AFFECT_CONFIG
        )
    except libvirt.libvirtError as exc:
        if exc.get_error_code() in _NONE:
            return None
        raise
    return str(text)

"""The one check of a new guest's name, for the new-guest wizard and creation
(backend/create.py) and for clones (backend/clone.py): libvirt's rules for a domain name
and the names the host's guests already have.

libvirt refuses an empty name, '/' and control characters in it; kvmtui also keeps names
without surrounding blanks (they are typed in virsh lines) and at most :data:`NAME_MAX`
characters long.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from kvmtui.backend import errors

#: libvirt has no length limit of its own that an admin would meet; this keeps names
#: readable in lists and usable as file names.
NAME_MAX = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class GuestNameError(errors.KvmtuiError, ValueError):
    """A name kvmtui will not give a new guest; the message is the sentence."""


def check_guest_name(name: str, taken: Collection[str] = (), host: str | None = None) -> str:
    """``name`` when libvirt accepts it and no guest in ``taken`` (the host's guests) has
    it; raises :class:`GuestNameError` with the sentence otherwise."""
    if not name.strip():
        raise GuestNameError("Type a name for the new guest.")
    if name != name.strip():
        raise GuestNameError("A guest's name must not begin or end with a blank.")
    if "/" in name:
        raise GuestNameError(f"'{name}' contains '/', which libvirt refuses in guest names.")
    if _CONTROL.search(name):
        raise GuestNameError("A guest's name must not contain control characters or line breaks.")
    if len(name) > NAME_MAX:
        raise GuestNameError(f"A guest's name must be at most {NAME_MAX} characters.")
    if name in taken:
        where = host or "The host"
        raise GuestNameError(f"{where} already has a guest named '{name}'; choose another name.")
    return name

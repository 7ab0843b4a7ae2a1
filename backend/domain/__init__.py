"""One model of a guest's definition: typed values read from its domain XML, and edits
written back into the same parsed document.

Every reader of domain XML in kvmtui goes through this package (nothing else parses
it). :class:`Domain` wraps the parsed ``<domain>`` element; each property is bound to a
path below its element (:mod:`.xmlnode`), and each kind of device has its own small
class (:mod:`.devices`). An edit changes the node it is about and nothing else, so what
the model does not know (vendor elements, metadata of other tools, features newer than
kvmtui, comments, attribute order, namespace prefixes) survives into the XML handed to
``defineXML``. virt-manager's virtinst does the same over libxml2; this is kvmtui's own,
smaller layer. :mod:`.layout` turns a model into the immutable values the screens show.

Why lxml and not the standard library's ElementTree: ElementTree rewrites every
namespace prefix on output (``<qemu:commandline>`` becomes ``<ns0:commandline>``, with
the declarations moved to the root element), keeps comments only with a TreeBuilder
made for it and drops those outside the root element, and has only a subset of XPath.
lxml (libxml2, the parser libvirt itself uses) keeps prefixes, namespace declarations,
comments and processing instructions where they were, and gives each element its
parent, which removing and inserting nodes in place needs. The parser here resolves no
entities and fetches nothing from the network.
"""

from __future__ import annotations

from kvmtui.backend.domain.devices import (
    AGENT_CHANNEL_NAME,
    BackingStore,
    Channel,
    CharDevice,
    Console,
    Device,
    Disk,
    Graphics,
    Interface,
    MemBalloon,
    Serial,
    Source,
    Video,
)
from kvmtui.backend.domain.guest import BOOT_DEVICES, Domain, DomainXmlError

__all__ = [
    "AGENT_CHANNEL_NAME",
    "BOOT_DEVICES",
    "BackingStore",
    "Channel",
    "CharDevice",
    "Console",
    "Device",
    "Disk",
    "Domain",
    "DomainXmlError",
    "Graphics",
    "Interface",
    "MemBalloon",
    "Serial",
    "Source",
    "Video",
]

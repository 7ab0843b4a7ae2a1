"""kvmtui's own notes in a guest's ``<metadata>``, in its own namespace beside other
tools' (which stay as they are). The linked clones that use the guest's
disks as their base (:mod:`kvmtui.backend.linked` reads and writes it through libvirt)::

    <kvmtui:linked-clones xmlns:kvmtui="https://kvmtui.invalid/linked-clones/1">
      <clone uuid="..." name="web-clone" base="/pool/web.qcow2" overlay="/pool/web-clone.qcow2"/>
    </kvmtui:linked-clones>

and the wizard's "detach the cloud-init seed after the first boot" (see
:data:`SEED_DETACH_NAMESPACE`).
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from kvmtui.backend.domain.guest import Domain
from kvmtui.backend.domain.xmlnode import insert_child

LINKED_NAMESPACE = "https://kvmtui.invalid/linked-clones/1"
LINKED_PREFIX = "kvmtui"
LINKED_ROOT = "linked-clones"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)


@dataclass(frozen=True, slots=True)
class LinkedClone:
    """One linked clone recorded in its source's metadata."""

    uuid: str
    name: str
    base: str  # the source's disk (the overlay's backing store)
    overlay: str  # the clone's disk


def parse_linked_clones(text: str) -> tuple[LinkedClone, ...]:
    """The entries of the element libvirt's ``metadata()`` returns (unreadable: none;
    kvmtui writes it whole again when it next records one)."""
    try:
        root = etree.fromstring(text.encode(), _PARSER)
    except etree.XMLSyntaxError:
        return ()
    clones = []
    for entry in root.iter("{*}clone", "clone"):
        values = [entry.get(key) for key in ("uuid", "name", "base", "overlay")]
        if all(values):
            uuid, name, base, overlay = (str(value) for value in values)
            clones.append(LinkedClone(uuid, name, base, overlay))
    return tuple(clones)


def linked_clones_xml(clones: tuple[LinkedClone, ...]) -> str:
    """The element for ``setMetadata`` (libvirt adds the namespace and prefix)."""
    root = etree.Element(LINKED_ROOT)
    for clone in clones:
        etree.SubElement(
            root, "clone", uuid=clone.uuid, name=clone.name, base=clone.base,
            overlay=clone.overlay,
        )  # fmt: skip
    return etree.tostring(root, encoding="unicode")


def forget_linked_clones(domain: Domain) -> None:
    """Remove the note from a definition (a clone is no one's base)."""
    domain.remove(f"metadata/{{{LINKED_NAMESPACE}}}{LINKED_ROOT}")


#: The mark "detach the cloud-init seed after the first boot" (the wizard's choice):
#: ``<kvmtui:seed-detach xmlns:kvmtui="https://kvmtui.invalid/seed-detach/1"
#: when="first-boot"/>``. :mod:`kvmtui.backend.seed_watch` acts on it and removes it.
SEED_DETACH_NAMESPACE = "https://kvmtui.invalid/seed-detach/1"
SEED_DETACH_ROOT = "seed-detach"
SEED_DETACH_WHEN = "first-boot"


def seed_detach_xml() -> str:
    """The mark's element for ``setMetadata`` (libvirt adds the namespace and prefix)."""
    return etree.tostring(
        etree.Element(SEED_DETACH_ROOT, when=SEED_DETACH_WHEN), encoding="unicode"
    )


def mark_seed_detach(domain: Domain) -> None:
    """Put the mark into a definition (the new guest's, before it is defined)."""
    if has_seed_detach_mark(domain):
        return
    metadata = domain.element.find("metadata")
    if metadata is None:
        metadata = insert_child(domain.element, etree.Element("metadata"))
    mark = etree.Element(
        f"{{{SEED_DETACH_NAMESPACE}}}{SEED_DETACH_ROOT}",
        nsmap={LINKED_PREFIX: SEED_DETACH_NAMESPACE},
        when=SEED_DETACH_WHEN,
    )
    insert_child(metadata, mark)


def has_seed_detach_mark(domain: Domain) -> bool:
    path = f"metadata/{{{SEED_DETACH_NAMESPACE}}}{SEED_DETACH_ROOT}"
    return domain.element.find(path) is not None

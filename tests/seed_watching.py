"""A seed watcher (backend/seed_watch.py) on a started test host, fed by the host's
changes as the app feeds it, with what it said; stopped afterwards. And a guest given a
cloud-init seed disk as the wizard attaches one."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import libvirt

from kvmtui.backend.domain import Domain
from kvmtui.backend.domain.seed import add_seed_disk
from kvmtui.backend.host import Host
from kvmtui.backend.seed import seed_volume_name
from kvmtui.backend.seed_watch import SeedWatcher


@contextlib.contextmanager
def watching(host: Host, ask_again_s: float = 0.5) -> Iterator[tuple[SeedWatcher, list[str]]]:
    said: list[str] = []
    watcher = SeedWatcher(host, lambda text, _failed: said.append(text), ask_again_s=ask_again_s)
    host.set_listener(watcher.observe)
    watcher.start()
    try:
        yield watcher, said
    finally:
        host.set_listener(None)
        watcher.stop()


def give_seed(conn: libvirt.virConnect, name: str, pool: str = "images") -> None:
    """The saved definition of guest ``name`` gets the seed disk ``pool``/NAME-cidata.iso
    (a virtio disk, read-only), as the wizard attaches it; the volume need not exist."""
    dom = conn.lookupByName(name)
    domain = Domain.from_xml(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    add_seed_disk(domain, pool, seed_volume_name(name))
    conn.defineXML(domain.to_xml())

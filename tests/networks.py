"""An isolated libvirt network on the real daemon for NIC tests: a bridge of its own
(kvmtui-tnet0), no <forward>, no <ip> (so no DHCP, no dnsmasq, no address on the host):
nothing a guest sends there leaves the machine. Removed whatever happens, and a leftover
of an interrupted run is removed first."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import libvirt

NETWORK = "kvmtui-test-net0"
BRIDGE = "kvmtui-tnet0"  # within Linux's 15-character limit


def _remove(conn: libvirt.virConnect, name: str) -> None:
    try:
        net = conn.networkLookupByName(name)
    except libvirt.libvirtError:
        return
    with contextlib.suppress(libvirt.libvirtError):
        net.destroy()
    with contextlib.suppress(libvirt.libvirtError):
        net.undefine()


@contextlib.contextmanager
def isolated_network(uri: str) -> Iterator[str]:
    """A running isolated network (its name): defined, started, and removed after."""
    conn = libvirt.open(uri)
    _remove(conn, NETWORK)
    net = conn.networkDefineXML(
        f"<network><name>{NETWORK}</name><bridge name='{BRIDGE}' stp='off'/></network>"
    )
    try:
        net.create()
        yield NETWORK
    finally:
        _remove(conn, NETWORK)
        conn.close()

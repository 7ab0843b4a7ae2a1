"""An isolated libvirt network on the real daemon for NIC tests: a host bridge of its own
(kvmtui-tnet0, no uplink, no address) handed to libvirt as a ``<forward mode='bridge'>``
network, so nothing a guest sends there leaves the machine. Removed whatever happens, and
a leftover of an interrupted run is removed first.

Why not libvirt's own isolated network (no ``<forward>``): libvirt 9.0 then inserts
firewall rules (LIBVIRT_INP, even without ``<ip>``) and fails to start it where iptables
is not installed, as on these machines ("cannot execute binary /usr/sbin/iptables")."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator

import libvirt

NETWORK = "kvmtui-test-net0"
BRIDGE = "kvmtui-tnet0"  # within Linux's 15-character limit


def _ip(*args: str, check: bool = True) -> None:
    subprocess.run(
        ["ip", *args], check=check, stdin=subprocess.DEVNULL, capture_output=True, timeout=10
    )


def _remove(conn: libvirt.virConnect) -> None:
    try:
        net = conn.networkLookupByName(NETWORK)
    except libvirt.libvirtError:
        net = None
    if net is not None:
        with contextlib.suppress(libvirt.libvirtError):
            net.destroy()
        with contextlib.suppress(libvirt.libvirtError):
            net.undefine()
    _ip("link", "del", BRIDGE, check=False)


@contextlib.contextmanager
def isolated_network(uri: str) -> Iterator[str]:
    """A running libvirt network (its name) on a new host bridge with no uplink: made,
    started, and removed after (the bridge too)."""
    conn = libvirt.open(uri)
    _remove(conn)
    try:
        _ip("link", "add", BRIDGE, "type", "bridge")
        _ip("link", "set", BRIDGE, "up")
        net = conn.networkDefineXML(
            f"<network><name>{NETWORK}</name><forward mode='bridge'/>"
            f"<bridge name='{BRIDGE}'/></network>"
        )
        net.create()
        yield NETWORK
    finally:
        _remove(conn)
        conn.close()

"""A host of many guests served by the real libvirtd, and synthetic full statistics.

The guests live in libvirtd's own test driver (``test+unix:///default``): while one
connection to it stays open the daemon keeps that host in memory for every other, as
it keeps a real host's guests, so opening it costs what opening ``qemu:///system``
does (about 1 ms) and every call pays
its RPC round trip as on a real host. (A node file, ``test+unix:///PATH``, would be
parsed again on every open: 0.3-0.8 s at 1,000 guests, which no real host pays.)
:func:`serve_guests` makes that host hold exactly the wanted guests while its
connection stays open (the daemon frees it with the last one). libvirt 9.0's test
driver answers the bulk call with the state group only; :func:`full_stats` builds the
reply a real guest gives (cpu, vcpu, balloon, one disk, one NIC) so parsing and rate
computation can be measured at full width too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import libvirt

REPO = Path(__file__).resolve().parents[1]
#: libvirtd's shared test-driver host (16 logical CPUs, 3 GiB: overcommit figures of
#: the benchmark host are large; nothing measured depends on them).
SERVED_URI = "test+unix:///default"
PREFIX = "bench-"


def guest_name(index: int) -> str:
    return f"{PREFIX}{index:05d}"


def guest_uuid(index: int) -> str:
    return f"6b7e0000-0000-4000-8000-{index:012d}"


def guest_mac(index: int) -> str:
    return f"52:54:00:{(index >> 16) & 0xFF:02x}:{(index >> 8) & 0xFF:02x}:{index & 0xFF:02x}"


def domain_xml(index: int) -> str:
    """One guest: 2 vCPUs, 1 GiB, a disk ``vda`` and a NIC, so the per-guest baseline
    can call ``blockStats('vda')`` and ``interfaceStats(MAC)`` (the test driver finds a
    NIC by MAC, not by target name)."""
    return (
        f"<domain type='test'><name>{guest_name(index)}</name><uuid>{guest_uuid(index)}</uuid>"
        "<memory unit='KiB'>1048576</memory><vcpu>2</vcpu><os><type>hvm</type></os>"
        "<devices><disk type='file' device='disk'>"
        f"<source file='/nonexistent/{guest_name(index)}.img'/><target dev='vda' bus='virtio'/>"
        f"</disk><interface type='ethernet'><mac address='{guest_mac(index)}'/></interface>"
        "</devices></domain>"
    )


def serve_guests(guests: int) -> libvirt.virConnect:
    """Make the daemon's test host hold exactly ``guests`` running guests (bench-00000
    on); every other guest there, the driver's own ``test`` included, is removed.

    Returns the connection that keeps the host alive: libvirtd drops its test host
    when the last connection to it closes, so hold it while measuring (its URI is
    :data:`SERVED_URI`) and close it at the end.
    """
    import libvirt

    wanted = {guest_name(i): i for i in range(guests)}
    conn = libvirt.open(SERVED_URI)
    try:
        running = {d.name() for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)}
        present = set()
        for dom in conn.listAllDomains(0):
            name = dom.name()
            if name in wanted:
                present.add(name)
                continue
            if name in running:
                dom.destroy()
            dom.undefine()
        for name, index in wanted.items():
            if name not in present:
                conn.defineXML(domain_xml(index)).create()
            elif name not in running:
                conn.lookupByName(name).create()
    except BaseException:
        conn.close()
        raise
    return conn


def full_stats(index: int, tick: int) -> dict[str, Any]:
    """What a real running guest's bulk record holds (the groups kvmtui asks for)."""
    base = tick * 1_000_000 + index
    return {
        "state.state": 1,
        "state.reason": 1,
        "cpu.time": base * 3_000,
        "cpu.user": base * 2_000,
        "cpu.system": base * 1_000,
        "balloon.current": 1048576,
        "balloon.maximum": 1048576,
        "balloon.swap_in": 0,
        "balloon.swap_out": 0,
        "balloon.major_fault": 100,
        "balloon.minor_fault": 10_000,
        "balloon.unused": 600_000,
        "balloon.available": 1_000_000,
        "balloon.usable": 700_000,
        "balloon.last-update": 1_700_000_000 + tick,
        "balloon.disk_caches": 50_000,
        "balloon.rss": 300_000,
        "vcpu.current": 2,
        "vcpu.maximum": 2,
        "vcpu.0.state": 1,
        "vcpu.0.time": base * 1_500,
        "vcpu.0.wait": 0,
        "vcpu.1.state": 1,
        "vcpu.1.time": base * 1_500,
        "vcpu.1.wait": 0,
        "net.count": 1,
        "net.0.name": f"vnet{index}",
        "net.0.rx.bytes": base * 100,
        "net.0.rx.pkts": base,
        "net.0.rx.errs": 0,
        "net.0.rx.drop": 0,
        "net.0.tx.bytes": base * 50,
        "net.0.tx.pkts": base // 2,
        "net.0.tx.errs": 0,
        "net.0.tx.drop": 0,
        "block.count": 1,
        "block.0.name": "vda",
        "block.0.path": f"/var/lib/libvirt/images/bench-{index:05d}.qcow2",
        "block.0.rd.reqs": base // 4,
        "block.0.rd.bytes": base * 1024,
        "block.0.rd.times": base * 10,
        "block.0.wr.reqs": base // 8,
        "block.0.wr.bytes": base * 512,
        "block.0.wr.times": base * 10,
        "block.0.fl.reqs": 10,
        "block.0.fl.times": 100,
        "block.0.allocation": 1 << 30,
        "block.0.capacity": 10 << 30,
        "block.0.physical": 1 << 30,
    }


def measure_in_children(
    script: str, sizes: list[int], ticks: int, what: str
) -> list[dict[str, Any]] | int:
    """Run ``script --child SIZE`` once per size, each in a fresh process (so peak RSS
    is that size's own); the JSON each prints last, or the first failing exit code."""
    results = []
    for size in sizes:
        print(f"measuring {what} with {size} guests ...", flush=True)
        child = subprocess.run(
            [sys.executable, script, "--child", str(size), "--ticks", str(ticks)],
            capture_output=True,
            text=True,
            cwd=Path(script).resolve().parent.parent,
            check=False,
        )
        if child.returncode != 0:
            print(child.stderr, file=sys.stderr)
            return child.returncode
        results.append(json.loads(child.stdout.strip().splitlines()[-1]))
    return results


def write_report(results: list[dict[str, Any]], out: Path) -> None:
    """Write the figures as JSON with the Python version and time, and say where."""
    import time

    report = {
        "python": sys.version.split()[0],
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "results": results,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out.relative_to(REPO) if out.is_relative_to(REPO) else out}")

"""Clone time: `.venv/bin/python bench/clone_bench.py [--rounds N]`.

Through the real daemon (qemu:///system), in a kvmtui-bench-* directory pool, a shut-off
guest (defined, never started) with one qcow2 disk is cloned by kvmtui's clone job:

- linked clone of a 1 GiB disk holding 1 GiB of data;
- linked clone of a 20 GiB sparse disk (the same 1 GiB written, the rest never);
- full copy of the 1 GiB disk: the baseline, measured in the same run.

A linked clone makes a qcow2 overlay and a definition: its time should not grow with the
disk's size. Each figure is the median of N rounds (default 5; the full copy 3), from
the job's start to its end; each clone is undefined and its volume deleted after. The
linked figures are printed as a ratio of the full copy's. Run it with nothing else using
the daemon (flock /tmp/kvmtui-daemon.lock). Writes bench/results/clone.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import libvirt  # noqa: E402

from kvmtui.backend import clone, clone_job  # noqa: E402
from kvmtui.backend.host import Host  # noqa: E402
from kvmtui.backend.jobs import JobRegistry, JobState  # noqa: E402

URI = "qemu:///system"
RESULTS = ROOT / "bench" / "results" / "clone.json"
GIB = 1024**3
PREFIX = "kvmtui-bench-"


@contextlib.contextmanager
def bench_pool(conn: libvirt.virConnect, parent: Path) -> Iterator[libvirt.virStoragePool]:
    name = f"{PREFIX}{uuid.uuid4().hex[:8]}"
    target = parent / name
    target.mkdir()
    pool = conn.storagePoolCreateXML(
        f"<pool type='dir'><name>{name}</name><target><path>{target}</path></target></pool>", 0
    )
    try:
        yield pool
    finally:
        for vol in pool.listAllVolumes(0):
            with contextlib.suppress(libvirt.libvirtError):
                vol.delete(0)
        pool.destroy()


def source_guest(
    conn: libvirt.virConnect, pool: libvirt.virStoragePool, capacity: int
) -> libvirt.virDomain:
    """A defined, shut-off guest whose disk is a qcow2 volume with 1 GiB written."""
    name = f"{PREFIX}{uuid.uuid4().hex[:8]}"
    vol = pool.createXML(
        f"<volume><name>{name}.qcow2</name><capacity unit='bytes'>{capacity}</capacity>"
        "<target><format type='qcow2'/></target></volume>", 0
    )  # fmt: skip
    subprocess.run(["qemu-io", "-c", f"write -P 0x5a 0 {GIB}", vol.path()],
                   check=True, capture_output=True)  # fmt: skip
    pool.refresh(0)
    return conn.defineXML(
        f"<domain type='qemu'><name>{name}</name><memory unit='MiB'>128</memory>"
        "<os><type arch='x86_64'>hvm</type></os><devices>"
        "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
        f"<source file='{vol.path()}'/><target dev='vda' bus='virtio'/></disk>"
        "<interface type='user'><model type='virtio'/></interface>"
        "</devices></domain>"
    )


def timed_clone(host: Host, source: libvirt.virDomain, mode: clone.Mode) -> float:
    """Seconds from the job's start to its end; the clone is removed after."""
    jobs = JobRegistry()
    name = f"{source.name()}-{uuid.uuid4().hex[:6]}"
    started = time.perf_counter()
    view = clone_job.start_clone(jobs, host, source.UUIDString(), clone.CloneRequest(name, mode))
    done = jobs.wait(view.id, timeout=600)
    seconds = time.perf_counter() - started
    if done is None or done.state is not JobState.DONE:
        raise SystemExit(f"clone failed: {done.outcome if done else 'timed out'}")
    conn = host.connection()
    made = conn.lookupByName(name)
    disk_paths = [p for p in made.XMLDesc(0).split("'") if p.startswith("/") and name in p]
    made.undefine()
    for path in disk_paths:
        with contextlib.suppress(libvirt.libvirtError):
            conn.storageVolLookupByPath(path).delete(0)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    conn = libvirt.open(URI)
    host = Host(URI)
    host.start()
    if not host.wait_connected(30):
        raise SystemExit(f"cannot connect to {URI}: {host.status.error}")
    sources: list[libvirt.virDomain] = []
    try:
        with tempfile.TemporaryDirectory(prefix=PREFIX) as folder, bench_pool(
            conn, Path(folder)
        ) as pool:
            small = source_guest(conn, pool, GIB)
            large = source_guest(conn, pool, 20 * GIB)
            sources += [small, large]
            full_rounds = max(1, min(3, args.rounds))
            full, linked = clone.Mode.FULL, clone.Mode.LINKED
            figures = {
                "full_1g": [timed_clone(host, small, full) for _ in range(full_rounds)],
                "linked_1g": [timed_clone(host, small, linked) for _ in range(args.rounds)],
                "linked_20g": [timed_clone(host, large, linked) for _ in range(args.rounds)],
            }
    finally:
        for dom in sources:
            with contextlib.suppress(libvirt.libvirtError):
                dom.undefine()
        host.stop()
        conn.close()
    medians = {key: statistics.median(values) for key, values in figures.items()}
    base = medians["full_1g"]
    print(f"clone job, median seconds (rounds: full {full_rounds}, linked {args.rounds})")
    for key, label in (("full_1g", "full copy, 1 GiB (baseline)"),
                       ("linked_1g", "linked clone, 1 GiB disk"),
                       ("linked_20g", "linked clone, 20 GiB sparse disk")):  # fmt: skip
        print(f"  {label:36} {medians[key]:8.3f} s  {medians[key] / base:6.3f}x of full copy")
    print(f"  linked 20 GiB / linked 1 GiB: {medians['linked_20g'] / medians['linked_1g']:.2f}x")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"seconds": figures, "median_s": medians}, indent=2) + "\n")


if __name__ == "__main__":
    main()

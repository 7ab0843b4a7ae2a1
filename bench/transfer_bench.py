"""Upload and download throughput: `.venv/bin/python bench/transfer_bench.py [--mib N]`.

Through the real daemon, locally (qemu:///system) and over loopback TCP
(qemu+tcp://127.0.0.1/system), the same random file of N MiB (default 200) goes into a
kvmtui-bench-* directory pool as a kvmtui job (upload, then download back), and with
`virsh vol-upload` / `vol-download` as the baseline, alternately, five rounds each. The
figures are medians in MiB/s with kvmtui's as a ratio of virsh's in the same run (these
machines are noisy). Run it with nothing else using the daemon (flock
/tmp/kvmtui-daemon.lock). Prints a table and writes bench/results/transfer.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import libvirt  # noqa: E402

from kvmtui.backend import transfer  # noqa: E402
from kvmtui.backend.host import Host  # noqa: E402
from kvmtui.backend.jobs import JobRegistry, JobState, JobView  # noqa: E402

URIS = ("qemu:///system", "qemu+tcp://127.0.0.1/system")
RESULTS = ROOT / "bench" / "results" / "transfer.json"
ROUNDS = 5
MIB = 1024**2


@contextlib.contextmanager
def bench_pool(uri: str, parent: Path) -> Iterator[tuple[str, libvirt.virStoragePool]]:
    name = f"kvmtui-bench-{uuid.uuid4().hex[:8]}"
    target = parent / name
    target.mkdir()
    conn = libvirt.open(uri)
    pool = conn.storagePoolDefineXML(
        f"<pool type='dir'><name>{name}</name><target><path>{target}</path></target></pool>", 0
    )
    pool.create(0)
    try:
        yield name, pool
    finally:
        for vol in pool.listAllVolumes(0):
            vol.delete(0)
        pool.destroy()
        pool.undefine()
        conn.close()


def virsh(uri: str, *args: str) -> None:
    subprocess.run(["virsh", "-q", "-c", uri, *args], check=True, capture_output=True)


def job(registry: JobRegistry, started: JobView) -> None:
    end = registry.wait(started.id, 600)
    if end is None or end.state is not JobState.DONE:
        raise SystemExit(f"job failed: {end and end.outcome}")


def measure(uri: str, source: Path, work: Path) -> dict[str, float]:
    host = Host(uri)
    host.start()
    if not host.wait_connected(30):
        raise SystemExit(f"cannot connect to {uri}: {host.status.error}")
    registry = JobRegistry()
    size = source.stat().st_size
    times: dict[str, list[float]] = {}

    def note(key: str, run: Callable[..., object], *args: object) -> None:
        start = time.perf_counter()
        run(*args)
        times.setdefault(key, []).append(time.perf_counter() - start)

    def upload(vol: str) -> None:
        job(registry, transfer.start_upload(registry, host, name, str(source), vol))

    def download(vol: str, target: str) -> None:
        job(registry, transfer.start_download(registry, host, name, vol, target))

    try:
        with bench_pool(uri, work) as (name, pool):
            for n in range(ROUNDS):
                ours, theirs, down = f"k{n}", f"v{n}", work / f"down-{n}"
                note("kvmtui_up", upload, ours)
                virsh(uri, "vol-create-as", name, theirs, str(size), "--format", "raw")
                note("virsh_up", virsh, uri, "vol-upload", theirs, str(source), "--pool", name)
                note("kvmtui_down", download, ours, f"{down}.k")
                note("virsh_down", virsh, uri, "vol-download", theirs, f"{down}.v", "--pool", name)
                for suffix in (".k", ".v"):
                    os.unlink(f"{down}{suffix}")
                pool.refresh(0)
    finally:
        host.stop()
    return {key: size / MIB / statistics.median(values) for key, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=200)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="kvmtui-bench-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)
        source = work / "source.raw"
        with source.open("wb") as out:
            for _ in range(args.mib):
                out.write(os.urandom(MIB))
        for uri in URIS:
            results[uri] = measure(uri, source, work)
    print(f"{args.mib} MiB, median of {ROUNDS}, MiB/s (kvmtui job / virsh, same run)")
    print(f"{'URI':32} {'upload':>22} {'download':>22}")
    for uri, r in results.items():
        up = f"{r['kvmtui_up']:.0f}/{r['virsh_up']:.0f} ({r['kvmtui_up'] / r['virsh_up']:.2f}x)"
        down = (f"{r['kvmtui_down']:.0f}/{r['virsh_down']:.0f} "
                f"({r['kvmtui_down'] / r['virsh_down']:.2f}x)")  # fmt: skip
        print(f"{uri:32} {up:>22} {down:>22}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"mib": args.mib, "rounds": ROUNDS, "mib_per_s": results},
                                      indent=2) + "\n")  # fmt: skip


if __name__ == "__main__":
    main()

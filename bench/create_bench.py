"""Create to first prompt: `.venv/bin/python bench/create_bench.py [--rounds N]`.

Through the real daemon (qemu:///system), in a kvmtui-bench-* directory pool holding two
copies of a 64 MiB qcow2 disk, the tiny guest (tests/harness/image.py: direct kernel
boot, its root in the initramfs) is created from its disk as an imported disk:

- by kvmtui: the create job (backend/create.py's ``start_create``, what "Create" in the
  wizard starts) with the spec the wizard would make;
- by ``virt-install --import``: the baseline, the equivalent command line kvmtui's
  summary shows for the same spec (backend/create_spec.py's ``virt_install_command``),
  on the other copy of the disk, measured in the same run.

Each figure runs from the start (the job started, or virt-install launched) to the
guest's first shell prompt on its serial console (Enter pressed every 0.2 s until the
prompt shows, for both alike); the median of N rounds (default 3), taken in turns. Each
guest is destroyed and undefined after its round. Needs virt-install (Debian package
virtinst, in the harness's deps for this baseline only). Run it with nothing else
using the daemon (flock /tmp/kvmtui-daemon.lock). Writes bench/results/create.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
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

from kvmtui.backend import create  # noqa: E402
from kvmtui.backend.create_spec import (  # noqa: E402
    DirectBoot,
    DiskKind,
    DiskSpec,
    NewGuest,
    VolumeRef,
    virt_install_command,
)
from kvmtui.backend.host import Host  # noqa: E402
from kvmtui.backend.jobs import JobRegistry, JobState  # noqa: E402
from tests.harness.guests import destroy_and_undefine, domain_type  # noqa: E402
from tests.harness.image import GuestImage, build_image  # noqa: E402
from tests.harness.serial import SerialConsole  # noqa: E402

URI = "qemu:///system"
RESULTS = ROOT / "bench" / "results" / "create.json"
PREFIX = "kvmtui-bench-"
PROMPT = b"kvmtui-guest# "
BOOT_S = 180.0


@contextlib.contextmanager
def bench_pool(conn: libvirt.virConnect, parent: Path) -> Iterator[tuple[str, Path]]:
    name = f"{PREFIX}{uuid.uuid4().hex[:8]}"
    target = parent / name
    target.mkdir()
    target.chmod(0o755)
    pool = conn.storagePoolCreateXML(
        f"<pool type='dir'><name>{name}</name><target><path>{target}</path></target></pool>", 0
    )
    try:
        yield name, target
    finally:
        for vol in pool.listAllVolumes(0):
            with contextlib.suppress(libvirt.libvirtError):
                vol.delete(0)
        pool.destroy()


def spec_for(name: str, pool: str, volume: str, image: GuestImage, kind: str) -> NewGuest:
    return NewGuest(
        name=name,
        vcpus=1,
        memory_mib=256,
        disks=(DiskSpec(DiskKind.IMPORT, VolumeRef(pool, volume)),),
        direct_boot=DirectBoot(str(image.kernel), str(image.initrd), image.cmdline),
        domain_type=kind,
        machine="pc",
    )


def first_prompt(dom: libvirt.virDomain) -> None:
    with SerialConsole(dom) as console:
        console.wait_for_prompt(PROMPT, BOOT_S, every=0.2)


def by_kvmtui(host: Host, spec: NewGuest) -> libvirt.virDomain:
    jobs = JobRegistry()
    view = create.start_create(jobs, host, spec)
    done = jobs.wait(view.id, timeout=BOOT_S)
    if done is None or done.state is not JobState.DONE:
        raise SystemExit(f"create failed: {done.outcome if done else 'timed out'}")
    return host.connection().lookupByName(spec.name)


def by_virt_install(conn: libvirt.virConnect, spec: NewGuest) -> libvirt.virDomain:
    subprocess.run(shlex.split(virt_install_command(spec, URI)), check=True,
                   capture_output=True, timeout=BOOT_S)  # fmt: skip
    return conn.lookupByName(spec.name)


def timed(make: Callable[[], libvirt.virDomain]) -> float:
    """Seconds from the start of ``make`` to the guest's first prompt; the guest is
    destroyed and undefined after (its imported disk stays for the next round)."""
    started = time.perf_counter()
    dom = make()
    try:
        first_prompt(dom)
        return time.perf_counter() - started
    finally:
        destroy_and_undefine(dom)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    image = build_image()
    conn = libvirt.open(URI)
    kind = domain_type(conn, image)
    host = Host(URI)
    host.start()
    if not host.wait_connected(30):
        raise SystemExit(f"cannot connect to {URI}: {host.status.error}")
    figures: dict[str, list[float]] = {"kvmtui": [], "virt_install": []}
    try:
        with tempfile.TemporaryDirectory(prefix=PREFIX) as folder, bench_pool(
            conn, Path(folder)
        ) as (pool, target):
            Path(folder).chmod(0o755)
            for copy in ("kvmtui.qcow2", "virt-install.qcow2"):
                subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2",
                                str(target / copy), "64M"], check=True)  # fmt: skip
            conn.storagePoolLookupByName(pool).refresh(0)
            for _ in range(args.rounds):
                name = f"{PREFIX}{uuid.uuid4().hex[:8]}"
                spec = spec_for(name, pool, "kvmtui.qcow2", image, kind)
                figures["kvmtui"].append(timed(lambda: by_kvmtui(host, spec)))  # noqa: B023
                name = f"{PREFIX}{uuid.uuid4().hex[:8]}"
                spec = spec_for(name, pool, "virt-install.qcow2", image, kind)
                figures["virt_install"].append(
                    timed(lambda: by_virt_install(conn, spec))  # noqa: B023
                )
    finally:
        host.stop()
        conn.close()
    medians = {key: statistics.median(values) for key, values in figures.items()}
    base = medians["virt_install"]
    print(f"create to first console prompt, tiny guest ({kind}), median of {args.rounds} rounds")
    print(f"  virt-install --import (baseline)  {base:8.3f} s")
    print(f"  kvmtui create job                 {medians['kvmtui']:8.3f} s  "
          f"{medians['kvmtui'] / base:6.3f}x of virt-install")  # fmt: skip
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps({"domain_type": kind, "seconds": figures, "median_s": medians}, indent=2)
        + "\n"
    )


if __name__ == "__main__":
    main()

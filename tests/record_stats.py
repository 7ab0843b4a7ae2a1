"""Record statistics ticks of a real tiny guest once, for deterministic replays.

    .venv/bin/python -m tests.record_stats [--out tests/data/recorded_stats.json]

Boots a kvmtui-test guest on the harness's libvirtd, then takes one tick a second
with the real StatsEngine: idle, then a CPU loop started through the guest agent,
then a read of its disk with dd. Each tick's raw counters (guest and host) go to a
JSON file; tests/replay.py turns them back into StatsUpdated values without a clock.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid as uuids
from pathlib import Path
from typing import Any

import libvirt

from kvmtui.backend.hoststats import HostSampler
from kvmtui.backend.stats import StatsCollector
from tests.harness import daemon
from tests.harness.guests import (
    agent_command,
    define_guest,
    destroy_and_undefine,
    remove_disks,
    wait_for_agent,
)
from tests.harness.image import build_image

OUT = Path(__file__).parent / "data" / "recorded_stats.json"
PHASES = (("idle", 4, None), ("cpu", 7, "while :; do :; done"),
          ("disk", 6, "dd if=/dev/vda of=/dev/null bs=64k"), ("after", 3, None))  # fmt: skip


def _exec(dom: libvirt.virDomain, script: str) -> None:
    agent_command(dom, "guest-exec", {"path": "/bin/sh", "arg": ["-c", script]})


def record(out: Path) -> None:
    daemon.ensure_daemon()
    conn = libvirt.open(daemon.SYSTEM_URI)
    name = f"kvmtui-test-rec{uuids.uuid4().hex[:5]}"
    dom = define_guest(conn, name, build_image(), memory_mib=256, vcpus=1, start=True)
    try:
        wait_for_agent(dom, 90)
        collector, host_sampler = StatsCollector("recorded"), HostSampler()
        ticks: list[dict[str, Any]] = []
        started = time.monotonic()
        for phase, count, script in PHASES:
            if script:
                _exec(dom, script)
            for _ in range(count):
                time.sleep(1.0)
                host = host_sampler.sample(conn)
                sample = collector.sample(conn, [dom])
                guest = sample.guests[dom.UUIDString()]
                ticks.append(
                    {
                        "phase": phase,
                        "t": round(sample.monotonic - started, 3),
                        "guest": guest._asdict() | {"state": guest.state.name},
                        "host": {
                            "cpu_busy_ns": host.cpu_busy_ns,
                            "cpu_total_ns": host.cpu_total_ns,
                            "mem_total_kib": host.mem_total_kib,
                            "mem_free_kib": host.mem_free_kib,
                            "mem_buffers_kib": host.mem_buffers_kib,
                            "mem_cached_kib": host.mem_cached_kib,
                        },
                    }
                )
                print(phase, ticks[-1]["t"], guest.cpu_time_ns, flush=True)
    finally:
        destroy_and_undefine(dom)
        remove_disks(name)
        conn.close()
    out.write_text(json.dumps({"interval": 1.0, "ticks": ticks}, indent=1) + "\n")
    print(f"wrote {len(ticks)} ticks to {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    record(parser.parse_args().out)

"""Record the guest agent's memory-block answers of a real tiny guest around DIMM plugs.

    .venv/bin/python -m tests.record_memory_blocks [--out tests/data/agent/memory-blocks.json]

Run under the daemon lock (flock /tmp/kvmtui-daemon.lock ...). Boots a kvmtui-test guest
with memory hot-plug on the harness's libvirtd and records qemu-ga's answers:
``guest-get-memory-blocks`` before a 128 MiB DIMM, after it (its block offline: the tiny
guest's kernel leaves it so), ``guest-set-memory-blocks`` onlining it, asked for a block
that does not exist and for offlining the first boot block (refused), and the blocks
after a second DIMM once the guest's kernel onlines new memory itself (auto_online_blocks,
what udev rules do on Ubuntu and RHEL). tests/unit/test_memory_online.py replays them.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid as uuids
from pathlib import Path
from typing import Any

import libvirt

from tests.harness import daemon
from tests.harness.guests import (
    agent_command,
    define_guest,
    destroy_and_undefine,
    memory_hotplug_xml,
    quiet_libvirt_errors,
    remove_disks,
    wait_for_agent,
)
from tests.harness.image import build_image

OUT = Path(__file__).parent / "data" / "agent" / "memory-blocks.json"
DIMM = (
    "<memory model='dimm'><target><size unit='MiB'>128</size><node>0</node></target></memory>"
)
SET = "guest-set-memory-blocks"


def _blocks(dom: libvirt.virDomain) -> list[dict[str, Any]]:
    return agent_command(dom, "guest-get-memory-blocks")  # type: ignore[return-value]


def _plug(dom: libvirt.virDomain, before: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Attach a DIMM; the block list once the guest has a new block (30 s at most)."""
    known = {block["phys-index"] for block in before}
    dom.attachDeviceFlags(DIMM, libvirt.VIR_DOMAIN_AFFECT_LIVE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = _blocks(dom)
        if {block["phys-index"] for block in now} - known:
            return now
        time.sleep(0.2)
    raise TimeoutError("the guest did not show the DIMM's memory block")


def record(out: Path) -> None:
    daemon.ensure_daemon()
    quiet_libvirt_errors()  # wait_for_agent's early tries fail until qemu-ga is up
    conn = libvirt.open(daemon.SYSTEM_URI)
    name = f"kvmtui-test-mem{uuids.uuid4().hex[:5]}"
    dom = define_guest(conn, name, build_image(), vcpus=2, start=False)
    dom = conn.defineXML(memory_hotplug_xml(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE), 512))
    try:
        dom.create()
        wait_for_agent(dom, 90)
        answers: dict[str, Any] = {"before": _blocks(dom)}
        answers["plugged"] = _plug(dom, answers["before"])
        known = {b["phys-index"] for b in answers["before"]}
        fresh = [b["phys-index"] for b in answers["plugged"] if b["phys-index"] not in known]
        answers["set_online"] = agent_command(
            dom, SET, {"mem-blks": [{"phys-index": i, "online": True} for i in fresh]}
        )
        answers["set_missing"] = agent_command(
            dom, SET, {"mem-blks": [{"phys-index": 4095, "online": True}]}
        )
        first = min(b["phys-index"] for b in answers["before"])
        answers["set_offline_boot"] = agent_command(
            dom, SET, {"mem-blks": [{"phys-index": first, "online": False}]}
        )
        answers["onlined"] = _blocks(dom)
        agent_command(dom, "guest-exec", {"path": "/bin/sh", "arg": [
            "-c", "echo online > /sys/devices/system/memory/auto_online_blocks"]})  # fmt: skip
        time.sleep(0.5)  # guest-exec returns at once; the write takes far less
        answers["self_onlined"] = _plug(dom, answers["onlined"])
    finally:
        destroy_and_undefine(dom)
        remove_disks(name)
        conn.close()
    out.write_text(json.dumps(answers, indent=1) + "\n")
    print(json.dumps(answers))
    print(f"wrote {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    record(parser.parse_args().out)

"""Snapshots of the new-guest wizard on libvirt's test:/// driver
(tests/data/storage-node.xml: pools images and bulk, no networks, no UEFI firmware), each
step at 80x24 and 120x40. The source is the unused volume images/scratch.raw used as a
cloud image, the OS Generic Linux, the name web-1. No clock, no MAC (no NIC)."""

from __future__ import annotations

import pytest
from textual.pilot import Pilot

from kvmtui.screens.new_guest import STEPS
from tests.pilot import STORAGE_NODE_URI, build_app, no_blink, open_wizard, wizard_fill

SIZES = [(80, 24), (120, 40)]


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
@pytest.mark.parametrize("step", [name for name, _title in STEPS])
def test_new_guest_step(snap_compare, step: str, size: tuple[int, int]) -> None:
    """The wizard at one step; the step line above shows it in bold and where it is.
    source: the kind select (cloud image) and images/scratch.raw typed, the hint about
    uploading a local file. os: the search field, the list with Generic Linux first
    (highlighted), Unknown, then the newest osinfo-db entries, and under it Generic
    Linux's minimum 256 MiB, 1 vCPU, 1 GiB disk, recommended 1024 MiB, 10 GiB, virtio,
    machine q35. name: web-1, 1 vCPU, 1024 MiB, the host's CPUs and memory with the
    overcommit after this guest and the OS minimum. disk: pool bulk with its free
    space, 20G (the image's size), qcow2, "thin overlay (the image is never written)". network: kind
    none (the host has no network). firmware: BIOS, the accelerator, VNC unchecked, the
    direct-boot fields empty, and the sentence saying why UEFI is not offered. summary:
    the highlighted domain XML, and ctrl+s Create in the footer. The problem line at the
    bottom is empty except on the summary, which says what ctrl+s does."""

    async def run_before(pilot: Pilot[None]) -> None:
        wizard = await open_wizard(pilot)
        await wizard_fill(
            pilot, wizard, source_ref="images/scratch.raw", guest_name="web-1", disk_size="20G"
        )
        target = [name for name, _title in STEPS].index(step)
        while wizard.step < target:
            await pilot.press("pagedown")
            await pilot.pause()
        assert STEPS[wizard.step][0] == step, wizard.problem_text
        no_blink(pilot)

    app = build_app(STORAGE_NODE_URI, stats=False)
    assert snap_compare(app, terminal_size=size, run_before=run_before)

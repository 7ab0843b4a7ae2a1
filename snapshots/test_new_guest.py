"""Snapshots of the new-guest wizard on libvirt's test:/// driver
(tests/data/storage-node.xml: pools images and bulk, no networks, no UEFI firmware), each
step at 80x24 and 120x40. The source is the unused volume images/scratch.raw used as a
cloud image, the OS Generic Linux, the name web-1. HOME is a temporary folder whose
.ssh holds tests/data/ssh-key.pub (admin@kvmtui-test). No clock, no MAC (no NIC)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from textual.pilot import Pilot

from kvmtui.screens.new_guest import STEPS, NewGuestScreen
from tests.pilot import build_app, no_blink, open_wizard, stable_uri, wizard_fill

SIZES = [(80, 24), (120, 40)]
KEY = Path(__file__).parents[1] / "tests" / "data" / "ssh-key.pub"


@pytest.fixture(autouse=True)
def ssh_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".ssh").mkdir()
    shutil.copy(KEY, tmp_path / ".ssh" / "id_ed25519.pub")
    monkeypatch.setenv("HOME", str(tmp_path))


async def to_step(pilot: Pilot[None], step: str, **values: str) -> NewGuestScreen:
    wizard = await open_wizard(pilot)
    await wizard_fill(
        pilot, wizard, source_ref="images/scratch.raw", guest_name="web-1", disk_size="20G",
        ci_user="admin", **values,
    )  # fmt: skip
    target = [name for name, _title in STEPS].index(step)
    while wizard.step < target:
        await pilot.press("alt+f")
        await pilot.pause()
    assert STEPS[wizard.step][0] == step, wizard.problem_text
    no_blink(pilot)
    return wizard


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
@pytest.mark.parametrize("step", [name for name, _title in STEPS])
def test_new_guest_step(snap_compare, step: str, size: tuple[int, int]) -> None:
    """The wizard at one step; the step line above shows it in bold and where it is
    (8 steps: a cloud image has the Cloud-init step).
    source: the kind select (cloud image) and images/scratch.raw typed, the hint that a
    local file is uploaded into the disk's pool by the create job. os: the search field,
    the list with Generic Linux first (highlighted), Unknown, then the newest osinfo-db
    entries, and under it Generic
    Linux's minimum 256 MiB, 1 vCPU, 1 GiB disk, recommended 1024 MiB, 10 GiB, virtio,
    machine q35. name: web-1, 1 vCPU, 1024 MiB, the host's CPUs and memory with the
    overcommit after this guest and the OS minimum. disk: pool bulk with its free
    space, 20G (the image's size), qcow2, "thin overlay (the image is never written)". network: kind
    none (the host has no network). cloudinit: "from these fields", hostname web-1 (the
    guest's name), seed on a virtio disk, "Detach the seed after the first boot" checked,
    user admin, the password empty, the key
    id_ed25519.pub (admin@kvmtui-test) checked, the paste area empty with its hint,
    qemu-guest-agent in packages, timezone, address and gateway empty with their
    hints. firmware: BIOS, the accelerator, VNC
    unchecked, the direct-boot fields empty, and the sentence saying why UEFI is not
    offered. summary: the highlighted domain XML with the seed bulk/web-1-cidata.iso as a
    read-only virtio disk and kvmtui's seed-detach mark under metadata (the wizard's
    default "Detach the seed after the first boot"), and ctrl+s Create in the footer.
    The problem line at the bottom is empty except on the summary, which says what
    ctrl+s does."""

    async def run_before(pilot: Pilot[None]) -> None:
        await to_step(pilot, step)

    app = build_app(stable_uri("storage-node.xml"), stats=False)
    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_cloudinit_form_filled(snap_compare, size: tuple[int, int]) -> None:
    """The Cloud-init page filled in: user admin, the password shown only as dots, the
    local key checked, a pasted key line wrapped in the paste area, packages qemu-guest-agent
    and htop, timezone Europe/Berlin, address 192.168.10.5/24 and gateway 192.168.10.1;
    the problem line is empty (Forward would go on)."""

    async def run_before(pilot: Pilot[None]) -> None:
        await to_step(
            pilot, "cloudinit", ci_password="secret", ci_paste=KEY.read_text().strip(),
            ci_packages="qemu-guest-agent htop", ci_timezone="Europe/Berlin",
            ci_address="192.168.10.5/24", ci_gateway="192.168.10.1",
        )  # fmt: skip

    app = build_app(stable_uri("storage-node.xml"), stats=False)
    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
def test_cloudinit_raw_yaml_refused(snap_compare, size: tuple[int, int]) -> None:
    """The raw user-data editor (line numbers) holding YAML with an unclosed list on line
    3; the hostname, seed and detach rows stay above it, and the problem line says "The
    user-data is not valid YAML: line 4, column 1: ..." (Forward is refused)."""

    async def run_before(pilot: Pilot[None]) -> None:
        wizard = await to_step(pilot, "cloudinit")
        await wizard_fill(pilot, wizard, ci_mode="raw",
                          ci_raw="#cloud-config\npackages:\n  - [htop\n")  # fmt: skip
        assert "not valid YAML" in wizard.problem_text

    app = build_app(stable_uri("storage-node.xml"), stats=False)
    assert snap_compare(app, terminal_size=size, run_before=run_before)

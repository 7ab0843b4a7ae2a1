"""The new-guest wizard's "cloud image from a local file" source on libvirt's test:///
driver (tests/data/storage-node.xml): the path is checked on this machine as typed (not
a full path, missing, not a file), a name the disk's pool already holds is refused on
the Disk page, and the summary's spec names the volume the job will upload, with the
virsh lines that upload it."""

from __future__ import annotations

import subprocess
from pathlib import Path

from textual.pilot import Pilot

from kvmtui.backend.create import LocalUpload
from kvmtui.screens.new_guest import STEPS, NewGuestScreen
from tests.pilot import STORAGE_NODE_URI, build_app, open_wizard, run_async, wait_for, wizard_fill


async def said(pilot: Pilot[None], wizard: NewGuestScreen, sentence: str) -> None:
    await wait_for(
        pilot,
        lambda: (sentence in wizard.problem_text) if sentence else wizard.problem_text == "",
        f"the wizard to say {sentence!r}",
    )


def qcow2(path: Path, size: str = "64M") -> Path:
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), size], check=True)
    return path


@run_async
async def test_a_local_file_is_checked_as_typed_and_becomes_the_jobs_upload(
    tmp_path: Path,
) -> None:
    image = qcow2(tmp_path / "cloud.qcow2", "2G")
    clash = qcow2(tmp_path / "scratch.raw")  # pool images has a volume of that name
    app = build_app(STORAGE_NODE_URI, stats=False)
    async with app.run_test(size=(80, 24)) as pilot:
        wizard = await open_wizard(pilot)
        await wizard_fill(pilot, wizard, source_kind="local", source_ref="cloud.qcow2")
        await said(pilot, wizard, "Type the local file's full path")
        await wizard_fill(pilot, wizard, source_ref=str(tmp_path / "missing.qcow2"))
        await said(pilot, wizard, "Cannot read")
        await pilot.press("pagedown")
        assert STEPS[wizard.step][0] == "source"
        await wizard_fill(pilot, wizard, source_ref=str(tmp_path))
        await said(pilot, wizard, "is not a regular file")
        await wizard_fill(pilot, wizard, source_ref=str(clash))
        await said(pilot, wizard, "")
        await pilot.press("pagedown", "pagedown")
        await wizard_fill(pilot, wizard, guest_name="web-1")
        await pilot.press("pagedown")
        await wizard_fill(pilot, wizard, disk_pool="images", disk_size="10G")
        await said(pilot, wizard, "Pool 'images' already has a volume named 'scratch.raw'")
        await pilot.press("pageup", "pageup", "pageup")
        await wizard_fill(pilot, wizard, source_ref=str(image))
        await pilot.press("pagedown", "pagedown", "pagedown")
        await wizard_fill(pilot, wizard, disk_size="1G")
        await said(pilot, wizard, "at least the image's 2.0 GiB")
        await wizard_fill(pilot, wizard, disk_size="4G")
        await said(pilot, wizard, "")
        await pilot.press("pagedown", "pagedown")
        assert STEPS[wizard.step][0] == "cloudinit"  # a cloud image, as from a volume
        await wizard_fill(pilot, wizard, ci_mode="none")
        await pilot.press("pagedown", "pagedown")
        assert STEPS[wizard.step][0] == "summary"
        assert wizard.upload == LocalUpload(str(image), "images", "cloud.qcow2")
        assert wizard.spec is not None
        assert wizard.spec.disks[0].source == wizard.upload.ref
        commands = str(wizard.query_one("#summary-commands").render())
        assert f"vol-upload --pool images cloud.qcow2 {image}" in commands

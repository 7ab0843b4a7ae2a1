"""The new-guest wizard on libvirt's test:/// driver (tests/data/storage-node.xml): fields
are checked as typed and Forward waits for a good value; the summary warns of a bridge NIC
on an interface libvirt does not type as a bridge; Back returns; a read-only connection
does not open it."""

from __future__ import annotations

from textual.pilot import Pilot

from kvmtui.screens.new_guest import STEPS, NewGuestScreen
from tests.pilot import (
    STORAGE_NODE_URI,
    build_app,
    loaded,
    open_wizard,
    run_async,
    wait_for,
    wizard_fill,
)


def step_name(wizard: NewGuestScreen) -> str:
    return STEPS[wizard.step][0]


async def said(pilot: Pilot[None], wizard: NewGuestScreen, sentence: str) -> None:
    """The wizard's problem line says ``sentence`` (or nothing, for ""): checks run on
    the Changed message, after the value is set."""
    await wait_for(
        pilot,
        lambda: (sentence in wizard.problem_text) if sentence else wizard.problem_text == "",
        f"the wizard to say {sentence!r}",
    )


@run_async
async def test_bad_values_are_said_as_typed_and_forward_waits() -> None:
    app = build_app(STORAGE_NODE_URI, stats=False)
    async with app.run_test(size=(80, 24)) as pilot:
        wizard = await open_wizard(pilot)
        await wizard_fill(pilot, wizard, source_ref="no-slash")
        await said(pilot, wizard, "pool/volume")
        await pilot.press("pagedown")
        assert step_name(wizard) == "source"
        await wizard_fill(pilot, wizard, source_ref="images/nope.qcow2")
        await said(pilot, wizard, "There is no volume 'images/nope.qcow2'")
        await wizard_fill(pilot, wizard, source_ref="images/scratch.raw")
        await said(pilot, wizard, "")
        await pilot.press("pagedown", "pagedown")
        assert step_name(wizard) == "name"
        for typed, sentence in (
            ("a/b", "contains '/'"),
            ("app-1", "test:storage-node already has a guest named 'app-1'; choose another name."),
            ("", "Type a name for the new guest."),
        ):
            await wizard_fill(pilot, wizard, guest_name=typed)
            await said(pilot, wizard, sentence)
            await pilot.press("pagedown")
            assert step_name(wizard) == "name"
        await wizard_fill(pilot, wizard, guest_name="web-1", guest_vcpus="0")
        await said(pilot, wizard, "vCPUs must be a whole number")
        await wizard_fill(pilot, wizard, guest_vcpus="2")
        assert "Host: 4 CPUs" in str(wizard.query_one("#host-figures").render())
        await pilot.press("pagedown")
        await wizard_fill(pilot, wizard, disk_size="10")
        await said(pilot, wizard, "less than 1 MiB")
        await wizard_fill(pilot, wizard, disk_size="10G")  # scratch.raw is 20 GiB
        await said(pilot, wizard, "at least the image's 20.0 GiB")
        await wizard_fill(pilot, wizard, disk_size="20G", disk_extra="2G, x")
        await said(pilot, wizard, "'x' is not a size")
        await wizard_fill(pilot, wizard, disk_extra="2G")
        await pilot.press("pagedown")
        await wizard_fill(pilot, wizard, net_kind="network", net_source="default")
        await said(pilot, wizard, "There is no network 'default'")
        await wizard_fill(pilot, wizard, net_kind="bridge", net_source="ovsbr0", net_mac="zz")
        await said(pilot, wizard, "not a MAC address")
        await wizard_fill(pilot, wizard, net_mac="52:54:00:00:00:01")
        await pilot.press("pagedown")
        assert step_name(wizard) == "cloudinit"  # a cloud image: skipped by a choice
        await wizard_fill(pilot, wizard, ci_mode="none")
        await pilot.press("pagedown")
        await wizard_fill(pilot, wizard, fw_kind="uefi")
        await said(pilot, wizard, "UEFI is not offered")
        await wizard_fill(pilot, wizard, fw_kind="bios")
        await pilot.press("pagedown")
        assert step_name(wizard) == "summary"
        spec = wizard.spec
        assert spec is not None and spec.vcpus == 2 and len(spec.disks) == 2
        assert spec.networks[0].mac == "52:54:00:00:00:01"
        # libvirt types the Open vSwitch bridge "ethernet": said, and creating may go on.
        assert "Warning: Libvirt lists the host's interface 'ovsbr0' as ethernet" in (
            wizard.problem_text
        )
        assert "ctrl+s creates the guest anyway" in wizard.problem_text
        await pilot.press("pageup")  # on the summary it scrolls the XML
        assert step_name(wizard) == "summary"
        await pilot.press("alt+b")
        assert step_name(wizard) == "firmware"
        await pilot.press("pageup")
        assert step_name(wizard) == "cloudinit"
        await pilot.press("pageup")
        assert step_name(wizard) == "network"
        await pilot.press("escape")
        assert not isinstance(app.screen, NewGuestScreen)


@run_async
async def test_read_only_does_not_open_the_wizard() -> None:
    app = build_app(STORAGE_NODE_URI, readonly=True, stats=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        await pilot.press("n")
        await pilot.pause()
        assert not isinstance(app.screen, NewGuestScreen)

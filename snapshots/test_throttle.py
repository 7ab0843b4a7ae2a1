"""Snapshots of the throttle editor on libvirt's test:/// driver (tests/data/throttle_node.xml).

Deterministic: the node file fixes every limit, the live side of db-primary's vda is
changed through the app's own connection before the editor opens, live rates are
recorded figures fed to the screen (its sampler is off), no animation, no cursor blink.
"""

from __future__ import annotations

from pathlib import Path

import libvirt
from textual.pilot import Pilot
from textual.widgets import Input

from conftest import node_uri
from kvmtui.backend.stats import DeviceRates
from kvmtui.screens.throttle import NIC_TAB, ThrottleScreen
from kvmtui.screens.throttle_many import ThrottleManyScreen
from kvmtui.screens.throttle_preview import ThrottlePreviewScreen
from tests.pilot import build_app, connected_host, no_blink, open_throttle, wait_for

NODE = Path(__file__).parent.parent / "tests" / "data" / "throttle_node.xml"
URI = node_uri(NODE)
PRIMARY = "6695eb01-f6a4-8304-79aa-97f2502e1a01"
REPLICA = "6695eb01-f6a4-8304-79aa-97f2502e1a02"
SIZE = (130, 44)
MiB = 1024 * 1024
#: Recorded rates: vda busy near its 800 IOPS live limit, the NIC receiving 9 MiB/s.
DISK_RATES = (DeviceRates("vda", 30 * MiB, 2 * MiB, 760.0, 30.0), DeviceRates("vdb", 0, 0, 0, 0))
NIC_RATES = (DeviceRates("testnet0", 9 * MiB, 300 * 1024, 6500.0, 2100.0),)


async def open_editor(pilot: Pilot[None], tab: str = "disk-tab") -> ThrottleScreen:
    """db-primary's editor, its vda running with 800/1000 IOPS while 500/1000 is saved."""
    host = await connected_host(pilot, PRIMARY)
    dom = host.connection().lookupByUUIDString(PRIMARY)
    params = {"total_iops_sec": 800, "total_iops_sec_max": 1000}
    dom.setBlockIoTune("vda", params, libvirt.VIR_DOMAIN_AFFECT_LIVE)
    screen = await open_throttle(pilot, PRIMARY, tab)
    screen.show_rates(DISK_RATES, NIC_RATES)
    await pilot.pause()
    no_blink(pilot)
    return screen


async def type_into(pilot: Pilot[None], box: Input, text: str) -> None:
    box.focus()
    box.value = ""
    await pilot.press(*text)


def test_disk_editor_current_and_pending(snap_compare) -> None:
    """db-primary's vda: Live and Saved columns differ on Total IOPS (800 vs 500, both
    marked) and agree elsewhere (read 50 MiB/s, write 20 MiB/s, total IOPS burst 1000);
    the rates bar shows read 30 MiB/s at 760 IOPS against 800 IOPS (95 %, yellow);
    the New value column holds 400 for Total IOPS and "tenant-a" for Group name, both
    highlighted as pending; scope "both"."""

    async def run_before(pilot: Pilot[None]) -> None:
        screen = await open_editor(pilot)
        await type_into(pilot, screen.disk_form.input("total_iops_sec"), "400")
        await type_into(pilot, screen.disk_form.input("group_name"), "tenant-a")
        screen.disk_form.input("total_iops_sec").focus()
        await pilot.pause()

    assert snap_compare(build_app(URI), terminal_size=SIZE, run_before=run_before)


def test_disk_editor_validation_error(snap_compare) -> None:
    """Read IOPS 50 typed beside the total IOPS limit, then ctrl+s: the Read IOPS input is
    red with "cannot be combined with a total IOPS limit…" beside it, the status line says
    nothing was sent, and no preview opens."""

    async def run_before(pilot: Pilot[None]) -> None:
        screen = await open_editor(pilot)
        await type_into(pilot, screen.disk_form.input("read_iops_sec"), "50")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "Nothing was sent" in str(status(screen)), "the refusal")
        assert not isinstance(pilot.app.screen, ThrottlePreviewScreen)

    assert snap_compare(build_app(URI), terminal_size=SIZE, run_before=run_before)


def test_disk_editor_preview(snap_compare) -> None:
    """Total IOPS 400 and a Total IOPS burst length of 10 s, then ctrl+s: the preview lists
    only those two settings, Live now / Saved now / New (800 IOPS / 500 IOPS / 400 IOPS and
    - / - / 10 s), with Apply (y) and Cancel (n); Cancel has the focus."""

    async def run_before(pilot: Pilot[None]) -> None:
        screen = await open_editor(pilot)
        await type_into(pilot, screen.disk_form.input("total_iops_sec"), "400")
        await type_into(pilot, screen.disk_form.input("total_iops_sec_max_length"), "10")
        await pilot.press("ctrl+s")
        await wait_for(
            pilot, lambda: isinstance(pilot.app.screen, ThrottlePreviewScreen), "the preview"
        )
        await pilot.pause()

    assert snap_compare(build_app(URI), terminal_size=SIZE, run_before=run_before)


def test_network_editor(snap_compare) -> None:
    """The Network tab on testnet0 (52:54:00:12:34:56; the test driver names the tap):
    inbound average 10 MiB/s, peak 20 MiB/s, burst 1 MiB live and saved (typed as 10M,
    20M, 1M); outbound unlimited with 2048 (KiB/s) typed as a pending outbound average;
    rates: in 9 MiB/s against 10 MiB/s (90 %, yellow), out 300 KiB/s."""

    async def run_before(pilot: Pilot[None]) -> None:
        screen = await open_editor(pilot, NIC_TAB)
        await type_into(pilot, screen.nic_form.input("outbound.average"), "2048")
        await pilot.pause()

    assert snap_compare(build_app(URI), terminal_size=SIZE, run_before=run_before)


def test_several_guests_results(snap_compare) -> None:
    """Total IOPS 300 with a 600 burst on both guests, scope "both": the results table
    says db-primary got it on vda and vdb, and db-replica failed with a sentence (it is
    not running, so the live scope is refused) and kept its old limits; the status line
    says 1 of 2."""

    async def run_before(pilot: Pilot[None]) -> None:
        host = await connected_host(pilot, PRIMARY)
        await wait_for(pilot, lambda: host.guest(REPLICA), "the replica")
        screen = ThrottleManyScreen([(host, PRIMARY), (host, REPLICA)])
        await pilot.app.push_screen(screen)
        no_blink(pilot)
        await type_into(pilot, screen.form.input("total_iops_sec"), "300")
        await type_into(pilot, screen.form.input("total_iops_sec_max"), "600")
        await pilot.press("ctrl+s")
        await wait_for(
            pilot, lambda: isinstance(pilot.app.screen, ThrottlePreviewScreen), "the preview"
        )
        await pilot.press("y")
        await wait_for(pilot, lambda: len(screen.outcomes) == 2, "both results")
        await pilot.pause()

    assert snap_compare(build_app(URI), terminal_size=SIZE, run_before=run_before)


def status(screen: ThrottleScreen) -> object:
    return screen.query_one("#throttle-status").render()

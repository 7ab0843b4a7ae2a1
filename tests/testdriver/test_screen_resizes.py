"""The newer screens survive any resize and keep every line the terminal's width (issue 17).

The clone form, the migration dialog and progress view, the hosts screen and its form,
the configuration editor with its value question, attach-disk and attach-NIC forms
(each saying why an answer is refused) and preview, every page of the
new-guest wizard (Cloud-init included), the details screen's seed-detach question, the
snapshot tree with its form and its delete and revert questions, the storage screen (its
pool table leaves columns out when narrow), and the XML editor with its diff are each
opened on libvirt's test:/// driver, then the terminal is resized
through 80x24, 200x60, 40x10 and 20x5 in a walk that goes from every one of these sizes
to every other (each ordered pair once). After each resize the app still runs, the
screen is still on top, and every line the terminal gets is exactly the terminal's width
(the same check as the tables' in test_table_widths.py). Screens reached one from another
share one app (a case yields each in turn), so a case pays for one start-up.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any, TypeVar

import pytest
from textual.drivers.headless_driver import HeadlessDriver
from textual.events import Resize
from textual.geometry import Size
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Input, Static

from conftest import node_uri
from kvmtui.backend.create_spec import NewGuest, SeedSpec, VolumeRef, domain_xml
from kvmtui.screens.clone_form import CloneFormScreen
from kvmtui.screens.config_forms import (
    AttachDiskScreen,
    AttachNicScreen,
    PreviewScreen,
    ValueScreen,
)
from kvmtui.screens.confirm import ConfirmScreen
from kvmtui.screens.hosts import HostFormScreen
from kvmtui.screens.migrate import MigrateDialog
from kvmtui.screens.migrate_progress import MigrationScreen
from kvmtui.screens.new_guest import STEPS
from kvmtui.screens.refusal import ERROR_ID
from kvmtui.screens.snapshot_forms import DeleteScreen, RevertScreen, SnapshotFormScreen
from kvmtui.screens.xml_editor import XmlDiffScreen
from kvmtui.tui.app import KvmtuiApp
from tests.pilot import (
    build_app,
    loaded,
    open_config_editor,
    open_guest_screen,
    open_hosts,
    open_storage,
    open_wizard,
    open_xml_editor,
    press_back,
    press_for,
    recorded_migration,
    run_async,
    select,
    wait_for,
    wizard_fill,
)
from tests.snapshot_trees import open_snapshots
from tests.testdriver.test_balloon_screen import open_details
from tests.testdriver.test_table_widths import screen_problems

DATA = Path(__file__).parents[1] / "data"
SIZES = ((80, 24), (200, 60), (40, 10), (20, 5))
#: Indices into SIZES: from every size to every other one, each ordered pair once.
WALK = (0, 1, 2, 3, 0, 2, 1, 3, 2, 0, 3, 1, 0)
#: Longer than any column at 80 columns: the preview must fold it, not cut it.
LONG_ISO = "/isos/debian-12.8.0-amd64-netinst-with-nonfree-firmware-and-preseed.iso"

S = TypeVar("S", bound=Screen[Any])
Opener = Callable[[Pilot[None]], Awaitable[Screen[Any]]]
#: Yields each screen to walk, in turn; the walk ends at 80x24, where the next is reached.
Visits = Callable[[Pilot[None]], AsyncIterator[Screen[Any]]]


def one(opener: Opener) -> Visits:
    async def visits(pilot: Pilot[None]) -> AsyncIterator[Screen[Any]]:
        yield await opener(pilot)

    return visits


async def clone_form(pilot: Pilot[None]) -> Screen[Any]:
    return await open_guest_screen(pilot, "build", "C", CloneFormScreen)


async def config_editor(pilot: Pilot[None]) -> AsyncIterator[Screen[Any]]:
    """The editor; its value question (enter on vCPUs) saying why "3" is refused; the
    attach-disk and attach-NIC forms, each saying why its answer is refused; the preview
    of vCPUs 2 -> 1 and a new CD-ROM drive holding an ISO longer than a column."""
    editor = await open_config_editor(pilot, "db-primary")
    yield editor
    question = await press_for(pilot, "enter", ValueScreen)
    question.query_one(Input).value = "3"  # more than the running maximum
    yield await refusal_shown(pilot, question, "enter")
    await answered(pilot, question, "1")
    disk = await press_for(pilot, "a", AttachDiskScreen)
    disk.query_one("#disk-source", Input).value = "x/y"  # not a volume name
    yield await refusal_shown(pilot, disk, "ctrl+s")
    await press_back(pilot, "escape", editor)
    yield await refusal_shown(pilot, await press_for(pilot, "n", AttachNicScreen), "ctrl+s")
    await press_back(pilot, "escape", editor)
    await answered(pilot, await press_for(pilot, "c", ValueScreen), f"scsi {LONG_ISO}")
    yield await press_for(pilot, "ctrl+s", PreviewScreen)


async def refusal_shown(pilot: Pilot[None], question: S, key: str) -> S:
    """``key`` pressed on ``question`` with an answer it refuses: the question, once it
    says why."""
    line = question.query_one(f"#{ERROR_ID}", Static)
    await pilot.press(key)
    await wait_for(pilot, lambda: line.display, "the refusal in the question")
    return question


async def answered(pilot: Pilot[None], question: ValueScreen, text: str) -> None:
    """``text`` given to the question: set, not typed (each key press waits ~0.1 s)."""
    question.query_one(Input).value = text
    await press_back(pilot, "enter", pilot.app.screen_stack[-2])


async def hosts(pilot: Pilot[None]) -> AsyncIterator[Screen[Any]]:
    """The hosts screen; its form (e on the host)."""
    screen = await open_hosts(pilot)
    yield screen
    await wait_for(pilot, lambda: screen.selected_name is not None, "a host selected")
    yield await press_for(pilot, "e", HostFormScreen)


async def wizard(pilot: Pilot[None]) -> AsyncIterator[Screen[Any]]:
    """Every page, a cloud image as the source so that Cloud-init is one (walked with its
    fields and again with raw user-data); Forward after each walk."""
    screen = await open_wizard(pilot)
    await wizard_fill(pilot, screen, source_ref="images/scratch.raw", guest_name="web-1",
                      disk_size="20G")  # fmt: skip
    for name, _title in STEPS:
        assert STEPS[screen.step][0] == name, screen.problem_text
        if name == "cloudinit":
            await wizard_fill(pilot, screen, ci_user="admin", ci_password="s3cret pass")
            yield screen
            await wizard_fill(pilot, screen, ci_mode="raw")
        yield screen
        await pilot.press("alt+f")


async def seed_question(pilot: Pilot[None]) -> AsyncIterator[Screen[Any]]:
    """x in the details of a guest defined with a cloud-init seed CD-ROM (the wizard's
    XML): the question whether to detach it."""
    app = pilot.app
    assert isinstance(app, KvmtuiApp)
    screen = await loaded(pilot)
    seed = SeedSpec(VolumeRef("images", "seeded-cidata.iso"))
    app.hosts[0].connection().defineXML(domain_xml(NewGuest("seeded", seed=seed)))
    rows = screen.table.all_guests
    await wait_for(pilot, lambda: any(g.name == "seeded" for g in rows()), "the guest's row")
    details = await open_details(pilot, app, "seeded")
    await wait_for(pilot, lambda: details.seed is not None, "the seed found")
    yield await press_for(pilot, "x", ConfirmScreen)


async def snapshots(pilot: Pilot[None]) -> AsyncIterator[Screen[Any]]:
    """The tree; the new-snapshot form (n); the delete (d) and revert (v) questions."""
    tree = await open_snapshots(pilot)
    yield tree
    yield await press_for(pilot, "n", SnapshotFormScreen)
    await press_back(pilot, "escape", tree)
    tree.table.move_cursor(row=1, animate=False)
    yield await press_for(pilot, "d", DeleteScreen)
    await press_back(pilot, "n", tree)
    tree.table.move_cursor(row=3, animate=False)
    yield await press_for(pilot, "v", RevertScreen)


async def xml_editor(pilot: Pilot[None]) -> AsyncIterator[Screen[Any]]:
    """The editor; the diff of a description added (ctrl+s)."""
    editor = await open_xml_editor(pilot, "web-frontend-1")
    yield editor
    text = editor.text_area.text.replace("</uuid>", "</uuid>\n  <description>db</description>")
    editor.text_area.load_text(text)
    yield await press_for(pilot, "ctrl+s", XmlDiffScreen)


async def migration(pilot: Pilot[None]) -> AsyncIterator[Screen[Any]]:
    """The migrate dialog (m), its pre-flight done; then the progress view fed the
    jobStats recorded from a real migration, as snapshots/test_migrate.py opens it."""
    app = pilot.app
    assert isinstance(app, KvmtuiApp)
    screen = await loaded(pilot)
    await select(pilot, screen.table, "web-frontend-1", "test:node")
    dialog = await press_for(pilot, "m", MigrateDialog)
    await wait_for(pilot, lambda: "checking" not in dialog.preflight_text, "the pre-flight")
    yield dialog
    await press_back(pilot, "escape", screen)
    app.push_screen(recorded_migration(app.hosts[0]))
    await wait_for(pilot, lambda: isinstance(app.screen, MigrationScreen), "the view")
    yield app.screen


async def resized(pilot: Pilot[None], size: tuple[int, int]) -> None:
    """Resize as the terminal does (the driver's size, a Resize event) and wait until the
    screen is laid out again at that size: polled, not Pilot.pause's wait for an idle
    process, which on a busy machine waits up to a second per resize."""
    app = pilot.app
    assert isinstance(app._driver, HeadlessDriver)
    app._driver._size = Size(*size)
    app.post_message(Resize(Size(*size), Size(*size)))
    await wait_for(pilot, lambda: app.screen._compositor.size == size, f"the layout at {size}")


@dataclass(frozen=True)
class Case:
    name: str
    nodes: tuple[str, ...]
    visits: Visits


CASES = [
    Case("clone form", ("storage-node.xml",), one(clone_form)),
    Case("config editor", ("throttle_node.xml",), config_editor),
    Case("hosts", ("node.xml",), hosts),
    Case("new-guest wizard", ("storage-node.xml",), wizard),
    Case("seed-detach question", ("storage-node.xml",), seed_question),
    Case("snapshots", ("snapshot-node.xml",), snapshots),
    Case("storage", ("storage-node.xml",), one(open_storage)),
    Case("xml editor", ("node.xml",), xml_editor),
    Case("migration", ("node.xml", "storage-node.xml"), migration),
]


def test_the_walk_goes_from_every_size_to_every_other() -> None:
    pairs = list(pairwise(WALK))
    assert sorted(pairs) == [(a, b) for a in range(len(SIZES)) for b in range(len(SIZES)) if a != b]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
@run_async
async def test_screen_keeps_its_lines_whole_through_any_resize(case: Case) -> None:
    app = build_app(*(node_uri(DATA / node) for node in case.nodes), stats=False)
    problems: list[str] = []
    walked: list[str] = []
    async with app.run_test(size=SIZES[WALK[0]]) as pilot:
        async for screen in case.visits(pilot):
            where = f"{case.name}: {type(screen).__name__}"
            walked.append(type(screen).__name__)
            for index in WALK:
                size = SIZES[index]
                await resized(pilot, size)
                assert app.is_running and app._exception is None, f"{where} at {size}"
                assert app.screen is screen, f"{where} left at {size}: {app.screen!r}"
                problems += screen_problems(app, f"{where} at {size}")
    assert app.return_code in (None, 0)
    assert walked and problems == []

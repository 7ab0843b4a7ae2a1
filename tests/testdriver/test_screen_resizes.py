"""The newer screens survive any resize and keep every line the terminal's width (issue 17).

The clone form, the migration dialog and progress view, the hosts screen and its form,
the configuration editor and the new-guest wizard are each opened on libvirt's test:///
driver, then the terminal is resized through 80x24, 200x60, 40x10 and 20x5 in a walk
that goes from every one of these sizes to every other (each ordered pair once). After
each resize the app still runs, the screen is still on top, and every line the
terminal gets is exactly the terminal's width (the same check as the tables' in
test_table_widths.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.screen import Screen

from conftest import node_uri
from kvmtui.screens.clone_form import CloneFormScreen
from kvmtui.screens.hosts import HostFormScreen
from kvmtui.screens.migrate import MigrateDialog
from kvmtui.screens.migrate_progress import MigrationScreen
from kvmtui.tui.app import KvmtuiApp
from tests.pilot import (
    build_app,
    loaded,
    open_config_editor,
    open_guest_screen,
    open_hosts,
    open_wizard,
    recorded_migration,
    run_async,
    select,
    wait_for,
)
from tests.testdriver.test_table_widths import screen_problems

DATA = Path(__file__).parents[1] / "data"
SIZES = ((80, 24), (200, 60), (40, 10), (20, 5))
#: Indices into SIZES: from every size to every other one, each ordered pair once.
WALK = (0, 1, 2, 3, 0, 2, 1, 3, 2, 0, 3, 1, 0)

Opener = Callable[[Pilot[None]], Awaitable[Screen[Any]]]


async def clone_form(pilot: Pilot[None]) -> Screen[Any]:
    return await open_guest_screen(pilot, "build", "C", CloneFormScreen)


async def config_editor(pilot: Pilot[None]) -> Screen[Any]:
    return await open_config_editor(pilot, "db-primary")


async def host_form(pilot: Pilot[None]) -> Screen[Any]:
    hosts = await open_hosts(pilot)
    await wait_for(pilot, lambda: hosts.selected_name is not None, "a host selected")
    await pilot.press("e")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, HostFormScreen), "the form")
    return pilot.app.screen


async def migrate_dialog(pilot: Pilot[None]) -> Screen[Any]:
    screen = await loaded(pilot)
    await select(pilot, screen.table, "web-frontend-1", "test:node")
    await pilot.press("m")
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, MigrateDialog), "the dialog")
    dialog = app.screen
    assert isinstance(dialog, MigrateDialog)
    await wait_for(pilot, lambda: "checking" not in dialog.preflight_text, "the pre-flight")
    return dialog


async def migration_progress(pilot: Pilot[None]) -> Screen[Any]:
    """The progress view fed recorded jobStats, as snapshots/test_migrate.py opens it."""
    app = pilot.app
    assert isinstance(app, KvmtuiApp)
    await loaded(pilot)
    app.push_screen(recorded_migration(app.hosts[0]))
    await wait_for(pilot, lambda: isinstance(app.screen, MigrationScreen), "the view")
    return app.screen


@dataclass(frozen=True)
class Case:
    name: str
    nodes: tuple[str, ...]
    opener: Opener


CASES = [
    Case("clone form", ("storage-node.xml",), clone_form),
    Case("config editor", ("throttle_node.xml",), config_editor),
    Case("hosts screen", ("node.xml",), open_hosts),
    Case("host form", ("node.xml",), host_form),
    Case("new-guest wizard", ("node.xml",), open_wizard),
    Case("migrate dialog", ("node.xml", "storage-node.xml"), migrate_dialog),
    Case("migration progress", ("node.xml", "storage-node.xml"), migration_progress),
]


def test_the_walk_goes_from_every_size_to_every_other() -> None:
    pairs = list(pairwise(WALK))
    assert sorted(pairs) == [(a, b) for a in range(len(SIZES)) for b in range(len(SIZES)) if a != b]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
@run_async
async def test_screen_keeps_its_lines_whole_through_any_resize(case: Case) -> None:
    app = build_app(*(node_uri(DATA / node) for node in case.nodes), stats=False)
    problems: list[str] = []
    async with app.run_test(size=SIZES[WALK[0]]) as pilot:
        screen = await case.opener(pilot)
        for index in WALK:
            size = SIZES[index]
            await pilot.resize_terminal(*size)
            await pilot.pause()
            assert app.is_running and app._exception is None, f"{case.name} at {size}"
            assert app.screen is screen, f"{case.name} left at {size}: {app.screen!r}"
            problems += screen_problems(app, f"{case.name} at {size}")
    assert app.return_code in (None, 0)
    assert problems == []

"""Snapshots of the migration dialog (m) and of the progress view, on libvirt's test:///
driver: the source is tests/data/node.xml, the other host tests/data/storage-node.xml.
The progress view is fed jobStats() readings recorded from a real live migration of a
256 MiB tiny guest between the harness's two daemons at 8 MiB/s
(tests/data/migration-jobstats.json), so every figure is fixed.
"""

from __future__ import annotations

import json
from pathlib import Path

from textual.pilot import Pilot

from kvmtui.screens.migrate import MigrateDialog
from kvmtui.screens.migrate_progress import MigrationScreen
from kvmtui.tui.app import KvmtuiApp
from tests.pilot import (
    STORAGE_NODE_URI,
    build_app,
    loaded,
    recorded_migration,
    select,
    wait_for,
)

DATA = Path(__file__).parent.parent / "tests" / "data"
NODE_URI = f"test://{DATA / 'node.xml'}"
RECORDED = json.loads((DATA / "migration-jobstats.json").read_text())


def build() -> KvmtuiApp:
    return build_app(NODE_URI, STORAGE_NODE_URI, stats=False)


async def open_dialog(pilot: Pilot[None]) -> None:
    """m on web-frontend-1 once both nodes answered; waits for the pre-flight's answer."""
    app = pilot.app
    assert isinstance(app, KvmtuiApp)
    screen = await loaded(pilot)
    await select(pilot, screen.table, "web-frontend-1", "test:node")
    await pilot.press("m")
    await wait_for(pilot, lambda: isinstance(app.screen, MigrateDialog), "the dialog")
    dialog = app.screen
    assert isinstance(dialog, MigrateDialog)
    await wait_for(pilot, lambda: "checking" not in dialog.preflight_text, "the pre-flight")
    app.clear_notifications()
    await pilot.pause()


def test_migrate_dialog_at_80x24(snap_compare) -> None:
    """"Migrate 'web-frontend-1' from test:node": Destination test:storage-node (the one
    other connected host), an empty URI field, then the options, each with its dim
    explanation: Live, Persistent and Undefine on the source ticked, the rest not (the
    list scrolls). At the bottom the pre-flight's answer: "Pre-flight: ✓ ready; ctrl+s
    migrates." (the test nodes report no host UUID, so they are not taken for one host,
    and web-frontend-1 has no disk to look for there); the footer offers ^s Migrate and
    esc Cancel."""

    assert snap_compare(build(), terminal_size=(80, 24), run_before=open_dialog)


async def open_progress(pilot: Pilot[None]) -> None:
    """The progress view of a migration fed the recorded jobStats (no job, no timer)."""
    app = pilot.app
    assert isinstance(app, KvmtuiApp)
    await loaded(pilot)
    app.push_screen(recorded_migration(app.hosts[0]))
    await wait_for(pilot, lambda: isinstance(app.screen, MigrationScreen), "the view")
    await pilot.pause()


def test_migration_progress_at_80x24(snap_compare) -> None:
    """"Migrate 'web-frontend-1' from test:node to kvm2", State running, Phase
    "re-sending dirtied memory (pass 2)", Data "1.7 MiB left of 256.8 MiB (99% done),
    99.5 MiB sent", Rate 7.7 MiB/s, Dirty rate 48 KiB/s, Pass 2, Expected downtime 300 ms,
    Elapsed 13.7 s, Time left 0.2 s, Memory left 1.7 MiB; under "Memory left, last
    minute:" a two-row sparkline, full at the left and falling to the right (the step is
    where QEMU skipped the guest's zero pages). The footer: s Max speed, d Max downtime,
    p Post-copy, c Cancel, esc Close."""

    assert snap_compare(build(), terminal_size=(80, 24), run_before=open_progress)

"""The hosts screen (ctrl+o) with the Pilot, on libvirt's test:/// driver: saved hosts
listed with their state; add with the URI checked as typed; connect and disconnect in the
session; remove asks first; test a connection off the UI thread; a broken file is shown
with its line and never written."""

from __future__ import annotations

import stat
from pathlib import Path

from textual.widgets import Input

from conftest import node_uri
from kvmtui.backend import hostfile
from kvmtui.backend.hostfile import SavedHost
from kvmtui.backend.model import ConnectionState
from kvmtui.screens.confirm import ConfirmScreen
from kvmtui.screens.hosts import HostFormScreen, HostsScreen
from kvmtui.tui.app import KvmtuiApp
from tests.pilot import build_app, open_hosts, run_async, screen_of, wait_for

MISSING_URI = "test:///nonexistent/missing.xml"
GUESTS = 13


def app_with_file(path: Path, *targets: str) -> KvmtuiApp:
    app = build_app(*targets)
    app.hosts_file = path
    return app


def row_texts(screen: HostsScreen) -> list[list[str]]:
    table = screen.table
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


@run_async
async def test_lists_saved_and_session_hosts_with_state(tmp_path: Path) -> None:
    path = tmp_path / "hosts.toml"
    hostfile.save(
        [SavedHost("lab", node_uri(), autoconnect=True), SavedHost("spare", MISSING_URI)], path
    )
    app = app_with_file(path, f"lab={node_uri()}", f"cli={node_uri()}")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_hosts(pilot)
        rows = row_texts(screen)
        assert [r[0] for r in rows] == ["lab", "spare", "cli"]
        assert rows[0][1:3] == ["connected", "at start"]
        assert rows[1][1:3] == ["not open", "-"]
        assert rows[2][1:3] == ["connected", "not saved"]


@run_async
async def test_add_checks_uri_as_typed_then_saves_0600(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "hosts.toml"
    app = app_with_file(path, f"lab={node_uri()}")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_hosts(pilot)
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, HostFormScreen), "form")
        form = app.screen
        assert isinstance(form, HostFormScreen)
        await pilot.press(*"kvm2")
        form.query_one("#host-uri", Input).focus()
        await pilot.press(*"qemu")
        await wait_for(pilot, lambda: "is not a URI" in form.error_text, "URI sentence")
        await pilot.press("enter")  # refused: the form stays, nothing is written
        await wait_for(pilot, lambda: "Nothing was saved" in form.error_text, "refusal")
        assert not path.exists()
        form.query_one("#host-uri", Input).value = "qemu+ssh://root@127.0.0.1/system"
        await wait_for(pilot, lambda: form.error_text == "", "valid URI")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is screen, "back to the hosts")
        assert hostfile.load(path) == [SavedHost("kvm2", "qemu+ssh://root@127.0.0.1/system")]
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert screen.message_text == "Saved kvm2."


@run_async
async def test_connect_then_disconnect_adds_and_removes_the_host(tmp_path: Path) -> None:
    path = tmp_path / "hosts.toml"
    hostfile.save([SavedHost("extra", node_uri(), readonly=True)], path)
    app = app_with_file(path, f"lab={node_uri()}")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_hosts(pilot)
        guests = screen_of(app)
        assert screen.selected_name == "extra"
        await pilot.press("c")
        await wait_for(
            pilot, lambda: len(guests.table.guests_of("extra")) == GUESTS, "extra's guests"
        )
        extra = app.host("extra")
        assert extra is not None and extra.readonly  # as saved
        assert guests.status_bar.line("extra") is not None
        await wait_for(pilot, lambda: row_texts(screen)[0][1] == "connected", "state")
        await pilot.press("x")
        await wait_for(pilot, lambda: app.host("extra") is None, "closed")
        await wait_for(pilot, lambda: not guests.table.guests_of("extra"), "rows gone")
        assert guests.status_bar.line("extra") is None
        assert row_texts(screen)[0][1] == "not open"
        assert [h.label for h in app.hosts] == ["lab"]


@run_async
async def test_remove_asks_first(tmp_path: Path) -> None:
    path = tmp_path / "hosts.toml"
    hosts = [SavedHost("a", node_uri()), SavedHost("b", MISSING_URI)]
    hostfile.save(hosts, path)
    app = app_with_file(path, f"lab={node_uri()}")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_hosts(pilot)
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "question")
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is screen, "back")
        assert hostfile.load(path) == hosts
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "question")
        await pilot.press("y")
        await wait_for(pilot, lambda: hostfile.load(path) == hosts[1:], "removed")


@run_async
async def test_test_connection_runs_off_the_ui_thread(tmp_path: Path) -> None:
    path = tmp_path / "hosts.toml"
    hostfile.save([SavedHost("good", node_uri()), SavedHost("gone", MISSING_URI)], path)
    app = app_with_file(path, f"lab={node_uri()}")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_hosts(pilot)
        await pilot.press("t")
        await wait_for(pilot, lambda: "answers" in screen.message_text, "probe result")
        assert screen.message_text.startswith("good answers: libvirt ")
        assert screen.message_text.endswith(", 13 guests.")
        assert app.host("good") is None  # a test opens nothing in the session
        await pilot.press("down", "t")
        await wait_for(pilot, lambda: "Cannot connect to gone" in screen.message_text, "fail")


@run_async
async def test_broken_file_shown_with_line_and_never_written(tmp_path: Path) -> None:
    path = tmp_path / "hosts.toml"
    text = '[[host]]\nname = "a"\nuri = "test:///default"\n[[host]\n'
    path.write_text(text)
    app = app_with_file(path, f"lab={node_uri()}")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_hosts(pilot)
        assert "broken at line 4" in screen.message_text
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, HostsScreen)  # no form over a broken file
        assert "Fix the file first" in screen.message_text
        assert path.read_text() == text
        assert app.hosts[0].status.state is ConnectionState.CONNECTED

"""The app driven with the Pilot on libvirt's test:/// driver (tests/data/node.xml).

Every test builds the real app with ``make_app`` (through tests/pilot.build_app, whose
clock stands at 22:13:20 UTC) and waits on conditions with a deadline. The test driver
keeps state per connection, so state is read back through the app's own Host.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.binding import Binding

from kvmtui.backend import lifecycle
from kvmtui.backend.errors import ReadOnlyError
from kvmtui.backend.host import Host
from kvmtui.backend.model import ConnectionState, GuestState
from kvmtui.screens import guests
from kvmtui.screens.confirm import ConfirmScreen, TypeToConfirmScreen
from kvmtui.screens.details import DetailsScreen
from kvmtui.screens.guests import GuestsScreen
from kvmtui.screens.help import HelpScreen
from kvmtui.tui import cli
from kvmtui.tui.format import STATE_STYLES, human_kib, memory_text
from kvmtui.tui.widgets.guest_facts import GuestFacts
from kvmtui.tui.widgets.host_status import status_text
from tests.pilot import (
    build_app,
    guest_list,
    loaded,
    press_back,
    press_for,
    row_state,
    run_async,
    select,
    wait_for,
)

MISSING_URI = "test:///nonexistent/missing.xml"
ALL_GUESTS = 13


pytestmark = pytest.mark.usefixtures("utc")


# -- lifecycle keys ------------------------------------------------------------------


@run_async
async def test_s_starts_a_shut_off_guest(test_node_uri: str) -> None:
    async with guest_list(test_node_uri) as (_app, pilot, screen):
        await select(pilot, screen.table, "build-runner")
        assert row_state(screen.table, "build-runner") is GuestState.SHUTOFF
        await pilot.press("s")
        await wait_for(
            pilot,
            lambda: row_state(screen.table, "build-runner") is GuestState.RUNNING,
            "build-runner to run",
        )
        assert screen.table.selected_guest is not None
        assert screen.table.selected_guest.name == "build-runner", "cursor stays on the guest"


@run_async
async def test_force_off_asks_first_and_cancel_changes_nothing(test_node_uri: str) -> None:
    async with guest_list(test_node_uri) as (app, pilot, screen):
        await select(pilot, screen.table, "db-primary")
        await press_for(pilot, "F", ConfirmScreen)
        await press_back(pilot, "n", screen)
        await app.workers.wait_for_complete()
        conn = app.hosts[0].connection()
        assert conn.lookupByName("db-primary").isActive()
        assert row_state(screen.table, "db-primary") is GuestState.RUNNING

        await press_for(pilot, "F", ConfirmScreen)
        await press_back(pilot, "escape", screen)
        await app.workers.wait_for_complete()
        assert conn.lookupByName("db-primary").isActive()


@run_async
async def test_force_off_after_confirming(test_node_uri: str) -> None:
    async with guest_list(test_node_uri) as (app, pilot, screen):
        await select(pilot, screen.table, "db-primary")
        await press_for(pilot, "F", ConfirmScreen)
        await pilot.press("y")
        await wait_for(
            pilot,
            lambda: row_state(screen.table, "db-primary") is GuestState.SHUTOFF,
            "db-primary to be off",
        )
        assert not app.hosts[0].connection().lookupByName("db-primary").isActive()


@run_async
async def test_reset_asks_first(test_node_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async with guest_list(test_node_uri) as (app, pilot, screen):
        guest = await select(pilot, screen.table, "monitoring")
        calls: list[str] = []
        real_reset = lifecycle.reset

        def spy(host: Host, uuid: str) -> None:
            calls.append(uuid)
            real_reset(host, uuid)

        # The test driver's reset leaves no trace in the guest's state: spy on the call.
        monkeypatch.setattr(guests, "RESET", guests.Operation("reset", spy, guests.RESET.done))
        await press_for(pilot, "R", ConfirmScreen)
        await press_back(pilot, "n", screen)
        await app.workers.wait_for_complete()
        assert calls == []
        await press_for(pilot, "R", ConfirmScreen)
        await pilot.press("y")
        await wait_for(pilot, lambda: calls, "the reset call")
        assert calls == [guest.uuid]


@run_async
async def test_undefine_needs_the_exact_name(test_node_uri: str) -> None:
    async with guest_list(test_node_uri) as (app, pilot, screen):
        await select(pilot, screen.table, "ci-worker-old")
        await press_for(pilot, "U", TypeToConfirmScreen)
        dialog = app.screen
        await pilot.press(*"CI-WORKER-OLD", "enter")
        await pilot.pause()
        assert app.screen is dialog, "a wrong name keeps the question open"
        assert "nothing was changed" in str(dialog.query_one("#mismatch").render())
        await app.workers.wait_for_complete()
        assert "ci-worker-old" in screen.table.shown_names()

        dialog.query_one("Input").value = ""  # type: ignore[attr-defined]
        await pilot.press(*"ci-worker-old", "enter")
        await wait_for(
            pilot, lambda: "ci-worker-old" not in screen.table.shown_names(), "the row to go"
        )
        assert app.screen is screen
        names = [d.name() for d in app.hosts[0].connection().listAllDomains(0)]
        assert "ci-worker-old" not in names


@run_async
async def test_undefine_escape_cancels(test_node_uri: str) -> None:
    async with guest_list(test_node_uri) as (app, pilot, screen):
        await select(pilot, screen.table, "mail-relay")
        await press_for(pilot, "U", TypeToConfirmScreen)
        await pilot.press(*"mail-relay", "escape")
        await wait_for(pilot, lambda: app.screen is screen, "question to close")
        await app.workers.wait_for_complete()
        names = [d.name() for d in app.hosts[0].connection().listAllDomains(0)]
        assert "mail-relay" in names


@run_async
async def test_p_pauses_and_resumes(test_node_uri: str) -> None:
    async with guest_list(test_node_uri) as (_app, pilot, screen):
        await select(pilot, screen.table, "web-frontend-1")
        await pilot.press("p")
        await wait_for(
            pilot,
            lambda: row_state(screen.table, "web-frontend-1") is GuestState.PAUSED,
            "paused",
        )
        await pilot.press("p")
        await wait_for(
            pilot,
            lambda: row_state(screen.table, "web-frontend-1") is GuestState.RUNNING,
            "running again",
        )


@run_async
async def test_a_toggles_autostart(test_node_uri: str) -> None:
    async with guest_list(test_node_uri) as (app, pilot, screen):
        guest = await select(pilot, screen.table, "db-primary")
        assert not guest.autostart
        await pilot.press("a")
        await wait_for(
            pilot,
            lambda: screen.table.guest(guest.key).autostart,  # type: ignore[union-attr]
            "autostart on",
        )
        assert app.hosts[0].connection().lookupByName("db-primary").autostart() == 1
        assert str(screen.table.get_cell(guest.key, "autostart")) == "yes"
        await pilot.press("a")
        await wait_for(
            pilot,
            lambda: not screen.table.guest(guest.key).autostart,  # type: ignore[union-attr]
            "autostart off",
        )
        assert str(screen.table.get_cell(guest.key, "autostart")) == "-"


@run_async
async def test_backend_refusal_is_a_notification(
    test_node_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with guest_list(test_node_uri) as (_app, pilot, screen):
        seen: list[tuple[str, str]] = []
        monkeypatch.setattr(
            screen, "notify", lambda text, **kw: seen.append((text, kw.get("severity", "")))
        )
        await select(pilot, screen.table, "db-primary")
        await pilot.press("s")
        await wait_for(pilot, lambda: seen, "a notification")
        text, severity = seen[0]
        assert severity == "error"
        assert text == "Could not start guest 'db-primary' on test:node: it is already running."


# -- filter --------------------------------------------------------------------------


@run_async
async def test_filter_narrows_rows(test_node_uri: str) -> None:
    async with guest_list(test_node_uri) as (_app, pilot, screen):
        assert not screen.filter_bar.display
        await pilot.press("slash")
        assert screen.filter_bar.display
        await pilot.press(*"DB")
        await wait_for(pilot, lambda: screen.table.row_count == 2, "two db rows")
        assert screen.table.shown_names() == ["db-primary", "db-replica"]
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.table.has_focus, "focus back on the table")
        assert screen.table.shown_names() == ["db-primary", "db-replica"], "filter kept"
        await pilot.press("escape")
        await wait_for(pilot, lambda: screen.table.row_count == ALL_GUESTS, "all rows back")
        assert not screen.filter_bar.display


# -- read-only -----------------------------------------------------------------------


@run_async
async def test_read_only_disables_every_mutating_action(test_node_uri: str) -> None:
    async with guest_list(test_node_uri, readonly=True) as (app, pilot, screen):
        await select(pilot, screen.table, "build-runner")
        for action in GuestsScreen.MUTATING:
            assert screen.check_action(action, ()) is None, action
        assert screen.check_action("filter", ()) is True
        footer = {key: b for key, b in screen.active_bindings.items() if b.node is screen}
        assert not footer["s"].enabled and not footer["F"].enabled
        node_line = screen.status_bar.line("test:node")
        assert node_line is not None
        assert "READ-ONLY" in status_text(node_line.status, 0, 0).plain

        await pilot.press("s", "F", "U")
        await app.workers.wait_for_complete()
        assert app.screen is screen, "no question is asked"
        assert row_state(screen.table, "build-runner") is GuestState.SHUTOFF

        await press_for(pilot, "question_mark", HelpScreen)
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        disabled = {r.description for r in help_screen.rows if r.disabled_because}
        assert {"Start", "Shutdown", "Force off", "Undefine", "Autostart"} <= disabled
        assert all(
            r.disabled_because == "read-only connection"
            for r in help_screen.rows
            if r.description in ("Start", "Reset", "Pause/resume")
        )


@run_async
async def test_read_only_backend_refuses_before_libvirt(test_node_uri: str) -> None:
    async with guest_list(test_node_uri, readonly=True) as (app, _pilot, _):
        host = app.hosts[0]
        uuid = next(g.uuid for g in host.guests() if g.name == "build-runner")
        calls: list[Callable[[], None]] = [
            lambda: lifecycle.start(host, uuid),
            lambda: lifecycle.shutdown(host, uuid),
            lambda: lifecycle.reboot(host, uuid),
            lambda: lifecycle.reset(host, uuid),
            lambda: lifecycle.suspend(host, uuid),
            lambda: lifecycle.resume(host, uuid),
            lambda: lifecycle.force_off(host, uuid),
            lambda: lifecycle.set_autostart(host, uuid, True),
            lambda: lifecycle.undefine(host, uuid),
        ]
        for call in calls:
            with pytest.raises(ReadOnlyError, match="read-only"):
                call()


@run_async
async def test_unknown_guest_gets_no_actions(test_node_uri: str) -> None:
    async with guest_list(test_node_uri) as (_app, pilot, screen):
        guest = await select(pilot, screen.table, "db-primary")
        assert screen.check_action("start", ()) is True
        screen.table.update_guest(guest.with_unknown_state())
        await pilot.pause()
        for action in GuestsScreen.MUTATING:
            assert screen.check_action(action, ()) is None, action
        assert screen.disabled_reason("start") == "the guest's host is unreachable"


# -- hosts ---------------------------------------------------------------------------


@run_async
async def test_disconnected_host_in_the_status_line(test_node_uri: str) -> None:
    async with guest_list(test_node_uri, MISSING_URI) as (_app, pilot, screen):
        line = screen.status_bar.line("test:missing")
        assert line is not None
        await wait_for(
            pilot, lambda: line.status.state is ConnectionState.DISCONNECTED, "disconnected"
        )
        text = status_text(line.status, line.running, line.total).plain
        assert text.startswith("test:missing  disconnected since 22:13:20")
        assert "Cannot connect to test:missing" in text
        assert text.endswith("retrying")
        node_line = screen.status_bar.line("test:node")
        assert node_line is not None
        node_text = status_text(node_line.status, node_line.running, node_line.total).plain
        assert node_text.startswith("test:node  connected")
        assert node_text.endswith("6 running / 13 guests")


@run_async
async def test_ctrl_l_reconnects_disconnected_hosts(
    test_node_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with guest_list(test_node_uri, MISSING_URI) as (app, pilot, _):
        node, missing = app.hosts
        asked: list[str] = []
        monkeypatch.setattr(node, "reconnect_now", lambda: asked.append(node.label))
        monkeypatch.setattr(missing, "reconnect_now", lambda: asked.append(missing.label))
        await pilot.press("ctrl+l")
        assert asked == ["test:missing"]


@run_async
async def test_same_node_twice_gets_unique_labels_and_keys(test_node_uri: str) -> None:
    app = build_app(test_node_uri, f"lab={test_node_uri}", test_node_uri)
    assert [h.label for h in app.hosts] == ["test:node", "lab", "test:node (2)"]
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await loaded(pilot, rows=3 * ALL_GUESTS)
        hosts_in_order = [screen.table.get_row_at(i)[0].plain for i in (0, 13, 26)]
        assert hosts_in_order == ["lab", "test:node", "test:node (2)"]


@run_async
async def test_hosts_stop_when_the_app_exits(test_node_uri: str) -> None:
    async with guest_list(test_node_uri) as (app, _pilot, _):
        threads = [h._thread for h in app.hosts]
        assert all(t is not None and t.is_alive() for t in threads)
    assert all(t is not None and not t.is_alive() for t in threads)


# -- details and help ----------------------------------------------------------------


@run_async
async def test_details_follow_the_guest(test_node_uri: str) -> None:
    async with guest_list(test_node_uri) as (app, pilot, screen):
        guest = await select(pilot, screen.table, "build-runner")
        await press_for(pilot, "enter", DetailsScreen)
        details = app.screen
        assert isinstance(details, DetailsScreen)
        facts = details.query_one(GuestFacts)
        assert facts.guest.uuid == guest.uuid
        lifecycle.start(app.hosts[0], guest.uuid)
        await wait_for(pilot, lambda: facts.guest.state is GuestState.RUNNING, "live update")
        await press_back(pilot, "escape", screen)


@run_async
async def test_help_lists_every_binding(test_node_uri: str) -> None:
    async with guest_list(test_node_uri) as (app, pilot, screen):
        await press_for(pilot, "question_mark", HelpScreen)
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        described = {r.description for r in help_screen.rows}
        own = {b.description for b in GuestsScreen.BINDINGS if isinstance(b, Binding)}
        assert own <= described
        assert {"Details", "Cursor down"} <= described
        cursor_down = next(r for r in help_screen.rows if r.description == "Cursor down")
        assert "j" in cursor_down.keys.split(", ")
        assert not any(r.disabled_because for r in help_screen.rows if r.description == "Start")
        await press_back(pilot, "escape", screen)


# -- command line --------------------------------------------------------------------


def test_cli_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == "kvmtui 0.1.0"


def test_cli_bad_option_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--no-such-option"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err


def test_cli_builds_hosts_from_options(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    built: list[tuple[list[str | None], bool, float]] = []

    def fake_run_app(
        uris: list[str | None], *, readonly: bool, delay: float, **_options: object
    ) -> int:
        built.append((list(uris), readonly, delay))
        return 0

    monkeypatch.setattr(cli, "run_app", fake_run_app)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))  # no saved hosts
    monkeypatch.delenv("LIBVIRT_DEFAULT_URI", raising=False)
    assert cli.main(["-c", "test:///default", "-c", "b=qemu+ssh://b/system", "-r"]) == 0
    assert cli.main([]) == 0
    monkeypatch.setenv("LIBVIRT_DEFAULT_URI", "qemu:///session")
    assert cli.main(["--readonly", "-d", "0.5"]) == 0
    assert built == [
        (["test:///default", "b=qemu+ssh://b/system"], True, 3.0),
        ([None], False, 3.0),
        (["qemu:///session"], True, 0.5),
    ]


# -- the table's diff ----------------------------------------------------------------


@run_async
async def test_table_repaints_only_the_changed_row_and_keeps_the_cursor(
    test_node_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with guest_list(test_node_uri, stats=False) as (_app, pilot, screen):
        table = screen.table
        guest = await select(pilot, table, "monitoring")
        row = table.get_row_index(guest.key)
        await pilot.pause()
        repainted: list[int] = []
        real_refresh_line = table.refresh_line

        def spy(y: int) -> None:
            repainted.append(y)
            real_refresh_line(y)

        monkeypatch.setattr(table, "refresh_line", spy)
        table.update_guest(dataclasses.replace(guest, state=GuestState.PAUSED))
        assert repainted == [row + 1], "only the guest's own line (line 0 is the header)"
        assert "paused" in table.row_text(guest.key)

        # A new guest sorted above the cursor and a removal below it: the cursor follows.
        newcomer = dataclasses.replace(guest, uuid="00000000-0000-0000-0000-000000000001")
        newcomer = dataclasses.replace(newcomer, name="aaa-newcomer")
        table.update_guest(newcomer)
        assert table.shown_names()[0] == "aaa-newcomer"
        assert table.selected_guest is not None and table.selected_guest.name == "monitoring"
        table.remove_guest(newcomer.key)
        table.load_host(
            "test:node", [g for g in table.guests_of("test:node") if g.name != "db-primary"]
        )
        assert table.selected_guest is not None and table.selected_guest.name == "monitoring"
        assert "db-primary" not in table.shown_names()


@run_async
async def test_the_cursor_keeps_the_first_row_until_the_admin_moves_it(
    test_node_uri: str,
) -> None:
    """Hosts connect in any order: a row sorted above the untouched cursor takes the first
    line and the cursor with it (the screen is the same whichever host answered first);
    once the admin has moved the cursor, it follows the guest it is on."""
    async with guest_list(test_node_uri, stats=False) as (_app, pilot, screen):
        table = screen.table
        first = table.selected_guest
        assert first is not None and table.cursor_row == 0
        newcomer = dataclasses.replace(
            first, uuid="00000000-0000-0000-0000-000000000001", name="aaa-newcomer"
        )
        table.update_guest(newcomer)
        assert table.cursor_row == 0
        assert table.selected_guest is not None and table.selected_guest.name == "aaa-newcomer"

        await pilot.press("down")
        chosen = table.selected_guest
        assert chosen is not None and chosen.name == first.name
        earlier = dataclasses.replace(
            first, uuid="00000000-0000-0000-0000-000000000002", name="aa-earlier"
        )
        table.update_guest(earlier)
        assert table.selected_guest is not None and table.selected_guest.name == first.name
        assert table.cursor_row == 2


@run_async
async def test_every_notification_goes_to_the_log_at_its_severity(
    test_node_uri: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A notification leaves the screen after a few seconds; the log keeps it, as typed."""
    with caplog.at_level(logging.INFO, logger="kvmtui"):
        async with guest_list(test_node_uri, stats=False) as (app, _pilot, _screen):
            app.notify(
                "Run a program: not available, the agent is not connected.", severity="warning"
            )
            app.notify("Guest 'web [b]x' started.")
            app.notify("Cannot reach kvm02.", title="Hosts", severity="error")
    said = [
        (r.levelno, r.getMessage()) for r in caplog.records if r.getMessage().startswith("said")
    ]
    assert said == [
        (logging.WARNING, "said: Run a program: not available, the agent is not connected."),
        (logging.INFO, "said: Guest 'web [b]x' started."),
        (logging.ERROR, "said: Hosts: Cannot reach kvm02."),
    ]


def test_memory_and_state_text() -> None:
    assert human_kib(2 * 1024 * 1024) == "2.0 GiB"
    assert human_kib(512 * 1024) == "512 MiB"
    assert memory_text(4 * 1024 * 1024, 8 * 1024 * 1024) == "4.0/8.0 GiB"
    assert memory_text(512 * 1024, 1024 * 1024) == "512 MiB/1.0 GiB"
    assert memory_text(1024 * 1024, 1024 * 1024) == "1.0 GiB"
    assert STATE_STYLES[GuestState.RUNNING] == "green"
    assert STATE_STYLES[GuestState.CRASHED].endswith("red")
    assert STATE_STYLES[GuestState.UNKNOWN] == "dim italic"
    assert set(STATE_STYLES) == set(GuestState)


# -- the guest's own screens: console, agent, limits -----------------------------------


@run_async
async def test_g_and_t_open_the_agent_and_throttle_screens(test_node_uri: str) -> None:
    from kvmtui.screens.agent import AgentScreen
    from kvmtui.screens.throttle import ThrottleScreen

    async with guest_list(test_node_uri, size=(120, 30)) as (app, pilot, screen):
        guest = await select(pilot, screen.table, "web-frontend-1")
        await press_for(pilot, "g", AgentScreen)
        assert isinstance(app.screen, AgentScreen) and app.screen.guest_uuid == guest.uuid
        await press_back(pilot, "escape", screen)
        await press_for(pilot, "t", ThrottleScreen)
        assert isinstance(app.screen, ThrottleScreen) and app.screen.uuid == guest.uuid


@run_async
async def test_console_key_follows_the_guest_state_and_read_only(test_node_uri: str) -> None:
    """c works on a running guest, is greyed on a stopped one and on read-only hosts."""
    from kvmtui.screens.console import ConsoleScreen

    async with guest_list(test_node_uri, size=(120, 30)) as (_app, pilot, screen):
        await select(pilot, screen.table, "build-runner")  # shut off
        assert screen.check_action("console", ()) is None
        assert "not running" in (screen.disabled_reason("console") or "")
        await select(pilot, screen.table, "web-frontend-1")
        assert screen.check_action("console", ()) is True
        await press_for(pilot, "c", ConsoleScreen)

    async with guest_list(test_node_uri, readonly=True, size=(120, 30)) as (ro, pilot, screen):
        await select(pilot, screen.table, "web-frontend-1")
        assert screen.check_action("console", ()) is None
        assert "read-only" in (screen.disabled_reason("console") or "")
        await pilot.press("c")
        await pilot.pause()
        assert ro.screen is screen, "no console opened on a read-only host"


@run_async
async def test_details_screen_opens_the_agent_too(test_node_uri: str) -> None:
    from kvmtui.screens.agent import AgentScreen

    async with guest_list(test_node_uri, size=(120, 30)) as (_app, pilot, screen):
        await select(pilot, screen.table, "db-primary")
        await press_for(pilot, "enter", DetailsScreen)
        await press_for(pilot, "g", AgentScreen)


@run_async
async def test_k_and_s_open_the_ksm_and_storage_screens(test_node_uri: str) -> None:
    from kvmtui.screens.ksm import KsmScreen
    from kvmtui.screens.storage import StorageScreen

    async with guest_list(test_node_uri, size=(120, 30)) as (_app, pilot, screen):
        await press_for(pilot, "K", KsmScreen)
        await press_back(pilot, "escape", screen)
        await press_for(pilot, "S", StorageScreen)


@run_async
async def test_marked_guests_get_the_same_limits_together(test_node_uri: str) -> None:
    """x marks guests (a * before the row); t then opens the editor for all of them."""
    from kvmtui.screens.throttle import ThrottleScreen
    from kvmtui.screens.throttle_many import ThrottleManyScreen

    async with guest_list(test_node_uri, size=(120, 30)) as (app, pilot, screen):
        first = await select(pilot, screen.table, "db-primary")
        await pilot.press("x")  # marks and moves down to db-replica
        second = screen.table.selected_guest
        assert second is not None and second.name == "db-replica"
        await pilot.press("x")
        assert [g.name for g in screen.table.marked_guests()] == ["db-primary", "db-replica"]
        row = screen.table.get_row_index(first.key) + 1 - int(screen.table.scroll_y)
        assert screen.table.render_line(row).text.startswith("*")
        await press_for(pilot, "t", ThrottleManyScreen)
        assert isinstance(app.screen, ThrottleManyScreen)
        assert [uuid for _, uuid in app.screen.targets] == [first.uuid, second.uuid]
        await press_back(pilot, "escape", screen)

        # Unmark one: t is the single-guest editor again.
        await select(pilot, screen.table, "db-replica")
        await pilot.press("x")
        assert [g.name for g in screen.table.marked_guests()] == ["db-primary"]
        await press_for(pilot, "t", ThrottleScreen)

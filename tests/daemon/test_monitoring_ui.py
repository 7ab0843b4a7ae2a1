"""The statistics views driven with the Pilot: replayed ticks on test:///, live ticks
on test:/// for the controls, and a real guest's CPU load through a real libvirtd."""

from __future__ import annotations

import json
import threading

import libvirt
import libvirt_qemu
import pytest
from textual.widgets import Input

from kvmtui.backend.model import GuestState
from kvmtui.screens.delay import DelayScreen
from kvmtui.screens.details import DetailsScreen
from kvmtui.screens.guests import GuestsScreen
from kvmtui.screens.host import HostPanel, HostScreen
from kvmtui.tui.polling import parse_delay
from kvmtui.tui.widgets.guest_stats import GuestDevices, GuestGraphs
from kvmtui.tui.widgets.guest_table import mem_pct
from tests.pilot import build_app, loaded, run_async, select, wait_for
from tests.replay import RECORDED_TICKS, replay

LAST = RECORDED_TICKS - 1


async def replayed(pilot, ticks: int = RECORDED_TICKS) -> GuestsScreen:  # type: ignore[no-untyped-def]
    screen = await loaded(pilot, 13)
    await wait_for(pilot, lambda: screen.table.stats_tick("test:node") == ticks - 1, "replay")
    # The first tick adds the host's summary line above the table: let the layout
    # settle before a test clicks at a position it computed.
    await pilot.pause()
    return screen


def cpu_of(screen: GuestsScreen, name: str) -> float | None:
    guest = next(g for g in screen.table.all_guests() if g.name == name)
    rates = screen.table.rates(guest.key)
    return rates.cpu_pct if rates is not None else None


# -- sorting and columns -------------------------------------------------------------


@run_async
async def test_sort_keys_reorder_rows(test_node_uri: str) -> None:
    app = build_app(test_node_uri, stats=replay())
    async with app.run_test(size=(140, 30)) as pilot:
        screen = await replayed(pilot)
        table = screen.table
        by_name = table.shown_names()
        assert by_name == sorted(by_name, key=str.casefold)

        await pilot.press("P")
        cpus = [cpu_of(screen, n) for n in table.shown_names()]
        known = [c for c in cpus if c is not None]
        assert known == sorted(known, reverse=True) and len(known) == 10
        assert cpus[len(known) :] == [None] * 3, "unknown %CPU sorts last"
        assert table.shown_names()[0] == "win-desktop"

        await pilot.press("T")
        times = []
        for key in table.ordered_keys():
            rates = table.rates(key)
            times.append(rates.cpu_time_s if rates is not None else None)
        known_times = [t for t in times if t is not None]
        assert known_times == sorted(known_times, reverse=True)

        await pilot.press("M")
        assert table.sort_column == "mem" and table.sort_descending
        mems = [
            mem_pct(g, table.rates(g.key))
            for g in (table.guest(k) for k in table.ordered_keys())
            if g is not None
        ]
        known_mems = [m for m in mems if m is not None]
        assert known_mems == sorted(known_mems, reverse=True)

        await pilot.press("N")
        assert table.shown_names() == by_name


@run_async
async def test_clicking_a_header_sorts_and_again_reverses(test_node_uri: str) -> None:
    app = build_app(test_node_uri, stats=replay())
    async with app.run_test(size=(140, 30)) as pilot:
        screen = await replayed(pilot)
        table = screen.table
        titles = table.column_titles()
        assert "%CPU" in titles
        # The header is the table's first line; find the %CPU title's column.
        header = "".join(s.text for s in table.render_line(0))
        x = header.index("%CPU")
        await pilot.click(table, offset=(x + 1, 0))
        assert table.sort_column == "cpu" and table.sort_descending
        first = table.shown_names()[0]
        await pilot.click(table, offset=(x + 1, 0))
        assert table.sort_column == "cpu" and not table.sort_descending
        assert table.shown_names()[0] != first


@run_async
async def test_b_toggles_the_disk_column_titles(test_node_uri: str) -> None:
    app = build_app(test_node_uri, stats=replay(13))
    async with app.run_test(size=(140, 30)) as pilot:
        screen = await replayed(pilot, 13)
        table = screen.table
        assert {"RDBY/s", "WRBY/s"} <= set(table.column_titles())
        busiest = next(g for g in table.all_guests() if g.name == "win-desktop")
        assert "MiB" in str(table.get_cell(busiest.key, "disk_rd"))
        await pilot.press("B")
        assert {"RDRQ/s", "WRRQ/s"} <= set(table.column_titles())
        assert not {"RDBY/s", "WRBY/s"} & set(table.column_titles())
        assert "MiB" not in str(table.get_cell(busiest.key, "disk_rd"))
        await pilot.press("B")
        assert {"RDBY/s", "WRBY/s"} <= set(table.column_titles())


@run_async
async def test_80_columns_keep_the_essential_columns(test_node_uri: str) -> None:
    app = build_app(test_node_uri, stats=replay())
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await replayed(pilot)
        titles = screen.table.column_titles()
        assert titles[:4] == ["Name▲"[:4], "State", "%CPU", "%MEM"]
        assert {"RDBY/s", "WRBY/s", "RXBY/s", "TXBY/s"} <= set(titles)
        for key in screen.table.ordered_keys():
            row = screen.table.row_text(key)
            assert len(row) <= 80
            guest = screen.table.guest(key)
            assert guest is not None and guest.name in row, "names are not cut at 80x24"


# -- controls ------------------------------------------------------------------------


def test_parse_delay() -> None:
    assert parse_delay(" 2.5 ") == 2.5
    for bad in ("abc", "0", "-1", "0.05", "nan", "inf", ""):
        with pytest.raises(ValueError):
            parse_delay(bad)


@run_async
async def test_delay_input_validates_and_applies(test_node_uri: str) -> None:
    app = build_app(test_node_uri, stats=replay())
    async with app.run_test(size=(100, 30)) as pilot:
        await replayed(pilot)
        assert app.pollers is not None
        poller = app.pollers._pollers["test:node"]
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, DelayScreen), "the question")
        dialog = app.screen
        assert isinstance(dialog, DelayScreen)
        for bad in ("abc", "0.01", "-3"):
            dialog.query_one(Input).value = ""
            await pilot.press(*bad, "enter")
            await pilot.pause()
            assert app.screen is dialog, f"{bad!r} keeps the question open"
            assert "Nothing was changed" in dialog.error_text
            assert app.pollers.interval == 3.0 and poller.interval == 3.0
        dialog.query_one(Input).value = ""
        await pilot.press(*"1.5", "enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, DelayScreen), "to close")
        assert app.pollers.interval == 1.5 and poller.interval == 1.5

        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, DelayScreen), "the question")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, DelayScreen), "to close")
        assert app.pollers.interval == 1.5


@run_async
async def test_space_pauses_and_resumes_live_polling(test_node_uri: str) -> None:
    app = build_app(test_node_uri, delay=0.2)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await loaded(pilot, 13)
        table = screen.table
        await wait_for(pilot, lambda: (table.stats_tick("test:node") or 0) >= 2, "live ticks")
        await pilot.press("space")
        assert app.pollers is not None and app.pollers.paused
        line = screen.status_bar.line("test:node")
        assert line is not None and line.paused
        await pilot.pause(0.3)  # a poll under way when paused may still land
        paused_at = table.stats_tick("test:node")
        await pilot.pause(1.0)  # five intervals: a running poller would tick meanwhile
        assert table.stats_tick("test:node") == paused_at, "no ticks while paused"
        await pilot.press("space")
        await wait_for(
            pilot, lambda: (table.stats_tick("test:node") or 0) > (paused_at or 0), "resumed"
        )
        assert not app.pollers.paused


@run_async
async def test_pollers_stop_when_the_app_exits(test_node_uri: str) -> None:
    before = set(threading.enumerate())
    app = build_app(test_node_uri, delay=0.2)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await loaded(pilot, 13)
        await wait_for(pilot, lambda: screen.table.stats_tick("test:node") is not None, "tick")
        pollers = [t for t in threading.enumerate() if t.name.startswith("stats:")]
        assert [t.name for t in pollers if t not in before] == ["stats:test:node"]
    assert not any(t.is_alive() for t in pollers)


@run_async
async def test_no_stats_means_no_pollers(test_node_uri: str) -> None:
    app = build_app(test_node_uri, stats=False)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await loaded(pilot, 13)
        assert app.pollers is None
        assert screen.table.stats_tick("test:node") is None
        await pilot.press("space")  # says so, changes nothing
        assert app.pollers is None


# -- details and host screens --------------------------------------------------------


@run_async
async def test_details_show_graphs_and_device_rates(test_node_uri: str) -> None:
    app = build_app(test_node_uri, stats=replay(13))
    async with app.run_test(size=(110, 40)) as pilot:
        screen = await replayed(pilot, 13)
        await select(pilot, screen.table, "db-primary")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailsScreen), "details")
        details = app.screen
        graphs = details.query_one(GuestGraphs)
        await wait_for(pilot, lambda: graphs.ticks == 13, "the graphs")
        cpu = graphs.series("cpu_pct")
        assert len(cpu) == 13 and cpu[0] is None, "the first tick has no rate"
        assert all(v is not None for v in cpu[1:])
        assert max(v for v in cpu if v is not None) > 20
        reads = [v for v in graphs.series("disk_rd_bps") if v]
        assert reads, "the dd read shows in the disk read graph"
        devices = details.query_one(GuestDevices)
        await wait_for(pilot, lambda: devices.domain_layout is not None, "the domain XML")
        assert [d.name for d in devices.disks] == ["vda"]
        assert devices.disks[0].in_bps and devices.disks[0].in_bps > 0
        assert devices.domain_layout is not None and devices.domain_layout.os_type == "hvm"


@run_async
async def test_host_screen_shows_overcommit_and_history(test_node_uri: str) -> None:
    app = build_app(test_node_uri, stats=replay())
    async with app.run_test(size=(110, 30)) as pilot:
        await replayed(pilot)
        await pilot.press("H")
        await wait_for(pilot, lambda: isinstance(app.screen, HostScreen), "host screen")
        panel = app.screen.query_one(HostPanel)
        assert panel.figures is not None and panel.figures.overcommit is not None
        over = panel.figures.overcommit
        assert (over.host_cpus, over.defined_guests, over.running_guests) == (8, 13, 10)
        assert over.defined_vcpus == 28
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, GuestsScreen), "back")


# -- visible-first polling -----------------------------------------------------------


@run_async
async def test_the_list_tells_the_poller_which_guests_are_on_screen(test_node_uri: str) -> None:
    app = build_app(test_node_uri, delay=0.2)
    async with app.run_test(size=(100, 12)) as pilot:
        screen = await loaded(pilot, 13)
        table = screen.table
        assert app.pollers is not None
        poller = app.pollers._pollers["test:node"]
        shown = poller.visible  # type: ignore[attr-defined]

        def on_screen() -> set[str]:
            return {k.rpartition("/")[2] for k in table.visible_keys()}

        await wait_for(pilot, lambda: shown.wanted() == on_screen(), "the first rows")
        first = on_screen()
        assert 0 < len(first) < 13, "a short terminal shows only some guests"
        await wait_for(pilot, lambda: table.max_scroll_y > 0, "the table laid out")
        await pilot.press("end")
        last_guest = table.selected_guest
        assert last_guest is not None
        await wait_for(
            pilot,
            lambda: shown.wanted() == on_screen() != first and last_guest.uuid in on_screen(),
            "the last rows",
        )

        await pilot.press("home")
        top_guest = table.selected_guest
        assert top_guest is not None
        await wait_for(
            pilot,
            lambda: shown.wanted() == on_screen() and last_guest.uuid not in on_screen(),
            "back at the top",
        )
        await pilot.press("end", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailsScreen), "details")
        assert last_guest.uuid in shown.wanted(), "the details guest is read every tick"
        table.action_first()  # the list scrolls away under the details screen
        await wait_for(
            pilot,
            lambda: (
                top_guest.uuid in on_screen() and shown.wanted() == on_screen() | {last_guest.uuid}
            ),
            "pinned",
        )
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, GuestsScreen), "back")
        await wait_for(
            pilot,
            lambda: shown.wanted() == on_screen() and last_guest.uuid not in shown.wanted(),
            "the pin is gone",
        )


# -- a real guest --------------------------------------------------------------------


@pytest.mark.daemon
@run_async
async def test_cpu_load_in_a_real_guest_shows_within_three_ticks(
    daemon_uri: str, booted_guest: libvirt.virDomain
) -> None:
    dom = booted_guest
    app = build_app(daemon_uri, delay=1.0)
    async with app.run_test(size=(140, 30)) as pilot:
        screen = await loaded(pilot)
        await wait_for(pilot, lambda: screen.table.stats_tick(app.hosts[0].label), "a tick", 20)
        guest = next(g for g in screen.table.all_guests() if g.name == dom.name())
        assert guest.state is GuestState.RUNNING
        request = {
            "execute": "guest-exec",
            "arguments": {"path": "/bin/sh", "arg": ["-c", "while :; do :; done"]},
        }
        libvirt_qemu.qemuAgentCommand(dom, json.dumps(request), 10, 0)
        start_tick = screen.table.stats_tick(guest.host) or 0

        seen: list[float | None] = []

        def busy() -> bool:
            rates = screen.table.rates(guest.key)
            cpu = rates.cpu_pct if rates is not None else None
            if not seen or seen[-1] != cpu:
                seen.append(cpu)
            return cpu is not None and cpu > 50

        try:
            await wait_for(pilot, busy, "%CPU above 50", 20)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; %CPU seen: {seen}") from None
        ticks = (screen.table.stats_tick(guest.host) or 0) - start_tick
        assert ticks <= 3, f"took {ticks} ticks"
        assert float(str(screen.table.get_cell(guest.key, "cpu"))) > 50


@run_async
async def test_sorting_by_a_figure_reads_every_guest_at_once(test_node_uri: str) -> None:
    app = build_app(test_node_uri, stats=replay())
    async with app.run_test(size=(140, 30)) as pilot:
        screen = await replayed(pilot)
        asked: list[str] = []
        assert app.pollers is not None
        app.pollers.read_all_now = lambda: asked.append(screen.table.sort_column)  # type: ignore[method-assign]
        await pilot.press("N")
        await pilot.pause()
        assert asked == [], "a sort by name needs no fresh figures"
        await pilot.press("P")
        await pilot.pause()
        assert asked == ["cpu"]
        await pilot.press("T")
        await pilot.pause()
        assert asked == ["cpu", "time"]

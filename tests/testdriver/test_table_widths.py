"""Tables that show names from users and guests keep every line the width of the widget,
whatever the name and whatever the terminal's size (issue 17).

A name may hold anything libvirt accepts: wide (CJK, emoji), combining, zero-width and
ambiguous-width characters, tabs, carriage returns, DEL, C1 controls, bidirectional
overrides, up to hundreds of characters. Each line handed to the compositor is checked
as the terminal gets it: its text, joined, is exactly as many cells wide as the widget
(Rich's ``cell_len``, as Textual measures), and holds no character the terminal would
act on instead of drawing.

The properties run on the widgets themselves (quick) and on the whole app over
libvirt's test:/// driver with node files written per example (fewer).
"""

from __future__ import annotations

import asyncio
import tempfile
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from xml.sax.saxutils import escape

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.cells import cell_len
from textual.app import App, ComposeResult
from textual.containers import VerticalScroll
from textual.geometry import Region
from textual.pilot import Pilot
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Static

from conftest import node_uri
from kvmtui.backend.agent_info import (
    AgentCapabilities,
    AgentPanel,
    ExecResult,
    Filesystem,
    GuestClock,
    GuestDisk,
    GuestInterface,
    GuestUser,
    IpAddress,
    OsInfo,
    TrimResult,
    VcpuInfo,
)
from kvmtui.backend.agent_runs import ProgramRun, RunOutput
from kvmtui.backend.clip import clip_tail
from kvmtui.backend.ksm import GuestKsm, KsmCounters, KsmHistory, KsmLocal, KsmReading, Permission
from kvmtui.backend.model import ConnectionState, Guest, GuestState, HostStatus
from kvmtui.backend.overcommit import Thresholds
from kvmtui.backend.stats import GuestRates
from kvmtui.backend.storage import Pool, PoolState, Volume, VolumeUser
from kvmtui.screens.host import HostPanel
from kvmtui.tui.app import KvmtuiApp, make_app
from kvmtui.tui.widgets.agent_output import AgentOutput, run_head, run_lines, trim_body
from kvmtui.tui.widgets.agent_panel import section_widgets
from kvmtui.tui.widgets.guest_table import GuestTable
from kvmtui.tui.widgets.host_status import HostStatusBar
from kvmtui.tui.widgets.ksm_panel import TOP_GUESTS, KsmPanel
from kvmtui.tui.widgets.storage_tables import PoolTable, VolumeTable, thin_text
from tests.pilot import loaded, run_async, wait_for

AWKWARD_NODE = Path(__file__).parents[1] / "data" / "awkward_names_node.xml"
#: The resizes of issue 17, in its order.
ISSUE_SIZES = ((40, 10), (200, 60), (20, 5), (100, 20), (60, 15), (30, 8), (120, 30))

# -- what a drawn line must be -----------------------------------------------------------

#: Characters a terminal acts on rather than draws: C0/C1 controls, DEL (category Cc),
#: line and paragraph separators, bidirectional marks, embeddings, overrides, isolates.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def acted_on(text: str) -> list[str]:
    return [
        f"U+{ord(ch):04X}"
        for ch in text
        if unicodedata.category(ch) in ("Cc", "Zl", "Zp") or ch in _BIDI
    ]


def line_problems(strips: Iterable[Strip], width: int, where: str) -> list[str]:
    """What is wrong with lines that should each fill ``width`` cells."""
    problems = []
    for y, strip in enumerate(strips):
        text = "".join(segment.text for segment in strip)
        cells = cell_len(text)
        if cells != width:
            problems.append(f"{where}, line {y}: {cells} cells, not {width}: {text!r}")
        if bad := acted_on(text):
            problems.append(f"{where}, line {y}: {', '.join(bad)} reach the terminal: {text!r}")
    return problems


def watch_lines(widget: Widget, problems: list[str], content_width: Callable[[], int]) -> None:
    """Check every line the compositor gets from ``widget`` from now on, as it gets it:
    the lines drawn before the widget has handled a resize count too."""
    draw = widget.render_lines

    def render_lines(crop: Region) -> list[Strip]:
        strips = draw(crop)
        width = min(crop.right, content_width()) - crop.x
        problems.extend(line_problems(strips, width, f"{widget.size} crop {tuple(crop)}"))
        return strips

    widget.render_lines = render_lines  # type: ignore[method-assign]


def screen_problems(app: App[None], where: str) -> list[str]:
    """The screen as the terminal gets it: every line as wide as the terminal."""
    strips = app.screen._compositor.render_strips()
    return line_problems(strips, app.size.width, f"screen {tuple(app.size)} {where}")


# -- names libvirt accepts ---------------------------------------------------------------

#: Characters tables find awkward, so that examples hold them often: wide, emoji (with
#: joiners, a flag, a variation selector), combining, zero-width, ambiguous-width,
#: fullwidth and halfwidth forms, a Hangul filler Rich counts as no cell, and what a
#: terminal acts on (tab, CR, DEL, C1 CSI and NEL, line separator, right-to-left override).
AWKWARD = (
    "中", "東京", "👩\u200d👩\u200d👧", "🇫🇷", "❤\ufe0f", "\U0001f680", "e\u0301", "\u0301",
    "\u200b", "\u200d", "\ufeff", "\u00ad", "…", "☃", "\u00a0", "\uff21", "\uff71", "\u1160",
    "\u3000", "\t", "\r", "\x7f", "\x9b", "\x85", "\u2028", "\u202e", "\u2066", "'", "&", "<",
)  # fmt: skip


def libvirt_name_chars() -> st.SearchStrategy[str]:
    """One character libvirt takes in a domain name: anything XML 1.0 carries (no C0
    control but tab and CR, no surrogate, not U+FFFE or U+FFFF) but ``/`` and newline,
    which libvirt refuses ("cannot contain '/'", "invalid char in name")."""
    return st.characters(
        exclude_categories=("Cs",),
        exclude_characters="/\n\ufffe\uffff"
        + "".join(chr(c) for c in range(0x20) if chr(c) not in "\t\r"),
    )


#: Names of 1 to 200 characters, as libvirt accepts them (the full-app examples define
#: each one on the test driver, which would refuse a bad one).
guest_names = st.lists(
    st.one_of(st.sampled_from(AWKWARD), libvirt_name_chars()), min_size=1, max_size=80
).map(lambda parts: "".join(parts)[:200])
#: Longer names, past any column.
long_names = st.text(libvirt_name_chars(), min_size=150, max_size=200)
any_name = st.one_of(guest_names, guest_names, long_names)
#: Terminal sizes from 10x3 to 300x100.
sizes = st.tuples(st.integers(10, 300), st.integers(3, 100))

PROPERTY = settings(
    deadline=None,
    derandomize=True,  # the same examples on every run: CI stays stable
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# -- the guest table ---------------------------------------------------------------------


def guest(host: str, index: int, name: str, state: GuestState = GuestState.RUNNING) -> Guest:
    return Guest(
        host=host, uuid=f"00000000-0000-4000-8000-{index:012d}", name=name, state=state,
        reason="", vcpus=2, memory_kib=1048576, max_memory_kib=2097152,
        autostart=index % 2 == 0, persistent=True, domain_id=index + 1,
    )  # fmt: skip


def figures(g: Guest, tick: int) -> GuestRates:
    """Figures that differ every tick: each tick builds the visible rows again."""
    return GuestRates(
        host=g.host, uuid=g.uuid, name=g.name, state=g.state, domain_id=g.domain_id,
        vcpus=g.vcpus, cpu_time_s=12.5 + tick, cpu_pct=(7.5 * tick) % 100,
        mem_used_kib=524288, mem_current_kib=g.memory_kib, disk_rd_bps=1024.0 * tick,
        disk_wr_bps=3e8, net_rx_bps=None, net_tx_bps=12.0,
    )  # fmt: skip


class TableApp(App[None]):
    """The guest table alone on a screen."""

    CSS = "GuestTable { height: 1fr; }"

    def compose(self) -> ComposeResult:
        yield GuestTable(id="guests")


async def resize_through(
    pilot: Pilot[None],
    table: GuestTable,
    hosts: dict[str, list[Guest]],
    sizes: Sequence[tuple[int, int]],
) -> None:
    """Resize the terminal through ``sizes``, a statistics tick after each resize (the
    tick builds the visible rows at that width, as the live list does)."""
    for tick, size in enumerate(sizes):
        await pilot.resize_terminal(*size)
        for host, guests in hosts.items():
            table.update_stats(host, tick, [figures(g, tick) for g in guests], None)
        await pilot.pause()


async def table_problems(
    hosts: dict[str, list[Guest]],
    terminal_sizes: Sequence[tuple[int, int]],
    *,
    cursor: int = 0,
    marked: int | None = None,
    sort: str | None = None,
) -> list[str]:
    app = TableApp()
    problems: list[str] = []
    async with app.run_test(size=terminal_sizes[0]) as pilot:
        table = app.query_one(GuestTable)
        watch_lines(table, problems, lambda: table.scrollable_content_region.width)
        for host, guests in hosts.items():
            table.load_host(host, guests)
        keys = table.ordered_keys()
        table.move_cursor(row=cursor % len(keys))
        if marked is not None:
            table.toggle_mark(keys[marked % len(keys)])
        if sort is not None:
            table.sort_by(sort)
        await resize_through(pilot, table, hosts, terminal_sizes)
        width = table.scrollable_content_region.width
        problems += line_problems(
            [table.render_line(y) for y in range(table.size.height)], width, "render_line"
        )
        problems += line_problems(
            table.direct_lines(range(table.size.height)), width, "direct_lines"
        )
        problems += [
            f"row_text of {key}: {cell_len(text)} cells, not {width}"
            for key in table.ordered_keys()
            if cell_len(text := table.row_text(key)) != width
        ]
        problems += screen_problems(app, "at the end")
    return problems


def test_issue_17_names_and_resizes_keep_the_table_whole() -> None:
    """The names and resizes of the report, with figures arriving between resizes: it
    raised ``zip() argument 2 is shorter than argument 1`` in ``_build`` (rows and the
    cursor's row built at the previous width, drawn with the new width's columns)."""
    names = ["tést guest ☃ 'quote&amp", "n" * 180, "plain"]
    hosts = {"localhost": [guest("localhost", i, n) for i, n in enumerate(names)]}

    async def check() -> None:
        assert await table_problems(hosts, [(100, 20), *ISSUE_SIZES, *ISSUE_SIZES]) == []

    asyncio.run(check())


@settings(PROPERTY, max_examples=60)
@given(
    names=st.lists(any_name, min_size=1, max_size=6),
    labels=st.lists(guest_names.map(lambda n: n[:40]), min_size=1, max_size=2, unique=True),
    terminal_sizes=st.lists(sizes, min_size=1, max_size=6),
    cursor=st.integers(0, 5),
    marked=st.none() | st.integers(0, 5),
    sort=st.sampled_from([None, "name", "cpu", "host"]),
)
def test_guest_rows_fill_the_table_for_any_name_at_any_size(
    names: list[str],
    labels: list[str],
    terminal_sizes: list[tuple[int, int]],
    cursor: int,
    marked: int | None,
    sort: str | None,
) -> None:
    hosts: dict[str, list[Guest]] = {label: [] for label in labels}
    for index, name in enumerate(names):
        label = labels[index % len(labels)]
        hosts[label].append(guest(label, index, name))

    async def check() -> None:
        problems = await table_problems(
            hosts, terminal_sizes, cursor=cursor, marked=marked, sort=sort
        )
        assert problems == []

    asyncio.run(check())


# -- the whole app on the test driver ----------------------------------------------------


def build(uri: str) -> KvmtuiApp:
    app = make_app([uri], retry_delays=(3600.0,), delay=0.1)
    app.animation_level = "none"
    return app


async def resize_with_ticks(
    pilot: Pilot[None], app: KvmtuiApp, sizes: Iterable[tuple[int, int]]
) -> None:
    """Resize, then wait for the next statistics tick of the live poller at each size."""
    table = app.screen.query_one(GuestTable)
    label = app.hosts[0].label
    for size in sizes:
        await pilot.resize_terminal(*size)
        before = table.stats_tick(label)
        await wait_for(
            pilot, lambda before=before: table.stats_tick(label) != before, "a statistics tick"
        )


@run_async
async def test_the_app_survives_the_resizes_of_issue_17() -> None:
    """The report's way: the app on guests with awkward names (tests/data/
    awkward_names_node.xml), running ones with figures, the terminal resized through
    40x10, 200x60, 20x5, 100x20, 60x15, 30x8 and 120x30, twice."""
    app = build(node_uri(AWKWARD_NODE))
    problems: list[str] = []
    async with app.run_test(size=(100, 20)) as pilot:
        screen = await loaded(pilot, 7)
        table = screen.table
        await wait_for(pilot, lambda: table.stats_tick(app.hosts[0].label) is not None, "ticks")
        watch_lines(table, problems, lambda: table.scrollable_content_region.width)
        await resize_with_ticks(pilot, app, ISSUE_SIZES * 2)
        await pilot.pause()
        problems += screen_problems(app, "after the resizes")
    assert problems == []


def node_file(directory: Path, names: Sequence[str]) -> Path:
    """A test:/// node with one guest per name, every other one running."""
    domains = "".join(
        f'<domain type="test"><name>{escape(name).replace(chr(13), "&#13;")}</name>'
        f"<uuid>00000000-0000-4000-8000-{index:012d}</uuid>"
        '<memory unit="KiB">1048576</memory><vcpu>1</vcpu><os><type>hvm</type></os>'
        f"<test:runstate>{1 if index % 2 == 0 else 5}</test:runstate></domain>"
        for index, name in enumerate(names)
    )
    path = directory / "node.xml"
    path.write_text(
        '<?xml version="1.0"?><node xmlns:test="http://libvirt.org/schemas/domain/test/1.0">'
        "<cpu><mhz>2400</mhz><nodes>1</nodes><sockets>1</sockets><cores>4</cores>"
        f"<threads>2</threads></cpu><memory>33554432</memory>{domains}</node>",
        encoding="utf-8",
    )
    return path


@settings(PROPERTY, max_examples=8)
@given(
    names=st.lists(any_name, min_size=1, max_size=4, unique=True),
    terminal_sizes=st.lists(sizes, min_size=2, max_size=4),
)
def test_the_app_keeps_its_lines_whole_for_any_name_at_any_size(
    names: list[str], terminal_sizes: list[tuple[int, int]]
) -> None:
    """The real app over libvirt's test driver: each name goes through libvirt (which
    would refuse one it does not accept), the list is resized with live ticks between."""

    async def check(directory: Path) -> None:
        app = build(node_uri(node_file(directory, names)))
        problems: list[str] = []
        async with app.run_test(size=terminal_sizes[0]) as pilot:
            screen = await loaded(pilot, len(names))
            assert sorted(g.name for g in screen.table.all_guests()) == sorted(names)
            table = screen.table
            watch_lines(table, problems, lambda: table.scrollable_content_region.width)
            await resize_with_ticks(pilot, app, terminal_sizes[1:])
            await pilot.pause()
            problems += screen_problems(app, "after the resizes")
        assert problems == []

    with tempfile.TemporaryDirectory() as directory:
        asyncio.run(check(Path(directory)))


# -- the other tables of names -----------------------------------------------------------


class WidgetsApp(App[None]):
    """Widgets alone on a scrolling screen; ``fill`` gives them their data once mounted."""

    def __init__(self, widgets: Callable[[], list[Widget]], fill: Callable[[App[None]], None]):
        super().__init__()
        self._widgets = widgets
        self._fill = fill

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield from self._widgets()

    def on_mount(self) -> None:
        self._fill(self)


async def widgets_problems(
    widgets: Callable[[], list[Widget]],
    fill: Callable[[App[None]], None],
    terminal_sizes: Sequence[tuple[int, int]],
) -> list[str]:
    """Every screen line at every size, the widgets filled with ``fill``."""
    app = WidgetsApp(widgets, fill)
    problems: list[str] = []
    async with app.run_test(size=terminal_sizes[0]) as pilot:
        await pilot.pause()
        problems += screen_problems(app, "first")
        for size in terminal_sizes[1:]:
            await pilot.resize_terminal(*size)
            await pilot.pause()
            problems += screen_problems(app, f"after a resize to {size}")
    return problems


#: Text from guests and users besides names: words, paths, markup-like brackets.
guest_text = st.one_of(guest_names, st.sampled_from(["[b]x[/b]", "[/x]", "a[/]b", "[@click=q]"]))
short_text = guest_text.map(lambda t: t[:60])
sizes_to_visit = st.lists(sizes, min_size=1, max_size=4)


@settings(PROPERTY, max_examples=25)
@given(
    pools=st.lists(st.tuples(short_text, guest_text, st.one_of(st.none(), guest_text)),
                   min_size=1, max_size=3),
    volumes=st.lists(st.tuples(guest_text, guest_text, st.lists(guest_names, max_size=3)),
                     min_size=1, max_size=4),
    terminal_sizes=sizes_to_visit,
)  # fmt: skip
def test_storage_tables_fit_any_pool_and_volume_name(
    pools: list[tuple[str, str, str | None]],
    volumes: list[tuple[str, str, list[str]]],
    terminal_sizes: list[tuple[int, int]],
) -> None:
    made = [
        Volume(pool="p", name=name, path=path, format="qcow2", capacity_bytes=10 << 30,
               allocation_bytes=1 << 30, users=tuple(VolumeUser(u, i % 2 == 0)
                                                      for i, u in enumerate(users)))
        for name, path, users in volumes
    ]  # fmt: skip
    made_pools = [
        Pool(host=host, name=name, uuid=f"u{i}", type="dir", state=PoolState.RUNNING,
             autostart=True, persistent=True, capacity_bytes=100 << 30,
             allocation_bytes=10 << 30, available_bytes=90 << 30, path=path,
             volumes=tuple(made))
        for i, (host, name, path) in enumerate(pools)
    ]  # fmt: skip

    def fill(app: App[None]) -> None:
        app.query_one(PoolTable).show(made_pools)
        app.query_one(VolumeTable).show(made)
        app.query_one("#thin", Static).update(thin_text(made_pools[0]))

    def widgets() -> list[Widget]:
        return [PoolTable(id="pools"), VolumeTable(id="volumes"), Static(id="thin")]

    assert asyncio.run(widgets_problems(widgets, fill, terminal_sizes)) == []


#: Program output as a guest writes it: lines of anything, escape sequences included.
program_output = st.lists(
    st.one_of(guest_text, st.sampled_from(["\x1b[31mred\x1b[0m", "\x1b]0;title\x07", "50%\r60%"])),
    max_size=6,
).map("\n".join)


@settings(PROPERTY, max_examples=25)
@given(
    users=st.lists(st.tuples(short_text, st.one_of(st.none(), short_text)), max_size=3),
    filesystems=st.lists(st.tuples(guest_text, short_text, short_text), max_size=3),
    disks=st.lists(st.tuples(short_text, short_text), max_size=2),
    nics=st.lists(st.tuples(short_text, short_text), max_size=2),
    hostname=short_text,
    argv=st.lists(short_text, min_size=1, max_size=3),
    stdout=program_output,
    stderr=program_output,
    terminal_sizes=sizes_to_visit,
)
def test_agent_panel_fits_anything_the_guest_says(
    users: list[tuple[str, str | None]],
    filesystems: list[tuple[str, str, str]],
    disks: list[tuple[str, str]],
    nics: list[tuple[str, str]],
    hostname: str,
    argv: list[str],
    stdout: str,
    stderr: str,
    terminal_sizes: list[tuple[int, int]],
) -> None:
    panel = AgentPanel(
        capabilities=AgentCapabilities("8.0", (("guest-ping", True), (argv[0], False))),
        frozen=False,
        os=OsInfo(hostname, hostname, argv[0], None, hostname, hostname, argv[-1]),
        hostname=hostname,
        clock=GuestClock(1_700_000_000.0, 1_700_000_000.5, hostname, 3600),
        users=tuple(GuestUser(name, domain, 1_700_000_000.0) for name, domain in users),
        vcpus=VcpuInfo((0, 1), (0,), (1,)),
        filesystems=tuple(
            Filesystem(mount, device, fstype, 1 << 30, 4 << 30, (device,))
            for mount, device, fstype in filesystems
        ),
        disks=tuple(GuestDisk(name, False, alias, alias, (name,)) for name, alias in disks),
        interfaces=tuple(
            GuestInterface(name, mac, (IpAddress("ipv4", mac, 24),)) for name, mac in nics
        ),
    )
    result = ExecResult(
        tuple(argv), 42, True, 1, None, stdout.encode(), stderr.encode(), False, 0.5, 10.0
    )
    run = ProgramRun("uuid", tuple(argv), 10.0)
    run.output = RunOutput(result, clip_tail(result.out), clip_tail(result.err))
    run.done.set()
    trims = tuple(TrimResult(mount, None, device) for mount, device, _ in filesystems)

    def widgets() -> list[Widget]:
        return [*section_widgets(panel, "-"), AgentOutput(id="exec"), AgentOutput(id="trim")]

    def fill(app: App[None]) -> None:
        exec_box = app.query_one("#exec", AgentOutput)
        exec_box.show_lines(" ".join(argv), run_head(run), run_lines(run), ok=False)
        app.query_one("#trim", AgentOutput).show("fstrim", trim_body(trims))

    assert asyncio.run(widgets_problems(widgets, fill, terminal_sizes)) == []


@settings(PROPERTY, max_examples=25)
@given(
    label=short_text,
    names=st.lists(any_name, min_size=1, max_size=TOP_GUESTS + 2),
    error=st.one_of(st.none(), guest_text),
    terminal_sizes=sizes_to_visit,
)
def test_ksm_guest_rows_fit_any_guest_name(
    label: str, names: list[str], error: str | None, terminal_sizes: list[tuple[int, int]]
) -> None:
    guests = tuple(
        GuestKsm(name, 1000 + i, 4096 * (i + 1), i, 1 << 20) for i, name in enumerate(names)
    )
    reading = KsmReading(label, 1_700_000_000.0, KsmCounters(pages_shared=10, pages_sharing=40),
                         KsmLocal(1, 1 << 20, 5, "none"), guests)  # fmt: skip
    history = KsmHistory()
    history.append(reading)

    def fill(app: App[None]) -> None:
        app.query_one(KsmPanel).show(
            reading=reading, error=error, history=history, density=None,
            thresholds=Thresholds(), tuning=Permission(True), run=Permission(False, error),
            selected=True,
        )  # fmt: skip

    assert asyncio.run(widgets_problems(lambda: [KsmPanel(label)], fill, terminal_sizes)) == []


@settings(PROPERTY, max_examples=25)
@given(
    labels=st.lists(short_text, min_size=1, max_size=3, unique=True),
    error=guest_text,
    version=short_text,
    terminal_sizes=sizes_to_visit,
)
def test_host_lines_fit_any_host_label(
    labels: list[str], error: str, version: str, terminal_sizes: list[tuple[int, int]]
) -> None:
    statuses = [
        HostStatus(label, f"qemu+ssh://{label}/system", index == 1, state,
                   since=1_700_000_000.0, error=error, libvirt_version=version,
                   hypervisor=version)
        for index, (label, state) in enumerate(
            zip(labels, [ConnectionState.CONNECTED, ConnectionState.DISCONNECTED,
                         ConnectionState.CONNECTING], strict=False))
    ]  # fmt: skip

    def widgets() -> list[Widget]:
        return [HostStatusBar(statuses, id="bar"), *(HostPanel(label) for label in labels)]

    def fill(app: App[None]) -> None:
        bar = app.query_one(HostStatusBar)
        for status in statuses:
            bar.set_counts(status.label, 1, 3)
            bar.set_figures(status.label, None, error)
        for panel in app.query(HostPanel):
            panel.show(None, None)

    assert asyncio.run(widgets_problems(widgets, fill, terminal_sizes)) == []

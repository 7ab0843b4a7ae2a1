"""The display backend on libvirt's test:/// driver and on the recorded frame
(tests/data/display-frame.ppm, a real 720x400 screenshot of the tiny guest's VGA console):
what has a display, scaling, half-block cells, the refresh policy, screenshots over a
stream, read-only refusals and saving."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from rich.color import ColorSystem, ColorType

from kvmtui.backend import display
from kvmtui.backend.display import (
    NO_DISPLAY,
    RefreshPolicy,
    ScreenSource,
    display_reason,
    fit_cells,
    half_block_rows,
    save_png,
    scale,
)
from kvmtui.backend.errors import KvmtuiError, ReadOnlyError
from kvmtui.tui.widgets.screen_image import UPPER_HALF, cell_style, row_segments
from tests.hosts import started_host

FRAME = Path(__file__).parents[1] / "data" / "display-frame.ppm"
TEST_URI = "test:///default"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def recorded_frame() -> Image.Image:
    with Image.open(FRAME) as image:
        return image.convert("RGB")


def domain(devices: str) -> str:
    return f"<domain type='kvm'><name>g</name><devices>{devices}</devices></domain>"


def test_what_counts_as_a_display() -> None:
    assert display_reason(domain("<video><model type='vga'/></video>")) is None
    assert display_reason(domain("<video><model type='virtio'/></video>")) is None
    assert display_reason(domain("<graphics type='vnc'/>")) is None
    assert display_reason(domain("<video><model type='none'/></video>")) == NO_DISPLAY
    assert display_reason(domain("<serial type='pty'/>")) == NO_DISPLAY
    assert display_reason("<domain type='kvm'><name>g</name></domain>") == NO_DISPLAY


def test_fit_keeps_the_aspect_ratio_with_two_pixels_a_cell() -> None:
    # 720x400 into 120x40 cells: the width limits (120 px); 400/6 = 66.7 -> 68, even.
    assert fit_cells((720, 400), 120, 40) == (120, 68)
    # 1024x768 into 80x24: the height limits (48 px); 48 * 4/3 = 64 columns.
    assert fit_cells((1024, 768), 80, 24) == (64, 48)
    for size, cells in [((720, 400), (80, 24)), ((1280, 800), (100, 30)), ((640, 480), (40, 40))]:
        width, height = fit_cells(size, *cells)
        assert width <= cells[0] and height <= cells[1] * 2 and height % 2 == 0
        assert abs(width / height - size[0] / size[1]) < 0.05 * size[0] / size[1] + 2 / height
    assert fit_cells((0, 0), 80, 24) == (0, 0)


def test_half_block_rows_pair_upper_and_lower_pixels() -> None:
    image = Image.new("RGB", (3, 4))
    image.putdata([(i, 0, 0) for i in range(12)])
    rows = half_block_rows(image)
    assert len(rows) == 2 and len(rows[0]) == 3
    assert rows[0][1] == ((1, 0, 0), (4, 0, 0))  # column 1: pixel rows 0 and 1
    assert rows[1][2] == ((8, 0, 0), (11, 0, 0))  # column 2: pixel rows 2 and 3


def test_segments_draw_each_cell_with_its_two_colours() -> None:
    scaled = scale(recorded_frame(), 120, 40)
    for row in half_block_rows(scaled):
        cells = []
        for segment in row_segments(row):
            assert set(segment.text) == {UPPER_HALF}
            style = segment.style
            assert style is not None and style.color and style.bgcolor
            upper = style.color.get_truecolor()
            lower = style.bgcolor.get_truecolor()
            cells += [((upper.red, upper.green, upper.blue), (lower.red, lower.green, lower.blue))]
            cells += [cells[-1]] * (len(segment.text) - 1)
        assert cells == row


def test_the_recorded_console_is_not_blank_where_its_text_is() -> None:
    """The fixture is a real screenshot: black background, grey text at the top left."""
    image = recorded_frame()
    text_area = image.crop((0, 0, 360, 300))
    assert len(set(text_area.getdata())) > 1
    assert max(sum(p) for p in text_area.getdata()) > 300
    rows = half_block_rows(scale(image, 80, 24))
    assert len({cell for row in rows for cell in row}) > 2  # text turns into shades


def test_refresh_slows_when_unchanged_and_speeds_up_on_change() -> None:
    policy = RefreshPolicy(fastest=0.2, slowest=2.0, backoff=1.5)
    assert policy.next_interval(True, 0.05) == pytest.approx(0.2)
    waits = [policy.next_interval(False, 0.05) for _ in range(10)]
    assert waits == sorted(waits) and waits[0] > 0.2 and waits[-1] == pytest.approx(2.0)
    assert policy.next_interval(True, 0.05) == pytest.approx(0.2)
    policy.next_interval(False, 0.05)
    policy.poke()
    assert policy.interval == pytest.approx(0.2)


def test_a_slow_link_gets_at_most_half_the_time() -> None:
    policy = RefreshPolicy(fastest=0.2, slowest=2.0, duty=0.5)
    assert policy.next_interval(True, 0.9) == pytest.approx(0.9)
    assert policy.next_interval(True, 0.1) == pytest.approx(0.2)


def test_screenshots_over_a_stream_and_unchanged_frames_skip_decoding() -> None:
    with started_host(TEST_URI) as host:
        uuid = next(g.uuid for g in host.guests() if g.name == "test")
        source = ScreenSource(host, uuid)
        first = source.capture()
        assert first.changed and first.frame is not None
        assert first.frame.data.startswith(PNG_SIGNATURE) and first.frame.mime == "image/png"
        assert first.frame.image.size[0] > 0 and first.frame.image.mode == "RGB"
        again = source.capture()
        assert again.frame is None and not again.changed
        assert source.calls == 2


def test_a_frame_seen_just_before_is_redrawn_but_is_no_change(tmp_path: Path) -> None:
    """A blinking cursor: A, B, A, B... Each is drawn; only the first A and B are news."""
    frames = {}
    for shade in (0, 255):
        image = Image.new("RGB", (8, 8), (shade, shade, shade))
        path = tmp_path / f"blink-{shade}.png"
        image.save(path)
        frames[shade] = path.read_bytes()
    sequence = [frames[0], frames[255], frames[0], frames[255]]

    class Replayed(ScreenSource):
        def grab(self) -> tuple[bytes, str, float]:
            return sequence.pop(0), "image/png", 0.01

    with started_host(TEST_URI) as host:
        source = Replayed(host, "unused")
        outcomes = [source.capture() for _ in range(4)]
    assert [c.changed for c in outcomes] == [True, True, False, False]
    assert all(c.frame is not None for c in outcomes)
    assert outcomes[2].frame is outcomes[0].frame  # the kept copy, not decoded again


def test_read_only_refuses_screenshots_and_keys_before_libvirt() -> None:
    with started_host(TEST_URI, readonly=True) as host:
        uuid = next(g.uuid for g in host.guests() if g.name == "test")
        source = ScreenSource(host, uuid)
        with pytest.raises(ReadOnlyError, match="read-only"):
            source.capture()
        assert source.calls == 0
        with pytest.raises(ReadOnlyError, match="read-only"):
            display.send_keys(host, uuid, (30,))
        assert display.can_show(host, host.guest(uuid)) is not None


def test_save_png(tmp_path: Path) -> None:
    with started_host(TEST_URI) as host:
        uuid = next(g.uuid for g in host.guests() if g.name == "test")
        frame = ScreenSource(host, uuid).capture().frame
    assert frame is not None
    saved = save_png(frame, tmp_path / "screen.png")
    assert saved.read_bytes().startswith(PNG_SIGNATURE)
    with Image.open(saved) as image:
        assert image.size == frame.size
    with pytest.raises(KvmtuiError, match="is a folder"):
        save_png(frame, tmp_path)
    with pytest.raises(KvmtuiError, match="no folder"):
        save_png(frame, tmp_path / "missing" / "screen.png")


def test_cells_fall_back_to_256_colours() -> None:
    """Rich's downgrade (applied by Textual's driver on a 256-colour terminal) maps a
    cell's true colours to palette entries."""
    style = cell_style((200, 30, 30), (10, 10, 120))
    assert style.color is not None and style.bgcolor is not None
    for colour in (style.color, style.bgcolor):
        downgraded = colour.downgrade(ColorSystem.EIGHT_BIT)
        assert downgraded.type is ColorType.EIGHT_BIT and downgraded.number is not None

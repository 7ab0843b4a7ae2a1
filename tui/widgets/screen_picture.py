"""A guest's screen drawn as a terminal picture (kitty's graphics protocol or Sixel).

The keys behave as in :class:`ScreenImage` (this is one); only the drawing differs:
textual-image sends the frame as a picture, scaled here first to the pane's size in
pixels keeping the aspect ratio, so what travels to the terminal is no bigger than what
it shows. A new picture is sent only when a new frame arrives (the screen sends frames
only when they change), and the terminal's copy of the previous one is freed.

Only imported when ``--graphics`` chose pictures (:mod:`kvmtui.tui.graphics`), after
textual-image asked the terminal its questions.
"""

from __future__ import annotations

from PIL import Image
from textual.app import ComposeResult
from textual.strip import Strip
from textual_image._terminal import get_cell_size
from textual_image.widget import SixelImage, TGPImage

from kvmtui.tui.graphics import Graphics
from kvmtui.tui.widgets.screen_image import ScreenImage


def fit_pixels(
    image_size: tuple[int, int], cells: tuple[int, int], cell_px: tuple[int, int]
) -> tuple[int, int]:
    """The largest size of ``image_size``'s aspect that fits ``cells`` of ``cell_px``,
    in whole cells (the terminal places pictures on cells: one scaling, not two)."""
    width, height = image_size
    room_w, room_h = cells[0] * cell_px[0], cells[1] * cell_px[1]
    if width <= 0 or height <= 0 or room_w <= 0 or room_h <= 0:
        return (0, 0)
    ratio = min(room_w / width, room_h / height)
    columns = max(1, int(width * ratio) // cell_px[0])
    rows = max(1, int(height * ratio) // cell_px[1])
    return (columns * cell_px[0], rows * cell_px[1])


class ScreenPicture(ScreenImage):
    """The latest frame as a terminal picture; keys go to the guest."""

    # The picture widget keeps its own sizing: given no width or height, it draws the
    # frame at its size in pixels, which _place makes the pane's.

    def __init__(
        self,
        graphics: Graphics,
        *,
        reserved_keys: frozenset[str] = frozenset(),
        id: str | None = None,
    ) -> None:
        super().__init__(reserved_keys=reserved_keys, id=id)
        if graphics is Graphics.TEXT:
            raise ValueError("half-blocks are ScreenImage's")
        self.graphics = graphics
        self.shown_size: tuple[int, int] = (0, 0)

    def compose(self) -> ComposeResult:
        kind = TGPImage if self.graphics is Graphics.KITTY else SixelImage
        yield kind(classes="picture")

    def show(self, image: Image.Image) -> None:
        self.image = image
        self._fitted_to = None
        self._place()

    def on_resize(self) -> None:
        self._place()

    def _place(self) -> None:
        size = (self.size.width, self.size.height)
        if self.image is None or not self.is_mounted or self._fitted_to == size:
            return
        self._fitted_to = size
        cell = get_cell_size()
        fitted = fit_pixels(self.image.size, size, (cell.width, cell.height))
        if fitted == (0, 0):
            return
        self.shown_size = fitted
        scaled = self.image.resize(fitted, Image.Resampling.BILINEAR)
        self.query_one(".picture").image = scaled  # type: ignore[attr-defined]

    def on_unmount(self) -> None:
        # Free the terminal's copy of the last picture (kitty keeps it otherwise).
        for picture in self.query(".picture"):
            picture.image = None  # type: ignore[attr-defined]

    def render_line(self, y: int) -> Strip:
        return Strip.blank(self.size.width, self.rich_style)

"""How a guest's screen is drawn: terminal graphics (kitty's protocol, Sixel) or half-blocks.

Terminal graphics need the terminal's support, and asking the terminal is only possible
before Textual starts (Textual's input thread reads every answer after that). The choice
is made once, in the command line (``--graphics``):

- ``auto`` (the default) asks nothing: a terminal that says what it is in the
  environment (``TERM=xterm-kitty``, ``TERM=foot``, ...) gets its protocol, any other
  half-blocks. Over SSH only ``TERM`` travels, and that is enough for kitty and foot.
- ``probe`` asks the terminal (textual-image's queries, about 0.2 s when it does not
  answer) and uses what it says.
- ``kitty``, ``sixel`` and ``text`` force one.

textual-image draws the pictures. It asks the terminal as soon as it is imported when
standard output is a terminal, so it is imported here, before the app runs, and only
when pictures are chosen: ``text`` never loads it.
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Mapping

#: What ``--graphics`` accepts.
CHOICES = ("auto", "probe", "kitty", "sixel", "text")


class Graphics(enum.Enum):
    """How pictures reach the terminal."""

    TEXT = "text"  # half-block cells, two pixels each (any terminal)
    KITTY = "kitty"  # kitty's terminal graphics protocol
    SIXEL = "sixel"  # DEC Sixel

    @property
    def label(self) -> str:
        return {"text": "half-blocks", "kitty": "kitty graphics", "sixel": "Sixel"}[self.value]


#: ``TERM`` prefixes of terminals known to draw pictures (textual-image's support table).
#: WezTerm and Konsole announce kitty's protocol but draw Sixel right; kitty has no Sixel.
_TERM_HINTS = (("xterm-kitty", Graphics.KITTY), ("foot", Graphics.SIXEL),
               ("mlterm", Graphics.SIXEL), ("contour", Graphics.SIXEL),
               ("wezterm", Graphics.SIXEL))  # fmt: skip
#: ``TERM_PROGRAM`` values (set locally, not passed over SSH by default).
_PROGRAM_HINTS = {"WezTerm": Graphics.SIXEL, "iTerm.app": Graphics.SIXEL}


def hinted(env: Mapping[str, str]) -> Graphics:
    """What the environment says the terminal draws; half-blocks when it says nothing."""
    if "TMUX" in env:  # tmux passes neither protocol through reliably
        return Graphics.TEXT
    term = env.get("TERM", "")
    for prefix, graphics in _TERM_HINTS:
        if term.startswith(prefix):
            return graphics
    if "KITTY_WINDOW_ID" in env:
        return Graphics.KITTY
    return _PROGRAM_HINTS.get(env.get("TERM_PROGRAM", ""), Graphics.TEXT)


def choose(choice: str, env: Mapping[str, str], on_terminal: bool) -> Graphics:
    """The mode for ``--graphics CHOICE``; loads textual-image first when pictures win.

    Off a terminal (tests, pipes) pictures are only drawn when forced.
    """
    if choice in ("kitty", "sixel", "text"):
        graphics = Graphics(choice)
    elif not on_terminal:
        graphics = Graphics.TEXT
    elif choice == "probe":
        graphics = _probed()
    else:
        graphics = hinted(env)
    if graphics is not Graphics.TEXT:
        load_drawing()
    return graphics


def load_drawing() -> None:
    """Import textual-image now: on a terminal its import asks the terminal questions,
    which only works before Textual starts reading the keyboard."""
    import textual_image.widget  # noqa: F401  (the import is the point)


def _probed() -> Graphics:
    from textual_image import renderable

    if renderable.Image is renderable.SixelImage:
        return Graphics.SIXEL
    if renderable.Image is renderable.TGPImage:
        return Graphics.KITTY
    return Graphics.TEXT


def stdout_is_terminal() -> bool:
    return bool(sys.__stdout__ and sys.__stdout__.isatty())

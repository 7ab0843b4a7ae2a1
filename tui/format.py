"""How values read on screen: memory sizes, guest states, times of day."""

from __future__ import annotations

import functools
import re
import time

from rich.style import Style
from rich.text import Text

from kvmtui.backend.model import GuestState

_KIB_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB")

STATE_STYLES: dict[GuestState, str] = {
    GuestState.RUNNING: "green",
    GuestState.BLOCKED: "green",
    GuestState.PAUSED: "yellow",
    GuestState.SHUTDOWN: "yellow",
    GuestState.PMSUSPENDED: "cyan",
    GuestState.CRASHED: "bold red",
    GuestState.SHUTOFF: "dim",
    GuestState.NOSTATE: "dim",
    GuestState.UNKNOWN: "dim italic",
}


def _scaled(kib: int) -> tuple[float, str]:
    value, unit = float(kib), 0
    while value >= 1024 and unit < len(_KIB_UNITS) - 1:
        value /= 1024
        unit += 1
    return value, _KIB_UNITS[unit]


def _number(value: float, unit: str) -> str:
    # Whole MiB and KiB read better; GiB and up keep one decimal ("2.0 GiB").
    return f"{value:.0f}" if unit in ("KiB", "MiB") else f"{value:.1f}"


def human_kib(kib: int) -> str:
    """A size given in KiB in binary units: 512 MiB, 2.0 GiB."""
    value, unit = _scaled(kib)
    return f"{_number(value, unit)} {unit}"


@functools.lru_cache(maxsize=4096)  # a few sizes repeat over thousands of rows
def memory_text(current_kib: int, max_kib: int) -> str:
    """Current memory, or current/max when a balloon holds some back: 4.0/8.0 GiB."""
    if current_kib == max_kib or max_kib <= 0:
        return human_kib(current_kib)
    cur_value, cur_unit = _scaled(current_kib)
    max_value, max_unit = _scaled(max_kib)
    if cur_unit == max_unit:
        return f"{_number(cur_value, cur_unit)}/{_number(max_value, max_unit)} {max_unit}"
    return f"{human_kib(current_kib)}/{human_kib(max_kib)}"


def state_text(state: GuestState) -> Text:
    return Text(state.value, style=Style.parse(STATE_STYLES.get(state, "")))


def clock_time(epoch: float) -> str:
    """Local time of day, as the admin's other tools show it."""
    return time.strftime("%H:%M:%S", time.localtime(epoch))


# -- live figures ---------------------------------------------------------------------

#: What an unknown figure shows: never 0, never blank.
UNKNOWN = "-"
_RATE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def rate_text(per_second: float | None) -> str:
    """Bytes per second in at most 7 cells, unit included: 0 B, 512 B, 12.3 KiB, 1.0 GiB.

    The column title says "/s". Scales up at 1000 so a value never needs four digits.
    """
    if per_second is None:
        return UNKNOWN
    value, unit = float(per_second), 0
    while value >= 999.5 and unit < len(_RATE_UNITS) - 1:
        value /= 1024
        unit += 1
    if unit == 0:
        return f"{value:.0f} B"
    return (
        f"{value:.1f} {_RATE_UNITS[unit]}" if value < 9.95 else f"{value:.0f} {_RATE_UNITS[unit]}"
    )


def count_text(per_second: float | None) -> str:
    """Requests or packets per second in at most 6 cells: 0, 4.5, 123, 12.3k, 4.5M."""
    if per_second is None:
        return UNKNOWN
    value = float(per_second)
    for suffix, scale in (("M", 1e6), ("k", 1e3)):
        if value >= scale * 0.9995:
            scaled = value / scale
            return f"{scaled:.1f}{suffix}" if scaled < 99.95 else f"{scaled:.0f}{suffix}"
    return f"{value:.1f}" if value < 9.95 else f"{value:.0f}"


def pct_text(pct: float | None) -> str:
    """A percentage with one decimal, 5 cells at most: 0.0, 42.5, 100.0."""
    return UNKNOWN if pct is None else f"{pct:.1f}"


def cpu_time_text(seconds: float | None) -> str:
    """Cumulative CPU time as virt-top's TIME reads: M:SS, or H:MM:SS past an hour."""
    if seconds is None:
        return UNKNOWN
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def ratio_text(ratio: float | None) -> str:
    """An overcommit ratio: 0.50x, 1.25x."""
    return UNKNOWN if ratio is None else f"{ratio:.2f}x"


def pct_style(pct: float | None) -> str:
    """Colour for a busy share: yellow from 50 %, red from 90 %, dim when unknown."""
    if pct is None:
        return "dim"
    if pct >= 90:
        return "bold red"
    if pct >= 50:
        return "yellow"
    return ""


def rate_style(per_second: float | None) -> str:
    """Dim for unknown and idle, yellow from 100 MiB/s."""
    if not per_second:
        return "dim"
    return "yellow" if per_second >= 100 * 1024 * 1024 else ""


def ratio_style(ratio: float | None) -> str:
    """Overcommit: yellow above 1x, red above 2x."""
    if ratio is None:
        return "dim"
    if ratio > 2:
        return "bold red"
    return "yellow" if ratio > 1 else "green"


# -- text from users and guests ---------------------------------------------------------

#: Characters a terminal acts on instead of drawing: C0 and C1 controls (ESC among
#: them), DEL, the line and paragraph separators, and the bidirectional marks and
#: overrides that reorder what follows them. libvirt accepts all of them in names.
_ACTED_ON = "\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_NOT_PRINTABLE = re.compile(f"[\x00-\x1f{_ACTED_ON}]")
_ZWJ = "\u200d"
#: The same but tab and newline, for text of several lines.
_NOT_PRINTABLE_IN_LINES = re.compile(f"[\x00-\x08\x0b-\x1f{_ACTED_ON}]")


def _sign(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)  # Control Pictures: ␉ ␍ ␛
    return "\u2421" if code == 0x7F else "\ufffd"  # ␡, else �


def printable(text: str) -> str:
    """A name or label from a user or a guest, safe to draw in one line of cells.

    Each character a terminal would act on instead of drawing (see ``_ACTED_ON``) is
    shown as a sign: C0 controls as their Control Pictures (a tab as ``␉``, ESC as
    ``␛``), DEL as ``␡``, the others as ``�``. Rich counts every such character as no
    cell while the terminal moves its cursor: without this a row is not the width its
    cells add up to. Wide, combining and zero-width characters stay as they are, but
    for a zero-width joiner at the end.
    """
    if text.isprintable():  # C-level; false for any control, and for some harmless ones
        return text
    # A zero-width joiner at the end joins nothing here; Rich would count the character
    # drawn after it (padding, the next column) as part of it.
    return _NOT_PRINTABLE.sub(_sign, text).rstrip(_ZWJ)


def printable_lines(text: str) -> str:
    """Text of several lines from a guest (program output): as :func:`printable`, but
    newlines and tabs stay (Rich expands tabs) and a CR before a newline goes."""
    return _NOT_PRINTABLE_IN_LINES.sub(_sign, text.replace("\r\n", "\n"))


def literal(text: str, style: str = "") -> Text:
    """A user's or a guest's string as a cell or a line draws it: :func:`printable`, and
    never read as markup (Textual reads a plain ``str`` cell as markup: a volume named
    ``a[/]b`` raised MarkupError)."""
    return Text(printable(text), style=style)

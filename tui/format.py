"""How values read on screen: memory sizes, guest states, times of day."""

from __future__ import annotations

import time

from rich.style import Style
from rich.text import Text

from backend.model import GuestState

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

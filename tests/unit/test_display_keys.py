"""The send-key table (backend/display_keys.py) against Linux's own keycodes.

The reference is the kernel's header /usr/include/linux/input-event-codes.h (from
linux-libc-dev, which the build headers pull in), read by name: every mapped key is
checked against the KEY_* names a US keyboard uses for it.
"""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
from textual.keys import _character_to_key

from kvmtui.backend import display_keys
from kvmtui.backend.display_keys import (
    CHARACTER_CODES,
    MENU_COMBOS,
    NAMED_CODES,
    key_codes,
    text_presses,
)

HEADER = Path("/usr/include/linux/input-event-codes.h")

# US layout, by the key's name in the header: (unshifted, shifted).
_SYMBOL_KEYS = {
    "MINUS": ("-", "_"),
    "EQUAL": ("=", "+"),
    "LEFTBRACE": ("[", "{"),
    "RIGHTBRACE": ("]", "}"),
    "SEMICOLON": (";", ":"),
    "APOSTROPHE": ("'", '"'),
    "GRAVE": ("`", "~"),
    "BACKSLASH": ("\\", "|"),
    "COMMA": (",", "<"),
    "DOT": (".", ">"),
    "SLASH": ("/", "?"),
}
_SHIFTED_DIGITS = {"1": "!", "2": "@", "3": "#", "4": "$", "5": "%", "6": "^", "7": "&",
                   "8": "*", "9": "(", "0": ")"}  # fmt: skip
_NAMED = {
    "enter": "ENTER", "tab": "TAB", "backspace": "BACKSPACE", "escape": "ESC",
    "space": "SPACE", "up": "UP", "down": "DOWN", "left": "LEFT", "right": "RIGHT",
    "home": "HOME", "end": "END", "pageup": "PAGEUP", "pagedown": "PAGEDOWN",
    "insert": "INSERT", "delete": "DELETE",
    **{f"f{n}": f"F{n}" for n in range(1, 13)},
}  # fmt: skip


@pytest.fixture(scope="module")
def linux() -> dict[str, int]:
    """KEY_* name (without the prefix) -> code, from the kernel header."""
    codes = {}
    for match in re.finditer(r"^#define KEY_(\w+)\s+(\d+)\b", HEADER.read_text(), re.M):
        codes[match.group(1)] = int(match.group(2))
    assert codes["A"] == 30, "the header did not parse"
    return codes


def expected_characters() -> dict[str, tuple[str, ...]]:
    table: dict[str, tuple[str, ...]] = {" ": ("SPACE",)}
    for letter in string.ascii_lowercase:
        table[letter] = (letter.upper(),)
        table[letter.upper()] = ("LEFTSHIFT", letter.upper())
    for digit, shifted in _SHIFTED_DIGITS.items():
        table[digit] = (digit,)
        table[shifted] = ("LEFTSHIFT", digit)
    for name, (plain, shifted) in _SYMBOL_KEYS.items():
        table[plain] = (name,)
        table[shifted] = ("LEFTSHIFT", name)
    return table


def names_to_codes(linux: dict[str, int], names: tuple[str, ...]) -> tuple[int, ...]:
    return tuple(linux[name] for name in names)


def test_every_printable_ascii_character_is_mapped() -> None:
    printable = {chr(c) for c in range(32, 127)}
    assert set(CHARACTER_CODES) == printable


def test_every_character_against_the_kernel_header(linux: dict[str, int]) -> None:
    for character, names in expected_characters().items():
        expected = names_to_codes(linux, names)
        assert CHARACTER_CODES[character] == expected, character
        # A Textual key event for it: key name and character as Textual reports them.
        assert key_codes(character, character) == expected, character


def test_every_named_key_against_the_kernel_header(linux: dict[str, int]) -> None:
    assert set(NAMED_CODES) == set(_NAMED)
    for key, name in _NAMED.items():
        assert key_codes(key) == (linux[name],), key


def test_every_character_as_textual_names_it(linux: dict[str, int]) -> None:
    """Textual names symbol keys (``greater_than_sign``, ``plus``): with or without the
    event's character, the codes are the character's."""
    for character, names in expected_characters().items():
        key = _character_to_key(character)
        expected = names_to_codes(linux, names)
        assert key_codes(key, character) == expected, key
        assert key_codes(key) == expected, key


def test_textual_character_names(linux: dict[str, int]) -> None:
    """A few names spelled out, so the table's reading of them is visible here."""
    cases = {
        "greater_than_sign": ("LEFTSHIFT", "DOT"),
        "exclamation_mark": ("LEFTSHIFT", "1"),
        "slash": ("SLASH",),
        "full_stop": ("DOT",),
        "quotation_mark": ("LEFTSHIFT", "APOSTROPHE"),
        "underscore": ("LEFTSHIFT", "MINUS"),
        "vertical_line": ("LEFTSHIFT", "BACKSLASH"),
        "tilde": ("LEFTSHIFT", "GRAVE"),
    }
    for key, names in cases.items():
        assert key_codes(key) == names_to_codes(linux, names), key


def test_modifier_combinations(linux: dict[str, int]) -> None:
    cases = {
        ("ctrl+c", "\x03"): ("LEFTCTRL", "C"),
        ("ctrl+d", "\x04"): ("LEFTCTRL", "D"),
        ("alt+x", None): ("LEFTALT", "X"),
        ("ctrl+alt+delete", None): ("LEFTCTRL", "LEFTALT", "DELETE"),
        ("ctrl+alt+f2", None): ("LEFTCTRL", "LEFTALT", "F2"),
        ("alt+f4", None): ("LEFTALT", "F4"),
        ("shift+tab", None): ("LEFTSHIFT", "TAB"),
        ("shift+up", None): ("LEFTSHIFT", "UP"),
        ("ctrl+left", None): ("LEFTCTRL", "LEFT"),
        ("ctrl+shift+pageup", None): ("LEFTCTRL", "LEFTSHIFT", "PAGEUP"),
        # Control bytes a terminal cannot tell from the named key.
        ("ctrl+i", "\t"): ("TAB",),
        ("ctrl+m", "\r"): ("ENTER",),
        ("ctrl+h", "\x08"): ("BACKSPACE",),
    }
    for (key, character), names in cases.items():
        assert key_codes(key, character) == names_to_codes(linux, names), key


def test_keys_outside_the_table_send_nothing() -> None:
    assert key_codes("hyper+a") is None
    assert key_codes("euro_sign", "€") is None
    assert key_codes("f24") is None


def test_key_menu_against_the_kernel_header(linux: dict[str, int]) -> None:
    menu = dict(MENU_COMBOS)
    assert menu["Ctrl+Alt+Del"] == names_to_codes(linux, ("LEFTCTRL", "LEFTALT", "DELETE"))
    for n in range(1, 8):
        assert menu[f"Ctrl+Alt+F{n}"] == names_to_codes(linux, ("LEFTCTRL", "LEFTALT", f"F{n}"))
    assert menu["Print Screen"] == (linux["SYSRQ"],)
    assert menu["Alt+SysRq+H (magic SysRq help)"] == names_to_codes(
        linux, ("LEFTALT", "SYSRQ", "H")
    )
    assert menu["Alt+SysRq+S (magic SysRq sync)"] == names_to_codes(
        linux, ("LEFTALT", "SYSRQ", "S")
    )
    assert len(menu) == 11


def test_module_constants_match_the_header(linux: dict[str, int]) -> None:
    for attribute in dir(display_keys):
        if attribute.startswith("KEY_"):
            assert getattr(display_keys, attribute) == linux[attribute[4:]], attribute


def test_a_paste_is_one_press_per_character(linux: dict[str, int]) -> None:
    presses, missing = text_presses("Ab 1\nx€")
    assert presses == [
        (linux["LEFTSHIFT"], linux["A"]),
        (linux["B"],),
        (linux["SPACE"],),
        (linux["1"],),
        (linux["ENTER"],),
        (linux["X"],),
    ]
    assert missing == "€"

"""Textual key names to Linux input keycodes for libvirt's send-key (VIR_KEYCODE_SET_LINUX).

One explicit table, US layout: a key not listed here sends nothing. A press is a list of
codes pressed in order and released together, modifiers first (``[KEY_LEFTSHIFT, KEY_A]``
types ``A``). Codes are those of linux/input-event-codes.h.
"""

from __future__ import annotations

import unicodedata

KEY_ESC = 1
KEY_MINUS = 12
KEY_EQUAL = 13
KEY_BACKSPACE = 14
KEY_TAB = 15
KEY_LEFTBRACE = 26
KEY_RIGHTBRACE = 27
KEY_ENTER = 28
KEY_LEFTCTRL = 29
KEY_SEMICOLON = 39
KEY_APOSTROPHE = 40
KEY_GRAVE = 41
KEY_LEFTSHIFT = 42
KEY_BACKSLASH = 43
KEY_COMMA = 51
KEY_DOT = 52
KEY_SLASH = 53
KEY_LEFTALT = 56
KEY_SPACE = 57
KEY_SYSRQ = 99  # the PC keyboard's Print Screen / SysRq key
KEY_HOME = 102
KEY_UP = 103
KEY_PAGEUP = 104
KEY_LEFT = 105
KEY_RIGHT = 106
KEY_END = 107
KEY_DOWN = 108
KEY_PAGEDOWN = 109
KEY_INSERT = 110
KEY_DELETE = 111
KEY_LEFTMETA = 125

#: a..z in keyboard order of their codes.
_LETTER_CODES = {
    "q": 16, "w": 17, "e": 18, "r": 19, "t": 20, "y": 21, "u": 22, "i": 23, "o": 24, "p": 25,
    "a": 30, "s": 31, "d": 32, "f": 33, "g": 34, "h": 35, "j": 36, "k": 37, "l": 38,
    "z": 44, "x": 45, "c": 46, "v": 47, "b": 48, "n": 49, "m": 50,
}  # fmt: skip
#: 1..9 are 2..10, 0 is 11.
_DIGIT_CODES = {str(d): 1 + d for d in range(1, 10)} | {"0": 11}
#: Function keys: F1-F10 are 59-68, F11 and F12 are 87 and 88.
FUNCTION_CODES = {f"f{n}": 58 + n for n in range(1, 11)} | {"f11": 87, "f12": 88}

#: Symbols on a US keyboard: unshifted and shifted, by the key they share.
_SYMBOL_KEYS: tuple[tuple[int, str, str], ...] = (
    (KEY_MINUS, "-", "_"),
    (KEY_EQUAL, "=", "+"),
    (KEY_LEFTBRACE, "[", "{"),
    (KEY_RIGHTBRACE, "]", "}"),
    (KEY_SEMICOLON, ";", ":"),
    (KEY_APOSTROPHE, "'", '"'),
    (KEY_GRAVE, "`", "~"),
    (KEY_BACKSLASH, "\\", "|"),
    (KEY_COMMA, ",", "<"),
    (KEY_DOT, ".", ">"),
    (KEY_SLASH, "/", "?"),
)
_SHIFTED_DIGITS = ")!@#$%^&*("  # shift+0 .. shift+9


def _character_table() -> dict[str, tuple[int, ...]]:
    table: dict[str, tuple[int, ...]] = {" ": (KEY_SPACE,)}
    for letter, code in _LETTER_CODES.items():
        table[letter] = (code,)
        table[letter.upper()] = (KEY_LEFTSHIFT, code)
    for digit, code in _DIGIT_CODES.items():
        table[digit] = (code,)
        table[_SHIFTED_DIGITS[int(digit)]] = (KEY_LEFTSHIFT, code)
    for code, plain, shifted in _SYMBOL_KEYS:
        table[plain] = (code,)
        table[shifted] = (KEY_LEFTSHIFT, code)
    return table


#: Every printable character the guest can be sent, with the codes that type it.
CHARACTER_CODES: dict[str, tuple[int, ...]] = _character_table()

#: Named keys (Textual's names) that are not characters.
NAMED_CODES: dict[str, int] = {
    "enter": KEY_ENTER,
    "tab": KEY_TAB,
    "backspace": KEY_BACKSPACE,
    "escape": KEY_ESC,
    "space": KEY_SPACE,
    "up": KEY_UP,
    "down": KEY_DOWN,
    "left": KEY_LEFT,
    "right": KEY_RIGHT,
    "home": KEY_HOME,
    "end": KEY_END,
    "pageup": KEY_PAGEUP,
    "pagedown": KEY_PAGEDOWN,
    "insert": KEY_INSERT,
    "delete": KEY_DELETE,
    **FUNCTION_CODES,
}
#: Textual's names of characters that are not their Unicode names.
_CHARACTER_NAMES = {
    "plus": "+", "minus": "-", "slash": "/", "backslash": "\\", "at": "@",
    "underscore": "_", "less_than_sign": "<", "greater_than_sign": ">",
}  # fmt: skip
#: Textual writes a few keys two ways.
_ALIASES = {"return": "enter", "esc": "escape", "pgup": "pageup", "pgdn": "pagedown"}
#: Terminal control bytes Textual reports as ctrl+ keys that are really named keys.
_CONTROL_ALIASES = {"ctrl+i": "tab", "ctrl+m": "enter", "ctrl+h": "backspace"}

_MODIFIER_CODES = {"ctrl": KEY_LEFTCTRL, "alt": KEY_LEFTALT, "meta": KEY_LEFTALT,
                   "shift": KEY_LEFTSHIFT, "super": KEY_LEFTMETA}  # fmt: skip
_MODIFIER_ORDER = ("ctrl", "alt", "meta", "super", "shift")


def _base_codes(name: str, character: str | None) -> tuple[int, ...] | None:
    """Codes for a key without modifiers: a named key, a character, or a Textual
    character name such as ``exclamation_mark``."""
    name = _ALIASES.get(name, name)
    if name in NAMED_CODES:
        return (NAMED_CODES[name],)
    if character is not None and character in CHARACTER_CODES:
        return CHARACTER_CODES[character]
    if len(name) == 1:
        return CHARACTER_CODES.get(name)
    if name in _CHARACTER_NAMES:
        return CHARACTER_CODES[_CHARACTER_NAMES[name]]
    try:
        looked_up = unicodedata.lookup(name.replace("_", " "))
    except KeyError:
        return None
    return CHARACTER_CODES.get(looked_up)


def key_codes(key: str, character: str | None = None) -> tuple[int, ...] | None:
    """The Linux keycodes of one Textual key event (``ctrl+alt+f1``, ``A``, ``enter``),
    modifiers first; None when the key is not in the table."""
    if len(key) == 1:  # a character as its own name ("+" has no modifiers to split)
        return CHARACTER_CODES.get(key)
    key = _CONTROL_ALIASES.get(key, key)
    parts = key.split("+")
    modifiers, name = parts[:-1], parts[-1]
    if any(modifier not in _MODIFIER_CODES for modifier in modifiers):
        return None
    # A printable character already carries its shift (``A``, ``!``); a ctrl/alt combo's
    # character is a control byte or the plain letter, so the name decides.
    base = _base_codes(name, character if not modifiers else None)
    if base is None:
        return None
    held = [_MODIFIER_CODES[m] for m in _MODIFIER_ORDER if m in modifiers]
    codes = tuple(dict.fromkeys([*held, *base]))  # shift named twice counts once
    return codes


def text_presses(text: str) -> tuple[list[tuple[int, ...]], str]:
    """A paste as one press per character (newlines are Enter); and the characters that
    have no key on a US keyboard, which are left out."""
    presses: list[tuple[int, ...]] = []
    missing: list[str] = []
    for char in text.replace("\r\n", "\n"):
        if char in ("\n", "\r"):
            presses.append((KEY_ENTER,))
        elif char == "\t":
            presses.append((KEY_TAB,))
        elif char in CHARACTER_CODES:
            presses.append(CHARACTER_CODES[char])
        elif char not in missing:
            missing.append(char)
    return presses, "".join(missing)


#: What the key menu sends: keys a terminal cannot pass through.
MENU_COMBOS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("Ctrl+Alt+Del", (KEY_LEFTCTRL, KEY_LEFTALT, KEY_DELETE)),
    *(
        (f"Ctrl+Alt+F{n}", (KEY_LEFTCTRL, KEY_LEFTALT, FUNCTION_CODES[f"f{n}"]))
        for n in range(1, 8)
    ),
    ("Print Screen", (KEY_SYSRQ,)),
    ("Alt+SysRq+H (magic SysRq help)", (KEY_LEFTALT, KEY_SYSRQ, _LETTER_CODES["h"])),
    ("Alt+SysRq+S (magic SysRq sync)", (KEY_LEFTALT, KEY_SYSRQ, _LETTER_CODES["s"])),
)

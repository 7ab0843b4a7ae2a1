"""Textual key names to the exact bytes an xterm sends (xterm's ctlseqs, PC-style keys).

One explicit table, no guessing: a key not listed here and without a printable character
sends nothing. Modifiers on cursor and editing keys use xterm's ``CSI 1 ; m X`` form with
m = 1 + shift + 2*alt + 4*ctrl; alt on anything else is an ESC prefix.
"""

from __future__ import annotations

ESC = "\x1b"
CSI = ESC + "["
SS3 = ESC + "O"

# Cursor keys: final byte; normal mode sends CSI X, application cursor mode (DECCKM) SS3 X.
_CURSOR = {"up": "A", "down": "B", "right": "C", "left": "D", "home": "H", "end": "F"}
# Editing keys: CSI n ~
_TILDE = {"insert": 2, "delete": 3, "pageup": 5, "pagedown": 6}
# F1-F4 are SS3 P..S; F5-F12 are CSI n ~.
_F_SS3 = {"f1": "P", "f2": "Q", "f3": "R", "f4": "S"}
_F_TILDE = {
    "f5": 15, "f6": 17, "f7": 18, "f8": 19, "f9": 20, "f10": 21, "f11": 23, "f12": 24,
}  # fmt: skip
# Plain keys whose bytes do not depend on a mode.
_PLAIN = {
    "enter": "\r",
    "tab": "\t",
    "shift+tab": CSI + "Z",
    "backspace": "\x7f",
    "ctrl+backspace": "\x08",
    "escape": ESC,
    "space": " ",
    "ctrl+space": "\x00",
    "ctrl+at": "\x00",
    "ctrl+left_square_bracket": ESC,
    "ctrl+backslash": "\x1c",
    "ctrl+right_square_bracket": "\x1d",
    "ctrl+circumflex_accent": "\x1e",
    "ctrl+underscore": "\x1f",
}
_MODIFIER_BITS = {"shift": 1, "alt": 2, "meta": 2, "ctrl": 4}


def _split(key: str) -> tuple[frozenset[str], str]:
    parts = key.split("+")
    # "ctrl+plus" style names never contain a literal "+" part; a bare "+" key is "plus".
    return frozenset(parts[:-1]), parts[-1]


def _modifier_param(modifiers: frozenset[str]) -> int:
    return 1 + sum(_MODIFIER_BITS.get(m, 0) for m in modifiers)


def key_bytes(key: str, character: str | None, *, application_cursor: bool) -> bytes | None:
    """The bytes for a Textual key event, or None when the key sends nothing."""
    text = key_text(key, character, application_cursor=application_cursor)
    return text.encode("utf-8", "surrogateescape") if text is not None else None


def key_text(key: str, character: str | None, *, application_cursor: bool) -> str | None:
    if key in _PLAIN:
        return _PLAIN[key]
    modifiers, name = _split(key)
    if name in _CURSOR:
        final = _CURSOR[name]
        if modifiers:
            return f"{CSI}1;{_modifier_param(modifiers)}{final}"
        return (SS3 if application_cursor else CSI) + final
    if name in _TILDE:
        number = _TILDE[name]
        if modifiers:
            return f"{CSI}{number};{_modifier_param(modifiers)}~"
        return f"{CSI}{number}~"
    if name in _F_SS3:
        if modifiers:
            return f"{CSI}1;{_modifier_param(modifiers)}{_F_SS3[name]}"
        return SS3 + _F_SS3[name]
    if name in _F_TILDE:
        if modifiers:
            return f"{CSI}{_F_TILDE[name]};{_modifier_param(modifiers)}~"
        return f"{CSI}{_F_TILDE[name]}~"
    if modifiers == {"ctrl"} and len(name) == 1 and name.isalpha():
        return chr(ord(name.lower()) - ord("a") + 1)
    if "alt" in modifiers or "meta" in modifiers:
        rest = "+".join([*sorted(modifiers - {"alt", "meta"}), name])
        if rest == name and character and len(character) == 1 and character.isprintable():
            return ESC + character
        inner = key_text(rest, _alt_free_character(name, modifiers), application_cursor=False)
        return ESC + inner if inner is not None else None
    if character and character.isprintable():
        return character
    return None


def _alt_free_character(name: str, modifiers: frozenset[str]) -> str | None:
    if len(name) == 1:
        return name.upper() if "shift" in modifiers else name
    return None

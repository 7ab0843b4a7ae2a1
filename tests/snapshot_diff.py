"""What differs between two of Textual's SVG screenshots, row by row, in words.

A failed snapshot leaves its picture in a report file on the machine that ran it; in CI
that file is gone with the checkout. The snapshot fixture (conftest.py) puts this text in
the failure instead, so the log alone says which rows changed and how.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

#: Textual's export: one cell is 12.2 px wide, one line 24.4 px high.
_CELL = 12.2
_LINE = 24.4
_STYLE = re.compile(r"\.(terminal-[\w-]*r\d+) \{([^}]*)\}")
_TEXT = re.compile(r'<text class="([^"]*)" x="([\d.]+)" y="([\d.]+)"[^>]*>(.*?)</text>', re.S)
_RECT = re.compile(
    r'<rect fill="([^"]*)" x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="[\d.]+" '
    r'shape-rendering="crispEdges"/>'
)

#: A row: its text by column, and (column, width, what) for every run of style.
Row = tuple[dict[int, str], list[tuple[int, int, str]]]


def rows(svg: str) -> dict[int, Row]:
    """The picture's rows by line number."""
    styles = {name: " ".join(body.split()) for name, body in _STYLE.findall(svg)}
    found: dict[int, Row] = {}
    for names, x, y, text in _TEXT.findall(svg):
        line = round((float(y) - 20) / _LINE)
        column = round(float(x) / _CELL)
        chars, runs = found.setdefault(line, ({}, []))
        plain = html.unescape(text).replace("\xa0", " ")
        for offset, char in enumerate(plain):
            chars[column + offset] = char
        style = " ".join(styles.get(name, name) for name in names.split())
        runs.append((column, len(plain), f"text {style}"))
    for fill, x, y, width in _RECT.findall(svg):
        line = round((float(y) - 1.5) / _LINE)
        _chars, runs = found.setdefault(line, ({}, []))
        runs.append((round(float(x) / _CELL), round(float(width) / _CELL), f"background {fill}"))
    return found


def _text(row: Row | None) -> str:
    if row is None:
        return ""
    chars = row[0]
    return "".join(chars.get(i, " ") for i in range(max(chars, default=-1) + 1)).rstrip()


def _styled_columns(row: Row | None) -> dict[int, set[str]]:
    columns: dict[int, set[str]] = {}
    for column, width, what in row[1] if row else []:
        for i in range(column, column + width):
            columns.setdefault(i, set()).add(what)
    return columns


def _span(columns: list[int]) -> str:
    return f"column {columns[0]}" if len(columns) == 1 else f"columns {columns[0]}-{columns[-1]}"


def differences(expected: str, actual: str, limit: int = 12) -> list[str]:
    """Sentences naming each row that differs: its two texts, or where its colours do."""
    wanted, got = rows(expected), rows(actual)
    said: list[str] = []
    for line in sorted(wanted.keys() | got.keys()):
        before, after = wanted.get(line), got.get(line)
        if _text(before) != _text(after):
            said.append(
                f"row {line}: expected {_text(before)!r}\n{' ' * 8}actual   {_text(after)!r}"
            )
        else:
            old, new = _styled_columns(before), _styled_columns(after)
            changed = sorted(i for i in old.keys() | new.keys() if old.get(i) != new.get(i))
            if changed:
                first = changed[0]
                said.append(
                    f"row {line}: same text {_text(before)!r}, other colours at "
                    f"{_span(changed)}: expected {sorted(old.get(first, ()))}, "
                    f"actual {sorted(new.get(first, ()))}"
                )
    if len(said) > limit:
        said = [*said[:limit], f"... and {len(said) - limit} more rows"]
    return said


def report(expected: str, actual: str) -> Iterator[str]:
    """The lines a failed snapshot adds to its failure."""
    said = differences(expected, actual)
    yield "the picture differs from the saved snapshot:" if said else "no row differs"
    yield from (f"  {line}" for line in said)

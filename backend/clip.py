"""Text from a guest or a host, cut to what a screen can show at once.

A guest's program may print megabytes, an agent reply may carry a whole file, an error
may quote either. Everything kvmtui shows of such text goes through :func:`clip_tail`
(program output: the last lines matter) or :func:`clip_head` (replies and error texts:
the first lines matter), which keep at most ``max_lines`` lines and ``max_bytes`` bytes,
shorten lines longer than ``max_line_chars``, replace control characters (a guest's
escape sequences must not reach the admin's terminal) and say plainly what was left out.
The whole text, where it is worth keeping, is kept elsewhere (the run's bytes).
"""

from __future__ import annotations

from dataclasses import dataclass

#: The bound of every text shown: the last (or first) 10,000 lines, at most 4 MiB.
MAX_LINES = 10_000
MAX_BYTES = 4 * 2**20
#: Longer lines are cut: a terminal shows a few hundred columns.
MAX_LINE_CHARS = 2_000
#: Error sentences are shown in a box without scrolling: fewer lines.
ERROR_LINES = 40

_REPLACEMENT = "\ufffd"
#: C0 controls except tab, DEL, C1 controls and the Unicode line and paragraph separators:
#: shown as the replacement character.
_CONTROLS = {
    c: _REPLACEMENT
    for c in (*range(0x00, 0x09), *range(0x0A, 0x20), *range(0x7F, 0xA0), 0x2028, 0x2029)
}


@dataclass(frozen=True, slots=True)
class Clipped:
    """The lines to show and how much of the text they leave out."""

    lines: tuple[str, ...]
    total_lines: int
    total_bytes: int
    hidden_lines: int  # whole lines left out
    hidden_bytes: int  # bytes of the text not shown, cut line ends included
    cut_lines: int  # lines shortened to max_line_chars
    from_end: bool  # the lines shown are the text's last ones

    @property
    def truncated(self) -> bool:
        return self.hidden_bytes > 0

    @property
    def note(self) -> str | None:
        """One sentence saying what is not shown, or None when everything is."""
        if not self.truncated:
            return None
        parts = []
        if self.hidden_lines:
            where = "first" if self.from_end else "last"
            parts.append(f"the {where} {_count(self.hidden_lines, 'line')}")
        if self.cut_lines:
            parts.append(
                f"the ends of {_count(self.cut_lines, 'line')} longer than "
                f"{MAX_LINE_CHARS:,} characters"
            )
        return (
            f"Output truncated: {' and '.join(parts)} not shown "
            f"({self.hidden_bytes:,} of {self.total_bytes:,} bytes)."
        )

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def clip_tail(data: bytes, *, max_lines: int = MAX_LINES, max_bytes: int = MAX_BYTES) -> Clipped:
    """The last lines of ``data`` (a program's output, decoded as UTF-8).

    Works on the bytes in place: only the part shown is copied and decoded, so a 16 MiB
    output costs the bound, not its size.
    """
    if not data:
        return _finish([], 0, 0, 0, True)
    end = len(data) - 1 if data.endswith(b"\n") else len(data)  # the last newline ends a line
    total_lines = data.count(b"\n", 0, end) + 1
    start = 0
    if end > max_bytes:
        newline = data.find(b"\n", end - max_bytes, end)
        # whole lines only, unless the last line alone is over the bound
        start = end - max_bytes if newline < 0 else newline + 1
    position = end
    for _ in range(max_lines):
        newline = data.rfind(b"\n", start, position)
        if newline < 0:
            break
        position = newline
    else:
        start = position + 1
    kept = data[start:end].decode(errors="replace").split("\n")
    return _finish(kept, total_lines, len(data), start, True)


def clip_head(text: str, *, max_lines: int = MAX_LINES, max_bytes: int = MAX_BYTES) -> Clipped:
    """The first lines of ``text`` (an agent reply, an error sentence)."""
    if not text:
        return _finish([], 0, 0, 0, False)
    body = text[:-1] if text.endswith("\n") else text
    total_lines = body.count("\n") + 1
    end = len(body)
    position = 0
    for _ in range(max_lines):
        newline = body.find("\n", position)
        if newline < 0:
            break
        position = newline + 1
    else:
        end = position - 1
    head = body[:end]
    body_bytes = _utf8_len(body)
    if len(head) * 4 > max_bytes and _utf8_len(head) > max_bytes:
        head = head.encode(errors="replace")[:max_bytes].decode(errors="ignore")
        newline = head.rfind("\n")
        head = head[:newline] if newline > 0 else head
    hidden = body_bytes - _utf8_len(head)
    return _finish(head.split("\n"), total_lines, _utf8_len(text), hidden, False)


def _utf8_len(text: str) -> int:
    return len(text.encode(errors="replace"))


def _finish(
    kept: list[str], total_lines: int, total_bytes: int, hidden_bytes: int, from_end: bool
) -> Clipped:
    cut = 0
    for index, line in enumerate(kept):  # in place: each original is let go as it is done
        shown = line[:MAX_LINE_CHARS].translate(_CONTROLS).expandtabs()[:MAX_LINE_CHARS]
        if len(shown) < len(line) or (len(shown) == MAX_LINE_CHARS and "\t" in line):
            rest = line[len(shown) :] if "\t" not in line else _after_cells(line, len(shown))
            if rest:
                cut += 1
                hidden_bytes += len(rest.encode(errors="replace"))
                shown += "…"
        kept[index] = shown
    return Clipped(
        lines=tuple(kept),
        total_lines=total_lines,
        total_bytes=total_bytes,
        hidden_lines=total_lines - len(kept),
        hidden_bytes=hidden_bytes,
        cut_lines=cut,
        from_end=from_end,
    )


def _after_cells(line: str, cells: int) -> str:
    """What of ``line`` lies past ``cells`` columns once its tabs are expanded."""
    column = 0
    for index, char in enumerate(line):
        column = (column // 8 + 1) * 8 if char == "\t" else column + 1
        if column > cells:
            return line[index:]
    return ""


def clip_error(text: str) -> str:
    """An error sentence bounded for a message box: its first lines, then the note."""
    clipped = clip_head(text, max_lines=ERROR_LINES)
    note = clipped.note
    return clipped.text if note is None else f"{clipped.text}\n{note}"

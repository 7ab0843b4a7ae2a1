"""Text from guests and hosts cut to a bound (backend/clip.py) and a run's output saved
whole (backend/agent_runs.py), on plain bytes: no daemon needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from kvmtui.backend.agent_info import ExecResult, InvalidRequest
from kvmtui.backend.agent_runs import check_save_path, save_output
from kvmtui.backend.clip import (
    ERROR_LINES,
    MAX_BYTES,
    MAX_LINE_CHARS,
    MAX_LINES,
    clip_error,
    clip_head,
    clip_tail,
)
from kvmtui.backend.errors import OperationError


def seq(first: int, last: int) -> bytes:
    return b"".join(b"%d\n" % n for n in range(first, last + 1))


def test_a_short_output_is_shown_whole() -> None:
    clipped = clip_tail(b"a\nb\n")
    assert clipped.lines == ("a", "b") and clipped.note is None and not clipped.truncated
    assert clip_tail(b"no newline").lines == ("no newline",)
    assert clip_tail(b"").lines == () and clip_tail(b"").note is None


def test_a_long_output_keeps_its_last_lines_and_says_how_much_is_not_shown() -> None:
    data = seq(1, 300_000)
    clipped = clip_tail(data)
    assert len(clipped.lines) == MAX_LINES
    assert clipped.lines[0] == "290001" and clipped.lines[-1] == "300000"
    hidden = len(seq(1, 290_000))
    assert clipped.hidden_lines == 290_000 and clipped.hidden_bytes == hidden
    assert clipped.note == (
        f"Output truncated: the first 290,000 lines not shown ({hidden:,} of {len(data):,} bytes)."
    )


def test_the_byte_bound_keeps_whole_lines() -> None:
    line = b"x" * 99 + b"\n"
    clipped = clip_tail(line * 1000, max_bytes=1050)
    assert clipped.lines == ("x" * 99,) * 10  # 10 whole lines fit in 1,050 bytes
    assert clipped.hidden_lines == 990


def test_a_single_huge_line_is_cut_not_dropped() -> None:
    clipped = clip_tail(b"y" * (MAX_BYTES + 10))
    (line,) = clipped.lines
    assert line == "y" * MAX_LINE_CHARS + "…"
    assert clipped.cut_lines == 1 and "longer than 2,000 characters" in (clipped.note or "")


def test_control_characters_never_reach_the_terminal() -> None:
    (line,) = clip_tail(b"\x1b[2J\x07red\x9b\tok\xff").lines
    assert "\x1b" not in line and "\x07" not in line and "\x9b" not in line
    assert "red\ufffd" in line and line.endswith("ok\ufffd") and "\t" not in line  # tab expanded


def test_replies_keep_their_first_lines() -> None:
    text = "\n".join(f"line {n}" for n in range(20_000))
    clipped = clip_head(text)
    assert len(clipped.lines) == MAX_LINES and clipped.lines[-1] == "line 9999"
    assert clipped.note is not None and "the last 10,000 lines not shown" in clipped.note
    assert clip_head("{}").lines == ("{}",) and clip_head("{}").note is None
    big = clip_head("é" * (MAX_BYTES // 2) + "\n" + "z" * 10)
    assert big.hidden_lines == 1  # the second line is past the byte bound


def test_error_texts_are_bounded_too() -> None:
    quoted = "Could not run: " + "\n".join(f"guest says {n}" for n in range(5000))
    text = clip_error(quoted)
    assert len(text.splitlines()) == ERROR_LINES + 1
    assert text.splitlines()[-1].startswith("Output truncated: the last 4,960 lines")
    assert clip_error("short sentence.") == "short sentence."


def result(out: bytes, err: bytes = b"") -> ExecResult:
    return ExecResult(("prog",), 1, True, 0, None, out, err, False, 0.1, 10.0)


def test_save_writes_the_bytes_as_they_were_and_never_overwrites(tmp_path: Path) -> None:
    data = bytes(range(256)) * 1000
    target = check_save_path(str(tmp_path / "out.bin"))
    assert save_output(result(data, b"warning\n"), target) == (
        target,
        tmp_path / "out.bin.stderr",
    )
    assert target.read_bytes() == data
    assert (tmp_path / "out.bin.stderr").read_bytes() == b"warning\n"
    with pytest.raises(InvalidRequest, match="exists; kvmtui never overwrites"):
        check_save_path(str(target))
    with pytest.raises(InvalidRequest, match="does not exist"):
        check_save_path(str(tmp_path / "no" / "out.bin"))
    with pytest.raises(InvalidRequest, match="Type the path"):
        check_save_path("  ")
    # A file that appeared meanwhile: a sentence, nothing written or left half written.
    other = tmp_path / "later.bin"
    (tmp_path / "later.bin.stderr").write_bytes(b"someone else's")
    with pytest.raises(OperationError, match=r"Could not save the output to .*later\.bin\.stderr"):
        save_output(result(b"out", b"err"), other)
    assert not other.exists()
    assert (tmp_path / "later.bin.stderr").read_bytes() == b"someone else's"


def test_tabs_are_expanded_within_the_line_bound() -> None:
    clipped = clip_tail(b"\t" * 300 + b"x\n" + b"\t" * 250 + b"\n" + b"a\tb\n")
    assert [len(line) for line in clipped.lines] == [MAX_LINE_CHARS + 1, MAX_LINE_CHARS, 9]
    assert clipped.lines[0].endswith(" …") and clipped.lines[2] == "a       b"
    assert clipped.cut_lines == 1 and clipped.hidden_bytes == 51  # 50 tabs and the x

"""The agent panel's answer box: what the last action did, or why it failed.

Short answers are a few lines of text. Long ones (a program's output, a raw reply) are
already cut to a bound by :mod:`kvmtui.backend.clip` (control characters replaced, tabs
expanded) and go into :class:`OutputLines`, a Line-API view that draws only the lines on
screen and keeps the lines it is given without copying them: scrolling through 10,000
lines costs what scrolling through twenty does.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.console import Group, RenderableType
from rich.segment import Segment
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Static

from kvmtui.backend.agent_info import TrimResult
from kvmtui.backend.agent_runs import ProgramRun
from kvmtui.backend.clip import Clipped
from kvmtui.tui.format import literal, printable
from kvmtui.tui.widgets.agent_panel import size_text

#: Said under a run's output while the whole output can be saved.
SAVE_HINT = "o saves the whole output to a file."


@dataclass(frozen=True)
class LongAnswer:
    """An answer with a heading and many lines (cut to the bound) to scroll through."""

    head: RenderableType
    body: Clipped


def run_head(run: ProgramRun, now: float | None = None) -> RenderableType:
    """The program, how it ended (or how long it has run), and what is not shown."""
    parts: list[RenderableType] = [Text.assemble(("$ ", "dim"), printable(shlex.join(run.argv)))]
    output = run.output
    if run.running:
        parts.append(
            Text(
                f"running, {run.elapsed_s(now):.0f} s (time limit {run.limit_s:g} s); the agent "
                "hands over the output when the program ends",
                style="bold",
            )
        )
        return Group(*parts)
    if output is None:
        parts.append(Text(run.error or "The run ended without an answer.", style="red"))
        return Group(*parts)
    result = output.result
    if not result.finished:
        style = "bold yellow"
    elif result.exit_code == 0:
        style = "bold green"
    else:
        style = "bold red"
    parts.append(Text(f"{result.summary} after {result.elapsed_s:.1f} s", style=style))
    for label, clipped in (("stdout", output.stdout), ("stderr", output.stderr)):
        if clipped.note is not None:
            parts.append(Text(f"{label}: {clipped.note}", style="yellow"))
    if result.truncated:
        parts.append(Text("The agent cut the output short (its limit is 16 MiB).", style="yellow"))
    if not result.out and not result.err:
        parts.append(Text("(no output)", style="dim"))
    else:
        parts.append(Text(f"Output: {result_size(run)}. {SAVE_HINT}", style="dim"))
    return Group(*parts)


def result_size(run: ProgramRun) -> str:
    """``5,000,000 bytes on stdout, 12 bytes on stderr``."""
    output = run.output
    if output is None:
        return ""
    out, err = len(output.result.out), len(output.result.err)
    text = f"{out:,} bytes on stdout"
    return f"{text}, {err:,} bytes on stderr" if err else text


def run_lines(run: ProgramRun) -> list[str]:
    """The lines shown of a finished run: stdout, then stderr under a rule."""
    output = run.output
    if output is None:
        return []
    lines = list(output.stdout.lines)
    if output.stderr.lines:
        lines.append(f"── stderr ({output.stderr.total_lines:,} lines) ──")
        lines.extend(output.stderr.lines)
    return lines


def trim_body(results: tuple[TrimResult, ...]) -> RenderableType:
    if not results:
        return Text("No filesystem to trim.", style="dim")
    lines = Text()
    for index, result in enumerate(results):
        if index:
            lines.append("\n")
        mountpoint = printable(result.mountpoint)
        if result.error:
            lines.append(f"{mountpoint}: {printable(result.error)}", style="red")
        else:
            lines.append(f"{mountpoint}: {size_text(result.trimmed_bytes)} trimmed")
    return lines


class OutputLines(ScrollView, can_focus=True):
    """Lines to scroll through (arrows, PgUp/PgDn, Home, End), drawn only when on screen."""

    DEFAULT_CSS = """
    OutputLines {
        background: $surface;
        &:focus {
            background-tint: $foreground 5%;
        }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.lines: Sequence[str] = ()
        self._width = 0

    def set_lines(self, lines: Sequence[str]) -> None:
        """Show ``lines`` (kept as given: no control characters, tabs expanded)."""
        self.lines = lines
        # Characters first (cheap); a line drawn wider than that (wide characters) widens it.
        self._width = max(map(len, lines), default=0)
        self.virtual_size = Size(self._width, len(lines))
        self.scroll_to(0, 0, animate=False, immediate=True)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        style = self.rich_style
        index = scroll_y + y
        if index >= len(self.lines):
            return Strip.blank(width, style)
        line = printable(self.lines[index])  # what the terminal would act on, as signs
        cells = cell_len(line)
        if cells > self._width:
            self._width = cells
            self.virtual_size = Size(cells, len(self.lines))
        strip = Strip([Segment(line, style)], cells)
        return strip.crop_extend(scroll_x, scroll_x + width, style)


class AgentOutput(Vertical):
    """A titled box with the last action's answer; errors in red, never a traceback."""

    DEFAULT_CSS = """
    AgentOutput {
        height: auto;
        border: round $primary;
        padding: 0 1;
    }
    AgentOutput.-error {
        border: round $error;
    }
    AgentOutput > #output-head {
        height: auto;
        max-height: 12;
        overflow-y: auto;
    }
    AgentOutput > #output-lines {
        display: none;
        height: auto;
        max-height: 16;
    }
    AgentOutput.-lines > #output-lines {
        display: block;
    }
    """

    def compose(self) -> ComposeResult:
        yield Static(id="output-head")
        yield OutputLines(id="output-lines")

    @property
    def head(self) -> RenderableType:
        """What the heading shows (the whole answer when it is short)."""
        return self.query_one("#output-head", Static).content  # type: ignore[return-value]

    @property
    def log_view(self) -> OutputLines:
        return self.query_one("#output-lines", OutputLines)

    @property
    def lines(self) -> Sequence[str]:
        """The lines in the scrolling part (empty for a short answer)."""
        return self.log_view.lines if self.has_class("-lines") else ()

    def show(self, title: str, body: RenderableType, *, ok: bool = True) -> None:
        """A short answer: ``body`` alone."""
        self.show_lines(title, body, (), ok=ok)

    def show_lines(
        self, title: str, head: RenderableType, lines: Sequence[str], *, ok: bool = True
    ) -> None:
        """``head``, then ``lines`` (already bounded) in a view that draws only what shows."""
        self.border_title = literal(title)  # a program's name: never markup
        self.set_class(not ok, "-error")
        self.query_one("#output-head", Static).update(head)
        self.log_view.set_lines(lines)
        self.set_class(bool(lines), "-lines")

    def update_head(self, head: RenderableType) -> None:
        """A new heading, the lines kept (a running program's elapsed time)."""
        self.query_one("#output-head", Static).update(head)

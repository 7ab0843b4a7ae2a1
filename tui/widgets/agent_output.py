"""The agent panel's answer box: what the last action did, or why it failed."""

from __future__ import annotations

import shlex

from rich.console import Group, RenderableType
from rich.text import Text
from textual.widgets import Static

from kvmtui.backend.agent_info import ExecResult, TrimResult
from kvmtui.tui.format import literal, printable, printable_lines
from kvmtui.tui.widgets.agent_panel import size_text


def exec_body(result: ExecResult) -> RenderableType:
    """The program, how it ended, then its stdout and stderr as the guest wrote them."""
    if not result.finished:
        style = "bold yellow"
    elif result.exit_code == 0:
        style = "bold green"
    else:
        style = "bold red"
    parts: list[RenderableType] = [
        Text.assemble(("$ ", "dim"), printable(shlex.join(result.argv))),
        Text(f"{result.summary} after {result.elapsed_s:.1f} s", style=style),
    ]
    for label, output in (("stdout", result.stdout), ("stderr", result.stderr)):
        if output:
            parts.append(Text(label, style="bold"))
            parts.append(Text(printable_lines(output.rstrip("\n"))))
    if not result.stdout and not result.stderr:
        parts.append(Text("(no output)", style="dim"))
    if result.truncated:
        parts.append(Text("The agent cut the output short (its limit is 16 MiB).", style="yellow"))
    return Group(*parts)


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


class AgentOutput(Static):
    """A titled box with the last action's answer; errors in red, never a traceback."""

    DEFAULT_CSS = """
    AgentOutput {
        height: auto;
        max-height: 16;
        border: round $primary;
        padding: 0 1;
        overflow-y: auto;
    }
    AgentOutput.-error {
        border: round $error;
    }
    """

    def show(self, title: str, body: RenderableType, *, ok: bool = True) -> None:
        self.border_title = literal(title)  # a program's name: never markup
        self.set_class(not ok, "-error")
        self.update(body)

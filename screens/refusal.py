"""Questions that refuse a bad answer where it was typed.

A question given a :data:`Refusal` checks its answer before it closes: a refused one is
said on a line under the fields (:func:`error_line`, hidden until then) and the question
stays open with what was typed, to be corrected or left with escape. Nothing typed is
lost, as in the other forms (delay, KSM tune, snapshot, volume), which check their own
fields the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from textual.screen import Screen
from textual.widgets import Static

from kvmtui.tui.format import literal

T = TypeVar("T")
#: Why an answer cannot be taken (one sentence), or None to take it.
Refusal = Callable[[T], str | None]
#: The line under a question's fields that says why its answer was refused.
ERROR_ID = "question-error"


def error_line() -> Static:
    """The refusal's line, hidden until an answer is refused (style it as ``.error``)."""
    line = Static("", id=ERROR_ID, classes="error")
    line.display = False
    return line


def refused(question: Screen[Any], refusal: Refusal[T] | None, answer: T) -> bool:
    """Whether ``refusal`` refuses ``answer``; if so ``question`` says why and stays."""
    reason = refusal(answer) if refusal is not None else None
    line = question.query_one(f"#{ERROR_ID}", Static)
    line.update(literal(reason or ""))
    line.display = reason is not None
    return reason is not None

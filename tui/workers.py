"""kvmtui's thread workers: Textual's ``@work(thread=True)`` under one error policy.

Textual's default ends the app when a worker raises. Every kvmtui worker is declared
with :func:`work` instead, which runs it with ``exit_on_error=False`` and turns an
exception that escapes the method into one sentence (``kvmtui.backend.failures``): a
known failure keeps its own, anything else becomes "kvmtui hit an internal error while
<doing>; details in <log file>" with the traceback in the log. The sentence goes to the
app as :class:`~kvmtui.tui.messages.WorkFailed`; the app shows it and hands it to the
screen that ran the worker (``on_work_failed``), which may leave a busy state. The app
keeps running.

Workers still catch the known failures they have a better place for (a status line, a
form's fields); this policy is what happens to the rest.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

from textual.dom import DOMNode
from textual.worker import Worker

from kvmtui.backend.errors import KvmtuiError
from kvmtui.backend.failures import describe
from kvmtui.tui.messages import WorkFailed

P = ParamSpec("P")
N = TypeVar("N", bound=DOMNode)

Doing = str | Callable[..., str]


def _doing_text(doing: Doing, args: tuple[object, ...], kwargs: dict[str, object]) -> str:
    if isinstance(doing, str):
        return doing
    try:
        return doing(*args, **kwargs)
    except Exception:  # the description must never be what fails
        return "running a background task"


def work(
    *, doing: Doing, group: str = "default", exclusive: bool = False
) -> Callable[[Callable[Concatenate[N, P], None]], Callable[Concatenate[N, P], Worker[None]]]:
    """Declare a method a thread worker under kvmtui's error policy.

    ``doing`` completes "kvmtui hit an internal error while ...": a phrase, or a function
    of the method's own arguments (self first) for one that names the guest or host.
    ``group`` and ``exclusive`` are Textual's.
    """

    def decorator(
        method: Callable[Concatenate[N, P], None],
    ) -> Callable[Concatenate[N, P], Worker[None]]:
        @functools.wraps(method)
        def start(node: N, /, *args: P.args, **kwargs: P.kwargs) -> Worker[None]:
            app = node.app  # read on the caller's (UI) thread

            def body() -> None:
                try:
                    method(node, *args, **kwargs)
                except Exception as exc:
                    what = _doing_text(doing, (node, *args), kwargs)
                    text = describe(exc, what)
                    internal = not isinstance(exc, KvmtuiError)
                    app.post_message(WorkFailed(node, text, internal))

            description = doing if isinstance(doing, str) else method.__name__
            return node.run_worker(
                body,
                name=method.__name__,
                group=group,
                description=description,
                exclusive=exclusive,
                exit_on_error=False,
                thread=True,
            )

        return start

    return decorator

"""The thread pool behind the app's thread workers, each job in a context of its own.

Textual runs a thread worker through the event loop's default executor and marks it
with ``active_worker.set(worker)`` on the pool's thread. Without a context of its own,
that value stays in the thread's context after the job: each pool thread kept its last
worker alive, and with it the worker's screen (every widget of a closed details screen)
until the thread ran another job. Here each job runs in a copy of the submitter's
context, dropped when the job ends.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class FreshContextExecutor(ThreadPoolExecutor):
    """A ThreadPoolExecutor that runs every job in a copy of the caller's context."""

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        context = contextvars.copy_context()
        return super().submit(context.run, fn, *args, **kwargs)  # type: ignore[arg-type]

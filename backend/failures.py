"""kvmtui's one policy for a failure on any thread: a sentence for the admin, a traceback
for the log, and the program goes on.

A known failure (a :class:`~kvmtui.backend.errors.KvmtuiError`) already is a sentence
and keeps it. Anything else is a bug in kvmtui: its traceback goes to the log file and
the admin reads "kvmtui hit an internal error while <doing>; details in <log file>".
Every thread that runs kvmtui code and is not the UI's event loop uses this module:
the UI's thread workers (through ``kvmtui.tui.workers.work``), the statistics pollers,
each host's supervisor thread, libvirt's event callbacks, console sessions and jobs.
Each hands the sentence on through the message path it already has (a status line, a
notification, a job's outcome).

The log file is whatever ``logging.FileHandler`` the ``kvmtui`` logger writes to
(``kvmtui.tui.logsetup`` installs it at start); this module only reads its path, so the
backend stays free of the command line's choices.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar

from kvmtui.backend.errors import KvmtuiError

#: The logger every kvmtui module's logger is a child of.
ROOT_LOGGER = "kvmtui"

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


def log_location() -> str:
    """Where the traceback went: the ``kvmtui`` logger's log file, or "the log"."""
    for handler in logging.getLogger(ROOT_LOGGER).handlers:
        if isinstance(handler, logging.FileHandler):
            return handler.baseFilename
    return "the log"


def internal_sentence(doing: str) -> str:
    """The sentence for an unexpected exception while ``doing`` (e.g. "reading statistics
    of localhost")."""
    return f"kvmtui hit an internal error while {doing}; details in {log_location()}."


def describe(exc: BaseException, doing: str) -> str:
    """One sentence for ``exc``: a KvmtuiError's own; anything else has its traceback
    logged and becomes :func:`internal_sentence`."""
    if isinstance(exc, KvmtuiError):
        return str(exc)
    log.error("internal error while %s", doing, exc_info=exc)
    return internal_sentence(doing)


@contextlib.contextmanager
def reported(doing: str, report: Callable[[str], object]) -> Iterator[None]:
    """Run the block; an exception ends the block only: its sentence goes to ``report``.

    For a thread's loop body or a callback, where an exception would otherwise kill the
    thread without a word::

        with failures.reported("reading guest changes on web1", self._show_error):
            self._handle(item)
    """
    try:
        yield
    except Exception as exc:
        sentence = describe(exc, doing)
        try:
            report(sentence)
        except Exception:  # the report path itself is broken: the log has to do
            log.exception("could not report: %s", sentence)


def guarded(doing: str) -> Callable[[Callable[P, R]], Callable[P, R | None]]:
    """A callback that logs instead of raising (libvirt's event callbacks: an exception
    there reaches libvirt's C code, which prints it over the UI). Returns None then."""

    def decorator(function: Callable[P, R]) -> Callable[P, R | None]:
        @functools.wraps(function)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | None:
            try:
                return function(*args, **kwargs)
            except Exception as exc:
                describe(exc, doing)
                return None

        return wrapper

    return decorator

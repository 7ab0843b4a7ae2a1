"""kvmtui's log file: where tracebacks go instead of the admin's screen.

Set up once at start by the command line (``--log-file PATH``, ``-v`` for debug level):
``$XDG_STATE_HOME/kvmtui/kvmtui.log`` (``~/.local/state/kvmtui/kvmtui.log`` without
the variable), capped at :data:`MAX_BYTES` and rotated to ``.1`` .. ``.3``. Only the
``kvmtui`` logger writes there. A thread that ends on an exception outside that
policy (see ``kvmtui.backend.failures``) is logged there too, not printed over the UI.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from logging.handlers import RotatingFileHandler
from pathlib import Path

from kvmtui.backend.failures import ROOT_LOGGER

#: Size of the log file before it is rotated.
MAX_BYTES = 1024 * 1024
#: Rotated files kept (kvmtui.log.1 .. kvmtui.log.3).
BACKUPS = 3
FORMAT = "%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"

log = logging.getLogger(f"{ROOT_LOGGER}.tui.logsetup")


def default_log_file() -> Path:
    """``$XDG_STATE_HOME/kvmtui/kvmtui.log``, the state directory defaulting to
    ``~/.local/state`` as the XDG base directory specification says."""
    state = os.environ.get("XDG_STATE_HOME", "")
    base = Path(state) if os.path.isabs(state) else Path.home() / ".local" / "state"
    return base / "kvmtui" / "kvmtui.log"


def _log_uncaught_thread_exception(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit or args.exc_value is None:
        return
    name = args.thread.name if args.thread is not None else "?"
    log.error("thread %s ended on an exception", name, exc_info=args.exc_value)


def setup_logging(path: Path | None = None, *, verbose: bool = False) -> Path | None:
    """Send the ``kvmtui`` logger to ``path`` (default :func:`default_log_file`), rotated.

    Replaces a log file set up before (tests set up one per app). Returns the path, or
    None when it cannot be written: then a sentence goes to standard error and kvmtui
    runs without a log file.
    """
    target = (path or default_log_file()).expanduser()
    logger = logging.getLogger(ROOT_LOGGER)
    close_logging()
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(
            target, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8"
        )
    except OSError as exc:
        print(f"kvmtui: cannot write the log file {target}: {exc.strerror}", file=sys.stderr)
        return None
    handler.setFormatter(logging.Formatter(FORMAT))
    logger.addHandler(handler)
    logger.propagate = False  # the log file only, never standard error under the UI
    threading.excepthook = _log_uncaught_thread_exception
    return Path(handler.baseFilename)


def close_logging() -> None:
    """Close and remove the log file's handler (the app is done, or a new one comes)."""
    logger = logging.getLogger(ROOT_LOGGER)
    for handler in list(logger.handlers):
        if isinstance(handler, RotatingFileHandler):
            logger.removeHandler(handler)
            handler.close()
    logger.propagate = True
    threading.excepthook = threading.__excepthook__

"""The kvmtui command line: the interactive app, or batch mode (CSV, no UI).

Start-up is timed from the process's launch (bench/startup_bench.py): this module
imports no UI (importlib.metadata only for ``--version``); the app starts
connecting to its hosts (:func:`run_app`) before Textual and the screens are imported,
so the connections and the first guest lists come in while the UI loads.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from kvmtui.backend.history import DEFAULT_INTERVAL
from kvmtui.backend.hostfile import HostFileError, autoconnect_targets
from kvmtui.backend.hostfile import load as load_saved_hosts
from kvmtui.backend.poller import MIN_INTERVAL
from kvmtui.backend.uri import default_uri
from kvmtui.tui.graphics import CHOICES, Graphics, choose, stdout_is_terminal
from kvmtui.tui.logsetup import setup_logging

#: Seconds batch mode waits for each host to connect.
BATCH_CONNECT_TIMEOUT = 15.0


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # 50 ms: only if asked

    try:
        return version("kvmtui")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


class _VersionAction(argparse.Action):
    """``--version``: like argparse's own, but reads the version only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        kwargs.update(nargs=0, default=argparse.SUPPRESS)
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_args: Any, **_kwargs: Any) -> None:
        print(f"{parser.prog} {_version()}")
        parser.exit()


def _delay(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds") from None
    if not math.isfinite(seconds) or seconds < MIN_INTERVAL:
        raise argparse.ArgumentTypeError(f"must be at least {MIN_INTERVAL} seconds, not {text}")
    return seconds


def _iterations(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if count < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text}")
    return count


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kvmtui",
        description="A keyboard-driven console manager for KVM hosts.",
        epilog=(
            "Without -c, kvmtui opens the saved hosts marked to connect at start "
            "(~/.config/kvmtui/hosts.toml, ctrl+o), else LIBVIRT_DEFAULT_URI, else "
            "libvirt's own default. Examples: kvmtui -c qemu:///system; "
            "kvmtui -c web=qemu+ssh://root@web1/system -c db=qemu+ssh://root@db1/system; "
            "kvmtui --batch -n 3 -d 5 --csv stats.csv -c qemu:///system"
        ),
    )
    p.add_argument(
        "-c",
        "--connect",
        metavar="[NAME=]URI",
        action="append",
        dest="uris",
        help="a libvirt URI to manage; repeat for several hosts; NAME= sets its label",
    )
    p.add_argument(
        "-r",
        "--readonly",
        action="store_true",
        help="open read-only connections: watch, never change",
    )
    p.add_argument(
        "-d",
        "--delay",
        metavar="SECONDS",
        type=_delay,
        default=DEFAULT_INTERVAL,
        help=f"statistics refresh interval (default {DEFAULT_INTERVAL:g}, at least {MIN_INTERVAL})",
    )
    p.add_argument(
        "--log-file",
        metavar="PATH",
        type=Path,
        help="where tracebacks and details go (default $XDG_STATE_HOME/kvmtui/kvmtui.log, "
        "else ~/.local/state/kvmtui/kvmtui.log); rotated at 1 MiB, 3 kept",
    )
    p.add_argument(
        "--graphics",
        choices=CHOICES,
        default="auto",
        help="how guests' screens are drawn: kitty or sixel pictures, text (half-blocks), "
        "probe (ask the terminal at start), auto (by $TERM; the default)",
    )
    p.add_argument(
        "-v", "--verbose", action="store_true", help="log at debug level, not only problems"
    )
    batch = p.add_argument_group("batch mode (CSV, no UI; columns in docs/monitoring.md)")
    batch.add_argument(
        "--batch", action="store_true", help="print statistics as CSV instead of the UI"
    )
    batch.add_argument(
        "-n",
        "--iterations",
        metavar="N",
        type=_iterations,
        help="rows per guest to print (default 1)",
    )
    batch.add_argument(
        "--csv", metavar="FILE", help="write the CSV to FILE instead of standard output ('-')"
    )
    p.add_argument("--version", action=_VersionAction, help="show the version and exit")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options and run the app or batch mode; argparse exits 2 on a bad option."""
    p = parser()
    args = p.parse_args(argv)
    try:
        uris, readonly = start_targets(args.uris, args.readonly)
    except HostFileError as exc:
        print(f"kvmtui: {exc}", file=sys.stderr)
        return 1
    if not args.batch and (args.iterations is not None or args.csv is not None):
        p.error("-n/--iterations and --csv only apply with --batch")
    if args.batch:
        # Batch mode says its problems on standard error; a log file only when asked.
        if args.log_file is not None:
            setup_logging(args.log_file, verbose=args.verbose)
        return run_batch_mode(uris, args.iterations or 1, args.delay, args.csv or "-")

    log_file = setup_logging(args.log_file, verbose=args.verbose)
    graphics = choose(args.graphics, os.environ, stdout_is_terminal())
    return run_app(
        uris,
        readonly=readonly,
        delay=args.delay,
        log_file=log_file,
        graphics=graphics,
        session_readonly=args.readonly,
    )


def start_targets(
    given: Sequence[str] | None, readonly: bool
) -> tuple[list[str | None], bool | list[bool]]:
    """What to open and read-only how: the ``-c`` URIs; without ``-c`` the saved hosts
    marked to connect at start (``NAME=URI``, each read-only as saved, or all with
    ``-r``); with none of those, libvirt's default. A broken hosts file raises
    :class:`HostFileError` (its sentence names the line)."""
    if given:
        return list(given), readonly
    saved = autoconnect_targets(load_saved_hosts())
    if not saved:
        return [default_uri()], readonly
    return [h.target() for h in saved], [readonly or h.readonly for h in saved]


def run_app(
    uris: Sequence[str | None],
    *,
    readonly: bool | Sequence[bool],
    delay: float,
    log_file: Path | None = None,
    graphics: Graphics = Graphics.TEXT,
    session_readonly: bool = False,
) -> int:
    """Start connecting to every host, then load the UI and run it; the exit code.

    Importing Textual and the screens takes a few hundred milliseconds of CPU; the
    hosts' threads spend that time waiting on their daemons (connect, list the
    guests), so the first frame can show the guests at once.
    """
    import gc

    from kvmtui.backend.host import make_hosts

    gc.disable()  # until the first lists are painted: KvmtuiApp._startup_over
    hosts = make_hosts(uris, readonly=readonly)
    for host in hosts:
        host.hold_figures()  # the app reads them once the list is drawn
        host.start()
    try:
        # Textual loads once the options are good
        from kvmtui.tui.app import HostOptions, app_for_hosts

        app = app_for_hosts(hosts, delay=delay, graphics=graphics)
        app.host_options = HostOptions(readonly=session_readonly)  # -r: later hosts too
        app.run()
    finally:
        gc.enable()
        for host in hosts:  # the app stops them; this is for an app that never ran
            host.request_stop()
    if app.return_code:  # a crash: Textual printed the traceback, the log has it too
        where = f" and in {log_file}" if log_file is not None else ""
        print(f"kvmtui crashed; the traceback is above{where}.", file=sys.stderr)
    return app.return_code or 0


@contextlib.contextmanager
def _output(path: str) -> Iterator[TextIO]:
    if path == "-":
        yield sys.stdout
        return
    try:
        out = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        print(f"kvmtui: cannot write {path}: {exc.strerror}", file=sys.stderr)
        raise SystemExit(1) from None
    with out:
        yield out


def run_batch_mode(uris: Sequence[str | None], iterations: int, delay: float, csv: str) -> int:
    """Connect read-only to every host, then print ``iterations`` CSV rows per guest.

    Exit code 0 when every host answered every iteration, 1 otherwise (the sentences
    are on standard error).
    """
    from kvmtui.backend.batch import run_batch
    from kvmtui.backend.host import make_hosts

    hosts = make_hosts(uris, readonly=True)
    for host in hosts:
        host.start()
    try:
        deadline = time.monotonic() + BATCH_CONNECT_TIMEOUT
        connected = []
        for host in hosts:
            if host.wait_connected(max(0.0, deadline - time.monotonic())):
                connected.append(host)
            else:
                error = host.status.error or f"Could not connect to {host.label} in time."
                print(error, file=sys.stderr, flush=True)
        with _output(csv) as out:
            summary = run_batch(connected, iterations, delay, out)
    finally:
        for host in hosts:
            host.stop()
    return 0 if summary.ok and len(connected) == len(hosts) else 1

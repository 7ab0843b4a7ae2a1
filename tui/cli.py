"""The kvmtui command line."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from backend.uri import default_uri


def _version() -> str:
    try:
        return version("kvmtui")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kvmtui",
        description="A keyboard-driven console manager for KVM hosts.",
        epilog=(
            "Without -c, kvmtui connects to LIBVIRT_DEFAULT_URI, or to libvirt's own "
            "default. Examples: kvmtui -c qemu:///system; "
            "kvmtui -c web=qemu+ssh://root@web1/system -c db=qemu+ssh://root@db1/system"
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
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options and run the app; argparse exits 2 on a bad option."""
    args = parser().parse_args(argv)
    uris: list[str | None] = list(args.uris) if args.uris else [default_uri()]

    from tui.app import make_app  # Textual loads only once the options are good

    make_app(uris, readonly=args.readonly).run()
    return 0
